"""Places outside the in-house service: IFA framework and spot, residential, supported
accommodation and unregistered provision.

Each has a capacity open to the council (the spot market has none) and, through the search
cascade, a chance that a provider accepts the child at all: other councils' children compete
for the same homes, so a free place is not a guaranteed offer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.model.entities import Child
    from sim.model.world import World

EXTERNAL = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")


class Providers:
    """Occupancy and capacity of the external placement types, and the weekly unit costs of
    every placement type (``provider_changes`` policies change both).

    Some places may be ring-fenced for unaccompanied asylum-seeking children: other children
    see only the rest, and a UASC child takes a ring-fenced place first.
    """

    def __init__(self, world: World) -> None:
        p = world.scenario.providers
        self.capacity: dict[str, float] = {
            "ifa_framework": p.ifa_framework_places,
            "ifa_spot": math.inf,
            "residential": p.residential_places,
            "supported": p.supported_places,
            "unregistered": p.unregistered_places,
        }
        self.occupied: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.reserved: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.reserved_used: dict[str, int] = dict.fromkeys(EXTERNAL, 0)
        self.weekly_cost = {k: c.central for k, c in world.scenario.costs.weekly.items()}

    def free(self, kind: str, uasc: bool = False) -> float:
        """Places of ``kind`` open to a child (UASC children also see ring-fenced ones)."""
        general = self.capacity[kind] - self.reserved[kind]
        free = general - (self.occupied[kind] - self.reserved_used[kind])
        if uasc:
            free += self.reserved[kind] - self.reserved_used[kind]
        return free

    def take(self, kind: str, child: Child, force: bool = False) -> bool:
        """Occupy a place of ``kind`` for ``child`` if there is room (always, if ``force``)."""
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
        self.occupied[kind] -= 1
        if child.ring_fenced:
            if self.reserved_used[kind] > 0:
                self.reserved_used[kind] -= 1
            child.ring_fenced = False
