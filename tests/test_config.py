"""Scenario schema: bad input gives a clear error naming the file and field; ``extends``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import KENT, ROOT

from sim import cli
from sim.config import Scenario, ScenarioError, load_scenario

SUFFICIENCY = Path(sys.executable).with_name("sufficiency")


def write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert str(path.name) in message, message  # the file is named
    return message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unknown keys: the field, a suggestion and the keys allowed there
        ('colour = "red"', ["field 'colour'", "unknown key", "allowed keys here", "children"]),
        (
            "[children]\narrival_per_year = 3",
            [
                "field 'children.arrival_per_year'",
                "did you mean 'arrivals_per_year'",
                "allowed keys here",
                "kinship_prob",
            ],
        ),
        (
            "[uasc.nts]\nquota = 0.1",
            ["field 'uasc.nts.quota'", "allowed keys here", "quota_share", "transfer_prob"],
        ),
        ('years = "ten"', ["field 'years'", "number", "'ten'"]),
        ("[children]\narrivals_per_year = -5", ["children.arrivals_per_year", "greater than"]),
        ("[children]\nkinship_prob = 1.5", ["children.kinship_prob", "less than or equal to 1"]),
        (
            "[[children.arrival_changes]]\nstart = 2010-01-01\nend = 2020-01-01\nmultiplier = 2",
            ["children.arrival_changes[0]", "outside the horizon"],
        ),
        (
            "[[uasc.surges]]\nstart = 2021-01-01\nend = 2020-01-01\nmultiplier = 2",
            ["uasc.surges.0", "must be after start"],
        ),
        (
            "[[recruitment.campaigns]]\nstart = 2020-01-01\nend = 2020-01-01\nmultiplier = 2",
            ["recruitment.campaigns.0", "must be after start"],
        ),
        (
            "[[uasc.surges]]\nstart = 2020-01-01\nend = 2021-01-01",
            ["uasc.surges.0", "exactly one of 'multiplier' and 'per_year'"],
        ),
        (
            "[[uasc.surges]]\nstart = 2020-01-01\nend = 2021-01-01\nmultiplier = 2\nper_year = 9",
            ["uasc.surges.0", "exactly one of 'multiplier' and 'per_year'"],
        ),
        (
            "[children]\ncomplex_need_prob = [0.1, 0.2, 0.3, 0.4]",
            ["children.complex_need_prob", "one value per age band (5), got 4"],
        ),
        (
            "[children.exits]\nsgo_per_year = [0.1, 0.1]",
            ["children.exits.sgo_per_year", "one value per age band (5), got 2"],
        ),
        (
            "[children]\nseasonality = [1.0, 1.0]",
            ["children.seasonality", "12 monthly values"],
        ),
        (
            "[uasc.area_weights]\nNorth = 1\nMiddle = 2",
            ["uasc.area_weights", "unknown area(s) ['Middle']", "allowed"],
        ),
        (
            "[matching.cascade.foster_home]\ndelay_days = 1",
            ["field 'matching.cascade'", "unknown cascade step(s) ['foster_home']", "ifa_spot"],
        ),
        (
            "[breakdown.per_year]\nboarding_school = 0.1",
            [
                "field 'breakdown.per_year'",
                "unknown placement type(s) ['boarding_school']",
                "residential",
            ],
        ),
        (
            "[breakdown.per_year]\nin_hous = 0.1",
            ["field 'breakdown.per_year'", "'in_hous': did you mean 'in_house'?"],
        ),
        (
            "[matching.cascade.ifa_spot]\ndelay_dayz = 3",
            [
                "field 'matching.cascade.ifa_spot.delay_dayz'",
                "did you mean 'delay_days'?",
                "allowed keys here: accept_prob, delay_days",
            ],
        ),
        (
            "[costs.weekly.residental]\ncentral = 4000",
            ["field 'costs.weekly'", "did you mean 'residential'?"],
        ),
        (
            "[recruitment.household.type_weights]\nmainstreem = 1",
            ["field 'recruitment.household.type_weights'", "did you mean 'mainstream'?"],
        ),
        (
            "[[recruitment.household.age_ranges]]\nmin_age = 12\nmax_age = 4\nweight = 1",
            ["age_ranges.0", "max_age (4) is below min_age (12)"],
        ),
        (
            "[attrition]\ntenure_edges_years = [0, 2]",
            ["attrition", "same length"],
        ),
        ("[children\n", ["not valid TOML"]),
    ],
)
def test_bad_scenario_is_rejected_with_file_and_field(tmp_path, text, expected):
    message = error_of(write(tmp_path, text))
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match=r"nowhere\.toml: scenario file not found"):
        load_scenario(tmp_path / "nowhere.toml")


def test_missing_extends_target(tmp_path):
    path = write(tmp_path, 'extends = "gone.toml"\nyears = 2', "child.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "gone.toml: scenario file not found" in message
    assert "field 'extends' of" in message and "child.toml" in message


def test_extends_cycle(tmp_path):
    write(tmp_path, 'extends = "b.toml"\nyears = 2', "a.toml")
    write(tmp_path, 'extends = "a.toml"\nyears = 3', "b.toml")
    with pytest.raises(ScenarioError, match="forms a cycle"):
        load_scenario(tmp_path / "a.toml")


def test_extends_merges_nested_tables_key_by_key(tmp_path):
    write(
        tmp_path,
        'name = "base"\nyears = 4\n[children]\narrivals_per_year = 321\nkinship_prob = 0.2\n'
        "[children.exits]\nsgo_per_year = [0.5, 0.4, 0.3, 0.2, 0.1]\n",
        "base.toml",
    )
    sub = tmp_path / "policies"
    sub.mkdir()
    child = write(
        sub,
        'extends = "../base.toml"\nname = "child"\n[children]\nkinship_prob = 0.3\n'
        "[children.exits]\nadoption_per_year = [0.1, 0.0, 0.0, 0.0, 0.0]\n",
        "child.toml",
    )
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.years == 4  # inherited
    assert sc.children.kinship_prob == 0.3  # overridden
    assert sc.children.arrivals_per_year == 321  # sibling key kept
    assert sc.children.exits.sgo_per_year == [0.5, 0.4, 0.3, 0.2, 0.1]  # deeper sibling kept
    assert sc.children.exits.adoption_per_year == [0.1, 0.0, 0.0, 0.0, 0.0]
    # Overrides given in code merge the same way.
    sc2 = load_scenario(child, {"children": {"exits": {"sgo_per_year": [0.0] * 5}}})
    assert sc2.children.exits.sgo_per_year == [0.0] * 5
    assert sc2.children.exits.adoption_per_year == [0.1, 0.0, 0.0, 0.0, 0.0]
    assert sc2.children.kinship_prob == 0.3


def test_kent_baseline_loads():
    sc = load_scenario(KENT)
    assert sc.name == "Kent baseline"
    assert sc.years == 10 and str(sc.start) == "2019-03-31" and str(sc.end) == "2029-03-31"
    assert sc.initial.households == 638
    assert sc.uasc.nts.transfer_prob == 0.1
    assert sc.recruitment.assessment.fast_median_months == 5.2


SHIPPED = [
    p for p in sorted((ROOT / "scenarios").glob("*.toml")) if not p.stem.startswith("sensitivity")
]  # those are parameter ranges


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path):
    assert isinstance(load_scenario(path), Scenario)


def test_cli_check_bad_file_via_main(tmp_path, capsys):
    bad = write(tmp_path, "[children]\nkinship_prob = 2.0")
    assert cli.main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "children.kinship_prob" in err
    assert "Traceback" not in err
    assert cli.main(["check", str(KENT)]) == 0
    assert "OK" in capsys.readouterr().out


def test_cli_check_bad_file_via_console_script(tmp_path):
    bad = write(tmp_path, "[uasc]\nsurge = []")
    proc = subprocess.run(
        [str(SUFFICIENCY), "check", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr
    assert "uasc.surge" in proc.stderr and "allowed keys here" in proc.stderr
    assert "Traceback" not in proc.stderr
