"""Places outside the in-house service: IFA framework and spot, residential, supported
accommodation and unregistered provision.

Each has a capacity open to the council and, through the search cascade, a chance that a
provider accepts the child at all. Two mechanisms make providers run out (``market``):

- the spot market is a finite pool shared with other councils, whose children arrive and
  leave as their own process (``OtherCouncils``): a spot search succeeds only if a place is
  free, else the council buys from agencies outside the county (``outside_places``) or, when
  it cannot, the child falls through to the next step of the cascade;
- residential and supported capacity follow demand with a lag (``CapacityResponse``): new
  homes open when occupancy stays above the target.

Without them (the schema's defaults) the spot market is unlimited and capacities are fixed.

In a region (:mod:`sim.region`) the members' providers of a shared placement type form one
pool (:meth:`Providers.share`): a place is free if the members' capacities together exceed
what all of them occupy, hold ring-fenced and lose to outside councils.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.model.timing import YEAR

if TYPE_CHECKING:
    from sim.model.entities import Child
    from sim.model.world import World

EXTERNAL: Final = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")


class Providers:
    """Occupancy and capacity of the external placement types, and the weekly unit costs of
    every placement type (``provider_changes`` policies change both).

    Some places may be ring-fenced for unaccompanied asylum-seeking children: other children
    see only the rest, and a UASC child takes a ring-fenced place first.
    """

    def __init__(self, world: World) -> None:
        p = world.scenario.providers
        spot = world.scenario.market.spot
        self.capacity: dict[str, float] = {
            "ifa_framework": p.ifa_framework_places,
            "ifa_spot": math.inf if spot.places is None else spot.places,
            "residential": p.residential_places,
            "supported": p.supported_places,
            "unregistered": p.unregistered_places,
        }
        self.occupied: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.others: dict[str, int] = dict.fromkeys(EXTERNAL, 0)  # other councils' children
        self.reserved: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.reserved_used: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        # Places bought beyond the pool, from agencies outside the county (spot only).
        outside = math.inf if spot.outside_places is None else spot.outside_places
        self.outside_capacity = {**dict.fromkeys(EXTERNAL, 0.0), "ifa_spot": outside}
        self.outside: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.weekly_cost = {k: c.central for k, c in world.scenario.costs.weekly.items()}
        market = world.scenario.market
        busy = spot.other_councils_initial > 0 or spot.other_councils_per_year > 0
        self.other_councils = OtherCouncils(world, self) if busy else None
        on = market.capacity_response.response_years is not None
        self.capacity_response = CapacityResponse(world, self) if on else None
        self.pool: tuple[Providers, ...] = (self,)
        self.shared: frozenset[str] = frozenset()

    def share(self, pool: tuple[Providers, ...], kinds: frozenset[str]) -> None:
        """Make the places of ``kinds`` one pool with the other members of ``pool``.

        Each member keeps its own capacity, occupancy, ring-fenced places and outside
        competitors, which policies and capacity responses change as before; only the test
        of whether a place is free adds them up over the pool.
        """
        self.pool = pool
        self.shared = kinds

    def free(self, kind: str, uasc: bool = False) -> float:
        """Places of ``kind`` open to a child (UASC children also see ring-fenced ones)."""
        if kind in self.shared:
            free = 0.0
            for p in self.pool:
                general = p.capacity[kind] - p.reserved[kind]
                free += general - (p.occupied[kind] - p.reserved_used[kind]) - p.others[kind]
            if uasc:
                free += self.reserved[kind] - self.reserved_used[kind]
            return free
        general = self.capacity[kind] - self.reserved[kind]
        free = general - (self.occupied[kind] - self.reserved_used[kind]) - self.others[kind]
        if uasc:
            free += self.reserved[kind] - self.reserved_used[kind]
        return free

    def outside_free(self, kind: str) -> float:
        """Places of ``kind`` still to be bought outside the county when the pool is full."""
        return self.outside_capacity[kind] - self.outside[kind]

    def take(self, kind: str, child: Child, force: bool = False, outside: bool = False) -> bool:
        """Occupy a place of ``kind`` for ``child`` if there is room (always, if ``force``);
        with ``outside``, one bought outside the county (the caller checked there is one)."""
        if outside:
            self.outside[kind] += 1
            child.outside = True
            return True
        if child.uasc and self.reserved_used[kind] < self.reserved[kind]:
            self.reserved_used[kind] += 1
            child.ring_fenced = True
        elif force or self.free(kind) >= 1:
            child.ring_fenced = False
        else:
            return False
        self.occupied[kind] += 1
        return True

    def release(self, kind: str, child: Child) -> None:
        if child.outside:
            self.outside[kind] -= 1
            child.outside = False
            return
        self.occupied[kind] -= 1
        if child.ring_fenced:
            if self.reserved_used[kind] > 0:
                self.reserved_used[kind] -= 1
            child.ring_fenced = False


class OtherCouncils:
    """Other councils' children in the spot pool: Poisson arrivals that take a free place or
    are turned away (an Erlang loss system), and exponential stays."""

    def __init__(self, world: World, providers: Providers) -> None:
        self.world = world
        self.providers = providers
        self.spec = world.scenario.market.spot
        self.rng = world.rng["market"]
        for _ in range(self.spec.other_councils_initial):
            self._admit()
        self._next_arrival()

    def _next_arrival(self) -> None:
        rate = self.spec.other_councils_per_year
        if rate > 0:
            self.world.schedule(self.rng.exponential(YEAR / rate), self._arrive)

    def _admit(self) -> None:
        self.providers.others["ifa_spot"] += 1
        stay = self.rng.exponential(self.spec.other_councils_mean_years * YEAR)
        self.world.schedule(stay, self._leave)

    def _arrive(self) -> None:
        if self.providers.free("ifa_spot") >= 1:
            self.world.recorder.flow("spot_other_councils_placed")
            self._admit()
        else:
            self.world.recorder.flow("spot_other_councils_turned_away")
        self._next_arrival()

    def _leave(self) -> None:
        self.providers.others["ifa_spot"] -= 1


class CapacityResponse:
    """Residential and supported capacity that move toward demand with a time constant.

    Deterministic: every ``review_days`` the gap between capacity and ``demand /
    target_occupancy`` closes by ``1 - exp(-review_days / tau)``, where demand is the places
    occupied (with the children in unregistered placements, for residential).
    """

    def __init__(self, world: World, providers: Providers) -> None:
        self.world = world
        self.providers = providers
        self.spec = world.scenario.market.capacity_response
        assert self.spec.response_years is not None
        self.step = 1.0 - math.exp(-self.spec.review_days / (self.spec.response_years * YEAR))
        world.schedule(self.spec.review_days, self._review)

    def demand(self, kind: str) -> int:
        p = self.providers
        extra = p.occupied["unregistered"] if kind == "residential" else 0
        return p.occupied[kind] + p.others[kind] + extra

    def _review(self) -> None:
        p = self.providers
        for kind in self.spec.kinds:
            target = self.demand(kind) / self.spec.target_occupancy
            old = p.capacity[kind]
            if target > old:
                p.capacity[kind] = old + (target - old) * self.step
                opened = math.floor(p.capacity[kind]) - math.floor(old)
                if opened:
                    self.world.recorder.flow(f"places_opened_{kind}", opened)
        self.world.schedule(self.spec.review_days, self._review)
