"""A template for testing a new mechanism (see README, "Adding a mechanism").

The mechanism here is the README's worked example, "carers leave after long empty spells":
a fostering household whose home stays without a child for ``patience`` days resigns. It is
written as an :class:`~sim.model.hooks.Observer` that listens to three moments and keeps
its own state. The pattern to copy:

1. a quiet scenario (``conftest.small``) in which only the mechanism under test can act;
2. the same seed with the mechanism off and on, so both runs share every random number
   (common random numbers) until the mechanism first acts;
3. what the mechanism must change, worked out from the run without it, checked exactly
   where the mechanism is deterministic, or within a few standard errors where it is not
   (``conftest.near``, ``poisson_near``, ``binomial_near``).

The last test applies the same pattern to a dated policy (README, "Adding an intervention").
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from conftest import YEAR, binomial_near, horizon, small, total

from sim.config import PLACEMENT_TYPES, Scenario
from sim.model import carers
from sim.model.entities import Child, Household
from sim.model.hooks import Observer
from sim.model.metrics import Results
from sim.model.world import World
from sim.rng import make_streams


class EmptySpells(Observer):
    """Fostering households resign after ``patience`` days in a row without a child.

    A spell starts at approval or when the last child leaves, and ends when a child is placed.
    """

    def __init__(self, world: World, patience: float) -> None:
        self.world = world
        self.patience = patience
        self.spell_start: dict[int, float] = {}  # household id -> start of its empty spell

    def carer_approved(self, h: Household) -> None:
        self._begin(h)

    def household_emptied(self, h: Household) -> None:
        if h.kind != "connected" and h.active:
            self._begin(h)

    def placement_started(self, child: Child, h: Household | None) -> None:
        if h is not None:
            self.spell_start.pop(h.id, None)

    def _begin(self, h: Household) -> None:
        w = self.world
        self.spell_start[h.id] = w.now
        w.schedule(self.patience, self._check, h, w.now)

    def _check(self, h: Household, began: float) -> None:
        if self.spell_start.get(h.id) == began and h.active:
            del self.spell_start[h.id]
            carers.deregister(self.world, h, "carer_initiated")


PATIENCE = 120.0


def scenario(arrivals_per_year: float = 0.0) -> Scenario:
    """200 one-place households, each with a child aged 1-10 who goes home at 1.5 a year.

    No carer leaves otherwise; without arrivals, a household that empties stays empty.
    """
    placements = dict.fromkeys(PLACEMENT_TYPES, 0)
    placements["in_house"] = 200
    return small(
        years=2.0,
        initial={"households": 200, "placements": placements, "age_weights": [0, 1, 1, 0, 0]},
        children={
            "arrivals_per_year": arrivals_per_year,
            "entry_age_weights": [0, 1, 1, 0, 0],
            "exits": {"return_home_per_year": [1.5] * 5},
        },
    )


def run(sc: Scenario, empty_spells: bool, seed: int = 3) -> Results:
    world = World(sc, make_streams(seed, 0))
    if empty_spells:
        world.hooks.subscribe(EmptySpells(world, PATIENCE))
    return world.run()


def test_homes_left_empty_lose_their_carers_exactly_patience_days_later():
    sc = scenario()
    off, on = run(sc, empty_spells=False), run(sc, empty_spells=True)
    # Off, nothing else removes carers; the children's exits draw on their own stream, which
    # the mechanism does not touch, so they are the same in both runs.
    assert total(off.flows, "deregistrations") == 0
    pd.testing.assert_frame_equal(off.children, on.children)
    # Each household emptied early enough in the run without the mechanism resigns exactly
    # PATIENCE days later in the run with it.
    ep = off.episodes
    emptied = ep.loc[ep["reason_end"] == "return_home", "end_day"]
    expected = emptied[emptied + PATIENCE <= horizon(sc)]
    assert len(expected) > 50
    assert total(on.flows, "deregistrations_carer_initiated") == len(expected)
    # At every month end, the vacant places are the homes emptied less than PATIENCE ago.
    t = emptied.to_numpy()
    for day, vacant in zip(on.snapshots["day"], on.snapshots["places_vacant"], strict=True):
        assert vacant == ((t <= day) & (day < t + PATIENCE)).sum()


def test_runs_agree_until_the_mechanism_first_acts_and_a_placement_ends_a_spell():
    """With arrivals, empty homes are refilled: a spell ends when a child is placed. The run
    without the mechanism tells when the first spell reaches PATIENCE; until then the two runs
    are the same event for event."""
    sc = scenario(arrivals_per_year=150.0)
    off, on = run(sc, empty_spells=False), run(sc, empty_spells=True)
    ep = off.episodes[off.episodes["household"] >= 0].sort_values(["household", "start_day"])
    next_start = ep.groupby("household")["start_day"].shift(-1).fillna(horizon(sc))
    spell = next_start - ep["end_day"]
    refilled = ep["reason_end"].ne("open") & (spell < PATIENCE)
    assert refilled.sum() > 50  # spells a placement ended: the mechanism must leave them
    first = (ep["end_day"] + PATIENCE)[ep["reason_end"].ne("open") & (spell >= PATIENCE)].min()
    assert first < horizon(sc)

    def before(res: Results) -> pd.DataFrame:
        e = res.episodes
        return e[e["start_day"] < first].sort_values(["child", "start_day"], ignore_index=True)

    pd.testing.assert_frame_equal(
        before(off).drop(columns=["end_day", "reason_end"]),
        before(on).drop(columns=["end_day", "reason_end"]),
    )
    assert total(on.flows, "deregistrations_carer_initiated") > 0
    # Carers resign only from empty homes: no child's placement ends with their carer's.
    assert not (on.episodes["reason_end"] == "carer_deregistered").any()


def test_an_intervention_changes_nothing_before_its_start_and_what_it_should_after():
    """The same pattern for a dated policy (README, "Adding an intervention"): a retention
    offer that stops resignations from its start date, among 400 households resigning at
    0.5 a year. Before the start both runs are identical; after it, the households with the
    offer all stay, while without it each leaves with probability 1 - exp(-0.5 t)."""
    start = dt.date(2019, 9, 30)
    offer = {"start": start, "deregistration_multiplier": [0.0, 0.0]}
    base = {"initial": {"households": 400}, "attrition": {"deregistration_per_year": [0.5] * 3}}
    sc = small(**base)
    with_offer = small(**base, interventions={"retention_offers": [offer]})
    off = run(sc, empty_spells=False).snapshots.set_index("date")["households"]
    on = run(with_offer, empty_spells=False).snapshots.set_index("date")["households"]
    before = off.index <= start
    pd.testing.assert_series_equal(off[before], on[before])
    assert (on[~before] == on[before].iloc[-1]).all()
    # Without the offer, resignations carry on at their rate (4 standard errors).
    stay = off[before].iloc[-1]
    t = (horizon(sc) - (start - sc.start).days) / YEAR
    binomial_near(stay - off.iloc[-1], int(stay), 1 - math.exp(-0.5 * t))
