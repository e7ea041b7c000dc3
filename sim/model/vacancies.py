"""The vacancy index and the step-down list: where matching looks, so it never scans everyone.

A household with free in-house places is filed under two buckets, (carer type, its area, free
places) and (carer type, ``ANY_AREA``, free places), so filing and re-filing cost four
dictionary operations whatever the household accepts. A bucket keeps households in the order
they were last filed, and a search takes the first one that :func:`fits` the group, trying
the fewest free places first. What a household accepts (ages, complex needs) is checked by
:func:`fits` itself, which is why it is not part of the bucket.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.model.entities import PLACED, Child, Household
from sim.model.timing import YEAR

if TYPE_CHECKING:
    from sim.model.world import World

IN_HOUSE_KINDS = ("mainstream", "parent_and_child", "emergency")
MAX_GROUP_PLACES = 6  # the last bucket holds every household with this many free places or more
ANY_AREA = ""  # the area of the buckets that hold every area's households

Filing = tuple[tuple[object, ...], dict[int, None], dict[int, None]]


def fits(world: World, h: Household, group: list[Child]) -> bool:
    """Whether household ``h`` can take every child of ``group`` now."""
    if not h.active or h.free < len(group):
        return False
    if any(c.solo for c in group) and (h.filled > 0 or len(group) > 1):
        return False
    now = world.env._now
    for c in group:
        age = int((now - c.dob) / YEAR)
        if age < h.min_age or age > h.max_age:
            return False
        if c.complex_needs and not h.accepts_complex:
            return False
        if c.parent_and_child != (h.kind == "parent_and_child"):
            return False
        if c.avoid == h.id or (h.uasc_only and not c.uasc):
            return False
    return True


class VacancyIndex:
    """Households with free places, filed by carer type, area and free places.

    ``keys`` holds each filed household's filing: what it was filed for (type, area, the age
    bands and needs it accepts, free places) and its two buckets. A household moves to the end
    of its buckets only when that changes, so the order of a search (and the results) is the
    same as filing it under every age band and need it accepts.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.buckets: dict[tuple[str, str, int], dict[int, None]] = {}
        self.keys: dict[int, Filing] = {}

    def _bucket(self, kind: str, area: str, free: int) -> dict[int, None]:
        key = (kind, area, free)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = {}
        return bucket

    def update(self, h: Household) -> None:
        """Recount ``h``'s places and re-file it after anything that changes them."""
        h.refresh()
        hid = h.id
        old = self.keys.get(hid)
        if not h.active or h.kind not in IN_HOUSE_KINDS or h.free <= 0:
            if old is not None:
                del self.keys[hid]
                del old[1][hid]
                del old[2][hid]
            return
        free = min(h.free, MAX_GROUP_PLACES)
        band = self.world.band
        what = (h.kind, h.area, band(h.min_age), band(h.max_age), h.accepts_complex, free)
        if old is not None:
            if old[0] == what:
                return
            del old[1][hid]
            del old[2][hid]
        home = self._bucket(h.kind, h.area, free)
        anywhere = self._bucket(h.kind, ANY_AREA, free)
        home[hid] = None
        anywhere[hid] = None
        self.keys[hid] = (what, home, anywhere)

    def find(
        self,
        kind: str,
        group: list[Child],
        home: str,
        where: str = "anywhere",
        exclude: int = -1,
    ) -> Household | None:
        """A household of ``kind`` that takes ``group``.

        ``where`` is ``"home"`` (the home area only), ``"elsewhere"`` (any other area) or
        ``"anywhere"`` (the home area first, then the others).
        """
        if where != "elsewhere":
            h = self._first(kind, group, home, "", exclude)
            if h is not None or where == "home":
                return h
        return self._first(kind, group, ANY_AREA, home, exclude)

    def _first(
        self, kind: str, group: list[Child], area: str, skip_area: str, exclude: int
    ) -> Household | None:
        w = self.world
        buckets = self.buckets
        households = w.households
        for free in range(min(len(group), MAX_GROUP_PLACES), MAX_GROUP_PLACES + 1):
            bucket = buckets.get((kind, area, free))
            if not bucket:
                continue
            for hid in bucket:
                h = households[hid]
                if hid != exclude and h.area != skip_area and fits(w, h, group):
                    return h
        return None


class StepDownList:
    """Children in agency or residential care who would move to an in-house carer.

    Filed by year of birth and complex needs, so a child is found by the age they have now,
    however long they have waited. A household with a vacancy takes the youngest children it
    can first and, among children of one year of birth, the one listed longest ago.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.buckets: dict[tuple[int, bool], dict[int, int]] = {}

    def add(self, child: Child, token: int) -> None:
        if child.state != PLACED or child.placement_token != token:
            return
        key = (math.floor(child.dob / YEAR), child.complex_needs)
        self.buckets.setdefault(key, {})[child.id] = token

    def take_for(self, h: Household) -> Child | None:
        """The first candidate that ``h`` can take, dropping stale entries."""
        w = self.world
        needs = (False, True) if h.accepts_complex else (False,)
        # Completed age within [min_age, max_age] means born in (now - max_age - 1, now - min_age].
        youngest = math.floor((w.now - h.min_age * YEAR) / YEAR)
        oldest = math.floor((w.now - (h.max_age + 1) * YEAR) / YEAR)
        for born in range(youngest, oldest - 1, -1):
            for need in needs:
                bucket = self.buckets.get((born, need))
                if not bucket:
                    continue
                stale = []
                found = None
                for cid, token in bucket.items():
                    c = w.children.get(cid)
                    if c is None or c.state != PLACED or c.placement_token != token:
                        stale.append(cid)
                        continue
                    if fits(w, h, [c]):
                        found = c
                        break
                for cid in stale:
                    del bucket[cid]
                if found is not None:
                    del bucket[found.id]
                    return found
        return None
