"""The DfE placement stability measures on hand-built histories, and the step-down window.

``kpi_3plus_placements``: children in care with three or more placements in the 12 months,
the one running into them included. ``kpi_same_placement_2y``: of children under 16 looked
after for 2.5 years or more, those in the same placement for 2 years or more, or placed for
adoption with the adoptive and the previous placement together lasting 2 years or more.
"""

from __future__ import annotations

import math

import pytest
from conftest import KENT, YEAR, binomial_near, new_child, poisson_near, small

from sim.config import PLACEMENT_TYPES, load_scenario
from sim.model import initial, simulate
from sim.model.children import _exit_event
from sim.model.entities import PLACED, SEARCHING, Child, Household
from sim.model.metrics import Stocks, three_plus_placements
from sim.model.placements import _settling_time, place
from sim.model.world import World
from sim.rng import make_streams

NOW = 10 * YEAR


def child(cid: int, age: float, in_care: float, placed: float | None, **kw) -> Child:
    """A child aged ``age`` years at ``NOW``, in care for ``in_care`` years and placed
    ``placed`` years ago (None: between placements)."""
    c = new_child(cid, NOW - age * YEAR, NOW - in_care * YEAR)
    c.placement_starts = [c.entry]
    if placed is not None:
        c.state, c.placement = PLACED, "in_house"
        c.placed_at = c.settled_from = NOW - placed * YEAR
        c.placement_starts.append(c.placed_at)
    else:
        c.state = SEARCHING
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def placed_now(world: World, kind: str) -> Child:
    """A child of 4 who comes into care now and is placed in ``kind``."""
    c = child(world.new_id(), 4.0, 0.0, None)
    c.dob, c.entry = world.now - 4.0 * YEAR, world.now
    world.children[c.id] = c
    if kind:
        if kind in world.providers.occupied:
            world.providers.take(kind, c)
        place(world, c, kind, None, "entry")
    return c


def test_three_plus_placements_counts_the_placement_running_into_the_year():
    starts = {
        1: [-3.0, -0.5, -0.1],  # two moves in the year: three placements
        2: [-3.0, -1.2, -0.1],  # one move in the year: two placements
        3: [-0.9, -0.5, -0.1],  # came into care in the year and moved twice
        4: [-0.3, -0.1],  # two placements only
        5: [-5.0, -2.0, -1.5, -0.6, -0.2],  # the second-last start in the year decides
    }
    expected = {1: True, 2: False, 3: True, 4: False, 5: True}
    for cid, years in starts.items():
        c = child(cid, 10.0, -years[0], -years[-1])
        c.placement_starts = [NOW + y * YEAR for y in years]
        assert three_plus_placements(c, NOW) is expected[cid], cid


def test_same_placement_two_years_on_hand_built_histories():
    adopted = child(6, 5.0, 3.0, 0.5, placement="placed_for_adoption")
    adopted.settled_from = NOW - 2.2 * YEAR  # foster placement 1.7 years, then adopters
    recent_adoption = child(7, 5.0, 3.0, 0.5, placement="placed_for_adoption")
    recent_adoption.settled_from = NOW - 1.5 * YEAR
    kids = [
        child(1, 10.0, 3.0, 2.1),  # in the group, settled
        child(2, 10.0, 3.0, 1.0),  # in the group, moved a year ago
        child(3, 16.5, 5.0, 4.0),  # 16: not in the group
        child(4, 10.0, 2.0, 2.0),  # in care under 2.5 years: not in the group
        child(5, 10.0, 3.0, None),  # in the group, between placements
        adopted,  # in the group, settled: adoptive and previous placement 2.2 years
        recent_adoption,  # in the group, 1.5 years together
    ]
    stocks = Stocks.count({c.id: c for c in kids}, NOW)
    assert stocks.long_term == {1, 2, 5, 6, 7}
    assert stocks.settled == {1, 3, 4, 6}
    assert stocks.long_term_settled == 2
    # The group's share (the KPI): 2 of 5.
    assert stocks.long_term_settled / len(stocks.long_term) == pytest.approx(0.4)


def test_an_adoptive_placement_continues_the_placement_it_follows():
    """Placed for adoption from foster care, a child keeps the foster placement's start for
    the two-year measure; one placed for adoption between placements starts afresh."""
    world = World(small(), make_streams(0, 0))
    fostered, waiting = placed_now(world, "ifa_framework"), placed_now(world, "")
    world.env.run(until=300.0)
    _exit_event(world, fostered, fostered.exit_token, "adoption")
    _exit_event(world, waiting, waiting.exit_token, "adoption")
    assert fostered.placement == waiting.placement == "placed_for_adoption"
    assert fostered.placed_at == 300.0 and fostered.settled_from == 0.0
    assert waiting.settled_from == waiting.placed_at == 300.0


def test_agency_placements_past_the_step_down_window_are_not_stepped_down():
    """With ``step_down_max_days``, an agency foster placement older than the window has
    become permanent and leaves the step-down list; residential care stays on it."""
    for window, expected in ((365.0, ["residential"]), (None, ["ifa_framework", "residential"])):
        matching = {} if window is None else {"matching": {"step_down_max_days": window}}
        world = World(small(**matching), make_streams(0, 0))
        for kind in ("ifa_framework", "residential"):
            c = placed_now(world, kind)
            world.step_down.add(c, c.placement_token)
        world.env.run(until=400.0)
        h = make_household(world)
        taken = []
        while (c := world.step_down.take_for(h)) is not None:
            taken.append(c.placement)
        assert sorted(taken) == expected, window


def make_household(world: World) -> Household:
    h = Household(
        id=world.new_id(),
        rng=world.own_stream(1),
        area="North",
        kind="mainstream",
        places=3,
        min_age=0,
        max_age=17,
        accepts_complex=True,
        approved=0.0,
    )
    world.households[h.id] = h
    world.index.update(h)
    return h


def test_kent_starts_with_about_the_emergency_beds_of_a83():
    """Seeds A83: "Increase in emergency bed provision to 10 beds across the county" (the
    2019-20 target). Each urgent search that finds only an emergency bed is two placements, so
    the count of beds drives the 3+ placements KPI."""
    world = World(load_scenario(KENT, {"years": 0.01}), make_streams(0, 0))
    initial.build(world)
    beds = [h.places for h in world.households.values() if h.kind == "emergency"]
    households = sum(h.kind != "connected" for h in world.households.values())
    # 0.8% of households at about 2 places each: 10 beds, standard deviation about 5.
    assert 0 < sum(beds) <= 10 + 4 * 5
    assert len(beds) / households < 0.02


def test_settling_time_inverts_the_two_piece_cumulative_hazard():
    assert _settling_time(0.5, 1.0, 1.0, 0.25) == 0.5  # before settling: at the full rate
    assert _settling_time(1.5, 1.0, 1.0, 0.25) == 1.0 + 0.5 / 0.25
    assert _settling_time(0.3, 2.0, 0.0, 0.5) == 0.3 / 1.0  # settled already
    assert _settling_time(0.3, 0.0, 1.0, 0.5) == math.inf


RATE, SETTLED = 0.6, 180.0


def settling_stock(multiplier: float):
    """4,000 children aged 1-10 in spot placements, which take them back at once."""
    placements = dict.fromkeys(PLACEMENT_TYPES, 0)
    placements["ifa_spot"] = 4000
    return small(
        years=1.5,
        initial={"placements": placements, "age_weights": [0, 1, 1, 0, 0]},
        providers={"ifa_framework_places": 0},
        breakdown={
            "per_year": {"ifa_spot": RATE},
            "teen_multiplier": 1.0,
            "settled_days": SETTLED,
            "settled_multiplier": multiplier,
        },
    )


@pytest.mark.parametrize("multiplier", [0.25, 1.0])
def test_placements_break_down_less_once_settled(multiplier):
    """Breakdowns per year in placement, before and after ``settled_days``: the scenario's rate,
    then the rate times ``settled_multiplier``; and the initial stock's placement ages follow the
    same two rates (more long placements when settled placements last)."""
    res = simulate(settling_stock(multiplier), seed=23)
    ep = res.episodes
    end = float(res.snapshots["day"].iloc[-1])
    start, stop = ep["start_day"], ep["end_day"].fillna(end)
    settles = start + SETTLED
    early = (stop.clip(upper=settles) - start.clip(lower=0.0)).clip(lower=0.0).sum() / YEAR
    late = (stop - settles.clip(lower=0.0)).clip(lower=0.0).sum() / YEAR
    broke = ep[ep["reason_end"] == "breakdown"]
    age = broke["end_day"] - broke["start_day"]
    poisson_near((age < SETTLED).sum(), early * RATE)
    poisson_near((age >= SETTLED).sum(), late * RATE * multiplier)
    # The stock at the start: of children in care for settled_days or more, a placement at
    # least that old with the steady state's chance z1 / (z0 + z1), its age's density being
    # proportional to the chance of lasting that long.
    first = ep[ep["start_day"] <= 0]
    entry = res.children.drop_duplicates("child").set_index("child")["entry_day"]
    eligible = (-entry.loc[first["child"]] >= SETTLED).to_numpy()
    old = (-first["start_day"] >= SETTLED).to_numpy()[eligible]
    r, s = RATE, SETTLED / YEAR
    z0, z1 = -math.expm1(-r * s) / r, math.exp(-r * s) / (r * multiplier)
    binomial_near(old.sum(), len(old), z1 / (z0 + z1))


@pytest.mark.parametrize("share", [0.5, 0.9])
def test_initial_stock_has_the_stated_share_settled_for_two_years(share):
    """`initial.same_placement_2y_share` sets the start date's two-year indicator exactly,
    changing only children who are not recent movers, so the 3+ placements indicator holds."""
    base = {"years": 0.01, "initial": {"same_placement_2y_share": None}}
    drawn = World(load_scenario(KENT, base), make_streams(0, 0))
    given = World(
        load_scenario(KENT, {**base, "initial": {"same_placement_2y_share": share}}),
        make_streams(0, 0),
    )
    for w in (drawn, given):
        initial.build(w)
    stocks = [Stocks.count(w.children, 0.0) for w in (drawn, given)]
    n = len(stocks[1].long_term)
    assert n > 300
    assert stocks[1].long_term_settled == round(share * n)
    assert stocks[0].long_term_settled != round(share * n)
    assert len(stocks[1].recent) == len(stocks[0].recent)
