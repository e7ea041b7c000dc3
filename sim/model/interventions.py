"""Dated policies: hub families, Mockingbird constellations, recruitment targets, extra
assessment capacity, retention offers, UASC ring-fencing, step-across, provider and National
Transfer Scheme changes.

Each starts (and may end) on a date and composes with the others. Effect sizes given as
ranges are drawn once per replication from the ``interventions`` stream, so a batch carries
the evidence's uncertainty; the draws do not disturb any other mechanism's random numbers.

Evidence for the defaults (see docs/MODEL.md and evidence.md section 2):

- Mockingbird: 6-10 satellite households and a hub home keeping 2 beds (WWCSC 2019; Surrey
  CC); deregistration multiplier 0.18 (the 2020 evaluation's "82% less likely to de-register",
  comparative, not randomised) to 0.9 (the 10% self-reported "would have resigned"); breakdown
  multiplier 0.8 (18.5% self-reported prevented breakdowns) to 1.0. No UK cost per
  constellation was found: the cost is a parameter.
- Hub families (Kent, seeds A75/A82, D21): a hub carer supporting 3-4 carers; no effect sizes
  were found, so they are a lighter-touch Mockingbird: breakdown 0.75-1.0, deregistration
  0.6-1.0 (assumptions).
- UASC ring-fence: Kent 2024, 39 in-house + 21 IFA framework + 9 supported accommodation beds
  (seeds E101-E104).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

from sim.model import carers, placements
from sim.model.entities import PLACED, Child, Household
from sim.model.hooks import Observer
from sim.model.timing import YEAR

if TYPE_CHECKING:
    from sim.model.world import World

WEEKS_PER_YEAR: Final = YEAR / 7


class Programmes:
    """The policies running now: their households, weekly costs, and the offers in force."""

    def __init__(self) -> None:
        self.members: dict[str, list[int]] = {}  # households of each scheme or ring-fence
        self.costs: dict[str, float] = {}  # weekly, by programme
        self.assessment_boosts: dict[str, Any] = {}
        self.retention_offers: dict[str, tuple[float, float]] = {}  # multiplier, weekly cost
        self.retention_cost_per_household = 0.0  # weekly

    def weekly_cost(self, households: int) -> float:
        """Weekly cost of every programme running, with ``households`` fostering households."""
        return sum(self.costs.values()) + households * self.retention_cost_per_household


class StepAcross(Observer):
    """While a step-across programme runs, children in residential care are considered for
    fostering at a rate per year (the programmes' rates add up)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rate = 0.0
        self.cost_per_move = 0.0

    def placement_started(self, child: Child, h: Household | None) -> None:
        if child.placement == "residential":
            self.consider(child)

    def consider(self, child: Child) -> None:
        """Draw when ``child``, in residential care, is next considered for fostering."""
        if self.rate <= 0:
            return
        w = self.world
        t = w.rng["interventions"].hazard_time(self.rate) * YEAR
        w.schedule(t, _step_across, w, child, child.placement_token)


def start(world: World) -> None:
    """Schedule every intervention's start and end."""
    rng = world.rng["interventions"]
    for kind, i, item in world.scenario.interventions.dated():
        # Effect sizes are drawn now, in a fixed order, whatever the start dates.
        draws = {
            name: value[0] + rng.random() * (value[1] - value[0])
            for name, value in item
            if name.endswith("_multiplier") and isinstance(value, tuple)
        }
        if kind == "recruitment_targets":
            # Added now for its dates, so the enquiry stream's thinning bound covers it.
            _add_target(world, item)
            continue
        begin, end = _STARTS[kind]
        name = f"{kind}[{i}]"
        world.schedule(world.day(item.start), begin, world, name, item, draws)
        if getattr(item, "end", None) is not None and end is not None:
            world.schedule(world.day(item.end), end, world, name, item, draws)


# ----------------------------------------------------------------------- support schemes


def _members(world: World, area: str, taken: set[int]) -> list[Household]:
    """Active mainstream households of ``area`` in no scheme, most experienced first."""
    out = [
        h
        for h in world.households.values()
        if h.active
        and h.kind == "mainstream"
        and h.area == area
        and not h.support
        and h.id not in taken
    ]
    out.sort(key=lambda h: (h.approved, h.id))
    return out


def _join(world: World, h: Household, support: str, breakdown: float, deregister: float) -> None:
    h.support = support
    h.breakdown_multiplier = breakdown
    h.deregistration_multiplier = deregister
    _refresh_hazards(world, h)


def _leave(world: World, h: Household) -> None:
    h.support = ""
    h.breakdown_multiplier = h.deregistration_multiplier = 1.0
    h.reserved = 0
    if h.active:
        world.index.update(h)
        _refresh_hazards(world, h)
        placements.offer_vacancy(world, h)


def _refresh_hazards(world: World, h: Household) -> None:
    """Redraw the household's and its children's hazards under the new multipliers."""
    if not h.active:
        return
    rng = world.rng["interventions"]
    carers.schedule_attrition(world, h, rng)
    for cid in h.children:
        placements.redraw_hazards(world, world.children[cid], rng)


def _hub_families_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    rng = world.rng["interventions"]
    members: list[int] = []
    hubs = 0
    for area in world.scenario.areas:
        for _ in range(item.hubs_per_area):
            candidates = [h for h in _members(world, area, set()) if h.places >= 2]
            if not candidates:
                break
            hub = candidates[0]
            lo, hi = item.satellites
            k = lo + int(rng.random() * (hi - lo + 1))
            satellites = [h for h in _members(world, area, {hub.id})][:k]
            hub.reserved = item.respite_places
            world.index.update(hub)
            _join(
                world,
                hub,
                f"{name}:hub",
                draws["breakdown_multiplier"],
                draws["deregistration_multiplier"],
            )
            for h in satellites:
                _join(
                    world,
                    h,
                    f"{name}:member",
                    draws["breakdown_multiplier"],
                    draws["deregistration_multiplier"],
                )
            members += [hub.id, *(h.id for h in satellites)]
            hubs += 1
    world.programmes.members[name] = members
    world.programmes.costs[name] = hubs * item.cost_per_hub_per_year / WEEKS_PER_YEAR
    world.recorder.costs_changed()
    world.recorder.flow("hub_families_started", hubs)


def _mockingbird_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    rng = world.rng["interventions"]
    pool = [h for h in _members(world, item.area, set()) if h.places >= item.hub_beds]
    if not pool:
        world.recorder.flow("constellations_not_formed")
        return
    hub = pool[0]
    hub.reserved = item.hub_beds
    world.index.update(hub)
    lo, hi = item.satellites
    k = lo + int(rng.random() * (hi - lo + 1))
    satellites = _members(world, item.area, {hub.id})[:k]
    _join(world, hub, f"{name}:hub", 1.0, draws["deregistration_multiplier"])
    for h in satellites:
        _join(
            world,
            h,
            f"{name}:satellite",
            draws["breakdown_multiplier"],
            draws["deregistration_multiplier"],
        )
    world.programmes.members[name] = [hub.id, *(h.id for h in satellites)]
    world.programmes.costs[name] = item.cost_per_year / WEEKS_PER_YEAR
    world.recorder.costs_changed()
    world.recorder.flow("constellations_started")


def _scheme_end(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    for hid in world.programmes.members.pop(name, []):
        h = world.households.get(hid)
        if h is not None and h.support.startswith(name):
            _leave(world, h)
    world.programmes.costs.pop(name, None)
    world.recorder.costs_changed()


# --------------------------------------------------------------------------- recruitment


def _add_target(world: World, item: Any) -> None:
    """Scale enquiries so the funnel is expected to approve ``approvals_per_year``."""
    r = world.scenario.recruitment
    start = world.day(item.start)
    per_enquiry = world.scenario.approvals_per_enquiry(item.start)
    curve = world.recruitment.curve
    expected = curve.base_at(start) * YEAR * sum(r.seasonality) / 12 * per_enquiry
    if expected <= 0:
        raise ValueError(
            "a recruitment target needs enquiries and a funnel that converts some of them"
        )
    end = world.day(item.end) if item.end is not None else world.horizon + 1
    curve.add_window(start, end, item.approvals_per_year / expected)


def _assessment_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    world.programmes.assessment_boosts[name] = item
    world.programmes.costs[name] = item.cost_per_year / WEEKS_PER_YEAR
    world.recorder.costs_changed()
    _assessment_changed(world)


def _assessment_end(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    world.programmes.assessment_boosts.pop(name, None)
    world.programmes.costs.pop(name, None)
    world.recorder.costs_changed()
    _assessment_changed(world)


def _assessment_changed(world: World) -> None:
    boosts = world.programmes.assessment_boosts.values()
    recruitment = world.recruitment
    recruitment.duration_multiplier = math.prod(b.duration_multiplier for b in boosts)
    probs = [b.approval_prob for b in boosts if b.approval_prob is not None]
    recruitment.approval_prob = max(probs) if probs else None


# ------------------------------------------------------------------------------ retention


def _retention_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    world.programmes.retention_offers[name] = (
        draws["deregistration_multiplier"],
        item.weekly_cost_per_household,
    )
    _retention_changed(world)


def _retention_end(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    world.programmes.retention_offers.pop(name, None)
    _retention_changed(world)


def _retention_changed(world: World) -> None:
    offers = world.programmes.retention_offers.values()
    world.attrition.retention_multiplier = math.prod(m for m, _ in offers)
    world.programmes.retention_cost_per_household = sum(c for _, c in offers)
    world.recorder.costs_changed()
    _redraw_all_attrition(world)


def _redraw_all_attrition(world: World) -> None:
    for h in list(world.households.values()):
        if h.active and h.kind != "connected":
            carers.schedule_attrition(world, h, world.rng["interventions"])


# -------------------------------------------------------------------------- ring-fencing


def _ring_fence_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    p = world.providers
    p.reserved["ifa_framework"] += item.ifa_framework
    p.reserved["supported"] += item.supported
    # UASC children already in these placements occupy the ring-fenced beds first.
    for c in world.children.values():
        kind = c.placement
        if (
            c.uasc
            and c.state == PLACED
            and kind in ("ifa_framework", "supported")
            and not c.ring_fenced
            and p.reserved_used[kind] < p.reserved[kind]
        ):
            p.reserved_used[kind] += 1
            c.ring_fenced = True
    # In-house: designate whole households that take teenagers, in the areas where UASC
    # arrive, until the ring-fenced places reach the target.
    weights = world.scenario.uasc.area_weights
    areas = sorted(weights, key=lambda a: -weights[a])
    designated: list[int] = []
    places = 0
    for area in areas:
        for h in _members(world, area, set()):
            if places >= item.in_house:
                break
            if h.max_age >= 15 and not h.uasc_only:
                h.uasc_only = True
                designated.append(h.id)
                places += h.places
    world.programmes.members[name] = designated
    world.recorder.flow("ring_fenced_in_house_places", places)


def _ring_fence_end(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    p = world.providers
    p.reserved["ifa_framework"] -= item.ifa_framework
    p.reserved["supported"] -= item.supported
    for kind in ("ifa_framework", "supported"):
        # Children in places that were ring-fenced keep them as ordinary places.
        p.reserved_used[kind] = min(p.reserved_used[kind], p.reserved[kind])
    for hid in world.programmes.members.pop(name, []):
        h = world.households.get(hid)
        if h is not None:
            h.uasc_only = False
            if h.active:
                placements.offer_vacancy(world, h)


# ---------------------------------------------------------------------------- step-across


def _step_across_start(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    step_across = world.step_across
    step_across.rate += item.per_year
    step_across.cost_per_move = item.cost_per_move
    for c in list(world.children.values()):
        if c.state == PLACED and c.placement == "residential":
            step_across.consider(c)


def _step_across_end(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    world.step_across.rate -= item.per_year


def _step_across(world: World, child: Child, token: int) -> None:
    step_across = world.step_across
    if child.state != PLACED or child.placement_token != token or step_across.rate <= 0:
        return
    h = world.index.find("mainstream", [child], child.area)
    if h is None:
        if world.providers.free("ifa_framework", child.uasc) < 1:
            step_across.consider(child)  # try again later
            return
        placements.vacate(world, child, "step_across")
        world.providers.take("ifa_framework", child)
        placements.place(world, child, "ifa_framework", None, "step_across")
    else:
        placements.vacate(world, child, "step_across")
        placements.place(world, child, "in_house", h, "step_across")
    child.needs_residential = False
    world.recorder.flow("step_across")
    world.recorder.flow("step_across_cost", step_across.cost_per_move)


# --------------------------------------------------------------------- provider and NTS


def _provider_change(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    if item.places is not None:
        world.providers.capacity[item.kind] = item.places
    if item.weekly_cost is not None:
        world.providers.weekly_cost[item.kind] = item.weekly_cost
        world.recorder.costs_changed()


def _nts_change(world: World, name: str, item: Any, draws: dict[str, float]) -> None:
    for field in ("quota_share", "transfer_prob", "delay_days", "accommodation_limit"):
        value = getattr(item, field)
        if value is not None:
            setattr(world.arrivals.nts, field, value)
    if item.accommodate_all:
        world.arrivals.nts.accommodation_limit = math.inf


_STARTS = {
    "hub_families": (_hub_families_start, _scheme_end),
    "mockingbird": (_mockingbird_start, _scheme_end),
    "assessment_capacity": (_assessment_start, _assessment_end),
    "retention_offers": (_retention_start, _retention_end),
    "uasc_ring_fence": (_ring_fence_start, _ring_fence_end),
    "step_across": (_step_across_start, _step_across_end),
    "provider_changes": (_provider_change, None),
    "nts_changes": (_nts_change, None),
}
