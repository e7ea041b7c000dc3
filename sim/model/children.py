"""Children: arrivals into care (including UASC and the National Transfer Scheme), exits,
turning 18 and Staying Put.

Exit hazards are constant within an age band, so the time to leave care is drawn afresh at
each band edge and whenever the placement changes (memorylessness makes this exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sim.model import carers, placements
from sim.model.entities import LEFT, PLACED, Child, Household
from sim.model.hooks import Observer
from sim.model.timing import YEAR, RateCurve, poisson_process
from sim.rng import choose_rates

if TYPE_CHECKING:
    from sim.model.world import World

EXIT_REASONS: Final = ("return_home", "sgo", "adoption")


@dataclass(slots=True)
class NtsPolicy:
    """National Transfer Scheme settings in force (``nts_changes`` policies change them)."""

    quota_share: float
    transfer_prob: float
    delay_days: float
    accommodation_limit: float = math.inf  # UASC the council takes into care at most


class Arrivals:
    """The arrival streams and the National Transfer Scheme's state."""

    def __init__(self, world: World) -> None:
        sc = world.scenario
        c = sc.children
        size = _mean_group_size(c.sibling_group_weights)
        if c.kinship_sibling_group_weights is not None:
            # Groups with relatives are drawn apart; at the starting kinship rate the curve
            # still brings arrivals_per_year children.
            kin = _mean_group_size(c.kinship_sibling_group_weights)
            size += c.kinship_prob * (kin - size)
        self.curve = RateCurve(world, c.arrivals_per_year / size, c.seasonality, c.arrival_changes)
        # The curve counts groups; observed levels, like arrivals_per_year, count children.
        self.curve.levels = [(start, end, level / size) for start, end, level in self.curve.levels]
        self.uasc_curve = RateCurve(world, sc.uasc.arrivals_per_year, [1.0] * 12, sc.uasc.surges)
        nts = sc.uasc.nts
        self.nts = NtsPolicy(
            nts.quota_share,
            nts.transfer_prob,
            nts.delay_days,
            math.inf if nts.accommodation_limit is None else nts.accommodation_limit,
        )
        self.uasc_in_care = 0


class Exits(Observer):
    """Keeps each child's exit from care drawn for the placement they are in.

    Exit hazards differ by placement only for connected and adoptive placements, so the exit
    is redrawn when a child moves into or out of one of them. A parent-and-child placement
    ends after its assessment.
    """

    def __init__(self, world: World) -> None:
        self.world = world

    def placement_started(self, child: Child, h: Household | None) -> None:
        w = self.world
        if child.parent_and_child:
            w.schedule(
                w.scenario.children.parent_and_child_days,
                _pc_end,
                w,
                child,
                child.placement_token,
            )
        kind = child.placement
        exit_class = kind if kind in ("connected", "placed_for_adoption") else ""
        if exit_class != child.exit_class or child.exit_token == 0:
            child.exit_class = exit_class
            schedule_exit(w, child)


def start(world: World) -> None:
    """Start the arrival streams."""
    a = world.arrivals
    poisson_process(world, a.curve, world.rng["arrivals"], lambda: arrive(world))
    poisson_process(world, a.uasc_curve, world.rng["uasc"], lambda: arrive_uasc(world))


def _mean_group_size(weights: list[float]) -> float:
    total = sum(weights)
    return sum((i + 1) * w for i, w in enumerate(weights)) / total


def _age_in_band(world: World, band: int, rng) -> float:
    edges = world.scenario.age_band_edges
    return edges[band] + rng.random() * (edges[band + 1] - edges[band])


def new_child(
    world: World, age: float, area: str, uasc: bool, group: int = 0, section20: bool = False
) -> Child:
    """Create a child of ``age`` years at the current time and register them."""
    sc = world.scenario
    rng = world.rng["children"]
    band = world.band(age)
    complex_prob = sc.uasc.complex_need_prob if uasc else sc.children.complex_need_prob[band]
    complex_needs = rng.bernoulli(complex_prob)
    cid = world.new_id()
    child = Child(
        id=cid,
        dob=world.now - age * YEAR,
        area=area,
        complex_needs=complex_needs,
        uasc=uasc,
        male=rng.bernoulli(sc.uasc.male_share if uasc else sc.children.male_share),
        section20=section20,
        high_risk=rng.bernoulli(sc.breakdown.high_risk_share),
        group=group or cid,
        entry=world.now,
        solo=complex_needs and rng.bernoulli(sc.children.solo_prob_complex),
    )
    child.needs_residential = (
        complex_needs
        and not uasc
        and age >= sc.children.residential_need_from_age
        and rng.bernoulli(sc.children.residential_need_prob)
    )
    world.children[cid] = child
    if uasc:
        world.arrivals.uasc_in_care += 1
    return child


def arrive(world: World) -> None:
    """A child, or a sibling group, comes into care."""
    sc = world.scenario
    c = sc.children
    rng = world.rng["arrivals"]
    kin_weights = c.kinship_sibling_group_weights
    # Without groups of their own, whether a group goes to relatives is drawn last (as before).
    kin = None if kin_weights is None else rng.bernoulli(kinship_prob(world))
    size = world.pick(rng, kin_weights if kin_weights and kin else c.sibling_group_weights) + 1
    areas = list(c.area_weights)
    area = areas[world.pick(rng, c.area_weights)]
    band = world.pick(rng, c.entry_age_weights)
    age = _age_in_band(world, band, rng)
    section20 = rng.bernoulli(c.section20_share)
    top = sc.age_band_edges[-1] - 0.05
    ages = [age] + [min(max(age + (rng.random() * 6 - 3), 0.0), top) for _ in range(size - 1)]
    first = new_child(world, ages[0], area, False, section20=section20)
    group = [first] + [
        new_child(world, a, area, False, group=first.id, section20=section20) for a in ages[1:]
    ]
    for ch in group:
        world.recorder.arrival(ch)
        schedule_exit(world, ch)  # the care clock runs from arrival, placed or not
    if size == 1 and age < 1 and rng.bernoulli(c.parent_and_child_prob):
        first.parent_and_child = True
    if rng.bernoulli(c.placed_with_parents_prob):
        for ch in group:
            placements.place(world, ch, "with_parents", None, "entry")
        return
    if kin is None:
        kin = rng.bernoulli(kinship_prob(world)) if not first.parent_and_child else False
    if kin and not first.parent_and_child:
        h = carers.approve_connected(world, area, group)
        for ch in group:
            placements.place(world, ch, "connected", h, "entry")
        return
    placements.start_search(world, group, "entry", urgent=True)


def kinship_prob(world: World) -> float:
    """The probability that an arriving group goes to a connected person, at this time."""
    c = world.scenario.children
    if not c.kinship_growth_per_year:
        return c.kinship_prob
    return min(c.kinship_prob * (1 + c.kinship_growth_per_year) ** (world.now / YEAR), 1.0)


def arrive_uasc(world: World) -> None:
    """An unaccompanied asylum-seeking child arrives; above the quota they may be transferred."""
    sc = world.scenario
    u = sc.uasc
    rng = world.rng["uasc"]
    ages = list(u.age_weights)
    age = ages[world.pick(rng, u.age_weights)] + rng.random() * 0.999
    areas = list(u.area_weights)
    area = areas[world.pick(rng, u.area_weights)]
    nts = world.arrivals.nts
    if world.arrivals.uasc_in_care >= nts.accommodation_limit:
        world.recorder.flow("uasc_not_accommodated")  # left with the Home Office
        return
    quota = u.nts.child_population * nts.quota_share
    above_quota = world.arrivals.uasc_in_care >= quota
    child = new_child(world, age, area, True, section20=True)
    world.recorder.arrival(child)
    schedule_exit(world, child)
    if above_quota and rng.bernoulli(nts.transfer_prob):
        child.nts_referred = True
        world.recorder.flow("nts_referrals")
        world.schedule(rng.exponential(nts.delay_days), _nts_transfer, world, child)
    placements.start_search(world, [child], "entry", urgent=True)


def _nts_transfer(world: World, child: Child) -> None:
    if child.state != LEFT:
        leave_care(world, child, "nts_transfer")


def schedule_exit(world: World, child: Child) -> None:
    """Draw when and why ``child`` leaves care, or the 18th birthday if that comes first.

    Exit hazards are constant within an age band: one unit-exponential budget is spent
    across the bands ahead (the inverse of the cumulative hazard), so crossing a band edge
    costs no event. Called again whenever the placement changes the hazards.
    """
    if child.state == LEFT:
        return
    sc = world.scenario
    child.exit_token += 1
    token = child.exit_token
    rng = world.rng["exits"]
    edges = sc.age_band_edges
    age = world.age(child)
    to_18 = max((edges[-1] - age) * YEAR, 0.0)
    if child.placement == "placed_for_adoption":
        t = rng.exponential(sc.children.exits.adoption_placement_days)
        if t < to_18:
            _schedule(world, child, t, _exit_event, token, "adoption_order")
        else:
            _schedule(world, child, to_18, _turn_18_event, token)
        return
    budget = rng.exponential(1.0)
    elapsed = 0.0
    band = world.band(age + 1e-4)  # at a band edge (to rounding), count the new band
    n_bands = len(edges) - 1
    multiplier, changes = _return_steps(world, child)
    step = 0  # the next of ``changes``
    while band < n_bands:
        span = max((edges[band + 1] - age) * YEAR, 0.0)
        rates = _exit_rates(world, child, band)
        left = span
        while True:
            # A stretch of the band with one return-home multiplier: up to the next change
            # in the episode, or the band's end.
            length = left
            crossing = False
            if step < len(changes):
                to_change = changes[step][0] - elapsed
                if to_change < left:
                    length, crossing = to_change, True
            piece = rates if multiplier == 1.0 else [rates[0] * multiplier, rates[1], rates[2]]
            total = sum(piece)
            spend = total * length / YEAR
            if budget < spend:
                reason = EXIT_REASONS[choose_rates(rng, piece, total)]
                delay = elapsed + budget / total * YEAR
                _schedule(world, child, delay, _exit_event, token, reason)
                return
            budget -= spend
            elapsed += length
            left -= length
            if not crossing:
                break
            multiplier = changes[step][1]
            step += 1
        age = float(edges[band + 1])  # mypyc keeps a float variable a float
        band += 1
    _schedule(world, child, to_18, _turn_18_event, token)


def _return_steps(world: World, child: Child) -> tuple[float, list[tuple[float, float]]]:
    """The return-home multiplier in force now, and the later changes to it as (days from
    now, multiplier): early in the episode, between, and late in it (UASC: none)."""
    e = world.scenario.children.exits
    if child.uasc:
        return 1.0, []
    now, entry = world.now, child.entry
    multiplier = 1.0
    changes: list[tuple[float, float]] = []
    steps = (
        (0.0, e.early_return_multiplier),
        (e.early_return_days, 1.0),
        (e.late_return_days, e.late_return_multiplier),
    )
    for start, m in steps:
        due = entry + start - now
        if due <= 0.0:
            multiplier = m
        elif m != (changes[-1][1] if changes else multiplier):
            changes.append((due, m))
    return multiplier, changes


def _schedule(
    world: World, child: Child, delay: float, fn: Callable[..., None], *args: Any
) -> None:
    """Schedule the child's exit, and a breakdown or planned move held back for an earlier
    exit that now comes first."""
    child.exit_at = world.now + max(delay, 0.0)
    world.schedule(delay, fn, world, child, *args)
    placements.release_held_hazard(world, child)


def _exit_rates(world: World, child: Child, band: int) -> list[float]:
    sc = world.scenario
    if child.uasc:
        return [sc.uasc.return_per_year, 0.0, 0.0]
    e = sc.children.exits
    home = e.return_home_per_year[band] * (
        e.section20_return_multiplier if child.section20 else 1.0
    )
    sgo = e.sgo_per_year[band] * (
        e.connected_sgo_multiplier if child.placement == "connected" else 1.0
    )
    return [home, sgo, e.adoption_per_year[band]]


def _turn_18_event(world: World, child: Child, token: int) -> None:
    if child.exit_token == token and child.state != LEFT:
        turn_18(world, child)


def _exit_event(world: World, child: Child, token: int, reason: str) -> None:
    if child.exit_token != token or child.state == LEFT:
        return
    if reason == "adoption":
        # Adoption starts with a placement with the adopters; the order ends care later.
        # DfE's two-year stability measure counts the adoptive placement together with the
        # placement it follows.
        since = None
        if child.state == PLACED:
            since = child.settled_from
            placements.vacate(world, child, "placed_for_adoption")
        world.recorder.flow("placed_for_adoption")
        placements.place(world, child, "placed_for_adoption", None, "adoption", since)
        return
    leave_care(world, child, "adoption" if reason == "adoption_order" else reason)


def turn_18(world: World, child: Child) -> None:
    """Leave care at 18; a young person in an in-house foster home may Stay Put."""
    sc = world.scenario.children
    h = world.households.get(child.household) if child.household >= 0 else None
    if placements.in_foster_care(child):
        world.recorder.flow("turned_18_in_foster")
        if child.placement in ("in_house", "connected"):
            world.recorder.flow("turned_18_in_house_foster")
    if (
        h is not None
        and h.kind != "emergency"
        and world.rng["exits"].bernoulli(sc.staying_put_prob)
    ):
        h.staying_put += 1
        world.recorder.staying_put(+1)
        years = min(
            world.rng["exits"].exponential(sc.staying_put_mean_years), sc.staying_put_max_years
        )
        world.schedule(years * YEAR, _staying_put_end, world, h)
    leave_care(world, child, "age_18")


def _pc_end(world: World, child: Child, token: int) -> None:
    """A parent-and-child assessment ends: the child goes home or stays in care alone."""
    if child.state != PLACED or child.placement_token != token:
        return
    if world.rng["exits"].bernoulli(world.scenario.children.parent_and_child_home_prob):
        leave_care(world, child, "return_home")
        return
    placements.vacate(world, child, "pc_assessment_end")
    child.parent_and_child = False
    placements.start_search(world, [child], "pc_assessment_end", urgent=False)


def _staying_put_end(world: World, h: Household) -> None:
    h.staying_put -= 1
    world.recorder.staying_put(-1)
    if h.active:
        world.index.update(h)
        placements.offer_vacancy(world, h)
    elif h.filled == 0:
        world.households.pop(h.id, None)


def leave_care(world: World, child: Child, reason: str) -> None:
    """``child`` ceases to be looked after."""
    placements.leave_placement(world, child, reason)
    child.exit_day = world.now
    child.exit_reason = reason
    child.exit_token += 1
    if child.uasc:
        world.arrivals.uasc_in_care -= 1
    world.recorder.exit(child, reason)
    del world.children[child.id]
    for fn in world.hooks.child_left_care:
        fn(child, reason)
