"""Distance from geography: where children live and where they are placed.

With a district table (``geography.districts``), each child's home, each in-house household
and each external placement has a district, drawn within its area in proportion to the
districts' populations; external placements may instead be outside the county (always, when
the spot pool was full and the place was bought beyond it). A placement's
distance is between the district centroids (great circle), or within the home district; the
20-mile indicator then follows from where children and carers are. Unaccompanied children
without a home address have distance 'not known', as DfE records them: they count among the
children placed but not as within 20 miles.

Districts are drawn when first needed, from this mechanism's own stream, so the draws of every
other mechanism are the same with and without it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Final

from sim.rng import cumulative

if TYPE_CHECKING:
    from sim.model.entities import Child, Household
    from sim.model.world import World

MILES_PER_KM: Final = 1 / 1.609344
EARTH_RADIUS_KM: Final = 6371.0088
WITHIN_MILES: Final = 20.0
# Mean distance between two random points of a unit square (Philip 2007): a district's own
# placements are taken at this distance, scaled by the square root of its area.
SQUARE_MEAN_DISTANCE: Final = 0.5214


@dataclass(frozen=True, slots=True)
class District:
    name: str
    area: str  # the council's area (team) the district belongs to
    area_km2: float
    population: float
    lat: float
    lon: float


@cache
def read_districts(name: str) -> tuple[District, ...]:
    """The district table ``sim/data/<name>_districts.csv`` shipped with the package."""
    folder = resources.files("sim") / "data"
    available = sorted(
        p.name.removesuffix("_districts.csv")
        for p in folder.iterdir()
        if p.name.endswith("_districts.csv")
    )
    if name not in available:
        raise ValueError(f"geography.districts: unknown table {name!r}; available: {available}")
    text = (folder / f"{name}_districts.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        District(
            r["district"],
            r["area_team"],
            float(r["area_km2"]),
            float(r["population"]),
            float(r["lat"]),
            float(r["lon"]),
        )
        for r in rows
    )


def miles_between(a: District, b: District) -> float:
    """Great-circle distance between two district centroids, or within one district."""
    if a is b:
        return SQUARE_MEAN_DISTANCE * math.sqrt(a.area_km2) * MILES_PER_KM
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h)) * MILES_PER_KM


class Geography:
    """Districts of children, households and external placements, and placement distances."""

    def __init__(self, world: World, districts: str) -> None:
        self.world = world
        self.spec = world.scenario.geography
        self.rng = world.rng["geography"]
        self.districts = read_districts(districts)
        by_area: dict[str, list[District]] = {}
        for d in self.districts:
            by_area.setdefault(d.area, []).append(d)
        self.by_area = by_area
        self._area_cum = {a: cumulative([d.population for d in ds]) for a, ds in by_area.items()}
        self._all_cum = cumulative([d.population for d in self.districts])
        self.home: dict[int, District] = {}  # sibling group id -> home district
        self.carer: dict[int, District] = {}  # household id -> district
        self._pairs: dict[tuple[str, str], float] = {}
        self._near_cum: dict[str, list[float]] = {}  # home district -> external placement draw
        self._area_order: dict[str, list[str]] = {}  # home district -> other areas, nearest first

    def _in_area(self, area: str) -> District:
        return self.by_area[area][self.rng.choice(self._area_cum[area])]

    def home_of(self, child: Child) -> District:
        d = self.home.get(child.group)
        if d is None:
            d = self.home[child.group] = self._in_area(child.area)
        return d

    def district_of(self, h: Household) -> District:
        d = self.carer.get(h.id)
        if d is None:
            d = self.carer[h.id] = self._in_area(h.area)
        return d

    def miles(self, a: District, b: District) -> float:
        key = (a.name, b.name)
        d = self._pairs.get(key)
        if d is None:
            d = self._pairs[key] = miles_between(a, b)
        return d

    def placement_miles(self, child: Child, kind: str, h: Household | None) -> float:
        """Distance in miles from ``child``'s home to a new placement of ``kind`` (with ``h``)."""
        home = self.home_of(child)
        if h is not None:
            return self.miles(home, self.district_of(h))
        s = self.spec
        # A place bought beyond the spot pool is outside the county by definition; the others
        # are outside it at the type's share (the pool's agencies have carers over the border).
        if child.outside or self.rng.bernoulli(s.out_of_county_share.get(kind, 0.0)):
            self.world.recorder.flow("placements_out_of_county")
            return s.out_of_county_median_miles * math.exp(
                s.out_of_county_sigma * self.rng.normal()
            )
        return self.miles(home, self.districts[self.rng.choice(self._external_cum(home))])

    def _external_cum(self, home: District) -> list[float]:
        """Cumulative weights of the districts of an external placement inside the county: the
        search looks near home first (population x exp(-miles / search_miles))."""
        scale = self.spec.search_miles
        if scale is None:
            return self._all_cum
        cum = self._near_cum.get(home.name)
        if cum is None:
            cum = self._near_cum[home.name] = cumulative(
                [d.population * math.exp(-self.miles(home, d) / scale) for d in self.districts]
            )
        return cum

    def areas_nearest(self, home: District) -> list[str]:
        """The areas, nearest to the district ``home`` first (by the population-weighted mean
        distance to an area's districts)."""
        order = self._area_order.get(home.name)
        if order is None:

            def mean_miles(area: str) -> float:
                ds = self.by_area[area]
                total = sum(d.population for d in ds)
                return sum(d.population * self.miles(home, d) for d in ds) / total

            order = self._area_order[home.name] = sorted(self.by_area, key=mean_miles)
        return order

    def within20(self, child: Child, kind: str, h: Household | None) -> bool | None:
        """Whether a new placement is within 20 miles of home; None when 'not known'."""
        if child.uasc and self.spec.uasc_not_known:
            self.world.recorder.flow("placements_distance_not_known")
            return None
        return self.placement_miles(child, kind, h) <= WITHIN_MILES
