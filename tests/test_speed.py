"""The shortcuts that make a replication fast give the same figures as the slow definitions.

Snapshots read running counts (``metrics.Stocks``) instead of scanning every child: at every
month end of a Kent run with policies switched on, each count is checked against a full scan
with the indicators' own definitions (``three_plus_placements``, ``long_term``). Annual
reviews that could only schedule the next one are stepped over, landing on the same dates.
Hazards that a known earlier ending makes dead are not scheduled, and attrition clocks that
stay valid are kept, with the same headline figures over replications.
"""

from __future__ import annotations

import math
import statistics

import pandas as pd
import pytest
from conftest import ROOT, binomial_near, near, small, total

from sim.config import PLACEMENT_TYPES, load_scenario
from sim.model import carers, children, initial, placements, review
from sim.model.entities import PLACED, SEARCHING
from sim.model.metrics import long_term, three_plus_placements
from sim.model.timing import YEAR
from sim.model.world import World
from sim.rng import make_streams


def _scan(world: World) -> dict[str, float]:
    """The snapshot's child figures counted the slow way, from every child in care."""
    now = world.now
    kids = list(world.children.values())
    placed = [c for c in kids if c.state == PLACED]
    group = [c for c in kids if long_term(c, now)]
    stable = [c for c in group if c.state == PLACED and now - c.settled_from >= 2 * YEAR]
    out: dict[str, float] = {k: sum(c.placement == k for c in placed) for k in PLACEMENT_TYPES}
    out["uasc_in_care"] = sum(c.uasc for c in kids)
    out["waiting"] = sum(c.state == SEARCHING for c in kids)
    out["kpi_3plus_placements"] = sum(three_plus_placements(c, now) for c in kids) / len(kids)
    out["kpi_same_placement_2y"] = len(stable) / len(group) if group else math.nan
    known = [c for c in placed if c.distance_known]
    out["placed_distance_known"] = len(known)
    out["kpi_within_20_miles"] = sum(c.within20 for c in known) / len(known)
    out["kpi_within_20_miles_all"] = sum(c.within20 for c in placed) / len(placed)
    return out


@pytest.mark.slow
def test_snapshot_counts_match_a_full_scan():
    sc = load_scenario(ROOT / "scenarios" / "policy_combined.toml")
    world = World(sc, make_streams(7, 0))
    rec = world.recorder
    snapshot = rec.snapshot
    checked = []

    def checking_snapshot() -> None:
        snapshot()
        row = rec.snapshot_rows[-1]
        for name, value in _scan(world).items():
            assert row[name] == value or (math.isnan(value) and math.isnan(row[name])), (
                f"{name} on day {world.now}: counted {row[name]}, scan gives {value}"
            )
        checked.append(world.now)

    rec.snapshot = checking_snapshot  # type: ignore[method-assign]
    res = world.run()
    assert len(checked) == len(res.snapshots) >= 36
    # The run exercised every indicator: children entering and leaving each group.
    kpis = res.snapshots[["kpi_3plus_placements", "kpi_same_placement_2y"]]
    assert kpis.nunique().min() > 10


def test_reviews_are_held_only_when_they_could_find_the_carers_inactive():
    """Idle households (no children ever come) are reviewed only once a year has passed since
    they were last active, and each review deregisters them with the scenario's probability:
    the yearly reviews that could only reschedule are never held."""
    sc = small(years=4, initial={"households": 400, "places_weights": [1.0]})
    world = World(sc, make_streams(3, 0))
    held: list[tuple[float, int]] = []
    review = carers._review

    def spy(world: World, h) -> None:
        held.append((world.now, h.id))
        review(world, h)

    initial_households: list = []
    build = initial.build

    def keep(world: World) -> None:
        build(world)
        initial_households.extend(world.households.values())

    carers._review = spy  # scheduled by name, so every review goes through the spy
    initial.build = keep
    try:
        world.run()
    finally:
        carers._review = review
        initial.build = build
    a = sc.attrition
    last_active = {h.id: h.last_active for h in initial_households}
    assert len(held) > 400
    for day, hid in held:
        assert day - last_active[hid] >= a.inactive_days, "a review that could only reschedule"
    flows = world.recorder.results().flows
    binomial_near(total(flows, "deregistrations_service"), len(held), a.service_deregistration_prob)


@pytest.mark.slow
def test_hazards_held_back_for_an_earlier_exit_change_nothing(monkeypatch):
    """A breakdown or planned move drawn for after the child's scheduled exit is held back,
    not scheduled, and scheduled after all if the exit is redrawn to a later day: every table
    is identical, value for value, to a run that schedules every hazard, with fewer events."""
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 3.0})
    fast = World(sc, make_streams(11, 0))
    released: list[float] = []
    release = placements.release_held_hazard

    def counting(world: World, child) -> None:
        held = child.held_hazard
        release(world, child)
        if held is not None and child.held_hazard is None and held[0] <= child.exit_at:
            released.append(held[0])

    monkeypatch.setattr(placements, "release_held_hazard", counting)
    res = fast.run()
    monkeypatch.undo()
    # Without the exit's day on record nothing is held back: every hazard is scheduled.
    monkeypatch.setattr(children, "_schedule", _schedule_without_exit_day)
    slow = World(sc, make_streams(11, 0))
    every = slow.run()
    assert released, "no held hazard was released by a later exit"
    assert fast.events < slow.events
    for name, table in every.tables().items():
        pd.testing.assert_frame_equal(res.tables()[name], table, check_exact=True)


def _schedule_without_exit_day(world: World, child, delay, fn, *args) -> None:
    world.schedule(delay, fn, world, child, *args)


def _redraw_every_change(self, h) -> None:
    """The usage feedback as it was: a new attrition draw whenever the state changes."""
    if h is None or self.world.recorder.building or not h.active or h.kind == "connected":
        return
    if self._state(h) != self.drawn.get(h.id):
        carers.schedule_attrition(self.world, h)


def _headline(res) -> dict[str, float]:
    flows, last = res.flows, res.snapshots.iloc[-1]
    leaving = total(flows, "deregistrations_carer_initiated") + total(
        flows, "deregistrations_to_ifa"
    )
    return {
        "carer-initiated and to-IFA deregistrations": leaving,
        "deregistrations": total(flows, "deregistrations"),
        "households at the end": float(last["households"]),
        "in-house placements at the end": float(last["in_house"]),
        "children in care at the end": float(last["children_in_care"]),
    }


@pytest.mark.slow  # statistical: ten three-year Kent runs
def test_attrition_clocks_kept_while_the_multiplier_holds_change_no_headline(monkeypatch):
    """A placement that leaves a household's leaving multiplier as it is, until at least the
    day its clock was drawn up to, keeps the clock (the hazard is memoryless): fewer draws and
    events that fire for nothing, and over replications the same deregistrations, households
    and placements as redrawing at every change, to within the paired differences' standard
    errors (none at all where the redraws only respend the household's drawn hazard)."""
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 3.0})
    assert sc.attrition.usage.active
    reps = range(5)
    kept, redrawn, events = [], [], []
    for rep in reps:
        world = World(sc, make_streams(5, rep))
        kept.append(_headline(world.run()))
        events.append(world.events)
    monkeypatch.setattr(review.Usage, "_redraw", _redraw_every_change)
    for rep in reps:
        world = World(sc, make_streams(5, rep))
        redrawn.append(_headline(world.run()))
        assert world.events > events[rep], "no attrition redraw was spared"
    for name in kept[0]:
        diffs = [a[name] - b[name] for a, b in zip(kept, redrawn, strict=True)]
        near(statistics.mean(diffs), 0.0, statistics.stdev(diffs) / math.sqrt(len(diffs)))


@pytest.mark.slow
def test_hazards_after_an_emergency_stay_ends_are_not_scheduled(monkeypatch):
    """A breakdown or planned move drawn for after the end of an emergency stay (which ends
    the placement) is not scheduled: every table is identical, value for value, to a run that
    schedules it, with fewer events."""
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 3.0})
    fast = World(sc, make_streams(11, 0))
    res = fast.run()
    monkeypatch.setattr(placements, "emergency_stay_end", lambda world, child: math.inf)
    slow = World(sc, make_streams(11, 0))
    every = slow.run()
    assert fast.events < slow.events
    for name, table in every.tables().items():
        pd.testing.assert_frame_equal(res.tables()[name], table, check_exact=True)


def _stock_hazards(world: World) -> tuple[int, int, int]:
    """At the start of a run: hazard events in the queue, those already cancelled, and the
    breakdowns among the live ones due in the first year."""
    events = [e for e in world.env._queue if getattr(e[3], "fn", None) is placements._hazard_event]
    live = [
        (day, what)
        for day, _, _, call in events
        for _, child, token, hazard_token, what in [call.args]
        if child.placement_token == token and child.hazard_token == hazard_token
    ]
    first_year = sum(day < YEAR and what == "breakdown" for day, what in live)
    return len(events), len(events) - len(live), first_year


def _draw_twice(build):
    """The initial stock as it was built: hazards drawn as each placement began, then redrawn
    once its start date was backdated, the first draw left in the queue cancelled."""

    def twice(world: World) -> None:
        build(world)
        for c in world.children.values():
            placements.redraw_hazards(world, c)

    return twice


@pytest.mark.slow
def test_initial_placements_draw_their_hazards_once(monkeypatch):
    """Each placement of the initial stock gets one breakdown or planned move, drawn once its
    start date is known (the settled multiplier applied where it is already settled): no
    cancelled events in the queue at the start, and the same first-year breakdowns, over
    replications, as drawing twice and cancelling the first."""
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 1.0})
    assert sc.breakdown.settled_multiplier != 1.0
    once, twice = [], []
    for rep in range(8):
        world = World(sc, make_streams(21, rep))
        world.start()
        events, cancelled, first_year = _stock_hazards(world)
        assert cancelled == 0 and 0 < events <= len(world.children)
        once.append(first_year)
    monkeypatch.setattr(initial, "build", _draw_twice(initial.build))
    for rep in range(8):
        world = World(sc, make_streams(21, 100 + rep))
        world.start()
        events, cancelled, first_year = _stock_hazards(world)
        assert cancelled > 0
        twice.append(first_year)
    se = math.sqrt(statistics.variance(once) / len(once) + statistics.variance(twice) / len(twice))
    near(statistics.mean(once), statistics.mean(twice), se)
