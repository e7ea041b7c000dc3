"""init-council: a round trip with known truth (simulate, export SSDA903, estimate, compare with
the generating scenario), bad input, and the scenarios built from the DfE 2019 tables.

The round trip runs a fifth of Kent for four years with homogeneous breakdown hazards (no
high-risk children, no teenage or complex-needs multipliers), so the breakdown rate observed per
placement type is the scenario's own rate. Every comparison allows three standard errors.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import ssda903
from sim.batch import add_results
from sim.cli import main
from sim.config import ScenarioError, with_overrides
from sim.council import dfe
from sim.council.build import from_return
from sim.council.estimate import estimate
from sim.council.fostering import ENGLAND_SOURCE, read_fostering
from sim.council.read903 import ReturnError, read_return
from sim.council.scenario import fostering_entries
from sim.experiment import run
from sim.posterior import point

SEED = 15
YEARS = 4
Z = 3.0  # standard errors allowed


@pytest.fixture(scope="module")
def truth():
    from test_ssda903 import small_council

    # Usage-dependent retention is off: with it on, in-house breakdowns read back from the
    # export at about half the scenario's rate (0.016 against 0.033 at this seed), a
    # difference the estimator does not yet explain (docs/MODEL.md 2.6.1 notes it).
    # The point parameters: the truth is the scenario's own values, not a posterior draw.
    return point(
        with_overrides(
            small_council(YEARS),
            {
                # The estimator reads one constant rate per group: hazards that fall once a
                # placement settles (MODEL.md 2.6.8) are off.
                "breakdown": {
                    "high_risk_share": 0.0,
                    "teen_multiplier": 1.0,
                    "complex_multiplier": 1.0,
                    "settled_multiplier": 1.0,
                },
                "attrition": {"usage": {"settled_multiplier": 1.0, "empty_multiplier": 1.0}},
                # Offer delays are off for the same reason: with them on, in-house breakdowns
                # read back at 0.013 against 0.033 at this seed (MODEL.md 2.6.5).
                "matching": {
                    "offers": {"delay_median_days": 0.0, "held_prob": 0.0, "decline_prob": 0.0}
                },
            },
        )
    )


@pytest.fixture(scope="module")
def exported(truth, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SSDA903 files of one simulated replication."""
    results = tmp_path_factory.mktemp("run")
    tables = run(truth, reps=1, seed=SEED)
    add_results(results, truth.name, truth, tables, SEED)
    out = tmp_path_factory.mktemp("ssda903")
    ssda903.export(results, out)
    return out


@pytest.fixture(scope="module")
def estimates(truth, exported):
    return estimate(read_return(exported), truth.age_band_edges)


def _within(est, true: float | list[float], what: str) -> None:
    """Within Z standard errors; for a rate, the larger of the estimate's SE and the Poisson SE
    at the true rate (a score test, which a small count's own SE understates)."""
    values = np.atleast_1d(np.asarray(est.value, dtype=float))
    ses = np.atleast_1d(np.asarray(est.se, dtype=float))
    true = np.atleast_1d(np.asarray(true, dtype=float))
    if est.exposure is not None:
        years = np.atleast_1d(np.asarray(est.exposure, dtype=float))
        ses = np.maximum(ses, np.sqrt(true / years))
    z = np.abs(values - true) / ses
    assert (z <= Z).all(), f"{what}: estimate {values} (SE {ses}) against truth {true}"


def test_arrivals_recovered(truth, estimates):
    v = estimates.values
    _within(v["children.arrivals_per_year"], truth.children.arrivals_per_year, "arrivals")
    _within(v["uasc.arrivals_per_year"], truth.uasc.arrivals_per_year, "UASC arrivals")
    w = np.array(truth.children.entry_age_weights)
    _within(v["children.entry_age_weights"], w / w.sum(), "entry ages")
    _within(v["children.section20_share"], truth.children.section20_share, "section 20")
    _within(v["children.male_share"], truth.children.male_share, "male share")


def test_exit_hazards_recovered(truth, estimates):
    v = estimates.values
    e = truth.children.exits
    _within(v["children.exits.return_home_per_year"], e.return_home_per_year, "return home")
    _within(v["children.exits.sgo_per_year"], e.sgo_per_year, "SGO")
    _within(v["children.exits.adoption_per_year"], e.adoption_per_year, "adoption")
    _within(
        v["children.exits.section20_return_multiplier"],
        e.section20_return_multiplier,
        "section 20 multiplier",
    )
    _within(v["children.exits.adoption_placement_days"], e.adoption_placement_days, "adoption days")
    _within(v["uasc.return_per_year"], truth.uasc.return_per_year, "UASC returns")


def test_move_rates_recovered(truth, estimates):
    moves = estimates.tables["moves"].set_index("group")
    rates = truth.breakdown.per_year
    for group in ("in_house", "connected", "residential", "supported"):
        row = moves.loc[group]
        z = abs(row["breakdown_per_year"] - rates[group]) / row["breakdown_se"]
        assert z <= Z, f"{group}: {row['breakdown_per_year']} against {rates[group]}"
    ifa = moves.loc["ifa"]  # framework and spot agencies are one group in SSDA903
    lo, hi = sorted((rates["ifa_framework"], rates["ifa_spot"]))
    assert lo - Z * ifa["breakdown_se"] <= ifa["breakdown_per_year"] <= hi + Z * ifa["breakdown_se"]


def test_placement_mix_is_the_models(exported, estimates):
    """The stock at the last 31 March is the model's own count by placement group; a child
    waiting between placements is in the placement they wait to leave."""
    stock = estimates.tables["stock"]["group"].value_counts()
    last = max(int(p.name) for p in exported.iterdir())
    counted = ssda903.in_care_at_31_march(exported / str(last))
    for group, n in counted.items():
        assert stock.get(group, 0) == n, group
    dfe_measure = ssda903.stability(exported, last)  # the DfE's 3+ placements measure
    three = estimates.values["initial.three_plus_share"]
    assert three.value == pytest.approx(dfe_measure["kpi_3plus_placements"], abs=1e-4)
    foster = estimates.values["observed.in_house_share_of_foster"]
    assert foster.value == pytest.approx(
        counted["in_house"] / (counted["in_house"] + counted["ifa"]), abs=1e-4
    )


def test_built_scenario_is_valid_and_commented(exported, tmp_path):
    out = tmp_path / "council.toml"
    code = main(
        [
            "init-council",
            "--903",
            str(exported),
            "--name",
            "Round trip",
            "--out",
            str(out),
            "--report",
            str(tmp_path / "fit"),
            "--reps",
            "2",
        ]
    )
    assert code == 0
    assert main(["check", str(out)]) == 0
    text = out.read_text()
    assert "# SE " in text and "England 2018-19" in text
    fit = pd.read_csv(tmp_path / "fit" / "fit.csv")
    assert {"observed", "simulated_median", "parameters_from"} <= set(fit.columns)
    assert (tmp_path / "fit" / "fit.html").read_text().count("<table") >= 2


def test_both_folder_conventions(exported, tmp_path):
    shifted = tmp_path / "starting"
    for year in exported.iterdir():
        shutil.copytree(year, shifted / str(int(year.name) - 1))
    a, b = read_return(exported), read_return(shifted)
    assert "ends" in a.convention and "starts" in b.convention
    assert a.years == b.years
    assert len(a.episodes) == len(b.episodes)


def test_excel_files_read_as_csv(exported, tmp_path):
    copy = tmp_path / "xlsx"
    shutil.copytree(exported, copy)
    year = sorted(copy.iterdir())[0]
    for csv in year.glob("*.csv"):
        pd.read_csv(csv, dtype=str, keep_default_na=False).to_excel(
            csv.with_suffix(".xlsx"), index=False
        )
        csv.unlink()
    a, b = read_return(exported), read_return(copy)
    pd.testing.assert_frame_equal(
        a.episodes.drop(columns=["file"]), b.episodes.drop(columns=["file"])
    )


def test_repeated_episodes_kept_once(exported):
    ret = read_return(exported)
    assert not ret.episodes.duplicated(["CHILD", "decom"]).any()
    rows = sum(len(pd.read_csv(p / "episodes.csv")) for p in exported.iterdir())
    repeated = rows - len(ret.episodes)
    assert repeated > 0
    assert any(f"{repeated} episode rows repeat" in p.rule for p in ret.problems)


# ----------------------------------------------------------------------------- bad input


@pytest.fixture()
def copy(exported, tmp_path) -> Path:
    out = tmp_path / "return"
    shutil.copytree(exported, out)
    return out


def _episodes(folder: Path) -> tuple[Path, pd.DataFrame]:
    path = sorted(folder.iterdir())[-1] / "episodes.csv"
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def _fails(folder: Path, capsys, *words: str) -> None:
    code = main(
        [
            "init-council",
            "--903",
            str(folder),
            "--name",
            "X",
            "--no-report",
            "--out",
            str(folder / "x.toml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, (w, err)


def test_missing_table(copy, capsys):
    year = sorted(copy.iterdir())[1]
    (year / "uasc.csv").unlink()
    _fails(copy, capsys, str(year), "missing table 'uasc'")


def test_wrong_column(copy, capsys):
    path, eps = _episodes(copy)
    eps.rename(columns={"DECOM": "START"}).to_csv(path, index=False)
    _fails(copy, capsys, str(path), "wrong columns", "DECOM")


def test_dates_in_the_wrong_format(copy, capsys):
    path, eps = _episodes(copy)
    eps.loc[3, "DECOM"] = "2021-04-05"
    eps.to_csv(path, index=False)
    _fails(copy, capsys, str(path), "row 5", "dd/mm/yyyy", "2021-04-05")


def test_episode_ending_before_it_starts(copy):
    path, eps = _episodes(copy)
    i = eps.index[(eps["DEC"] != "") & (eps["DECOM"].str[-4:] == eps["DEC"].str[-4:])][0]
    start = pd.to_datetime(eps.loc[i, "DECOM"], format="%d/%m/%Y")
    eps.loc[i, "DEC"] = (start - pd.Timedelta(days=3)).strftime("%d/%m/%Y")
    eps.to_csv(path, index=False)
    ret = read_return(copy)
    hits = [p for p in ret.problems if "before it starts" in p.rule]
    assert [(p.file, p.row, p.child) for p in hits] == [(str(path), i + 2, eps.loc[i, "CHILD"])]
    assert "excluded" in hits[0].action
    assert ret.episodes["excluded"].sum() == 1


def test_child_with_two_open_episodes(copy):
    path, eps = _episodes(copy)
    nxt = eps["CHILD"].shift(-1)
    i = eps.index[(eps["DEC"] != "") & (nxt == eps["CHILD"])][0]
    eps.loc[i, ["DEC", "REC", "REASON_PLACE_CHANGE"]] = ""
    eps.to_csv(path, index=False)
    ret = read_return(copy)
    hits = [p for p in ret.problems if "two open episodes" in p.rule]
    assert [(p.file, p.row) for p in hits] == [(str(path), i + 2)]
    assert "closed" in hits[0].action


def test_not_a_folder(tmp_path, capsys):
    _fails(tmp_path / "nowhere", capsys, "not a folder")


def test_from_return_reports_problems(copy):
    path, eps = _episodes(copy)
    built = from_return(copy, None, "X")
    table = built.sections["data_quality"]
    assert {"file", "row", "child", "rule", "action"} <= set(table.columns)
    with pytest.raises(ReturnError):
        eps.drop(columns=["CHILD"]).to_csv(path, index=False)
        read_return(copy)


# ----------------------------------------------------------------------------- fostering figures


def test_fostering_file_used_and_missing_fields_from_england(tmp_path):
    path = tmp_path / "fostering.toml"
    path.write_text(
        'year = "2018-19"\nhouseholds = 600\nenquiries = 590\napplications = 200\n'
        "households_by_places = [190, 295, 195, 5]\n[deregistrations]\ncarer = 60\n"
    )
    fost = read_fostering(path, in_house_fostered=900)
    assert fost["households"] == (600.0, f"{path} (2018-19)")
    assert fost["approvals"][1] == ENGLAND_SOURCE
    assert fost["approvals"][0] == pytest.approx(5_110 * 900 / 54_870)
    entries = {e.path: e for e in fostering_entries(fost, connected_households=40)}
    assert entries["initial.households"].value == 560
    assert entries["recruitment.application_prob"].value == pytest.approx(200 / 590, abs=1e-4)
    assert entries["initial.places_weights"].value == pytest.approx(
        [0.2774, 0.4307, 0.2847, 0.0073], abs=1e-4
    )
    assert "England 2018-19" in entries["recruitment.approval_prob"].comment


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("househods = 3\n", ["unknown field", "households"]),
        ("households = -1\n", ["'households'", ">= 0"]),
        ("households_by_places = [1, 2]\n", ["households_by_places", "four counts"]),
        ("[deregistrations]\nservise = 3\n", ["deregistrations.servise", "service"]),
    ],
)
def test_fostering_file_errors(tmp_path, text, words):
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        read_fostering(path, 100)
    for w in words:
        assert w in str(err.value)


# ----------------------------------------------------------------------------- DfE 2019 tables


@pytest.mark.slow
def test_every_council_builds_a_valid_scenario():
    names = dfe.councils()
    assert len(names) == 152
    for name in names:
        built = dfe.from_la(name, None, benchmarks=False)
        row = dfe.find(name)
        placed = sum(built.scenario.initial.placements.values())
        # suppressed counts (1 to 5 children each) are read as 0, never as more
        assert placed <= row["CLA_Mar2019"] + 1, name
        assert placed >= 0.9 * row["CLA_Mar2019"] - 10, name
        assert built.scenario.areas == ["All"]


@settings(max_examples=3, deadline=None, derandomize=True)
@given(st.sampled_from(dfe.councils()))
def test_council_scenarios_run(name):
    built = dfe.from_la(name, None, benchmarks=False)
    tables = run(with_overrides(built.scenario, {"years": 0.5}), reps=1, seed=1)
    snaps = tables["snapshots"]
    placed = snaps[[k for k in built.scenario.initial.placements if k in snaps]]
    assert len(snaps) and (placed >= 0).all().all()
    assert placed.iloc[-1].sum() > 0
    assert tables["flows"]["arrivals"].sum() > 0


def test_benchmark_against_published_rates():
    kent = dfe.find("Kent")
    assert str(dfe.region_of(kent)["geog_n"]) == "SOUTH EAST"
    assert str(dfe.region_of(dfe.find("Camden"))["geog_n"]) == "LONDON"
    table = dfe.benchmark(kent).set_index("measure")
    rate = table.loc["looked after per 10,000 children"]
    assert abs(rate["Kent"] - kent["CLA_Rate2019"]) <= 0.5  # the DfE rounds its rate
    assert abs(rate["England"] - 65) <= 0.5
    near = dfe.neighbours(kent)
    assert len(near) == dfe.NEIGHBOURS and "Kent" not in set(near["geog_n"])
    assert near["distance"].is_monotonic_increasing


def test_init_council_la(tmp_path, capsys):
    out = tmp_path / "essex.toml"
    code = main(
        [
            "init-council",
            "--la",
            "essex",
            "--out",
            str(out),
            "--report",
            str(tmp_path / "r"),
            "--reps",
            "2",
        ]
    )
    assert code == 0
    assert main(["check", str(out)]) == 0
    fit = pd.read_csv(tmp_path / "r" / "fit.csv").set_index("measure")
    assert fit.loc["exits (all)", "parameters_from"] == "default"
    assert fit.loc["arrivals (not UASC)", "parameters_from"] == "council"
    assert (tmp_path / "r" / "benchmark.csv").exists()
    assert "national defaults" in (tmp_path / "r" / "fit.html").read_text()


def test_connected_persons_and_staying_put_come_from_the_councils_ofsted_figures(tmp_path):
    """The DfE tables do not split foster care by carer: the council's fostering service's
    family-and-friends households and approvals and its Staying Put (Ofsted 2018-19) set the
    connected-person stock and share and the Staying Put take-up, with the source beside them."""
    ofsted = dfe.fostering_table()
    assert set(ofsted.index) == set(dfe.councils())  # one row per council, by the DfE's names
    kent = ofsted.loc["Kent"]
    assert (kent.family_and_friends_households, kent.family_and_friends_approved) == (30, 15)
    assert (kent.became_18, kent.stayed_put) == (105, 60)  # evidence.md 4.2: 105 / 60
    sc = dfe.from_la("Kent", None, benchmarks=False).scenario
    c = sc.children
    assert c.staying_put_prob == pytest.approx(60 / 105, abs=1e-4)
    assert sc.initial.connected_households == 30
    group = np.average(
        np.arange(1, len(c.sibling_group_weights) + 1), weights=c.sibling_group_weights
    )
    assert sc.initial.placements["connected"] == round(30 * group)
    # the approvals a year the arrivals and the share give back are Kent's 15
    groups = c.arrivals_per_year / group * (1 - c.placed_with_parents_prob)
    assert groups * c.kinship_prob == pytest.approx(15, abs=0.05)
    out = tmp_path / "kent.toml"
    assert main(["init-council", "--la", "Kent", "--out", str(out), "--no-report"]) == 0
    text = out.read_text()
    for field in ("kinship_prob", "staying_put_prob", "connected_households"):
        line = text.index(f"{field} =")
        assert "Ofsted, Fostering in England 2018-19" in text[text.rindex("\n#", 0, line) : line]
    # not published for the council: off, and the report says so
    birmingham = dfe.from_la("Birmingham", None, benchmarks=False)
    assert birmingham.scenario.children.kinship_prob == 0.0
    assert birmingham.scenario.initial.placements["connected"] == 0
    assert any("publishes no figure for Birmingham" in n for n in birmingham.notes)


def test_unknown_council(capsys):
    assert main(["init-council", "--la", "Esex", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "'Essex'" in err and "Traceback" not in err


# ------------------------------------------------------------ the demand model's sample


@pytest.fixture(scope="module")
def demand_model_sample() -> Path:
    """The synthetic five-year SSDA903 sample shipped in the cs-demand-model wheel (files named
    by year in one folder), from the tool's cached environment (see tests/test_ssda903.py)."""
    from test_ssda903 import _tool

    python = _tool(ssda903.DEMAND_MODEL)
    out = subprocess.run(
        [str(python), "-c", "import cs_demand_model_samples as s; print(s.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip()).parent / "combined"


@pytest.mark.slow  # an external tool: its environment is built on first use
def test_demand_model_sample_read_with_its_problems(demand_model_sample):
    ret = read_return(demand_model_sample)
    assert "starts" in ret.convention  # its 2017 files hold 2017-18
    assert len(ret.years) == 5
    table = ret.problems_table()
    rules = set(table["rule"].str.replace(r"[\d/]+", "#", regex=True))
    assert any("is missing from the # file" in r for r in rules)
    assert any("after the collection year" in r for r in rules)
    rows = table[table["row"] > 0]
    assert rows["file"].str.contains("episodes").all() and len(rows) == len(table) - 1
    built = from_return(demand_model_sample, None, "Demand model sample")
    assert sum(built.scenario.initial.placements.values()) > 0


@pytest.mark.slow
def test_second_simulation_matches_the_first(tmp_path):
    """A council simulated for five years, its first four exported, rebuilt with init-council
    and simulated for the fifth year: arrivals, UASC arrivals and exits in that year are those
    of the first simulation, within sampling error (Welch's t over replications, p > 0.001)."""
    from scipy import stats
    from test_ssda903 import small_council

    reps = 8
    truth = small_council(5)
    first = run(truth, reps=reps, seed=SEED)
    add_results(tmp_path / "run", truth.name, truth, first, SEED)
    rep0 = ssda903.load_run(tmp_path / "run", 0)
    ssda903.export_tables(
        rep0["episodes"],
        rep0["children"],
        rep0["start"],
        rep0["end"],
        tmp_path / "903",
        years=[2020, 2021, 2022, 2023],
    )
    built = from_return(tmp_path / "903", None, "Rebuilt")
    second = run(with_overrides(built.scenario, {"years": 1}), reps=reps, seed=SEED + 1)
    a = first["flows"][first["flows"]["financial_year"] == "2023-24"]
    b = second["flows"][second["flows"]["financial_year"] == "2023-24"]
    for col in ("arrivals", "arrivals_uasc", "exits"):
        p = stats.ttest_ind(a[col], b[col], equal_var=False).pvalue
        assert p > 0.001, (col, a[col].mean(), b[col].mean())
