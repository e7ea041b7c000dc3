"""Each intervention changes what it should and nothing else; paired comparison; target solver."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from conftest import (
    YEAR,
    bernoulli_sum_near,
    binomial_near,
    horizon,
    near,
    poisson_near,
    small,
    total,
    transfer_chances,
)
from scipy import stats
from test_statistics import loss_system

from sim import target
from sim.compare import compare, paired_differences, variance_reduction
from sim.config import ScenarioError, load_scenario, with_overrides
from sim.model import carers, simulate
from sim.model.metrics import EPISODE_COLUMNS
from sim.model.world import World
from sim.posterior import point
from sim.rng import make_streams
from sim.target import Goal, solve

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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
    return sum(year.get(flow, 0.0) for year in world.recorder.flows.values())


def _initial_excess(world, kind) -> int:
    """Children placed beyond capacity in the initial stock (they stay until they move)."""
    return max(world.scenario.initial.placements.get(kind, 0) - world.providers.capacity[kind], 0)


@pytest.mark.slow
def test_recruitment_target_delivers_its_approvals():
    target = 150
    targets = [{"start": "2019-04-01", "approvals_per_year": target}]
    # Enquiries alone deliver the target only with the assessors and the follow-up team for it:
    # no slot limit here.
    unlimited = {"assessing": {"slots": None}, "follow_up": {"slots": None}}
    overrides = {"interventions": {"recruitment_targets": targets}, "recruitment": unlimited}
    sc = load_scenario(BASE, {"years": 4, **overrides})
    flows = simulate(sc, seed=2).flows
    full_years = flows[flows["days_simulated"] >= 365].iloc[1:]  # after the pipeline fills
    # Enquiries are a Poisson process and each passes the funnel independently, so the
    # approvals of whole years are a Poisson count: 4 s.e. either side, a false failure once
    # in about 16,000 runs. Without the target Kent approves under 90 a year: far outside.
    poisson_near(full_years["approvals"].sum(), target * len(full_years))


@pytest.mark.slow
def test_assessment_capacity_shortens_assessments():
    """From the third year almost every approval comes from an assessment begun under the
    policy: the mean assessment time is half the mean of the fast/slow lognormal mixture."""
    base = kent(years=4)
    a = base.recruitment.assessment
    moments = [
        (share, median * math.exp(s * s / 2), median**2 * math.exp(2 * s * s))
        for share, median, s in (
            (a.fast_share, a.fast_median_months, a.fast_sigma),
            (1 - a.fast_share, a.slow_median_months, a.slow_sigma),
        )
    ]
    mean = sum(w * m1 for w, m1, _ in moments)
    sd = math.sqrt(sum(w * m2 for w, _, m2 in moments) - mean**2)
    boost = {"start": "2019-04-01", "duration_multiplier": 0.5}
    faster = kent(years=4, assessment_capacity=[boost])
    for multiplier, scenario in ((1.0, base), (0.5, faster)):
        flows = simulate(scenario, seed=4).flows.iloc[2:]
        n = flows["approvals"].sum()
        # The mean of n independent durations, within 4 s.e. (a false failure once in about
        # 16,000 runs); without the policy's effect the faster run would be 25 s.e. away.
        months = flows["approval_months_sum"].sum() / n
        near(months, multiplier * mean, multiplier * sd / math.sqrt(n))


@pytest.mark.slow
def test_retention_offer_stops_resignations_while_it_runs():
    sc = kent(
        years=4,
        retention_offers=[
            {"start": "2020-04-01", "end": "2022-04-01", "deregistration_multiplier": [0.0, 0.0]}
        ],
    )
    """No carer decides to leave while the offer runs: the only carers who resign or move to
    an agency then are those who decided before it and waited for their children to leave
    (section 2.6.13). Resignations after a breakdown, which the offer does not stop, may still
    wait, but end as ``after_breakdown``."""
    flows = simulate(sc, seed=5).flows.set_index("financial_year")
    during = ("2020-21", "2021-22")
    left = 0.0
    for fy in during:
        left += flows.loc[fy, "deregistrations_carer_initiated"]
        left += flows.loc[fy].get("deregistrations_to_ifa", 0)
    assert left <= flows.loc["2019-20", "resignations_deferred"]
    assert flows.loc["2019-20", "resignations_deferred"] > 0
    assert flows.loc["2022-23", "deregistrations_carer_initiated"] > 0
    assert flows.loc["2019-20", "deregistrations_carer_initiated"] > 0


def test_step_across_moves_children_out_of_residential():
    """100 children in residential care and ample framework places, so every consideration
    moves a child: each moves by the horizon with chance 1 - exp(-rate x time)."""
    start = dt.date(2019, 6, 1)
    stock = {"placements": {"residential": 100}, "age_weights": [0, 0, 0, 1, 0]}
    none = simulate(small(initial=stock), seed=6).flows
    sc = small(initial=stock, interventions={"step_across": [{"start": start, "per_year": 2.0}]})
    some = simulate(sc, seed=6).flows
    assert total(none, "step_across") == 0
    years = (horizon(sc) - (start - sc.start).days) / YEAR
    # Binomial count within 4 s.e.: a false failure once in about 16,000 runs; half the
    # rate (p = 0.57 instead of 0.81) would be 6 s.e. away.
    binomial_near(total(some, "step_across"), 100, 1 - math.exp(-2.0 * years))


@pytest.mark.slow
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
    """Above the quota all year (30 UASC in care, quota 10); transfers start on 1 April 2020."""
    change = dt.date(2020, 4, 1)
    nts = {"child_population": 10_000, "quota_share": 0.001, "transfer_prob": 0.0}
    sc = small(
        years=2,
        uasc={"arrivals_per_year": 100.0, "nts": {**nts, "delay_days": 10.0}},
        initial={"uasc": 30},
        interventions={"nts_changes": [{"start": change, "transfer_prob": 1.0}]},
    )
    res = simulate(sc, seed=7)
    day = (change - sc.start).days
    children = res.children[~res.children["initial"]]
    after = children[children["entry_day"] >= day]
    assert total(res.flows, "nts_referrals") == len(after) > 50
    exits = res.children[res.children["exit_reason"] == "nts_transfer"]
    assert (exits["exit_day"] >= day).all() and exits["child"].isin(after["child"]).all()
    # Each referral is an independent trial given its arrival day: within 4 s.e. of the sum
    # of the chances, a false failure once in about 16,000 runs.
    bernoulli_sum_near(len(exits), transfer_chances(after, horizon(sc), 10.0))


def test_intervention_dates_outside_the_horizon_are_rejected():
    with pytest.raises(ScenarioError, match=r"interventions.mockingbird\[0\]"):
        kent(years=2, mockingbird=[{"start": "2024-11-01", "area": "South"}])
    with pytest.raises(ScenarioError, match="unknown area"):
        kent(years=2, mockingbird=[{"start": "2020-11-01", "area": "Nowhere"}])


@pytest.mark.slow
def test_comparing_a_scenario_with_itself_gives_zero_exactly():
    a = kent(years=2)
    b = with_overrides(a, {"name": "Same again"})
    result = compare(a, [b], reps=3, seed=9)
    d = result.differences
    assert (d["difference"] == 0).all()
    assert (d["ci_low"] == 0).all() and (d["ci_high"] == 0).all()
    assert (d["prob_better"] == 0.5).all()
    assert (result.spend["difference"] == 0).all() and (result.spend["ci_high"] == 0).all()


@pytest.mark.slow
def test_pairing_reduces_variance_for_a_real_policy():
    base = kent(years=3)
    policy = load_scenario("scenarios/policy_recruitment_target_120.toml", {"years": 3})
    res = compare(base, [policy], reps=12, seed=10)
    vr = variance_reduction(
        res.tables[base.name]["snapshots"], res.tables[policy.name]["snapshots"], "in_house"
    )
    # Children with in-house carers, the outcome the policy is for. With 12 pairs the ratio
    # in year 2 measured 0.29 (seed 10). A variance estimate from 12 pairs has 11 degrees of
    # freedom: its 95th percentile is 1.8 times the true value, so 0.8 is exceeded only if
    # pairing is lost (independent runs give 1). (The household count itself pairs less well,
    # 0.86 in year 2 and 0.77 in year 3, seed 10: the target sets the policy's approvals
    # whatever the posterior draw, so their difference keeps the base's spread across draws;
    # with point parameters 0.29 and 0.32. Deregistrations pair: 48 against 622 in year 2.)
    assert vr["replications_ratio"].iloc[-2] < 0.8
    d = paired_differences(res.tables[base.name]["snapshots"], res.tables[policy.name]["snapshots"])
    final = d[(d["outcome"] == "households") & (d["year"] == d["year"].max())].iloc[0]
    assert final["ci_low"] > 0  # 120 approvals a year grow the carer base


@pytest.mark.slow
def test_a_recruitment_target_leaves_the_scenarios_own_enquiries_where_they_were(monkeypatch):
    """The enquiries a target adds come from a process and a stream of their own: under the
    target the scenario's own enquiries are made on the same days with the same draws through
    the funnel as without it, and the added ones draw from ``enquiries_added``."""
    made: list[tuple[int, float, float, float]] = []
    fate_of = carers._Fate
    rng_world: list[World] = []

    def recorded(rng):
        fate = fate_of(rng)
        made.append((id(rng), rng_world[0].now, fate.applies, fate.approves))
        return fate

    monkeypatch.setattr(carers, "_Fate", recorded)
    drawn = {}
    for name, sc in (
        ("base", kent(years=1)),
        (
            "target",
            kent(years=1, recruitment_targets=[{"start": "2019-04-01", "approvals_per_year": 120}]),
        ),
    ):
        made.clear()
        world = World(sc, make_streams(4, 0))
        rng_world[:] = [world]
        world.run()
        own, added = id(world.rng["funnel"]), id(world.rng["enquiries_added"])
        drawn[name] = (
            [m[1:] for m in made if m[0] == own],
            sum(m[0] == added for m in made),
        )
    assert len(drawn["base"][0]) > 400 and drawn["base"][1] == 0
    assert drawn["target"][0] == drawn["base"][0]
    assert drawn["target"][1] > 100


@pytest.mark.slow
def test_households_stay_paired_when_a_policy_changes_their_leaving():
    """Each household draws its attrition clock, reviews and standards concern from its own
    stream (``World.own_stream``), so a retention offer that changes every household's leaving
    hazard keeps the base's and the policy's households paired, however the children placed
    with them differ. The households count's paired variance against that of independent runs,
    at 31 March 2021, has its upper 95% limit below 0.8: the ratio over the 5% point of an F
    distribution with n - 1 and 2(n - 1) degrees of freedom (the paired variance's and the two
    scenarios' variances). Measured: 0.044 with 10 pairs at 31 March 2021 (3-year runs), and
    0.24 when the households drew from shared streams; the test fails on that code (0.28 with
    these 6 pairs, limit 1.3)."""
    base = point(kent(years=2))
    policy = point(load_scenario("scenarios/policy_retention_offer.toml", {"years": 2}))
    n = 6
    res = compare(base, [policy], reps=n, seed=10)
    vr = variance_reduction(
        res.tables[base.name]["snapshots"], res.tables[policy.name]["snapshots"], "households"
    )
    ratio = vr["replications_ratio"].iloc[-1]
    assert vr["var_independent"].iloc[-1] > 0
    assert ratio / stats.f.ppf(0.05, n - 1, 2 * (n - 1)) < 0.8, ratio


@pytest.mark.slow
def test_target_solver_finds_the_erlang_answer(monkeypatch):
    """In-house share of entrants >= 90% in a loss system with offered load 8: the solver's
    answer is checked against Erlang's loss formula, computed here from scipy's Poisson
    distribution (B(c, a) = P(N = c) / P(N <= c)), within the simulation's sampling error."""
    scenario = loss_system(10, 2000.0, 250.0, years=2)
    goal = Goal.parse("foster_entries_in_house_share >= 0.9", 2021)
    reps = 5
    # The solver's runs, kept by capacity and replication: it checks its answer in every
    # replication, and those runs give the share's spread at the answer below.
    flows_of: dict[tuple[int, int], pd.DataFrame] = {}

    def kept(at, seed, replication):
        res = simulate(at, seed=seed, replication=replication)
        flows_of[(at.initial.households, replication)] = res.flows
        return res

    monkeypatch.setattr(target, "simulate", kept)
    result = solve(
        scenario, goal, 0.5, lever="initial.households", low=5, high=20, reps=reps, seed=1
    )

    def in_house(c: int) -> float:
        return 1 - stats.poisson.pmf(c, 8.0) / stats.poisson.cdf(c, 8.0)

    expected = next(c for c in range(1, 40) if in_house(c) >= 0.9)
    # The answer is the smallest c at which the median replication meets the goal. Its
    # sampling error: the spread of the share across the same replications at the answer,
    # and the median's standard error, 1.25 sd / sqrt(reps) for a normal sample.
    shares = []
    for rep in range(reps):
        flows = flows_of[(round(result.answer), rep)]
        shares.append(flows.loc[flows["financial_year"] == "2020-21", goal.column].iloc[0])
    se = 1.2533 * np.std(shares, ddof=1) / math.sqrt(reps)
    # Capacities that the sampling error cannot tell from the goal's boundary, at 3 s.e. on
    # either side (a false failure about once in 370 runs).
    plausible = {
        c
        for c in range(5, 21)
        if in_house(c) >= goal.value - 3 * se and in_house(c - 1) < goal.value + 3 * se
    }
    assert result.answer in plausible, (result.answer, expected, se)
    # With 5 replications the bound is narrow enough to tell the answer from one place more
    # or fewer (Erlang gives 87.8%, 91.9% and 94.9% in-house for 10, 11 and 12 households).
    assert plausible == {expected}
    assert result.achieved >= 0.5
    # high, low and 4 bisection steps per replication, then a check of the answer: far
    # fewer than a grid over the 16 values for every replication.
    assert result.runs <= reps * (2 + 4) + reps < 16 * reps


def test_goal_parsing_errors_are_clear():
    with pytest.raises(ValueError, match="MEASURE OP VALUE"):
        Goal.parse("lots of carers", 2025)
    g = Goal.parse("in_house_share >= 90%", 2025)
    assert g.value == pytest.approx(0.9) and g.column == "foster_entries_in_house_share"
