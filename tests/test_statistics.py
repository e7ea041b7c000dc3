"""Statistical tests against known answers: Erlang's loss formula, Little's law, conservation,
and reproducibility. Tolerances come from the spread across replications (t quantiles), not
from tuning.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.config import PLACEMENT_TYPES, Scenario, load_scenario, with_overrides
from sim.experiment import run
from sim.model import simulate
from sim.model.timing import YEAR

PLACEMENTS = list(PLACEMENT_TYPES)


def erlang_b(c: int, a: float) -> float:
    """Erlang's loss formula B(c, a) by the stable recursion."""
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def loss_system(c: int, arrivals: float, exit_rate: float, years: float) -> Scenario:
    """In-house fostering reduced to an M/M/c/c loss system with overflow to the IFA framework.

    ``c`` identical one-place households accepting every child; Poisson arrivals of single
    infants; exponential stays (one exit hazard in every age band); no breakdowns, moves,
    recruitment, attrition, UASC or step-down.
    """
    zero5 = [0.0] * 5
    cascade = {
        step: {"delay_days": 0.0, "accept_prob": 1.0}
        for step in (
            "in_house_home",
            "in_house_other",
            "emergency",
            "ifa_framework",
            "ifa_spot",
            "supported",
            "residential",
            "unregistered",
        )
    }
    return Scenario.model_validate(
        {
            "name": "loss system",
            "years": years,
            "areas": ["A"],
            "children": {
                "arrivals_per_year": arrivals,
                "seasonality": [1.0] * 12,
                "entry_age_weights": [1, 0, 0, 0, 0],
                "sibling_group_weights": [1.0],
                "complex_need_prob": zero5,
                "area_weights": {"A": 1.0},
                "placed_with_parents_prob": 0.0,
                "kinship_prob": 0.0,
                "parent_and_child_prob": 0.0,
                "exits": {
                    "return_home_per_year": [exit_rate] * 5,
                    "section20_return_multiplier": 1.0,
                    "sgo_per_year": zero5,
                    "adoption_per_year": zero5,
                },
            },
            "uasc": {"arrivals_per_year": 0.0, "area_weights": {"A": 1.0}},
            "matching": {"cascade": cascade, "step_down_prob": 0.0},
            "providers": {"ifa_framework_places": 100_000},
            "breakdown": {
                "per_year": dict.fromkeys(PLACEMENTS, 0.0),
                "planned_move_per_year": 0.0,
            },
            "recruitment": {
                "enquiries_per_year": 0.0,
                "household": {
                    "type_weights": {"mainstream": 1.0},
                    "places_weights": [1.0],
                    "age_ranges": [{"min_age": 0, "max_age": 17, "weight": 1.0}],
                    "accepts_complex_prob": 1.0,
                    "area_weights": {"A": 1.0},
                },
            },
            "attrition": {
                "deregistration_per_year": [0.0, 0.0, 0.0],
                "to_ifa_per_year": 0.0,
                "on_hold_per_year": 0.0,
                "service_deregistration_prob": 0.0,
            },
            "initial": {
                "placements": dict.fromkeys(PLACEMENTS, 0),
                "uasc": 0,
                "households": c,
                "places_weights": [1.0],
                "on_hold_share": 0.0,
            },
        }
    )


def _ci_contains(samples: list[float], value: float, level: float = 0.99) -> tuple[bool, str]:
    x = np.asarray(samples)
    se = x.std(ddof=1) / math.sqrt(len(x))
    t = stats.t.ppf(0.5 + level / 2, len(x) - 1)
    msg = f"mean {x.mean():.4f} ± {t * se:.4f} ({level:.0%}) vs {value:.4f}"
    return abs(x.mean() - value) <= t * se, msg


@pytest.mark.slow
@pytest.mark.parametrize(("c", "arrivals", "exit_rate"), [(10, 40.0, 5.0), (4, 15.0, 6.0)])
def test_overflow_matches_erlang_loss_formula(c, arrivals, exit_rate):
    """The share of entrants not placed in-house equals B(c, lambda/mu)."""
    scenario = loss_system(c, arrivals, exit_rate, years=25)
    fractions = []
    for rep in range(12):
        res = simulate(scenario, seed=11, replication=rep)
        ep = res.episodes
        first = ep.sort_values("start_day").groupby("child").first()
        first = first[first["start_day"] > YEAR]  # after a year's warm-up from empty
        assert set(first["placement"]) <= {"in_house", "ifa_framework"}
        fractions.append(float((first["placement"] != "in_house").mean()))
    expected = erlang_b(c, arrivals / exit_rate)
    ok, msg = _ci_contains(fractions, expected)
    assert ok, msg


@pytest.mark.slow
def test_loss_system_detects_a_wrong_capacity():
    """The same estimate rejects the formula for one place fewer (the test has power)."""
    scenario = loss_system(10, 40.0, 5.0, years=25)
    fractions = []
    for rep in range(12):
        ep = simulate(scenario, seed=11, replication=rep).episodes
        first = ep.sort_values("start_day").groupby("child").first()
        first = first[first["start_day"] > YEAR]
        fractions.append(float((first["placement"] != "in_house").mean()))
    ok, _ = _ci_contains(fractions, erlang_b(9, 8.0))
    assert not ok


@pytest.mark.slow
def test_littles_law_children_in_care():
    """Time-average children in care = arrival rate x mean time in care, in steady state."""
    base = loss_system(30, 60.0, 2.0, years=30)
    scenario = with_overrides(
        base,
        {
            "breakdown": {"per_year": dict.fromkeys(PLACEMENTS, 0.3), "planned_move_per_year": 0.2},
            "recruitment": {"enquiries_per_year": 40.0},
            "attrition": {"deregistration_per_year": [0.1, 0.1, 0.1], "on_hold_per_year": 0.1},
        },
    )
    ratios = []
    warm = 3 * YEAR
    for rep in range(10):
        res = simulate(scenario, seed=5, replication=rep)
        snaps = res.snapshots[res.snapshots["day"] >= warm]
        horizon = res.snapshots["day"].max()
        L = snaps["children_in_care"].mean()
        ch = res.children
        window = ch[(ch["entry_day"] >= warm) & (ch["entry_day"] < horizon - 2 * YEAR)]
        lam = len(window) / (horizon - 2 * YEAR - warm)
        stay = (window["exit_day"].fillna(horizon) - window["entry_day"]).mean()
        ratios.append(L / (lam * stay))
    ok, msg = _ci_contains(ratios, 1.0)
    assert ok, msg


@pytest.fixture(scope="module")
def kent_three_years():
    scenario = load_scenario("scenarios/kent_baseline.toml", {"years": 3})
    return scenario, simulate(scenario, seed=3, replication=0)


def test_conservation_of_children_and_places(kent_three_years):
    _, res = kent_three_years
    s = res.snapshots
    assert len(s) == 37  # 31 March 2019 and 36 month ends
    # Every child is accounted for: stock = initial + arrivals - exits.
    assert (
        s["initial_children"] + s["arrivals_to_date"] - s["exits_to_date"] == s["children_in_care"]
    ).all()
    # Every child is in exactly one state: waiting or one placement type.
    assert (s["waiting"] + s[PLACEMENTS].sum(axis=1) == s["children_in_care"]).all()
    # Every place is filled, vacant or unavailable; filled places hold in-house and
    # connected children or young people Staying Put (counted from the children's side).
    assert (
        s["places_filled"] + s["places_vacant"] + s["places_unavailable"] == s["places_approved"]
    ).all()
    assert (s["in_house"] + s["connected"] + s["staying_put"] == s["places_filled"]).all()
    assert (s[["places_vacant", "places_unavailable", "waiting"]] >= 0).all().all()
    # External providers' occupancy equals the children placed there.
    for kind in ("ifa_framework", "residential", "supported", "unregistered"):
        assert (s[f"{kind}_occupied"] == s[kind]).all(), kind


def test_episode_log_is_consistent(kent_three_years):
    _, res = kent_three_years
    ep = res.episodes.sort_values(["child", "start_day"])
    # Episodes of a child never overlap, and only the last can be open.
    nxt = ep.groupby("child")["start_day"].shift(-1)
    closed = ep["end_day"].notna()
    assert (ep.loc[closed & nxt.notna(), "end_day"] <= nxt[closed & nxt.notna()] + 1e-9).all()
    assert ep[~closed].groupby("child").size().max() == 1
    # Children in care at the end with a placement have exactly one open episode.
    last = res.snapshots.iloc[-1]
    placed = last["children_in_care"] - last["waiting"]
    assert (~closed).sum() == placed


@pytest.mark.slow
def test_same_seed_same_result_and_different_seeds_differ():
    scenario = load_scenario("scenarios/kent_baseline.toml", {"years": 2})
    a = simulate(scenario, seed=7, replication=1)
    b = simulate(scenario, seed=7, replication=1)
    c = simulate(scenario, seed=8, replication=1)
    for name in ("snapshots", "flows", "episodes", "children"):
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    assert not a.snapshots.equals(c.snapshots)


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_workers():
    scenario = load_scenario("scenarios/kent_baseline.toml", {"years": 1})
    one = run(scenario, reps=3, seed=4, workers=1)
    two = run(scenario, reps=3, seed=4, workers=2)
    for name in ("snapshots", "flows", "episodes"):
        pd.testing.assert_frame_equal(one[name], two[name])
