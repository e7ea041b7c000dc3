"""Matching, the search cascade, placements, breakdowns, planned moves and step-down.

A child (or a sibling group) needing a placement goes down the cascade: an in-house carer in
the home area, then elsewhere, an emergency bed (urgent moves only), the IFA framework, the
IFA spot market, supported accommodation (16+), residential, and unregistered provision as the
last resort. Each step has its own delay and chance of an offer. A child for whom every step
fails waits and tries again; any in-house vacancy that opens is offered first to waiting
children, then to children who could step down from agency or residential care.

Placements announce when they start and end and when a household empties (``hooks``); what
follows for exits, carers and policies is done by the mechanisms that own it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.model.entities import LEFT, PLACED, SEARCHING, Child, Household
from sim.model.vacancies import fits
from sim.rng import Stream

if TYPE_CHECKING:
    from sim.model.world import World

STEP_DOWN_FROM: Final = ("ifa_framework", "ifa_spot", "residential", "unregistered")
FOSTER: Final = ("in_house", "connected", "ifa_framework", "ifa_spot")


# ------------------------------------------------------------------------------ search


def _step_list(urgent: bool, sixteen_plus: bool, supported_first: bool) -> tuple[str, ...]:
    steps = ["in_house_home", "in_house_other"]
    if urgent:
        steps.append("emergency")
    steps += ["ifa_framework", "ifa_spot"]
    if supported_first:
        steps.insert(0, "supported")
    elif sixteen_plus:
        steps.append("supported")
    return (*steps, "residential", "unregistered")


# Every cascade there is, built once: (urgent, all 16 or over, supported accommodation first).
_CASCADES = {
    (u, s, f): _step_list(u, s, f) for u in (False, True) for s in (False, True) for f in (False, s)
}
_RESIDENTIAL_CASCADE: Final = ("residential", "unregistered")
_IN_HOUSE_WHERE = {"in_house_home": "home", "in_house_other": "elsewhere", "emergency": "anywhere"}


def _steps(world: World, group: list[Child], urgent: bool) -> tuple[str, ...]:
    if any(c.needs_residential for c in group):
        return _RESIDENTIAL_CASCADE
    sixteen_plus = min(world.age(c) for c in group) >= 16
    if not sixteen_plus:
        first = False
    elif all(c.uasc for c in group):
        first = world.rng["matching"].bernoulli(world.scenario.uasc.supported_first_prob_16plus)
    else:
        # Other 16-17-year-olds: the 16+ team's homes (supported accommodation) before foster
        # care for some; no draw where a council states none, so its runs stay as they were.
        prob = world.scenario.children.supported_first_prob_16plus
        first = prob > 0 and world.rng["matching"].bernoulli(prob)
    return _CASCADES[(urgent, sixteen_plus, first)]


def start_search(world: World, group: list[Child], reason: str, urgent: bool) -> None:
    """Send ``group`` (siblings to be placed together) down the cascade."""
    tokens = []
    for c in group:
        c.state = SEARCHING
        c.placement = ""
        c.household = -1
        c.placement_token += 1
        c.episode_reason = reason
        world.waiting.pop(c.id, None)
        tokens.append(c.placement_token)
    _attempt(world, group, tokens, _steps(world, group, urgent), 0, False, reason, urgent)


def _still_searching(group: list[Child], tokens: list[int]) -> list[Child]:
    return [
        c
        for c, t in zip(group, tokens, strict=True)
        if c.state == SEARCHING and c.placement_token == t
    ]


def _attempt(
    world: World,
    group: list[Child],
    tokens: list[int],
    steps: tuple[str, ...],
    i: int,
    arrived: bool,
    reason: str,
    urgent: bool,
) -> None:
    for c, t in zip(group, tokens, strict=True):
        if c.state != SEARCHING or c.placement_token != t:
            group = _still_searching(group, tokens)
            if not group:
                return
            tokens = [c.placement_token for c in group]
            break
    cascade = world.scenario.matching.cascade
    while i < len(steps):
        step = steps[i]
        spec = cascade[step]
        if spec.delay_days > 0 and not arrived:
            world.schedule(
                spec.delay_days, _attempt, world, group, tokens, steps, i, True, reason, urgent
            )
            return
        arrived = False
        if _try_step(world, step, spec.accept_prob, group, reason):
            return
        if step == "ifa_spot" and len(group) > 1 and world.scenario.matching.split_siblings:
            world.recorder.flow("siblings_split")
            for c in group:
                start_search(world, [c], reason, urgent)
            return
        i += 1
    for c in group:
        world.waiting[c.id] = None
    world.recorder.flow("search_failures", len(group))
    world.schedule(world.scenario.matching.retry_days, _retry, world, group, tokens, reason, urgent)


def _retry(world: World, group: list[Child], tokens: list[int], reason: str, urgent: bool) -> None:
    live = _still_searching(group, tokens)
    if live:
        start_search(world, live, reason, urgent)


def _try_step(world: World, step: str, accept_prob: float, group: list[Child], reason: str) -> bool:
    rng = world.rng["matching"]
    where = _IN_HOUSE_WHERE.get(step)
    if where is not None:
        kind = (
            "emergency"
            if step == "emergency"
            else ("parent_and_child" if group[0].parent_and_child else "mainstream")
        )
        h = world.index.find(kind, group, group[0].area, where)
        if h is None or not rng.bernoulli(accept_prob):
            return False
        for c in group:
            place(world, c, "in_house", h, reason)
        return True
    kind = step
    if kind in ("supported", "unregistered") and any(c.parent_and_child for c in group):
        return False
    uasc = group[0].uasc if len(group) == 1 else all(c.uasc for c in group)
    providers = world.providers
    outside = providers.free(kind, uasc) < len(group)
    if (outside and providers.outside_free(kind) < len(group)) or not rng.bernoulli(accept_prob):
        return False
    if outside:
        world.recorder.flow("spot_placed_outside", len(group))
    for c in group:
        providers.take(kind, c, outside=outside)
        place(world, c, kind, None, reason)
    return True


# --------------------------------------------------------------------- placing and vacating


def _within20(world: World, child: Child, kind: str, h: Household | None) -> bool | None:
    """Whether the placement is within 20 miles of home; None when the distance is not known."""
    d = world.scenario.distance
    if kind in ("placed_for_adoption", "with_parents"):
        return True
    if world.geography is not None:
        return world.geography.within20(child, kind, h)
    if h is not None:
        p = d.same_area if h.area == child.area else d.other_area
    else:
        p = getattr(d, kind)
    return world.rng["distance"].bernoulli(p)


def place(
    world: World,
    child: Child,
    kind: str,
    h: Household | None,
    reason: str,
    settled_from: float | None = None,
    hazards: bool = True,
) -> None:
    """Start a placement episode of ``child`` in ``kind`` (with household ``h`` if in-house).

    External capacity must already be taken by the caller. ``settled_from``: the start of the
    placement this one continues for the two-year stability measure (an adoptive placement).
    ``hazards=False`` leaves the breakdown and planned move to :func:`redraw_hazards`, for a
    placement whose start date is not known yet (the initial stock).
    """
    now = world.now
    child.state = PLACED
    child.placement = kind
    child.placed_at = now
    child.settled_from = now if settled_from is None else settled_from
    child.episode_reason = reason
    child.placement_token += 1
    starts = child.placement_starts
    starts.append(now)
    while len(starts) > 2 and starts[1] <= now - 366:
        del starts[0]
    world.waiting.pop(child.id, None)
    if h is not None:
        child.household = h.id
        h.children.append(child.id)
        if child.solo:
            h.solo += 1
        h.last_active = now
        world.index.update(h)
    else:
        child.household = -1
    within = _within20(world, child, kind, h)
    child.within20 = bool(within)
    child.distance_known = within is not None
    world.recorder.placement_started(child, reason)
    _schedule_placement_events(world, child, h, hazards)
    for fn in world.hooks.placement_started:
        fn(child, h)


def vacate(world: World, child: Child, reason: str) -> Household | None:
    """End ``child``'s current placement episode; returns the household left, if any."""
    world.recorder.episode(child, reason)
    hooks = world.hooks
    h = None
    if child.household >= 0:
        h = world.households[child.household]
        h.children.remove(child.id)
        if child.solo:
            h.solo -= 1
        h.last_active = world.now
        world.index.update(h)
        emptied = not h.children  # before observers, who may move the other children on
        for ended in hooks.placement_ended:
            ended(child, h, reason)
        if emptied:
            for on_empty in hooks.household_emptied:
                on_empty(h)
        offer_vacancy(world, h)
    else:
        if child.placement in world.providers.occupied:
            world.providers.release(child.placement, child)
        for ended in hooks.placement_ended:
            ended(child, None, reason)
    child.household = -1
    child.placement = ""
    child.state = SEARCHING
    child.placement_token += 1
    return h


def _schedule_placement_events(
    world: World, child: Child, h: Household | None, hazards: bool
) -> None:
    m = world.scenario.matching
    token = child.placement_token
    kind = child.placement
    if h is not None and h.kind == "emergency":
        world.schedule(m.emergency_stay_days, _emergency_end, world, child, token)
    if (
        kind in STEP_DOWN_FROM
        and not child.needs_residential
        and world.age(child) < m.step_down_max_age
        and (kind == "unregistered" or world.rng["matching"].bernoulli(m.step_down_prob))
    ):
        delay = 0.0 if kind == "unregistered" else m.step_down_min_days
        world.schedule(delay, world.step_down.add, child, token)
    if hazards:
        _schedule_hazards(world, child, h)


def breakdown_rate(world: World, child: Child, h: Household | None) -> float:
    """Hazard per year of an unplanned ending of ``child``'s current placement."""
    b = world.scenario.breakdown
    rate = b.per_year.get(child.placement, 0.0)
    if child.high_risk:
        rate *= b.high_risk_multiplier
    if world.age(child) >= b.teen_from_age:
        rate *= b.teen_multiplier
    if child.complex_needs:
        rate *= b.complex_multiplier
    if h is not None:
        rate *= h.breakdown_multiplier
    return rate


def redraw_hazards(world: World, child: Child, rng: Stream | None = None) -> None:
    """Redraw a placed child's breakdown and planned-move times after their hazards change
    (or draw them for the first time, for a placement begun with ``hazards=False``).

    Only the competing-hazard chain is replaced; emergency and step-down timers carry on.
    """
    if child.state != PLACED:
        return
    child.hazard_token += 1
    h = world.households.get(child.household) if child.household >= 0 else None
    _schedule_hazards(world, child, h, rng)


def _schedule_hazards(
    world: World, child: Child, h: Household | None, rng: Stream | None = None
) -> None:
    """Draw the next breakdown or planned move from their competing hazards (per year)."""
    rng = rng or world.rng["breakdowns"]
    year = 365.25
    b = world.scenario.breakdown
    rate = breakdown_rate(world, child, h)
    planned = b.planned_move_per_year
    if child.needs_residential or child.placement in ("placed_for_adoption", "with_parents"):
        planned = 0.0  # planned moves are to in-house carers, which these children do not use
    if b.settled_multiplier == 1.0:
        tb = rng.hazard_time(rate) * year
        tp = rng.hazard_time(planned) * year
    else:
        unsettled = max(b.settled_days - (world.now - child.placed_at), 0.0) / year
        tb = _settling_time(rng.hazard_time(1.0), rate, unsettled, b.settled_multiplier) * year
        tp = _settling_time(rng.hazard_time(1.0), planned, unsettled, b.settled_multiplier) * year
    if tb == math.inf and tp == math.inf:
        return
    what = "breakdown" if tb <= tp else "planned"
    delay = min(tb, tp)
    day = world.now + delay
    if h is not None and h.kind == "emergency" and day > emergency_stay_end(world, child):
        return  # the emergency stay ends first, and the placement with it
    if day > child.exit_at:
        # The child's exit comes first and ends the placement: an event then would do nothing.
        child.held_hazard = (day, child.placement_token, child.hazard_token, what)
        return
    world.schedule(
        delay, _hazard_event, world, child, child.placement_token, child.hazard_token, what
    )


def _settling_time(e: float, rate: float, unsettled: float, multiplier: float) -> float:
    """Years to an event at ``rate`` for ``unsettled`` years, then at ``rate * multiplier``,
    from the unit exponential draw ``e`` (by inverting the cumulative hazard)."""
    if rate <= 0:
        return math.inf
    if e < rate * unsettled:
        return e / rate
    late = rate * multiplier
    return unsettled + (e - rate * unsettled) / late if late > 0 else math.inf


def settled_age(rng: Stream, rate: float, settled: float, multiplier: float) -> float:
    """Years a placement has run at a random moment of a steady state in which it ends at
    ``rate`` a year for ``settled`` years, then at ``rate * multiplier``: the density of its
    age is proportional to the chance of lasting that long."""
    if rate <= 0:
        return math.inf
    early = -math.expm1(-rate * settled)  # chance of ending before settling
    z0 = early / rate
    z1 = math.exp(-rate * settled) / (rate * multiplier) if multiplier > 0 else math.inf
    u = rng.random()
    if z1 == math.inf or u * (z0 + z1) >= z0:
        return settled + rng.hazard_time(rate * multiplier)
    return -math.log1p(-u * (z0 + z1) / z0 * early) / rate


def release_held_hazard(world: World, child: Child) -> None:
    """Schedule a held breakdown or planned move that the child's redrawn exit now follows."""
    held = child.held_hazard
    if held is None or held[0] > child.exit_at:
        return
    child.held_hazard = None
    day, token, hazard_token, what = held
    if (
        child.state == PLACED
        and child.placement_token == token
        and child.hazard_token == hazard_token
    ):
        world.schedule_at(day, _hazard_event, world, child, token, hazard_token, what)


def _hazard_event(world: World, child: Child, token: int, hazard_token: int, what: str) -> None:
    if (
        child.state != PLACED
        or child.placement_token != token
        or child.hazard_token != hazard_token
    ):
        return
    h = world.households.get(child.household) if child.household >= 0 else None
    if what == "breakdown":
        kind = child.placement
        world.recorder.flow("breakdowns")
        if kind in ("in_house", "connected"):
            world.recorder.flow("unplanned_endings")
        if h is not None:
            child.avoid = h.id
        vacate(world, child, "breakdown")
        start_search(world, [child], "breakdown", urgent=True)
        return
    # A planned move happens only when an in-house placement is there to move to.
    kind = "parent_and_child" if child.parent_and_child else "mainstream"
    target = world.index.find(kind, [child], child.area, exclude=child.household)
    if target is None or (
        child.household >= 0 and world.households[child.household].kind == "connected"
    ):
        _schedule_hazards(world, child, h)
        return
    world.recorder.flow("planned_moves")
    vacate(world, child, "planned")
    place(world, child, "in_house", target, "planned")


def emergency_stay_end(world: World, child: Child) -> float:
    """The day a placed child's emergency stay ends: the day its end was scheduled for."""
    return child.placed_at + world.scenario.matching.emergency_stay_days


def _emergency_end(world: World, child: Child, token: int) -> None:
    if child.state != PLACED or child.placement_token != token:
        return
    world.recorder.flow("emergency_moves_on")
    vacate(world, child, "emergency_end")
    start_search(world, [child], "emergency_end", urgent=False)


def offer_vacancy(world: World, h: Household) -> None:
    """Offer a newly free in-house place to waiting children, then to step-down candidates."""
    if not h.active or h.kind not in ("mainstream", "parent_and_child") or h.free <= 0:
        return
    accept = world.scenario.matching.cascade["in_house_home"].accept_prob
    waiting = list(world.waiting)
    geo = world.geography
    if geo is not None and geo.spec.nearest_area_first:  # the nearest waiting children first
        nearest = geo.areas_nearest(geo.district_of(h))  # draws h's district on first use
        if len(waiting) > 1:
            rank = {a: i for i, a in enumerate(nearest)}
            waiting.sort(key=lambda cid: rank[world.children[cid].area])
    for cid in waiting:
        if h.free <= 0:
            return
        c = world.children[cid]
        # Sibling groups and children needing a children's home retry the whole cascade.
        if c.state != SEARCHING or c.needs_residential or c.group != c.id:
            continue
        if fits(world, h, [c]) and world.rng["matching"].bernoulli(accept):
            c.placement_token += 1  # cancels its pending retry
            place(world, c, "in_house", h, c.episode_reason)
    while h.free > 0:
        child = world.step_down.take_for(h)
        if child is None:
            return
        world.recorder.flow("step_downs")
        vacate(world, child, "step_down")
        place(world, child, "in_house", h, "step_down")


def leave_placement(world: World, child: Child, reason: str) -> None:
    """End whatever ``child`` is doing (placed or searching) because they leave care."""
    if child.state == PLACED:
        vacate(world, child, reason)
    world.waiting.pop(child.id, None)
    child.state = LEFT
    child.placement_token += 1


def in_foster_care(child: Child) -> bool:
    return child.state == PLACED and child.placement in FOSTER
