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
    from sim.model.world import World

EXTERNAL = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")


class Providers:
    """Occupancy and capacity of the external placement types."""

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

    def free(self, kind: str) -> float:
        return self.capacity[kind] - self.occupied[kind]

    def take(self, kind: str, n: int = 1) -> bool:
        """Occupy ``n`` places of ``kind`` if there is room."""
        if self.free(kind) < n:
            return False
        self.occupied[kind] += n
        return True

    def force(self, kind: str) -> None:
        """Occupy a place even beyond capacity (used only to build the initial stock)."""
        self.occupied[kind] += 1

    def release(self, kind: str) -> None:
        self.occupied[kind] -= 1
