"""Supply that adjusts to use: carers' retention and the service's review follow demand.

Two feedbacks keep a fostering service from emptying or filling with carers nobody places
with. Carers whose home has stayed empty for long leave more readily, and carers with a
settled placement less readily: the usage multiplier scales their own leaving hazards
(resignation and moves to agencies) in :func:`sim.model.carers.schedule_attrition`, which
asks this module when the multiplier next changes and redraws then. At the annual review
(:func:`sim.model.carers._review`) the service deregisters a household that has stayed
vacant with a probability that grows with the share of recent placements whose child its
approval (age range, needs) would not take. A dated utilisation drive (``usage.drive``)
multiplies both for carers not actively fostering while it runs.

Off (the schema's neutral values), the multiplier is 1, nothing is scheduled and nothing is
drawn, so runs are unchanged.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final

from sim.model import carers
from sim.model.entities import Child, Household
from sim.model.hooks import Observer

if TYPE_CHECKING:
    from sim.model.world import World

INF: Final = float("inf")
# Placements a fostering household could have offered: the demand the review compares with.
DEMAND: Final = ("in_house", "ifa_framework", "ifa_spot")
EPS: Final = 1e-6  # days: a threshold reached to rounding counts as reached


class Usage(Observer):
    """How each household is used, and the recent demand for foster placements.

    ``demand`` counts the last year's foster placement starts by age (whole years) and need,
    kept as running totals so a review costs a few additions, not a scan.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.params = u = world.scenario.attrition.usage
        self.on = u.active
        # Whether a placement's start or end can change a household's leaving multiplier.
        self.retention = u.empty_multiplier != 1.0 or u.settled_multiplier != 1.0 or u.driving
        top = world.scenario.age_band_edges[-1]
        self.recent: deque[tuple[float, int, bool]] = deque()
        self.demand = [[0, 0] for _ in range(top)]  # [age][complex] -> starts in the window
        self.total = 0
        self.drawn: dict[int, tuple[float, float]] = {}  # household id -> _state when drawn
        d = u.drive
        self.drive = None  # (start day, end day, multiplier) of a drive that changes anything
        if d is not None and u.driving:
            self.drive = (world.day(d.start), world.day(d.end), d.multiplier)

    def pressing(self) -> tuple[float, float]:
        """The utilisation drive's multiplier now, and the day it next changes."""
        if self.drive is None:
            return 1.0, INF
        start, end, multiplier = self.drive
        now = self.world.now
        if now < start:
            return 1.0, start
        if now < end:
            return multiplier, end
        return 1.0, INF

    # -- retention --------------------------------------------------------------------------
    def leaving_multiplier(self, h: Household) -> tuple[float, float]:
        """The multiplier on ``h``'s own leaving hazards now, and the days until it changes.

        Called when ``h``'s attrition clock is drawn, which this remembers: a placement that
        changes neither leaves the clock as it is (the hazard is memoryless).
        """
        state = self._state(h)
        if self.on:
            self.drawn[h.id] = state
        return state[0], state[1] - self.world.now

    def _state(self, h: Household) -> tuple[float, float]:
        """The multiplier now and the day it next changes, if nothing else happens."""
        u = self.params
        if not self.on or h.kind in ("connected", "short_breaks"):
            return 1.0, INF
        now = self.world.now
        if h.filled == 0:
            if h.on_hold:
                return 1.0, INF
            change = h.last_active + u.empty_days
            if change - now > EPS:
                return 1.0, change
            pressed, edge = self.pressing()  # carers not fostering, pressed while a drive runs
            return u.empty_multiplier * pressed, edge
        soonest = INF
        for cid in h.children:
            change = self.world.children[cid].placed_at + u.settled_days
            if change - now <= EPS:
                return u.settled_multiplier, INF
            soonest = min(soonest, change)
        return 1.0, soonest

    def _redraw(self, h: Household | None) -> None:
        # While the stock is built, no clock runs yet: carers.start draws every household's.
        if h is None or self.world.recorder.building or not h.active or h.kind == "connected":
            return
        state = self._state(h)
        drawn = self.drawn.get(h.id)
        if state == drawn:
            return
        if drawn is not None and state[0] == drawn[0] and state[1] >= drawn[1]:
            # The same multiplier until at least the day the clock was drawn up to: the event
            # drawn stands, and an edge on that day redraws then (the hazard is memoryless).
            # Redrawing now would leave that event in the queue to fire for nothing.
            return
        carers.schedule_attrition(self.world, h)

    def placement_started(self, child: Child, h: Household | None) -> None:
        if (
            self.params.mismatch_deregistration_prob > 0
            and child.placement in DEMAND
            and not child.parent_and_child
        ):
            self._count(child)
        if self.retention:
            self._redraw(h)  # an empty spell ends, or a new settling clock starts

    def placement_ended(self, child: Child, h: Household | None, reason: str) -> None:
        if self.retention:
            self._redraw(h)  # an empty spell starts, or a settled placement ends

    def carer_deregistered(self, h: Household, reason: str) -> None:
        self.drawn.pop(h.id, None)

    # -- review -----------------------------------------------------------------------------
    def _count(self, child: Child) -> None:
        w = self.world
        age = min(int(w.age(child)), len(self.demand) - 1)
        self.recent.append((w.now, age, child.complex_needs))
        self.demand[age][child.complex_needs] += 1
        self.total += 1

    def unmatched_share(self, h: Household) -> float | None:
        """Share of the last year's foster placement starts that ``h``'s approval excludes."""
        cutoff = self.world.now - self.world.scenario.attrition.review_days
        recent, demand = self.recent, self.demand
        while recent and recent[0][0] < cutoff:
            _, age, complex_needs = recent.popleft()
            demand[age][complex_needs] -= 1
            self.total -= 1
        if self.total == 0:
            return None
        ages = demand[h.min_age : h.max_age + 1]
        fits = sum(a[0] for a in ages) + (sum(a[1] for a in ages) if h.accepts_complex else 0)
        return 1.0 - fits / self.total

    def mismatched(self, h: Household, draw: float) -> bool:
        """Whether the review deregisters ``h`` as unable to take the children needing homes,
        given the household's uniform ``draw``."""
        u = self.params
        if (
            u.mismatch_deregistration_prob <= 0
            or h.kind != "mainstream"
            or h.on_hold
            or h.filled
            or self.world.now - h.last_active < u.vacant_days
        ):
            return False
        share = self.unmatched_share(h)
        if share is None:
            return False
        return draw < u.mismatch_deregistration_prob * share * self.pressing()[0]
