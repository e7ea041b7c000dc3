"""The vacancy index and the step-down list: where matching looks, so it never scans everyone.

A household with free in-house places is filed under every (carer type, area, age band, needs,
free places) bucket it can serve, under its own area and under ``ANY_AREA``; a search looks in
the bucket of the child's age band and needs only, trying the fewest free places first, and
takes the first household there that :func:`fits` the group. A bucket keeps households in the
order they were last filed. The buckets of each filing are looked up once and kept, so
re-filing a household as its places fill and free is a few dictionary operations on integer
keys, with no keys to build or hash.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from sim.model.entities import PLACED, Child, Household
from sim.model.timing import YEAR

if TYPE_CHECKING:
    from sim.model.world import World

IN_HOUSE_KINDS: Final = ("mainstream", "parent_and_child", "emergency")
# The last bucket holds every household with this many free places or more.
MAX_GROUP_PLACES: Final = 6
ANY_AREA: Final = ""  # the area of the buckets that hold every area's households

Filing = tuple[tuple[str, str, int, int, bool, int], list[dict[int, None]]]


def fits(world: World, h: Household, group: list[Child]) -> bool:
    """Whether household ``h`` can take every child of ``group`` now."""
    n = len(group)
    if not h.active or h.free < n:
        return False
    now = world.env._now
    parent_and_child = h.kind == "parent_and_child"
    for c in group:
        if c.solo and (n > 1 or h.filled > 0):
            return False
        age = int((now - c.dob) / YEAR)
        if age < h.min_age or age > h.max_age:
            return False
        if c.complex_needs and not h.accepts_complex:
            return False
        if c.parent_and_child != parent_and_child:
            return False
        if c.avoid == h.id or (h.uasc_only and not c.uasc):
            return False
    return True


class VacancyIndex:
    """Households with free places, keyed by what they accept, so matching never scans them all.

    ``keys`` holds each filed household's filing: what it was filed for (type, area, the ages
    and needs it accepts, free places) and the buckets that hold it. A household moves to the
    end of its buckets only when that changes.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.buckets: dict[tuple[str, str, int, bool, int], dict[int, None]] = {}
        self.keys: dict[int, Filing] = {}
        self._filings: dict[tuple[str, str, int, int, bool, int], list[dict[int, None]]] = {}
        self._rows: dict[tuple[str, str, int, bool], list[dict[int, None]]] = {}

    def _row(self, kind: str, area: str, band: int, needs: bool) -> list[dict[int, None]]:
        """The buckets of one age band and need, by free places (1 to ``MAX_GROUP_PLACES``)."""
        row = [
            self.buckets.setdefault((kind, area, band, needs, free), {})
            for free in range(1, MAX_GROUP_PLACES + 1)
        ]
        self._rows[(kind, area, band, needs)] = row
        return row

    def _buckets_for(self, what: tuple[str, str, int, int, bool, int]) -> list[dict[int, None]]:
        kind, area, min_age, max_age, accepts_complex, free = what
        band = self.world.band
        needs = (False, True) if accepts_complex else (False,)
        out = []
        for a in (area, ANY_AREA):
            for b in range(band(min_age), band(max_age) + 1):
                for n in needs:
                    out.append(self.buckets.setdefault((kind, a, b, n, free), {}))
        self._filings[what] = out
        return out

    def update(self, h: Household) -> None:
        """Recount ``h``'s places and re-file it after anything that changes them."""
        h.refresh()
        hid = h.id
        old = self.keys.get(hid)
        if not h.active or h.kind not in IN_HOUSE_KINDS or h.free <= 0:
            if old is not None:
                del self.keys[hid]
                for bucket in old[1]:
                    del bucket[hid]
            return
        free = min(h.free, MAX_GROUP_PLACES)
        what = (h.kind, h.area, h.min_age, h.max_age, h.accepts_complex, free)
        if old is not None:
            if old[0] == what:
                return
            for bucket in old[1]:
                del bucket[hid]
        buckets = self._filings.get(what) or self._buckets_for(what)
        for bucket in buckets:
            bucket[hid] = None
        self.keys[hid] = (what, buckets)

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
        w = self.world
        # The group's row of buckets depends on the eldest's age band and the group's needs,
        # the same in every area the search looks in.
        band = w.band((w.env._now - group[0].dob) / YEAR)
        needs = group[0].complex_needs if len(group) == 1 else any(c.complex_needs for c in group)
        if where != "elsewhere":
            h = self._first(kind, band, needs, group, home, "", exclude)
            if h is not None or where == "home":
                return h
        geo = w.geography
        if geo is None or not geo.spec.nearest_area_first:
            return self._first(kind, band, needs, group, ANY_AREA, home, exclude)
        for area in geo.areas_nearest(geo.home_of(group[0])):
            if area != home:
                h = self._first(kind, band, needs, group, area, "", exclude)
                if h is not None:
                    return h
        return None

    def _first(
        self,
        kind: str,
        band: int,
        needs: bool,
        group: list[Child],
        area: str,
        skip_area: str,
        exclude: int,
    ) -> Household | None:
        row = self._rows.get((kind, area, band, needs))
        if row is None:
            row = self._row(kind, area, band, needs)
        w = self.world
        households = w.households
        for bucket in row[min(len(group), MAX_GROUP_PLACES) - 1 :]:
            if not bucket:
                continue
            for hid in bucket:
                h = households[hid]
                if hid != exclude and h.area != skip_area and fits(w, h, group):
                    return h
        return None


#: Agency foster placements, which become permanent once ``matching.step_down_max_days`` old.
PERMANENT_AFTER: Final = ("ifa_framework", "ifa_spot")


class StepDownList:
    """Children in agency or residential care who would move to an in-house carer.

    Filed by year of birth and complex needs, so a child is found by the age they have now,
    however long they have waited. A household with a vacancy takes the youngest children it
    can first and, among children of one year of birth, the one listed longest ago. An agency
    foster placement that has lasted ``step_down_max_days`` is the child's permanent home and
    leaves the list (seeds 001 2.2.4: the search is for children in a "non-permanent IFA
    placement").
    """

    def __init__(self, world: World) -> None:
        self.world = world
        # Without, then with complex needs: year of birth -> child id -> placement token.
        self.buckets: tuple[dict[int, dict[int, int]], dict[int, dict[int, int]]] = ({}, {})

    def add(self, child: Child, token: int) -> None:
        if child.state != PLACED or child.placement_token != token:
            return
        by_born = self.buckets[child.complex_needs]
        by_born.setdefault(math.floor(child.dob / YEAR), {})[child.id] = token

    def take_for(self, h: Household) -> Child | None:
        """The first candidate that ``h`` can take, dropping stale entries."""
        w = self.world
        needs = self.buckets if h.accepts_complex else self.buckets[:1]
        # A planned move keeps a child in their home area when matching is by geography.
        geo = w.geography
        area = h.area if geo is not None and geo.spec.nearest_area_first else ""
        # Completed age within [min_age, max_age] means born in (now - max_age - 1, now - min_age].
        settled = w.now - w.scenario.matching.step_down_max_days  # placed before: permanent
        youngest = math.floor((w.now - h.min_age * YEAR) / YEAR)
        oldest = math.floor((w.now - (h.max_age + 1) * YEAR) / YEAR)
        for born in range(youngest, oldest - 1, -1):
            for by_born in needs:
                bucket = by_born.get(born)
                if not bucket:
                    continue
                stale = []
                found = None
                for cid, token in bucket.items():
                    c = w.children.get(cid)
                    if (
                        c is None
                        or c.state != PLACED
                        or c.placement_token != token
                        or (c.placed_at < settled and c.placement in PERMANENT_AFTER)
                    ):
                        stale.append(cid)
                        continue
                    if (not area or c.area == area) and fits(w, h, [c]):
                        found = c
                        break
                for cid in stale:
                    del bucket[cid]
                if found is not None:
                    del bucket[found.id]
                    return found
        return None
