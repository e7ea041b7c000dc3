"""Vacancies that are not offered at once: matching takes time, and carers hold or decline.

A place with the council's carers that frees (a child moves on or leaves), and each place of
a newly approved household, goes one of two ways. With ``held_prob`` the carers hold it for a
while (a break between children, respite, kept for a sibling or a planned child): it counts
as not available and is offered when the hold ends. Otherwise it goes into matching: vacant
but not matchable, by the cascade or by a waiting child, until a lognormal matching delay has
passed (referral, the vacancy list, a planning meeting). At the end of a delay the carers
decline the child proposed with ``decline_prob``, and matching starts again; otherwise the
place is offered as before (:func:`sim.model.placements.offer_vacancy`).

The places are counted on the household (``held``, ``matching``), which the vacancy index
reads through :meth:`sim.model.entities.Household.refresh`. Emergency beds are kept vacant on
purpose and are offered at once. Off (the schema's neutral values) this is not subscribed, so
runs are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sim.model import placements
from sim.model.entities import Child, Household
from sim.model.hooks import Observer

if TYPE_CHECKING:
    from sim.model.world import World

# The in-house places that are matched to children (emergency beds are kept free instead).
OFFERED: Final = ("mainstream", "parent_and_child")


class Offers(Observer):
    """Puts every place that becomes free through a hold or a matching delay."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.params = world.scenario.matching.offers
        self.on = self.params.active

    def placement_ended(self, child: Child, h: Household | None, reason: str) -> None:
        if h is not None:
            self.enter(h)

    def carer_approved(self, h: Household) -> None:
        while h.free > 0 and self.enter(h):
            pass

    def enter(self, h: Household) -> bool:
        """Take one of ``h``'s free places out of matching for a hold or a delay.

        Returns whether a place was taken: only a place that could be offered now is (a place
        freed while a young person Stays Put, or while the carers are on hold, is not free).
        """
        w = self.world
        if not h.active or h.kind not in OFFERED or h.free <= 0 or w.recorder.building:
            return False
        p = self.params
        rng = w.rng["offers"]
        if rng.bernoulli(p.held_prob):
            h.held += 1
            w.recorder.flow("vacancies_held")
            w.schedule(rng.exponential(p.held_mean_days), self._hold_end, h)
        else:
            h.matching += 1
            w.recorder.flow("vacancies_matching")
            w.schedule(self._delay(), self._matched, h)
        w.index.update(h)
        return True

    def _delay(self) -> float:
        p = self.params
        return self.world.rng["offers"].lognormal(p.delay_median_days, p.delay_sigma)

    def _matched(self, h: Household) -> None:
        w = self.world
        if h.active and w.rng["offers"].bernoulli(self.params.decline_prob):
            w.recorder.flow("vacancy_offers_declined")
            w.schedule(self._delay(), self._matched, h)
            return
        h.matching -= 1
        self._offer(h)

    def _hold_end(self, h: Household) -> None:
        h.held -= 1
        self._offer(h)

    def _offer(self, h: Household) -> None:
        if h.active:
            self.world.index.update(h)
            placements.offer_vacancy(self.world, h)
