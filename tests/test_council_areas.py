"""init-council --areas: a council's areas from the postcode districts of its SSDA903 return.

Round trip with known truth: a council simulated with four areas in known shares is exported
(each child's HOME_POST is its area's postcode), and the shares recovered through a user's
district table lie within three standard errors of the truth. Bad tables fail with the file,
the row and the rule.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import ssda903
from sim.batch import run_batch
from sim.cli import main
from sim.config import load_scenario, scenario_from_dict
from sim.council import build
from sim.council.areas import district, read_areas
from sim.council.read903 import ReturnError

ROOT = Path(__file__).resolve().parents[1]
TRUTH = {"North": 0.4, "South": 0.3, "East": 0.2, "West": 0.1}
# The home postcode the export gives each model area (sim/ssda903/postcodes.csv).
AREAS_CSV = "postcode_district,area\nDA1,North\nTN23,South\nCT1,East\nME14,West\n"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("areas")
    data = load_scenario(ROOT / "scenarios" / "medway.toml", {"years": 3}).model_dump()
    data["areas"] = list(TRUTH)
    for table in (data["children"], data["uasc"], data["recruitment"]["household"]):
        table["area_weights"] = TRUTH
    run_batch([scenario_from_dict(data)], 1, folder / "run", seed=4, workers=1, detail=True)
    ssda903.export(folder / "run", folder / "903", rep=0)
    (folder / "areas.csv").write_text(AREAS_CSV, encoding="utf-8")
    return folder


def test_home_areas_are_recovered_within_their_standard_errors(exported: Path) -> None:
    built = build.from_return(exported / "903", None, "Test", exported / "areas.csv")
    entries = {e.path: e for e in built.entries}
    assert entries["areas"].value == sorted(TRUTH)
    got = entries["children.area_weights"]
    n = int(got.comment.split("binomial, ")[1].split()[0])
    assert n > 500
    for area, p in TRUTH.items():
        se = (p * (1 - p) / n) ** 0.5
        assert abs(got.value[area] - p) < 3 * se, (area, got.value[area], p, se)
    assert built.scenario.areas == sorted(TRUTH)  # the scenario validates with them


def test_without_areas_one_area_is_stated(exported: Path) -> None:
    built = build.from_return(exported / "903", None, "Test")
    area = next(e for e in built.entries if e.path == "areas")
    assert area.value == ["All"] and "no --areas" in area.comment


def test_postcode_districts() -> None:
    assert district("me4 4ab") == "ME4"
    assert district(" CT1 ") == "CT1"
    assert district("") == "" and district(float("nan")) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("district,area\nME4,North\n", "missing columns ['postcode_district']"),
        ("postcode_district,area\nME4,North\nME4,South\n", "row 3: district ME4 is in two areas"),
        ("postcode_district,area\nME4,\n", "row 2: a postcode district and an area are needed"),
        ("postcode_district,area\n", "no rows"),
    ],
)
def test_a_bad_areas_file_names_the_file_row_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "areas.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReturnError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_areas(path)


def test_cli_areas_needs_a_return_and_a_matching_table(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init-council", "--la", "Medway", "--areas", str(exported / "areas.csv")]) == 2
    assert "--areas maps the postcodes of a return" in capsys.readouterr().err
    other = tmp_path / "other.csv"
    other.write_text("postcode_district,area\nZZ1,Nowhere\n", encoding="utf-8")
    args = ["init-council", "--903", str(exported / "903"), "--name", "T", "--areas", str(other)]
    assert main([*args, "--out", str(tmp_path / "t.toml"), "--no-report"]) == 2
    assert "no child's home postcode district is in the areas file" in capsys.readouterr().err


def test_a_return_without_home_postcodes_keeps_one_area(exported: Path, tmp_path: Path) -> None:
    import shutil

    import pandas as pd

    copy = tmp_path / "903"
    shutil.copytree(exported / "903", copy)
    for path in copy.glob("*/episodes.csv"):
        eps = pd.read_csv(path, dtype=str, keep_default_na=False)
        eps["HOME_POST"] = ""
        eps.to_csv(path, index=False)
    built = build.from_return(copy, None, "Test", exported / "areas.csv")
    area = next(e for e in built.entries if e.path == "areas")
    assert area.value == ["All"] and "no home postcodes" in area.comment
