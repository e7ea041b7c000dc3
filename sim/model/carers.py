"""Fostering households: the recruitment funnel, approval, on-hold periods and deregistration.

Enquiries arrive as a seasonal Poisson process (campaigns multiply it); an enquiry may become
an application, an application an assessment, and an assessment ends in panel approval or a
withdrawal. Assessing slots may be limited: applicants then wait their turn or withdraw.
Approved households leave through tenure-dependent carer-initiated resignation, moves to
independent agencies, service-initiated deregistration of long-inactive carers at their annual
review, and resignation after a placement breakdown (``review`` makes the leaving hazards and
the review depend on how a household is used). A connected person's
approval ends when the last of their named children leaves, or when their full assessment,
after a temporary approval, fails.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.model import placements
from sim.model.entities import Child, Household
from sim.model.hooks import Observer
from sim.model.timing import YEAR, RateCurve, poisson_process
from sim.rng import Stream, choose_rates

if TYPE_CHECKING:
    from sim.model.world import World

MONTH: Final = YEAR / 12
# The carers' own decisions to leave: DfE's "resignation or closure of provision".
RESIGNATIONS: Final = ("carer_initiated", "to_ifa", "after_breakdown")


class Recruitment:
    """The enquiry stream, the assessment settings in force (extra capacity changes them) and
    the assessing caseload: assessments under way and applications waiting for a slot."""

    def __init__(self, world: World) -> None:
        r = world.scenario.recruitment
        self.curve = RateCurve(world, r.enquiries_per_year, r.seasonality, r.campaigns)
        self.duration_multiplier = 1.0
        self.approval_prob: float | None = None  # overrides the scenario's while set
        self.age_range_weights = [a.weight for a in r.household.age_ranges]
        self.slots = r.assessing.slots  # None: no limit
        self.under_way = 0
        self.waiting: dict[int, tuple[float, _Fate]] = {}  # ticket -> (day joined, draws), in turn
        self.tickets = 0
        self.following_up = 0  # enquiries in the follow-up team's hands


class Attrition(Observer):
    """Deregistration: the retention multiplier in force, and the endings that placements cause.

    A carer whose placement breaks down may resign; they do so before the place is offered to
    another child. A connected person is approved for named children only, so their approval
    ends when the household empties, as does that of carers who chose to leave once their
    children had left (:func:`_serve_notice`).
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.retention_multiplier = 1.0  # on every fostering household's leaving hazards

    def placement_ended(self, child: Child, h: Household | None, reason: str) -> None:
        w = self.world
        if (
            reason == "breakdown"
            and h is not None
            and h.kind != "connected"
            and h.rng.bernoulli(w.scenario.breakdown.carer_deregisters_prob)
            and not (h.children and _serve_notice(w, h, "after_breakdown"))
        ):
            deregister(w, h, "after_breakdown")

    def household_emptied(self, h: Household) -> None:
        if h.kind == "connected" and h.active:
            deregister(self.world, h, "connected_ended")
        elif h.leaving and h.active:
            deregister(self.world, h, h.leaving)


def start(world: World) -> None:
    """Start the enquiry stream and every existing household's attrition clock."""
    curve, funnel = world.recruitment.curve, world.rng["funnel"]
    added = world.rng["enquiries_added"]
    # The enquiries a policy adds come from a stream of their own, so the others stay paired.
    poisson_process(world, curve, world.rng["enquiries"], lambda: enquiry(world, funnel), "base")
    poisson_process(world, curve, added, lambda: enquiry(world, added), "added")
    for h in list(world.households.values()):
        if h.kind != "connected":
            schedule_attrition(world, h)
            _schedule_review(world, h, first=True)
    _seed_pipeline(world)


def _seed_pipeline(world: World) -> None:
    """Put the people already in the funnel at the start date into it.

    Counts are Poisson with means from the steady-state funnel (rate x mean time at the
    stage); remaining times are memoryless for the exponential stages and a uniform share
    of a length-biased duration for assessments. Without this, approvals
    in the first year would come only from enquiries made after the start.
    """
    r = world.scenario.recruitment
    rng = world.rng["funnel"]
    enquiries_per_day = r.enquiries_per_year * sum(r.seasonality) / 12 / YEAR
    followed = r.follow_up.followed_up_share(r.enquiries_per_year, r.seasonality)
    if r.follow_up.slots is not None:
        # Follow-ups in hand: the carried load, at most every slot; times left are memoryless.
        draw = world.rng["follow_up"]
        in_hand = min(
            draw.poisson(enquiries_per_day * followed * r.follow_up.days), r.follow_up.slots
        )
        world.recruitment.following_up = in_hand
        for _ in range(in_hand):
            world.schedule(draw.exponential(r.follow_up.days), _followed_up, world)
    applying = enquiries_per_day * followed * r.application_prob
    for _ in range(rng.poisson(applying * r.application_days)):
        # Stage times are exponential: the time left is a fresh one (memoryless).
        world.schedule(rng.exponential(r.application_days), _application, world, _Fate(rng))
    starting = applying * r.assessment_start_prob
    for _ in range(rng.poisson(starting * r.assessment_start_days)):
        world.schedule(rng.exponential(r.assessment_start_days), _assessment, world, _Fate(rng))
    a = r.assessment
    mean_months = a.fast_share * a.fast_median_months * math.exp(a.fast_sigma**2 / 2) + (
        1 - a.fast_share
    ) * a.slow_median_months * math.exp(a.slow_sigma**2 / 2)
    longest = 3 * max(a.fast_median_months, a.slow_median_months)
    for _ in range(rng.poisson(starting * mean_months * MONTH)):
        # Assessments under way are length-biased: long ones are more likely to be in progress.
        months = assessment_months(rng, a)
        while rng.random() * longest > months:
            months = assessment_months(rng, a)
        left = rng.random() * months
        if rng.bernoulli(r.approval_prob):
            world.recruitment.under_way += 1
            world.schedule(left * MONTH, _assessment_end, world, months, True)
        elif rng.bernoulli(0.5):
            # Withdrawals leave after a uniform share U of the assessment, so half as many are
            # under way, and length bias makes that share sqrt(uniform).
            world.recruitment.under_way += 1
            world.schedule(left * math.sqrt(rng.random()) * MONTH, _assessment_end, world, 0, False)


# ------------------------------------------------------------------------------ the funnel


def enquiry(world: World, rng: Stream) -> None:
    """An enquiry, whose whole way through the funnel is drawn now from ``rng``."""
    r = world.scenario.recruitment
    world.recorder.flow("enquiries")
    rec = world.recruitment
    # Every draw of the enquiry's way through the funnel is taken now, whatever happens to
    # it: each enquiry takes the same draws however many are followed up, wait for a slot or
    # are added by a policy, so two scenarios keep common random numbers for the others.
    fate = _Fate(rng)
    slots = r.follow_up.slots  # None: every enquiry is followed up
    if slots is not None:
        # The team follows up as many enquiries as it has slots for; the rest go cold.
        if rec.following_up >= slots:
            world.recorder.flow("enquiries_not_followed_up")
            return
        rec.following_up += 1
        world.schedule(world.rng["follow_up"].exponential(r.follow_up.days), _followed_up, world)
    if fate.applies < r.application_prob:
        world.schedule(fate.application * r.application_days, _application, world, fate)


class _Fate:
    """An enquiry's draws: uniforms for each decision, unit exponentials for each delay and a
    standard normal for the assessment's length."""

    __slots__ = ("application", "applies", "approves", "fast", "length", "starts", "to_start")

    def __init__(self, rng: Stream) -> None:
        self.applies = rng.random()
        self.application = rng.exponential(1.0)
        self.starts = rng.random()
        self.to_start = rng.exponential(1.0)
        self.fast = rng.random()
        self.length = rng.normal()
        self.approves = rng.random()


def _followed_up(world: World) -> None:
    world.recruitment.following_up -= 1


def _application(world: World, fate: _Fate) -> None:
    r = world.scenario.recruitment
    world.recorder.flow("applications")
    if fate.starts < r.assessment_start_prob:
        world.schedule(fate.to_start * r.assessment_start_days, _assessment, world, fate)
    else:
        world.recorder.flow("withdrawn_before_assessment")


def assessment_months(rng: Stream, a) -> float:
    """Draw an assessment duration (months) from the fast/slow lognormal mixture."""
    return _months(a, rng.random(), rng.normal())


def _months(a, fast: float, z: float) -> float:
    """The assessment duration (months) given a uniform ``fast`` and a standard normal ``z``."""
    if fast < a.fast_share:
        return a.fast_median_months * math.exp(a.fast_sigma * z)
    return a.slow_median_months * math.exp(a.slow_sigma * z)


def _assessment(world: World, fate: _Fate) -> None:
    """An applicant is ready for assessment: it starts now if an assessing slot is free."""
    rec = world.recruitment
    if rec.slots is None or rec.under_way < rec.slots:
        _begin_assessment(world, 0.0, fate)
        return
    rec.tickets += 1
    rec.waiting[rec.tickets] = (world.now, fate)
    world.recorder.flow("assessment_waits")
    patience = world.scenario.recruitment.assessing.patience_days
    world.schedule(world.rng["assessing"].exponential(patience), _give_up, world, rec.tickets)


def _give_up(world: World, ticket: int) -> None:
    if world.recruitment.waiting.pop(ticket, None) is not None:
        world.recorder.flow("withdrawn_waiting_assessment")


def _begin_assessment(world: World, waited_days: float, fate: _Fate) -> None:
    r = world.scenario.recruitment
    world.recorder.flow("assessments")
    world.recruitment.under_way += 1
    months = _months(r.assessment, fate.fast, fate.length) * world.recruitment.duration_multiplier
    override = world.recruitment.approval_prob
    p = r.approval_prob if override is None else override
    if fate.approves < p:
        world.schedule(months * MONTH, _assessment_end, world, months + waited_days / MONTH, True)
    else:
        # Withdrawn after a uniform share of the assessment: the draw's place above p, rescaled.
        share = (fate.approves - p) / (1.0 - p)
        world.schedule(share * months * MONTH, _assessment_end, world, 0, False)


def _assessment_end(world: World, months: float, approved: bool) -> None:
    """An assessment ends (``months`` from application ready to panel): its slot passes on."""
    if approved:
        approve(world, months)
    else:
        world.recorder.flow("withdrawn_in_assessment")
    rec = world.recruitment
    rec.under_way -= 1
    if rec.waiting and (rec.slots is None or rec.under_way < rec.slots):
        ticket = next(iter(rec.waiting))
        joined, fate = rec.waiting.pop(ticket)
        _begin_assessment(world, world.now - joined, fate)


def new_household(
    world: World, rng: Stream, places_weights: list[float], approved: float, origin: int
) -> Household:
    """A household drawn from the scenario's mix of types, areas, places and age ranges, with
    its own stream (``World.own_stream`` of ``origin``)."""
    hh = world.scenario.recruitment.household
    kinds = list(hh.type_weights)
    kind = kinds[world.pick(rng, hh.type_weights)]
    areas = list(hh.area_weights)
    area = areas[world.pick(rng, hh.area_weights)]
    places = world.pick(rng, places_weights) + 1
    ar = hh.age_ranges[world.pick(rng, world.recruitment.age_range_weights)]
    min_age, max_age = ar.min_age, ar.max_age
    accepts_complex = rng.bernoulli(hh.accepts_complex_prob)
    top = world.scenario.age_band_edges[-1] - 1
    if kind == "emergency":
        min_age, max_age, accepts_complex = 0, top, True
    elif kind == "parent_and_child":
        min_age, max_age, places = 0, 1, 1
    h = Household(
        id=world.new_id(),
        area=area,
        kind=kind,
        places=places,
        min_age=min_age,
        max_age=max_age,
        accepts_complex=accepts_complex,
        approved=approved,
        rng=world.own_stream(origin),
        last_active=approved,
    )
    h.held_back = sum(rng.bernoulli(hh.held_back_prob) for _ in range(places - 1))
    h.refresh()
    world.households[h.id] = h
    return h


def approve(world: World, months: float) -> Household:
    """Panel approves a household after ``months`` of assessment."""
    rec = world.recorder
    h = new_household(
        world,
        world.rng["carers"],
        world.scenario.recruitment.household.places_weights,
        world.now,
        1,
    )
    rec.flow("approvals")
    rec.flow(f"approvals_{h.kind}")
    rec.flow("approval_months_sum", months)
    if months <= 6.0:
        rec.flow("approvals_within_6_months")
    world.index.update(h)
    schedule_attrition(world, h)
    _schedule_review(world, h)
    for fn in world.hooks.carer_approved:
        fn(h)
    placements.offer_vacancy(world, h)
    return h


def approve_connected(world: World, area: str, group: list) -> Household:
    """A connected person (family or friend) approved for these named children."""
    h = Household(
        id=world.new_id(),
        area=area,
        kind="connected",
        places=len(group),
        min_age=0,
        max_age=world.scenario.age_band_edges[-1] - 1,
        accepts_complex=True,
        approved=world.now,
        rng=world.own_stream(2),
        last_active=world.now,
    )
    h.refresh()
    world.households[h.id] = h
    k = world.scenario.children.kinship_assessment
    if k.approval_prob is None or world.recorder.building:
        world.recorder.flow("approvals_connected")
        return h
    # Regulation 24: a temporary approval while the full assessment runs.
    world.recorder.flow("connected_temporary_approvals")
    rng = world.rng["kinship"]
    low, high = k.days
    passes = rng.bernoulli(k.approval_prob)
    world.schedule(low + rng.random() * (high - low), _kinship_decision, world, h, passes)
    return h


def _kinship_decision(world: World, h: Household, passes: bool) -> None:
    """The connected person's full assessment ends; on failure the children move on."""
    if not h.active:  # the children left first, and the approval with them
        return
    if passes:
        world.recorder.flow("approvals_connected")
        return
    world.recorder.flow("connected_not_approved")
    deregister(world, h, "not_approved")


# ----------------------------------------------------------------------------- attrition


def schedule_attrition(world: World, h: Household, rng: Stream | None = None) -> None:
    """Draw the household's next resignation, move to an agency or on-hold period, from its
    own stream.

    A policy that redraws many households at once passes its own stream for a fresh draw, so
    the draws it adds do not shift the households' own (common random numbers between
    scenarios).
    """
    if not h.active or h.leaving:
        return
    a = world.scenario.attrition
    h.token += 1
    token = h.token
    rng = rng or h.rng
    tenure = (world.now - h.approved) / YEAR
    edges = a.tenure_edges_years
    # At an edge (to rounding) count the new piece, so the clock always moves on.
    piece = 0
    for i in range(len(edges) - 1, 0, -1):
        if tenure + 1e-4 >= edges[i]:
            piece = i
            break
    to_edge = (edges[piece + 1] - tenure) * YEAR if piece + 1 < len(edges) else math.inf
    usage, to_change = world.usage.leaving_multiplier(h)
    multiplier = h.deregistration_multiplier * world.attrition.retention_multiplier * usage
    rates = [
        a.deregistration_per_year[piece] * multiplier,
        a.to_ifa_per_year * multiplier,
        0.0 if h.on_hold else a.on_hold_per_year,
    ]
    total = sum(rates)
    # The cumulative hazard left until the next event, drawn once an event and spent at the
    # rates in force: a redraw moves the event rather than drawing it afresh (the same law,
    # the hazard being memoryless), so a household whose rates differ for a while between
    # two scenarios keeps its draw.
    now = world.now
    if h.hazard_left < 0:
        h.hazard_left = rng.exponential(1.0)
    else:
        h.hazard_left = max(h.hazard_left - h.hazard_rate * (now - h.hazard_since) / YEAR, 0.0)
    h.hazard_rate, h.hazard_since = total, now
    t = h.hazard_left / total * YEAR if total > 0 else math.inf
    if t < to_edge and t < to_change:
        world.schedule(t, _attrition_event, world, h, token, rates, total)
    elif to_edge <= to_change and to_edge < math.inf:
        world.schedule(to_edge, _tenure_edge, world, h, token)
    elif to_change < math.inf:
        world.schedule(to_change, _usage_edge, world, h, token)


def _tenure_edge(world: World, h: Household, token: int) -> None:
    if h.token == token:
        schedule_attrition(world, h)


def _usage_edge(world: World, h: Household, token: int) -> None:
    if h.token == token:
        schedule_attrition(world, h)


def _attrition_event(
    world: World, h: Household, token: int, rates: list[float], total: float
) -> None:
    if h.token != token or not h.active:
        return
    h.hazard_left = -1.0  # spent: the next clock draws afresh
    what = ("carer_initiated", "to_ifa", "on_hold")[choose_rates(h.rng, rates, total)]
    if what == "on_hold":
        h.on_hold = True
        world.recorder.flow("on_hold_starts")
        world.index.update(h)
        mean = world.scenario.attrition.on_hold_mean_days
        world.schedule(h.rng.exponential(mean), _hold_end, world, h)
        schedule_attrition(world, h)
        return
    if h.children and _serve_notice(world, h, what):
        return
    deregister(world, h, what)


def _serve_notice(world: World, h: Household, reason: str) -> bool:
    """Whether carers who have decided to leave wait for their placed children to leave.

    Most carers who stop fostering do not end a child's placement to do so: Kent's 1,136
    placement changes of 2018-19 include 16 for a carer's resignation or the closure of the
    provision (docs/MODEL.md 2.6.13).
    """
    if h.leaving:
        return True  # already waiting to leave
    n = world.scenario.attrition.notice
    if n.wait_prob <= 0 or not h.rng.bernoulli(n.wait_prob):
        return False
    h.leaving = reason
    h.token += 1  # the attrition clock stops: the decision is taken
    world.recorder.flow("resignations_deferred")
    world.index.update(h)
    world.schedule(n.max_days, _notice_end, world, h)
    return True


def _notice_end(world: World, h: Household) -> None:
    if h.active and h.leaving:
        deregister(world, h, h.leaving)


def _hold_end(world: World, h: Household) -> None:
    if not h.active or not h.on_hold:
        return
    h.on_hold = False
    h.last_active = world.now
    world.recorder.flow("on_hold_ends")
    world.index.update(h)
    schedule_attrition(world, h)
    placements.offer_vacancy(world, h)


def _schedule_review(world: World, h: Household, first: bool = False) -> None:
    """Schedule the next annual review that could deregister the household.

    With the standards-of-care route on, every review can, so every one is held. Otherwise a
    review can act only on a household idle for the shortest time a test asks (inactivity,
    or vacancy against demand), and the reviews before that would only schedule the next one:
    they are stepped over here, on the dates a review held every year would reach (to within
    the last bit of the delay).
    """
    a = world.scenario.attrition
    days = a.review_days
    delay = h.rng.random() * days if first else days
    if a.standards_deregistration_prob > 0:
        if h.concern_reviews == 0:
            # The review at which a concern ends the approval, drawn once per household
            # (geometric: a chance p at each review), when its reviews are first scheduled.
            u = h.rng.random()
            p = a.standards_deregistration_prob
            h.concern_reviews = max(1, math.ceil(math.log1p(-u) / math.log1p(-p))) if p < 1 else 1
        world.schedule(delay, _review, world, h)
        return
    if h.kind == "short_breaks":
        return  # never inactive (see _review)
    idle = a.inactive_days
    if a.usage.mismatch_deregistration_prob > 0 and h.kind == "mainstream":
        idle = min(idle, a.usage.vacant_days)
    now = world.now
    # Placed children and an on-hold period end only by making the carers active again.
    since = now if h.children or h.on_hold else h.last_active
    t = now + delay
    while t - since < idle:
        if days > world.horizon - t:
            return
        t += days
    world.schedule(t - now, _review, world, h)


def _review(world: World, h: Household) -> None:
    """Annual review: the service may end the approval after a standards-of-care concern, or
    of carers inactive for long, or whose approval no longer matches demand."""
    if not h.active:
        return
    a = world.scenario.attrition
    if h.concern_reviews > 0:
        h.concern_reviews -= 1
        if h.concern_reviews == 0:
            world.recorder.flow("deregistrations_service_standards")
            deregister(world, h, "service")
            return
    # Short-break carers offer respite, never full-time placements: they are not "inactive".
    inactive = (
        h.kind != "short_breaks"
        and not h.on_hold
        and h.filled == 0
        and world.now - h.last_active >= a.inactive_days
    )
    # Both tests' draws are taken at every review, whatever the household's state, so that
    # its stream stays where it is in a scenario where the state differs.
    u_inactive, u_mismatch = h.rng.random(), h.rng.random()
    if inactive and u_inactive < a.service_deregistration_prob * world.usage.pressing()[0]:
        deregister(world, h, "service")
        return
    if world.usage.mismatched(h, u_mismatch):
        world.recorder.flow("deregistrations_service_mismatch")
        deregister(world, h, "service")
        return
    _schedule_review(world, h)


def deregister(world: World, h: Household, reason: str) -> None:
    """End a household's approval; children placed there move on."""
    if not h.active:
        return
    h.active = False
    h.token += 1
    rec = world.recorder
    if h.kind == "connected":
        rec.flow("deregistrations_connected")
    else:
        rec.flow("deregistrations")
        rec.flow(f"deregistrations_{reason}")
    world.index.update(h)
    resigned = reason in RESIGNATIONS
    for cid in list(h.children):
        child = world.children[cid]
        if resigned:
            rec.flow("moves_carer_resigned")
        placements.vacate(world, child, "carer_deregistered")
        placements.start_search(world, [child], "carer_deregistered", urgent=False)
    if h.filled == 0:
        world.households.pop(h.id, None)
    for fn in world.hooks.carer_deregistered:
        fn(h, reason)
