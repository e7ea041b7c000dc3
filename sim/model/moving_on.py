"""Moving on: young people of 16 and 17 who leave foster care for supported accommodation.

Many young people move from foster care to supported accommodation (semi-independent living)
before they turn 18, to prepare for leaving care; Kent's 16+ team "identifies homes for those
young people who are aged 16-19-years-old" (seeds E105). A young person in a mainstream foster
placement, with the council's carers or an agency's, moves at a constant hazard from their 16th
birthday (or from the placement's start, if later) to their 18th, when a place in supported
accommodation is free; when none is, the next try is drawn afresh (the hazard is memoryless).
The move is a planned one, and frees the foster place for a younger child.

Off (``children.supported_move_per_year_16plus = 0``, the schema's neutral value), the
observer is not subscribed and nothing is drawn, so runs are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sim.model import placements
from sim.model.entities import PLACED, Child, Household
from sim.model.hooks import Observer
from sim.model.timing import YEAR

if TYPE_CHECKING:
    from sim.model.world import World

# Foster placements a young person moves on from; kinship carers, parent-and-child and
# emergency homes are left out (their placements end on their own terms).
FROM: Final = ("in_house", "ifa_framework", "ifa_spot")


class MovingOn(Observer):
    """Schedules each 16-17-year-old foster placement's move to supported accommodation."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rate = world.scenario.children.supported_move_per_year_16plus
        self.on = self.rate > 0

    def placement_started(self, child: Child, h: Household | None) -> None:
        if child.placement not in FROM or child.parent_and_child or child.needs_residential:
            return
        if h is not None and h.kind != "mainstream":
            return
        self._schedule(child)

    def _schedule(self, child: Child) -> None:
        w = self.world
        start = max(w.now, child.dob + 16 * YEAR)
        day = start + w.rng["moving_on"].hazard_time(self.rate) * YEAR
        if day < child.dob + 18 * YEAR:
            w.schedule_at(day, self._move, child, child.placement_token)

    def _move(self, child: Child, token: int) -> None:
        if child.state != PLACED or child.placement_token != token:
            return
        w = self.world
        if w.providers.free("supported", child.uasc) < 1:
            self._schedule(child)
            return
        w.recorder.flow("moves_to_supported")
        placements.vacate(w, child, "planned")
        w.providers.take("supported", child)
        placements.place(w, child, "supported", None, "planned")
