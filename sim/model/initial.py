"""The stock at the start date: households with their places, and children in placements.

Placement and care start dates are backdated, and children who move often are given the
earlier moves of their last year, so stability indicators are meaningful from the first
snapshot.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.model import carers, placements
from sim.model.children import new_child
from sim.model.entities import PLACED
from sim.model.metrics import long_term, three_plus_placements
from sim.model.timing import YEAR
from sim.rng import cumulative

if TYPE_CHECKING:
    from sim.model.entities import Child, Household
    from sim.model.world import World

FOSTER_KINDS: Final = ("in_house", "ifa_framework", "ifa_spot")
SUPPORTED_FROM_AGE: Final = 16  # supported accommodation is for young people of 16 and over


def build(world: World) -> None:
    """Create the initial households and children of ``world.scenario.initial``."""
    world.recorder.building = True
    _households(world)
    _children(world)
    # Drawn once the stock is complete: how long ago each placement began, which decides
    # whether it is settled, is known only now (drawn at placing, they would be drawn twice).
    for c in world.children.values():
        placements.redraw_hazards(world, c)
    world.recorder.building = False


def _households(world: World) -> None:
    sc = world.scenario
    ini = sc.initial
    rng = world.rng["initial"]
    for _ in range(ini.households):
        approved = -min(rng.exponential(ini.mean_years_approved * YEAR), 30 * YEAR)
        h = carers.new_household(world, rng, ini.places_weights, approved, 0)
        h.last_active = max(approved, -rng.random() * sc.attrition.inactive_days)
        if h.kind != "short_breaks" and rng.bernoulli(ini.on_hold_share):
            h.on_hold = True
            world.schedule(
                rng.exponential(sc.attrition.on_hold_mean_days), carers._hold_end, world, h
            )
        world.index.update(h)


def _age_for(world: World, kind: str, rng) -> float:
    edges = world.scenario.age_band_edges
    top = edges[-1]
    if kind == "supported":
        return top - 2 + rng.random() * 1.99
    if kind == "placed_for_adoption":
        return rng.random() * edges[2]
    weights = list(world.scenario.initial.age_weights)
    if kind == "residential":
        weights = [w if edges[i] >= edges[-3] else 0.0 for i, w in enumerate(weights)]
    band = rng.choice(cumulative(weights))
    return edges[band] + rng.random() * (edges[band + 1] - edges[band]) * 0.999


def _children(world: World) -> None:
    sc = world.scenario
    ini = sc.initial
    rng = world.rng["initial"]
    remaining = dict(ini.placements)
    u = sc.uasc
    areas = list(sc.children.area_weights)
    area_cum = cumulative(list(sc.children.area_weights.values()))
    uasc_areas = list(u.area_weights)
    uasc_cum = cumulative(list(u.area_weights.values()))
    ages = list(u.age_weights)
    exemptions = _Exemptions(world)
    kin = _Kin(ini.connected_households)
    for _ in range(ini.uasc):
        age = ages[world.pick(rng, u.age_weights)] + rng.random() * 0.999
        if age >= sc.age_band_edges[-1] - 2 and remaining.get("supported", 0) > 0:
            kind = "supported"
        else:
            weights = [remaining.get(k, 0) for k in FOSTER_KINDS]
            if sum(weights) == 0:
                kind = "supported"
            else:
                kind = FOSTER_KINDS[rng.choice(cumulative(weights))]
        remaining[kind] = max(remaining.get(kind, 0) - 1, 0)
        _place_initial(
            world, rng, age, uasc_areas[rng.choice(uasc_cum)], True, kind, exemptions, kin
        )
    for kind, n in remaining.items():
        for _ in range(n):
            age = _age_for(world, kind, rng)
            _place_initial(
                world, rng, age, areas[rng.choice(area_cum)], False, kind, exemptions, kin
            )
    if ini.three_plus_share is not None:
        _recent_moves(world, rng, ini.three_plus_share)
    if ini.same_placement_2y_share is not None:
        _settled_share(world, rng, ini.same_placement_2y_share)


def _settled_share(world: World, rng, share: float) -> None:
    """Make ``share`` of the two-year indicator's group (under 16, in care 2.5+ years) 2+ years
    in their placement at the start date.

    The placement ages are drawn from breakdowns and planned moves alone; step-downs, emergency
    beds and carers leaving move children too, so the drawn stock would start away from the
    observed figure and take two years to settle. Only children who are not recent movers are
    changed (their placement is then the only one since they came into care, or began in the
    two years before), which keeps the 3+ placements indicator where it was.
    """
    everyone = [c for c in world.children.values() if long_term(c, 0.0)]
    group = [
        c
        for c in everyone
        if c.state == PLACED
        and c.placement not in ("with_parents", "placed_for_adoption")
        and not three_plus_placements(c, 0.0)
    ]
    settled = [c for c in group if c.settled_from <= -2 * YEAR]
    unsettled = [c for c in group if c.settled_from > -2 * YEAR]
    n_settled = sum(c.state == PLACED and c.settled_from <= -2 * YEAR for c in everyone)
    excess = n_settled - round(share * len(everyone))
    pool = settled if excess > 0 else unsettled
    for k in range(min(abs(excess), len(pool))):  # a partial shuffle picks them
        j = k + int(rng.random() * (len(pool) - k))
        pool[k], pool[j] = pool[j], pool[k]
        c = pool[k]
        in_care = -c.entry
        if excess > 0:  # moved in the last two years
            in_placement = rng.random() * min(2 * YEAR, _since_supported_age(c, c.placement))
        else:  # in this placement since 2+ years ago, at most since coming into care
            in_placement = 2 * YEAR + rng.random() * (in_care - 2 * YEAR)
        c.placed_at = c.settled_from = -in_placement
        c.placement_starts = [-in_care, -in_placement] if in_care > in_placement else [-in_care]
        h = world.households.get(c.household)
        if h is not None and h.kind == "connected":
            h.approved = min(h.approved, -in_placement)


def _recent_moves(world: World, rng, share: float) -> None:
    """Give ``share`` of the stock at least two moves in the last year (3+ placements).

    Histories drawn from breakdowns and planned moves alone give about 3% where Kent had 10%,
    so the indicator would take a year to settle. The extra movers come from children outside
    the long-term group of the two-year stability indicator (under 16, in care 2.5+ years),
    which keeps that indicator where the drawn histories put it.
    """
    children = list(world.children.values())
    natural = sum(three_plus_placements(c, 0.0) for c in children)
    candidates = [
        c
        for c in children
        if c.placement not in ("with_parents", "placed_for_adoption")
        and len(c.placement_starts) < 3
        and not long_term(c, 0.0)
    ]
    wanted = min(max(round(share * len(children)) - natural, 0), len(candidates))
    for k in range(wanted):  # a partial shuffle picks the movers
        j = k + int(rng.random() * (len(candidates) - k))
        candidates[k], candidates[j] = candidates[j], candidates[k]
        c = candidates[k]
        in_care = -c.entry
        span = min(in_care, YEAR)
        in_placement = rng.random() * min(span, _since_supported_age(c, c.placement))
        before = -in_placement - rng.random() * (span - in_placement)  # the move before this one
        c.placed_at = -in_placement
        c.settled_from = -in_placement
        c.placement_starts = [-in_care, before, -in_placement]
        h = world.households.get(c.household)
        if h is not None and h.kind == "connected":
            h.approved = -in_placement


def _since_supported_age(child, kind: str) -> float:
    """How long a supported accommodation placement can have lasted at the start: it takes
    young people from 16 only (any other placement: no limit)."""
    if kind != "supported":
        return math.inf
    return max(-child.dob - SUPPORTED_FROM_AGE * YEAR, 0.0)


class _Exemptions:
    """Mainstream households with room, outside their approval range (Kent places on exemption).

    While the stock is built no child leaves, so a household once full stays full: a cursor
    over the candidates finds the first with room without rescanning the full ones.
    """

    def __init__(self, world: World) -> None:
        self.candidates = [
            h for h in world.households.values() if h.kind == "mainstream" and not h.solo
        ]
        self.i = 0
        self.solo = world.scenario.initial.place_all_in_house
        self.j = 0

    def take(self, child: Child) -> Household | None:
        if child.solo:
            return self._empty() if self.solo else None
        while self.i < len(self.candidates):
            h = self.candidates[self.i]
            if h.free > 0:
                return h
            self.i += 1
        return None

    def _empty(self) -> Household | None:
        """A household with no child and a place free, for a child placed alone."""
        while self.j < len(self.candidates):
            h = self.candidates[self.j]
            self.j += 1
            if not h.children and h.free > 0:
                return h
        return None


class _Kin:
    """Connected households for the initial connected children: once ``households`` of them
    are formed, further children join them in turn (brothers and sisters with the same
    relative). ``None``: a household for each child."""

    def __init__(self, households: int | None) -> None:
        self.households = households
        self.formed: list[Household] = []
        self.turn = 0

    def join(self) -> Household | None:
        if self.households is None or len(self.formed) < self.households:
            return None
        h = self.formed[self.turn % len(self.formed)]
        self.turn += 1
        return h


def _place_initial(
    world: World,
    rng,
    age: float,
    area: str,
    uasc: bool,
    kind: str,
    exemptions: _Exemptions,
    kin: _Kin,
) -> None:
    sc = world.scenario
    ini = sc.initial
    joined = kin.join() if kind == "connected" else None
    if joined is not None:
        area = joined.area  # the child lives with the relative
    share = sc.children.section20_share
    if kind == "connected" and ini.connected_section20_share is not None:
        share = ini.connected_section20_share
    child = new_child(world, age, area, uasc, section20=uasc or rng.bernoulli(share))
    in_care = min(rng.exponential(ini.mean_years_in_care), age) * YEAR
    child.entry = -in_care
    h = None
    if kind == "in_house":
        h = world.index.find("mainstream", [child], area) or exemptions.take(child)
        if h is None:
            kind = "ifa_spot"
            world.recorder.initial_overflow += 1
    elif joined is not None:
        h = joined
        h.places += 1
        h.refresh()
    elif kind == "connected":
        h = carers.approve_connected(world, area, [child])
        kin.formed.append(h)
    if h is None and kind in world.providers.occupied:
        world.providers.take(kind, child, force=True)
    world.recorder.initial(child)
    placements.place(world, child, kind, h, "entry", hazards=False)
    # Time since the last move, and the moves of the last year, at the child's own hazards of
    # moving: a child who rarely moves has usually been in this placement since coming into care.
    rate = 0.0
    b = sc.breakdown
    if kind not in ("with_parents", "placed_for_adoption"):
        rate = placements.breakdown_rate(world, child, h) + b.planned_move_per_year
    if b.settled_multiplier == 1.0:
        since = rng.hazard_time(rate)
    else:  # hazards that fall once a placement settles: long placements are more common
        since = placements.settled_age(rng, rate, b.settled_days / YEAR, b.settled_multiplier)
    in_placement = min(since * YEAR, in_care, _since_supported_age(child, kind))
    child.placed_at = -in_placement
    child.settled_from = -in_placement
    if h is not None and h.kind == "connected":
        h.approved = min(h.approved, -in_placement)  # approved for the first child placed
    window = max(0.0, min(in_care, YEAR) - in_placement)
    n_prior = rng.poisson(rate * window / YEAR) if window > 0 else 0
    prior = sorted(-in_placement - rng.random() * window for _ in range(n_prior))
    first = [-in_care] if in_care > in_placement else []  # the placement on coming into care
    child.placement_starts = [*first, *prior, -in_placement]
