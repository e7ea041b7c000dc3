"""Each intervention changes what it should and nothing else; paired comparison; target solver."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from test_statistics import erlang_b, loss_system

from sim.compare import compare, paired_differences, variance_reduction
from sim.config import ScenarioError, load_scenario, with_overrides
from sim.model import simulate
from sim.model.metrics import EPISODE_COLUMNS
from sim.model.world import World
from sim.rng import make_streams
from sim.target import Goal, solve

YEAR = 365.25
BASE = "scenarios/kent_baseline.toml"


def kent(years: float = 3, **interventions) -> object:
    return load_scenario(BASE, {"years": years, "interventions": interventions})


def run_world(scenario, seed=1, monitor=None) -> World:
    world = World(scenario, make_streams(seed, 0))
    if monitor is not None:
        world.env.process(monitor(world))
    world.run()
    return world


def every(days: float):
    def wrap(check):
        def process(world):
            while True:
                yield world.env.timeout(days)
                check(world)

        return process

    return wrap


def test_streams_untouched_by_a_policy_are_shared():
    """Arrivals and enquiries are identical with and without a policy (common random numbers)."""
    base = simulate(kent(), seed=3)
    policy = simulate(kent(mockingbird=[{"start": "2020-01-01", "area": "East"}]), seed=3)
    arrivals = ["child", "dob_day", "uasc", "area", "entry_day"]
    b = base.children[arrivals].sort_values("child").reset_index(drop=True)
    p = policy.children[arrivals].sort_values("child").reset_index(drop=True)
    # Children created before any behaviour differs keep their ids; compare the arrival stream
    # by what arrives and when.
    pd.testing.assert_series_equal(
        b.sort_values("entry_day")["entry_day"].reset_index(drop=True),
        p.sort_values("entry_day")["entry_day"].reset_index(drop=True),
    )
    assert (base.flows["enquiries"] == policy.flows["enquiries"]).all()


def test_mockingbird_hub_beds_never_become_ordinary_vacancies():
    start = dt.date(2019, 9, 1)
    sc = kent(mockingbird=[{"start": start, "area": "East", "hub_beds": 2}])
    seen = {"checks": 0}

    @every(3.0)
    def check(world):
        hubs = [h for h in world.households.values() if h.support.endswith(":hub")]
        for hub in hubs:
            assert hub.reserved == 2
            # The two beds are never free for an ordinary placement.
            assert hub.free <= max(hub.places - hub.filled - 2, 0)
            seen["checks"] += 1

    world = run_world(sc, monitor=check)
    assert seen["checks"] > 100
    members = world.programmes.members["mockingbird[0]"]
    satellites = [world.households[h] for h in members[1:] if h in world.households]
    assert 6 <= len(members) - 1 <= 10
    lo, hi = 0.18, 0.9
    for h in satellites:
        if h.active:
            assert lo <= h.deregistration_multiplier <= hi
            assert 0.8 <= h.breakdown_multiplier <= 1.0
    assert _total(world, "constellations_started") == 1


def test_support_schemes_cut_breakdowns_and_deregistrations_of_members():
    """With multipliers of zero, supported households have no breakdowns or resignations."""
    start = dt.date(2019, 4, 2)
    scheme = {
        "start": start,
        "breakdown_multiplier": [0.0, 0.0],
        "deregistration_multiplier": [0.0, 0.0],
    }
    world = run_world(kent(hub_families=[scheme]))
    members = set(world.programmes.members["hub_families[0]"])
    assert len(members) >= 4 * 2 * 4  # two hubs per area, each with at least 3 members
    ep = pd.DataFrame(world.recorder.episode_rows, columns=EPISODE_COLUMNS)
    in_members = ep[ep["household"].isin(members) & (ep["start_day"] > 1)]
    assert len(in_members) > 20
    assert (in_members["reason_end"] != "breakdown").all()
    # Members' only way out is the service's review or a breakdown elsewhere: no resignations.
    for hid in members:
        h = world.households.get(hid)
        assert h is None or h.active or h.support == ""
    alive = [world.households[h] for h in members if h in world.households]
    hubs = [h for h in alive if h.support.endswith("hub")]
    assert hubs and all(h.reserved == 1 for h in hubs)


def test_uasc_ring_fenced_beds_never_go_to_other_children():
    sc = kent(
        uasc_ring_fence=[
            {"start": "2019-06-01", "in_house": 39, "ifa_framework": 21, "supported": 9}
        ]
    )
    stats = {"uasc_in_fenced": 0, "general": {}}

    @every(2.0)
    def check(world):
        designated = set(world.programmes.members.get("uasc_ring_fence[0]", []))
        for c in world.children.values():
            if c.ring_fenced:
                assert c.uasc
            if c.household in designated and c.placed_at > world.day(dt.date(2019, 6, 1)):
                assert c.uasc, "a ring-fenced in-house bed went to a non-UASC child"
                stats["uasc_in_fenced"] += 1
        p = world.providers
        for kind in ("ifa_framework", "supported"):
            general = p.occupied[kind] - p.reserved_used[kind]
            assert p.reserved_used[kind] <= p.reserved[kind]
            # Other children above the unreserved capacity when the ring-fence began stay until
            # they move on; none join them until they are below it.
            limit = max(p.capacity[kind] - p.reserved[kind], 0)
            before = stats["general"].get(kind, general)
            assert general <= max(limit, before, _initial_excess(world, kind)), kind
            stats["general"][kind] = general
            stats[f"{kind}_fenced"] = max(stats.get(f"{kind}_fenced", 0), p.reserved_used[kind])

    world = run_world(sc, monitor=check)
    assert stats["uasc_in_fenced"] > 0
    assert stats["ifa_framework_fenced"] > 0 and stats["supported_fenced"] > 0
    assert world.providers.reserved == {
        "ifa_framework": 21,
        "ifa_spot": 0,
        "residential": 0,
        "supported": 9,
        "unregistered": 0,
    }


def _total(world, flow: str) -> float:
    return sum(v for (_, name), v in world.recorder.flows.items() if name == flow)


def _initial_excess(world, kind) -> int:
    """Children placed beyond capacity in the initial stock (they stay until they move)."""
    return max(world.scenario.initial.placements.get(kind, 0) - world.providers.capacity[kind], 0)


def test_recruitment_target_delivers_its_approvals():
    target = 150
    targets = [{"start": "2019-04-01", "approvals_per_year": target}]
    # Enquiries alone deliver the target only with the assessors for it: no slot limit here.
    unlimited = {"assessing": {"slots": None}}
    overrides = {"interventions": {"recruitment_targets": targets}, "recruitment": unlimited}
    sc = load_scenario(BASE, {"years": 4, **overrides})
    flows = simulate(sc, seed=2).flows
    full_years = flows[flows["days_simulated"] >= 365].iloc[1:]  # after the pipeline fills
    approvals = full_years["approvals"].sum()
    years = len(full_years)
    # Poisson-like count: mean target x years, 4 standard errors either side.
    assert abs(approvals - target * years) < 4 * (target * years) ** 0.5 + 10


def test_assessment_capacity_shortens_assessments():
    base = simulate(kent(years=4), seed=4).flows
    faster = simulate(
        kent(years=4, assessment_capacity=[{"start": "2019-04-01", "duration_multiplier": 0.5}]),
        seed=4,
    ).flows
    b = base["approval_months_sum"].iloc[2:].sum() / base["approvals"].iloc[2:].sum()
    f = faster["approval_months_sum"].iloc[2:].sum() / faster["approvals"].iloc[2:].sum()
    assert f == pytest.approx(b * 0.5, rel=0.1)


def test_retention_offer_stops_resignations_while_it_runs():
    sc = kent(
        years=4,
        retention_offers=[
            {"start": "2020-04-01", "end": "2022-04-01", "deregistration_multiplier": [0.0, 0.0]}
        ],
    )
    flows = simulate(sc, seed=5).flows.set_index("financial_year")
    for fy in ("2020-21", "2021-22"):
        assert flows.loc[fy, "deregistrations_carer_initiated"] == 0
        assert flows.loc[fy].get("deregistrations_to_ifa", 0) == 0
    assert flows.loc["2022-23", "deregistrations_carer_initiated"] > 0
    assert flows.loc["2019-20", "deregistrations_carer_initiated"] > 0


def test_step_across_moves_children_out_of_residential():
    none = simulate(kent(), seed=6).flows
    some = simulate(kent(step_across=[{"start": "2019-06-01", "per_year": 2.0}]), seed=6).flows
    assert "step_across" not in none or none["step_across"].sum() == 0
    assert some["step_across"].sum() > 20


def test_provider_change_sets_capacity_and_price():
    change = dt.date(2020, 4, 1)
    sc = kent(
        provider_changes=[
            {"start": change, "kind": "ifa_framework", "places": 60, "weekly_cost": 2000}
        ]
    )

    last = {"occupied": None}

    @every(1.0)
    def check(world):
        occupied = world.providers.occupied["ifa_framework"]
        if world.now > world.day(change):
            # Children placed before the cut stay; no one new is placed above the new capacity.
            assert occupied <= max(last["occupied"], 60)
            assert world.providers.weekly_cost["ifa_framework"] == 2000
        last["occupied"] = occupied

    run_world(sc, monitor=check)


def test_nts_change_starts_transfers_on_its_date():
    sc = load_scenario(
        BASE,
        {
            "years": 3,
            "uasc": {"nts": {"transfer_prob": 0.0, "quota_share": 0.0001}},
            "interventions": {"nts_changes": [{"start": "2020-04-01", "transfer_prob": 1.0}]},
        },
    )
    res = simulate(sc, seed=7)
    exits = res.children[res.children["exit_reason"] == "nts_transfer"]
    assert len(exits) > 20
    assert (
        exits["exit_day"]
        >= res.snapshots.set_index("date").index.get_loc(dt.date(2019, 3, 31))
        + (dt.date(2020, 4, 1) - dt.date(2019, 3, 31)).days
    ).all()


def test_intervention_dates_outside_the_horizon_are_rejected():
    with pytest.raises(ScenarioError, match=r"interventions.mockingbird\[0\]"):
        kent(years=2, mockingbird=[{"start": "2024-11-01", "area": "South"}])
    with pytest.raises(ScenarioError, match="unknown area"):
        kent(years=2, mockingbird=[{"start": "2020-11-01", "area": "Nowhere"}])


def test_comparing_a_scenario_with_itself_gives_zero_exactly():
    a = kent(years=2)
    b = with_overrides(a, {"name": "Same again"})
    result = compare(a, [b], reps=3, seed=9)
    d = result.differences
    assert (d["difference"] == 0).all()
    assert (d["ci_low"] == 0).all() and (d["ci_high"] == 0).all()
    assert (d["prob_better"] == 0.5).all()


def test_pairing_reduces_variance_for_a_real_policy():
    base = kent(years=3)
    policy = load_scenario("scenarios/policy_recruitment_target_120.toml", {"years": 3})
    res = compare(base, [policy], reps=12, seed=10)
    vr = variance_reduction(
        res.tables[base.name]["snapshots"], res.tables[policy.name]["snapshots"], "households"
    )
    # With 30 pairs the ratio in year 2 measured 0.36 and 0.34 (seeds 10, 11). With 12
    # pairs a variance estimate has 11 degrees of freedom: its 95th percentile is 1.8 times the
    # true value, so 0.8 is exceeded only if pairing is lost (independent runs give 1).
    assert vr["replications_ratio"].iloc[-2] < 0.8
    d = paired_differences(res.tables[base.name]["snapshots"], res.tables[policy.name]["snapshots"])
    final = d[(d["outcome"] == "households") & (d["year"] == d["year"].max())].iloc[0]
    assert final["ci_low"] > 0  # 120 approvals a year grow the carer base


def test_target_solver_finds_the_erlang_answer():
    """In-house share of entrants >= 90% in a loss system: the smallest c with B(c, 8) <= 0.1."""
    scenario = loss_system(10, 2000.0, 250.0, years=2)
    expected = next(c for c in range(1, 40) if erlang_b(c, 8.0) <= 0.1)
    goal = Goal.parse("foster_entries_in_house_share >= 0.9", 2021)
    result = solve(scenario, goal, 0.5, lever="initial.households", low=5, high=20, reps=5, seed=1)
    assert expected == 11
    assert result.answer == expected
    assert result.achieved >= 0.5
    # high, low and 4 bisection steps per replication, then a check of the answer: far
    # fewer than a grid over the 16 values for every replication.
    assert result.runs <= 5 * (2 + 4) + 5 < 16 * 5


def test_goal_parsing_errors_are_clear():
    with pytest.raises(ValueError, match="MEASURE OP VALUE"):
        Goal.parse("lots of carers", 2025)
    g = Goal.parse("in_house_share >= 90%", 2025)
    assert g.value == pytest.approx(0.9) and g.column == "foster_entries_in_house_share"
