"""A region: several councils on one clock, sharing the spot, residential and supported pools.

Functional: a region of one council is that council's own run, bit for bit; a region of two
small councils runs through the batch; every child belongs to one council and the region's
totals are the sums of its councils. Sharing: a council with no spot places of its own
places children in another's, the pool is never over-filled, and a second council's demand
lowers the first one's spot placements (paired replications, a 95% confidence bound).
Filters by council, sex, UASC and age partition the children in care. Bad region files fail
with the file and the field.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.batch import run_batch
from sim.cli import main
from sim.config import (
    Region,
    Scenario,
    ScenarioError,
    load_any,
    load_region,
    load_scenario,
    with_overrides,
)
from sim.model import simulate
from sim.region import simulate_region
from sim.results import COUNCIL, Filter, in_care, load

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TYPES = ["in_house", "connected", "ifa_framework", "ifa_spot", "residential", "supported"]


def _member(name: str, **spot: object) -> Scenario:
    sc = load_scenario(SCENARIOS / f"{name}.toml", {"years": 1})
    return with_overrides(sc, {"market": {"spot": spot}}) if spot else sc


def _write_region(folder: Path, members: list[str], shared: str = "") -> Path:
    """A one-year region file of bundled scenarios, in ``folder``."""
    files = []
    for name in members:
        path = folder / f"{name}.toml"
        path.write_text(f'extends = "{SCENARIOS / name}.toml"\nyears = 1\n', encoding="utf-8")
        files.append(path.name)
    region = folder / "region.toml"
    listed = ", ".join(f'"{f}"' for f in files)
    region.write_text(f'name = "Test region"\nmembers = [{listed}]\n{shared}', encoding="utf-8")
    return region


# ------------------------------------------------------------------------------ functional


def test_a_region_of_one_council_is_its_own_run() -> None:
    medway = _member("medway")
    alone = simulate(medway, seed=3, replication=1).tables()
    region = simulate_region(Region(name="one", members=[medway]), seed=3, replication=1)
    together = region["Medway"].tables()
    for name, df in alone.items():
        pd.testing.assert_frame_equal(together[name], df)


def test_a_region_runs_in_memory_with_a_council_column() -> None:
    from sim.experiment import run

    region = Region(name="two", members=[_member("medway"), _member("east_sussex")])
    tables = run(region, reps=1, seed=3)
    direct = simulate_region(region, seed=3, replication=0)
    for council in ("Medway", "East Sussex"):
        got = tables["snapshots"][tables["snapshots"][COUNCIL] == council]
        want = direct[council].snapshots
        got = got.drop(columns=["replication", COUNCIL]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
    assert list(tables["meta"][COUNCIL]) == ["Medway", "East Sussex"]


@pytest.fixture(scope="module")
def region_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two replications of a region of two small councils, with the episode log."""
    folder = tmp_path_factory.mktemp("region")
    path = _write_region(folder, ["medway", "east_sussex"])
    out = folder / "out"
    run_batch([load_any(path)], 2, out, seed=2019, workers=1, detail=True, files=[str(path)])
    return out


@pytest.fixture(scope="module")
def region_compare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``compare`` of two regions of the same two councils: the base shares every market,
    the other only the spot market."""
    folder = tmp_path_factory.mktemp("compare")
    base = _write_region(folder, ["medway", "east_sussex"])
    other = folder / "spot_only.toml"
    other.write_text(
        base.read_text().replace("Test region", "Spot pool only")
        + '[shared]\nmarkets = ["ifa_spot"]\n',
        encoding="utf-8",
    )
    alone = folder / "medway.toml"  # Medway on its own: the same random numbers as in both
    out = folder / "out"
    args = ["compare", str(base), str(other), str(alone), "--reps", "2", "--out", str(out)]
    assert main([*args, "--workers", "1", "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_compare_gives_each_councils_paired_differences(region_compare: Path) -> None:
    res = load(region_compare)
    assert res.scenarios == ["Test region", "Spot pool only", "Medway"]
    diff = pd.read_csv(region_compare / "paired_differences_by_council.csv")
    total = pd.read_csv(region_compare / "paired_differences.csv")
    per_policy = len(total) // 2
    # Medway in the other region and alone; East Sussex in the other region only.
    assert (diff[COUNCIL] == "Medway").sum() == 2 * per_policy
    assert set(diff.loc[diff[COUNCIL] == "East Sussex", "policy"]) == {"Spot pool only"}
    # Medway alone keeps its own rows, beside the regions' totals and councils.
    alone = res.of("Medway", "snapshots")
    assert COUNCIL not in alone.columns and (alone["long_term_group"] > 0).all()
    assert (alone["children_in_care"] > 0).all()
    medway = load(region_compare, "Medway")
    assert set(medway.snapshots["scenario"]) == set(res.scenarios)
    kpis = res.kpis
    assert len(kpis) == 6 and COUNCIL not in kpis.columns


def test_the_manifest_records_the_region_file_and_members(region_run: Path) -> None:
    entry = load(region_run).manifest["scenarios"][0]
    assert entry["file"].endswith("region.toml")
    assert entry["councils"] == ["Medway", "East Sussex"]
    assert entry["member_files"] == ["medway.toml", "east_sussex.toml"]
    assert [m["name"] for m in entry["parameters"]["members"]] == ["Medway", "East Sussex"]
    assert load(region_run).manifest["seed"] == 2019


def test_each_child_belongs_to_one_council(region_run: Path) -> None:
    res = load(region_run)
    children = res.by_council("children")
    assert set(children[COUNCIL]) == {"Medway", "East Sussex"}
    assert not children.duplicated(["replication", COUNCIL, "child"]).any()
    episodes = res.by_council("episodes")
    known = children.set_index(["replication", COUNCIL, "child"]).index
    assert episodes.set_index(["replication", COUNCIL, "child"]).index.isin(known).all()


def test_the_total_is_the_sum_of_the_councils(region_run: Path) -> None:
    res = load(region_run)
    total = res.snapshots
    councils = [load(region_run, c).snapshots for c in res.councils]
    assert COUNCIL not in total.columns
    for col in ["children_in_care", *TYPES, "households", "places_vacant", "weekly_cost"]:
        summed = sum(c[col].to_numpy(dtype=float) for c in councils)
        np.testing.assert_allclose(total[col].to_numpy(dtype=float), summed)
    # Shares are ratios of sums, not means of shares.
    foster = total[["in_house", "connected", "ifa_framework", "ifa_spot"]].sum(axis=1)
    np.testing.assert_allclose(
        total["kpi_in_house_share"], (total["in_house"] + total["connected"]) / foster
    )
    three_plus = sum(c["kpi_3plus_placements"] * c["children_in_care"] for c in councils)
    np.testing.assert_allclose(
        total["kpi_3plus_placements"], three_plus / total["children_in_care"]
    )
    within = sum(c["kpi_within_20_miles"] * c["placed_distance_known"] for c in councils)
    np.testing.assert_allclose(
        total["kpi_within_20_miles"], within / total["placed_distance_known"]
    )
    flows = res.flows
    np.testing.assert_allclose(
        flows["approvals"], sum(load(region_run, c).flows["approvals"] for c in res.councils)
    )
    kpis = res.kpis
    assert len(kpis) == 2
    member_cost = sum(load(region_run, c).kpis["cost_total_m"].to_numpy() for c in res.councils)
    np.testing.assert_allclose(kpis["cost_total_m"].to_numpy(), member_cost)


def test_an_unknown_council_is_refused(region_run: Path) -> None:
    with pytest.raises(ValueError, match=r"no council 'Kent'.*Medway"):
        load(region_run, "Kent")


def test_export_903_is_per_council(region_run: Path, tmp_path: Path) -> None:
    """A return is one council's: its open episodes at 31 March are that council's children
    in care then (placed or waiting between placements)."""
    from sim import ssda903

    for council in ("Medway", "East Sussex"):
        out = tmp_path / council
        ssda903.export(region_run, out, rep=0, council=council)
        snap = load(region_run, council).snapshots
        snap = snap[(snap["replication"] == 0) & (snap["date"] == "2020-03-31")].iloc[0]
        assert ssda903.in_care_at_31_march(out / "2020").sum() == snap["children_in_care"]
    with pytest.raises(ValueError, match="holds a region; name one council"):
        ssda903.export(region_run, tmp_path / "all", rep=0)


# ------------------------------------------------------------------------------ sharing


def _spot_only(name: str, places: int) -> Scenario:
    """A council whose agency children can only go to the spot pool."""
    sc = _member(name, places=places)
    return with_overrides(sc, {"providers": {"ifa_framework_places": 0}})


def test_a_council_without_spot_places_uses_the_pool_and_the_pool_is_never_overfilled() -> None:
    region = Region(name="pool", members=[_spot_only("medway", 20), _spot_only("east_sussex", 0)])
    runs = simulate_region(region, seed=5, replication=0)
    medway, sussex = (runs[c].snapshots for c in ("Medway", "East Sussex"))
    assert sussex["ifa_spot_occupied"].max() > 0  # only in Medway's places
    both = medway["ifa_spot_occupied"] + sussex["ifa_spot_occupied"]
    assert both.iloc[1:].max() <= 20


@pytest.mark.slow
def test_another_councils_demand_lowers_a_councils_spot_placements() -> None:
    from scipy.stats import t

    medway, sussex = _spot_only("medway", 10), _spot_only("east_sussex", 0)
    diff = []
    for rep in range(10):  # enough pairs for the t-interval to see a difference of about 2
        one = simulate_region(Region(name="a", members=[medway]), seed=7, replication=rep)
        two = simulate_region(Region(name="b", members=[medway, sussex]), seed=7, replication=rep)
        alone, together = (r["Medway"].snapshots["ifa_spot"].iloc[1:].mean() for r in (one, two))
        diff.append(together - alone)
    # Medway's replication r uses the same random numbers in both runs (common random
    # numbers): the paired difference is below zero beyond its 95% confidence interval.
    d = np.array(diff)
    half = t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert d.mean() + half < 0, (d, half)


def test_outside_share_scales_the_other_councils_demand() -> None:
    kent = load_scenario(SCENARIOS / "kent_baseline.toml", {"years": 1})
    region = load_region(SCENARIOS / "region_south_east.toml", {"years": 1})
    from sim.region import member_scenario

    spot = member_scenario(region, region.members[0]).market.spot
    assert spot.other_councils_initial == round(kent.market.spot.other_councils_initial * 0.9)
    assert spot.other_councils_per_year == pytest.approx(
        kent.market.spot.other_councils_per_year * 0.9
    )


# ------------------------------------------------------------------------------ filters


def test_filters_partition_the_children_in_care(region_run: Path) -> None:
    res = load(region_run)
    everyone = in_care(res, Filter())
    snaps = res.snapshots
    # Without filters the episode log gives the snapshots' own counts.
    merged = everyone.merge(snaps, on=["scenario", "replication", "date"], suffixes=("", "_s"))
    assert len(merged) == len(snaps)
    for col in ["children_in_care", *TYPES]:
        assert (merged[col] == merged[f"{col}_s"]).all(), col
    cols = ["children_in_care", *TYPES]
    for parts in (
        [Filter(council=c) for c in res.councils],
        [Filter(sex="F"), Filter(sex="M")],
        [Filter(uasc=True), Filter(uasc=False)],
        [Filter(age=(0, 15)), Filter(age=(16, 25))],
    ):
        summed = sum(in_care(res, f)[cols].to_numpy() for f in parts)
        np.testing.assert_array_equal(summed, everyone[cols].to_numpy())
    girls = in_care(res, Filter(council="Medway", sex="F", uasc=False, age=(16, 17)))
    assert 0 < girls["children_in_care"].max() < everyone["children_in_care"].min()


@pytest.mark.slow
def test_report_with_filters_writes_the_filtered_table(
    region_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(region_run), "--age", "sixteen"]) == 2  # before any work
    assert "age must be FIRST-LAST" in capsys.readouterr().err
    assert main(["report", str(region_run), "--council", "Kent"]) == 2
    assert "no council 'Kent'" in capsys.readouterr().err
    assert main(["report", str(region_run), "--uasc", "no", "--age", "16-17"]) == 0
    assert "not UASC, aged 16-17." in capsys.readouterr().out
    table = pd.read_csv(region_run / "in_care-not-uasc-aged-16-17.csv")
    assert table["children_in_care"].gt(0).all()
    # The region's totals, then each council's own figures.
    html = (region_run / "report.html").read_text(encoding="utf-8")
    assert "Each council of the region" in html and "<h3>East Sussex</h3>" in html


# --------------------------------------------------------------------------- bad input


def test_check_accepts_the_bundled_region(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(SCENARIOS / "region_south_east.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK (South East" in out
    assert "region of Kent baseline, Medway, East Sussex; shared markets: ifa_spot" in out


def test_check_names_a_missing_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_region(tmp_path, ["medway"])
    path.write_text(path.read_text().replace('"medway.toml"', '"medway.toml", "medwy.toml"'))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "field 'members[1]': medwy.toml: scenario file not found" in err


@pytest.mark.parametrize(
    ("shared", "message"),
    [
        ('[shared]\nmarkets = ["ifa_spot", "fostering"]\n', "field 'shared.markets.1'"),
        ("[shared]\noutside_share = 1.5\n", "field 'shared.outside_share'"),
        ("[shared]\noutside = 0.5\n", "field 'shared.outside': unknown key"),
        ('[shared]\nmarkets = ["ifa_spot", "ifa_spot"]\n', "listed twice"),
    ],
)
def test_check_names_a_bad_shared_section(
    tmp_path: Path, shared: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_region(tmp_path, ["medway", "east_sussex"], shared)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: invalid region" in err and message in err


def test_members_must_differ_and_share_a_horizon(tmp_path: Path) -> None:
    path = _write_region(tmp_path, ["medway", "east_sussex"])
    (tmp_path / "east_sussex.toml").write_text(
        f'extends = "{SCENARIOS}/east_sussex.toml"\nyears = 2\n', encoding="utf-8"
    )
    with pytest.raises(ScenarioError, match="share one start and horizon"):
        load_region(path)
    (tmp_path / "east_sussex.toml").write_text(
        f'extends = "{SCENARIOS}/medway.toml"\nyears = 1\n', encoding="utf-8"
    )
    with pytest.raises(ScenarioError, match="named twice: \\['Medway'\\]"):
        load_region(path)
