"""Scenario schema: every parameter of the model, loaded from TOML with clear errors.

A scenario file may ``extends = "other.toml"`` (a path relative to itself) and
override any field; tables are merged key by key, lists and values replace.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import hashlib
import itertools
import math
import numbers
import os
import tomllib
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Bounds a real council could plausibly need, so that a scenario that validates also runs in
# bounded time and memory. England-scale values pass (scenarios/england.toml: about 84,000
# children in care, 40,000 households); the reasons are in docs/MODEL.md section 3.5.
MAX_CHILDREN = 200_000  # children in one placement type at the start, or UASC
MAX_HOUSEHOLDS = 100_000  # fostering households at the start
MAX_PLACES = 200_000  # places of one external provider type, or ring-fenced
MAX_ARRIVALS = 100_000  # children (other than UASC) coming into care a year, at the peak
MAX_UASC_ARRIVALS = 50_000  # UASC arriving a year, at the peak
MAX_ENQUIRIES = 200_000  # fostering enquiries a year, at the peak (and implied by a target)
MAX_CHILD_POPULATION = 30_000_000  # children living in the council's area (NTS quota)
MAX_HAZARD = 365.0  # events a year for one child or household (daily)
MAX_PLACEMENT_HAZARD = 365.0  # a child's breakdown hazard with every multiplier (daily)
MAX_FACTOR = 1000.0  # a multiplier of a rate or hazard
MAX_WEIGHT = 1e6  # a relative weight (weights are normalised)
MAX_DAYS = 36_525.0  # a duration in days: a century, beyond any horizon, means never
MAX_WEEKLY_COST = 100_000.0  # GBP a week for one placement
MAX_PROGRAMME_COST = 1e9  # GBP a year, or a move, for a programme
MAX_ITEMS = 1000  # entries in a list of windows, interventions or areas
FIRST_DATE = dt.date(2000, 1, 1)
LAST_DATE = dt.date(2100, 12, 31)


def _real(value: Any) -> Any:
    """Refuse what TOML or JSON would read as a number only by accident: booleans, text."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"must be a number, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {bool: "true/false", str: "text", dict: "a table", list: "a list"}
    return next((n for t, n in names.items() if isinstance(value, t)), type(value).__name__)


def _in_calendar(value: dt.date) -> dt.date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"must lie between {FIRST_DATE} and {LAST_DATE}")
    return value


_NUMBER = BeforeValidator(_real)


def _within(lo: float, hi: float, above: bool = False) -> Any:
    """The bounds of a number: ``[lo, hi]``, or ``(lo, hi]`` if ``above``."""
    if above:
        return Field(gt=lo, le=hi, allow_inf_nan=False)
    return Field(ge=lo, le=hi, allow_inf_nan=False)


# Numbers are never booleans or text; each kind has its bounds.
Prob = Annotated[float, _NUMBER, _within(0, 1)]
Hazard = Annotated[float, _NUMBER, _within(0, MAX_HAZARD)]  # a year, for one child or household
Factor = Annotated[float, _NUMBER, _within(0, MAX_FACTOR)]
Weight = Annotated[float, _NUMBER, _within(0, MAX_WEIGHT)]
Days = Annotated[float, _NUMBER, _within(0, MAX_DAYS)]
SearchDays = Annotated[float, _NUMBER, _within(0, 365)]
#: A funnel stage: the people in it at the start are drawn from its mean times the flow.
StageDays = Annotated[float, _NUMBER, _within(0, 365)]
#: A threshold compared with, never waited on.
Threshold = Annotated[float, _NUMBER, _within(0, 1e9)]
RetryDays = Annotated[float, _NUMBER, _within(1, MAX_DAYS)]
ReviewDays = Annotated[float, _NUMBER, _within(30, MAX_DAYS)]
Months = Annotated[float, _NUMBER, _within(0, 60)]
Sigma = Annotated[float, _NUMBER, _within(0, 2)]
Age = Annotated[float, _NUMBER, _within(0, 18)]
#: A yearly rate of change, as a fraction (0.05 is 5% a year).
Growth = Annotated[float, _NUMBER, _within(-0.5, 1)]
Years = Annotated[float, _NUMBER, _within(0, 60)]
Horizon = Annotated[float, _NUMBER, _within(0, 50, above=True)]
ShortYears = Annotated[float, _NUMBER, _within(0, 10)]
#: The mean of a duration the model caps: far above the cap puts everyone at it.
CappedMean = Annotated[float, _NUMBER, _within(0, 1000)]
Speedup = Annotated[float, _NUMBER, _within(0, 10, above=True)]
Arrivals = Annotated[float, _NUMBER, _within(0, MAX_ARRIVALS)]
UascArrivals = Annotated[float, _NUMBER, _within(0, MAX_UASC_ARRIVALS)]
Enquiries = Annotated[float, _NUMBER, _within(0, MAX_ENQUIRIES)]
WeeklyCost = Annotated[float, _NUMBER, _within(0, MAX_WEEKLY_COST)]
ProgrammeCost = Annotated[float, _NUMBER, _within(0, MAX_PROGRAMME_COST)]
Small = Annotated[int, _NUMBER, _within(0, MAX_ITEMS)]  # hubs, satellites and the like
Places = Annotated[int, _NUMBER, _within(0, MAX_PLACES)]
Kids = Annotated[int, _NUMBER, _within(0, MAX_CHILDREN)]
HouseholdCount = Annotated[int, _NUMBER, _within(0, MAX_HOUSEHOLDS)]
Population = Annotated[int, _NUMBER, _within(0, MAX_CHILD_POPULATION)]
AgeYear = Annotated[int, _NUMBER, _within(0, 18)]
ApprovalAge = Annotated[int, _NUMBER, _within(0, 17)]
Date = Annotated[dt.date, AfterValidator(_in_calendar)]
#: Households approved for 1, 2, 3... places (at most 6).
PlacesWeights = Annotated[list[Weight], Field(min_length=1, max_length=6)]
Items = Field(max_length=MAX_ITEMS)
AreaName = Annotated[str, Field(min_length=1, max_length=100)]

PLACEMENT_TYPES = (
    "in_house",
    "connected",
    "ifa_framework",
    "ifa_spot",
    "residential",
    "supported",
    "unregistered",
    "placed_for_adoption",
    "with_parents",
)
CARER_TYPES = ("mainstream", "short_breaks", "parent_and_child", "emergency")
CASCADE_STEPS = (
    "in_house_home",
    "in_house_other",
    "emergency",
    "ifa_framework",
    "ifa_spot",
    "supported",
    "residential",
    "unregistered",
)


class ScenarioError(ValueError):
    """A scenario that cannot be used, with the file, field and what is allowed."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _known_keys(
    table: dict[str, Any], allowed: Any, what: str, complete: bool = False
) -> dict[str, Any]:
    """Check the keys of a keyed table against ``allowed`` before its values, suggesting the
    closest for a typo; with ``complete``, every allowed key must be there too."""
    if not isinstance(table, dict):
        return table  # pydantic reports the wrong type
    allowed = list(allowed)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        guesses = [
            f"'{k}': did you mean '{close[0]}'?"
            for k in unknown
            if (close := difflib.get_close_matches(k, allowed, n=1))
        ]
        guess = f" ({'; '.join(guesses)})" if guesses else ""
        raise ValueError(f"unknown {what} {unknown}{guess}; allowed: {allowed}")
    missing = sorted(set(allowed) - set(table))
    if complete and missing:
        raise ValueError(f"{what} missing: {missing}")
    return table


def _keep_defaults(field: str, defaults: Any) -> Any:
    """A 'before' validator: entries of a keyed table not given keep their defaults, so that
    setting one placement type's rate does not silently zero the others."""

    def fill(cls: type, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get(field), dict):
            table = {
                k: v.model_dump() if isinstance(v, BaseModel) else v for k, v in defaults().items()
            }
            for k, v in data[field].items():
                old = table.get(k)
                table[k] = {**old, **v} if isinstance(old, dict) and isinstance(v, dict) else v
            data = {**data, field: table}
        return data

    return model_validator(mode="before")(fill)  # a classmethod, as its first argument is cls


class Dated(_Base):
    """Something in force from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: Date
    end: Date

    @model_validator(mode="after")
    def _ordered(self) -> Dated:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        return self


class Window(Dated):
    """A dated change to a rate, from ``start`` (inclusive) to ``end`` (exclusive): either a
    ``multiplier`` or an observed level ``per_year`` that replaces the base rate (seasonality
    and other multipliers still apply)."""

    multiplier: Factor | None = None
    per_year: Enquiries | None = None  # each stream's own bound: Scenario

    @model_validator(mode="after")
    def _one_level(self) -> Window:
        if (self.multiplier is None) == (self.per_year is None):
            raise ValueError("give exactly one of 'multiplier' and 'per_year'")
        return self


class Campaign(Window):
    """A recruitment campaign: enquiries multiplied (or set) over its window, at a ``cost``
    (advertising, events) spent evenly over the window."""

    cost: ProgrammeCost = 0.0


def _twelve(default: float = 1.0) -> list[float]:
    return [default] * 12


class Exits(_Base):
    """Hazards of leaving care per year, one value per age band."""

    return_home_per_year: list[Hazard] = [0.22, 0.2, 0.15, 0.12, 0.08]
    section20_return_multiplier: Factor = 1.6
    sgo_per_year: list[Hazard] = [0.10, 0.15, 0.10, 0.04, 0.01]
    adoption_per_year: list[Hazard] = [0.45, 0.25, 0.02, 0.0, 0.0]
    connected_sgo_multiplier: Factor = 4.0
    adoption_placement_days: Days = 240.0
    #: Returning home is likelier early in an episode: the return-home hazard is multiplied
    #: by ``early_return_multiplier`` for the first ``early_return_days`` of it (docs/MODEL.md
    #: 2.6.15). Neutral default: 1 (a hazard by age band alone).
    early_return_multiplier: Factor = 1.0
    early_return_days: Days = 182.0
    #: ... and rarer late in it: multiplied by ``late_return_multiplier`` from
    #: ``late_return_days`` of the episode on, so that children who have been in care for
    #: years seldom go home (docs/MODEL.md 2.6.16). Neutral default: 1.
    late_return_multiplier: Factor = 1.0
    late_return_days: Days = 730.0

    @model_validator(mode="after")
    def _late_after_early(self) -> Exits:
        if self.late_return_days <= self.early_return_days:
            raise ValueError(
                f"late_return_days ({self.late_return_days:g}) must be later in the episode "
                f"than early_return_days ({self.early_return_days:g})"
            )
        return self


AssessmentDays = Annotated[float, _NUMBER, Field(gt=0, le=730)]


class KinshipAssessment(_Base):
    """A connected person's temporary approval (Regulation 24) and full assessment.

    ``approval_prob`` ``None`` approves connected persons on the child's arrival (no
    assessment). Otherwise the assessment ends after a uniform ``days`` range with approval
    (Regulation 25) with this probability; on failure the children move and the household ends.
    """

    approval_prob: Prob | None = None
    days: tuple[AssessmentDays, AssessmentDays] = (112.0, 168.0)

    @model_validator(mode="after")
    def _ordered(self) -> KinshipAssessment:
        if self.days[1] < self.days[0]:
            raise ValueError(f"days: the upper end ({self.days[1]}) is below the lower")
        return self


class Children(_Base):
    """Arrivals into care of children other than UASC, and how they leave."""

    #: Neutral default: none (a council states its own; Kent's is fitted, calibration/).
    arrivals_per_year: Arrivals = 0.0
    seasonality: list[Factor] = Field(default_factory=_twelve)
    arrival_changes: Annotated[list[Window], Items] = []
    entry_age_weights: list[Weight] = [0.2, 0.16, 0.17, 0.3, 0.17]
    #: Groups of 1, 2, 3... siblings (at most 10).
    sibling_group_weights: Annotated[list[Weight], Field(min_length=1, max_length=10)] = [
        0.72,
        0.2,
        0.06,
        0.02,
    ]
    complex_need_prob: list[Prob] = [0.05, 0.08, 0.15, 0.3, 0.3]
    section20_share: Prob = 0.5
    #: Neutral default: the same share in each area.
    area_weights: dict[str, Weight] = {"North": 0.25, "South": 0.25, "East": 0.25, "West": 0.25}
    placed_with_parents_prob: Prob = 0.02
    #: Neutral default: off (no connected-person placements unless the scenario states them).
    kinship_prob: Prob = 0.0
    #: Yearly growth of ``kinship_prob`` from the start date (compounded; the probability is
    #: capped at 1). Neutral default: none.
    kinship_growth_per_year: Growth = 0.0
    #: Groups of 1, 2, 3... siblings among the groups that go to a connected person; None:
    #: drawn like every group (``sibling_group_weights``).
    kinship_sibling_group_weights: (
        Annotated[list[Weight], Field(min_length=1, max_length=10)] | None
    ) = None
    kinship_assessment: KinshipAssessment = KinshipAssessment()
    parent_and_child_prob: Prob = 0.1
    parent_and_child_days: Days = 84.0
    parent_and_child_home_prob: Prob = 0.5
    solo_prob_complex: Prob = 0.25
    residential_need_prob: Prob = 0.35
    residential_need_from_age: Age = 10.0
    #: Probability that a group all aged 16 or over (not UASC) tries supported accommodation
    #: before foster care (UASC have their own, ``uasc.supported_first_prob_16plus``).
    #: Neutral default: none (foster care first).
    supported_first_prob_16plus: Prob = 0.0
    #: Hazard a year of a planned move from a mainstream foster placement (in-house or IFA) to
    #: supported accommodation, for a young person of 16 or 17 (``sim/model/moving_on.py``).
    #: Neutral default: none (young people stay in foster care until 18).
    supported_move_per_year_16plus: Hazard = 0.0
    male_share: Prob = 0.55
    exits: Exits = Exits()
    #: Neutral default: off (no Staying Put unless the scenario states its take-up).
    staying_put_prob: Prob = 0.0
    staying_put_mean_years: CappedMean = 1.2
    staying_put_max_years: ShortYears = 3.0


class NationalTransferScheme(_Base):
    """UASC transferred to other councils while the council is above its quota."""

    #: Neutral default: none; with it the quota is zero, which matters only with transfers.
    child_population: Population = 0
    quota_share: Prob = 0.001
    transfer_prob: Prob = 0.0
    delay_days: Days = 10.0
    #: UASC in care from which the council accommodates no new arrival (they stay with the
    #: Home Office); None: every arrival is accommodated.
    accommodation_limit: Kids | None = None


class Uasc(_Base):
    """Unaccompanied asylum-seeking children: their own arrival stream."""

    #: Neutral default: none (a council states its own; Kent's is fitted, calibration/).
    arrivals_per_year: UascArrivals = 0.0
    surges: Annotated[list[Window], Items] = []
    age_weights: dict[int, Weight] = {13: 0.03, 14: 0.07, 15: 0.2, 16: 0.35, 17: 0.35}
    #: Neutral default: the same share in each area.
    area_weights: dict[str, Weight] = {"North": 0.25, "South": 0.25, "East": 0.25, "West": 0.25}
    complex_need_prob: Prob = 0.1
    male_share: Prob = 0.92
    supported_first_prob_16plus: Prob = 0.7
    return_per_year: Hazard = 0.03
    nts: NationalTransferScheme = NationalTransferScheme()


class Step(_Base):
    """One step of the search cascade: how long it takes and how often it finds a place."""

    delay_days: SearchDays = 0.0
    accept_prob: Prob = 1.0


def _default_cascade() -> dict[str, Step]:
    return {
        "in_house_home": Step(delay_days=0.0),
        "in_house_other": Step(delay_days=0.0),
        "emergency": Step(delay_days=0.0),
        "ifa_framework": Step(delay_days=3.0, accept_prob=0.85),
        "ifa_spot": Step(delay_days=5.0, accept_prob=0.75),
        "supported": Step(delay_days=3.0, accept_prob=0.9),
        "residential": Step(delay_days=7.0, accept_prob=0.7),
        "unregistered": Step(delay_days=2.0, accept_prob=1.0),
    }


class Offers(_Base):
    """How a free in-house place comes to be offered (off by default: offered at once).

    A place that frees, or a newly approved household's, is held by the carers with
    probability ``held_prob`` (a break, respite, kept for a sibling or a planned child; not
    available for an exponential ``held_mean_days``) and otherwise goes into matching: not
    matchable for a lognormal delay (``delay_median_days``, ``delay_sigma``). A carer declines
    the child proposed at the end of a delay with probability ``decline_prob``, and matching
    starts again.
    """

    delay_median_days: Annotated[float, _NUMBER, Field(ge=0, le=365)] = 0.0
    delay_sigma: Sigma = 0.8
    held_prob: Prob = 0.0
    held_mean_days: Annotated[float, _NUMBER, Field(gt=0, le=365)] = 14.0
    #: Below 1, so that matching ends: a certain decline would restart it for ever.
    decline_prob: Annotated[float, _NUMBER, Field(ge=0, le=0.95)] = 0.0

    @property
    def active(self) -> bool:
        return self.delay_median_days > 0 or self.held_prob > 0 or self.decline_prob > 0

    @property
    def mean_delay_days(self) -> float:
        """Mean days from a vacancy's entry into matching to its offer, declines included."""
        return self.delay_median_days * math.exp(self.delay_sigma**2 / 2) / (1 - self.decline_prob)


class Matching(_Base):
    """The search cascade and the planned moves that follow a placement."""

    cascade: dict[str, Step] = Field(default_factory=_default_cascade)
    _fill_cascade = _keep_defaults("cascade", _default_cascade)
    #: Children who found no place retry this often: a day at least, or waiting children
    #: would retry without time passing.
    retry_days: RetryDays = 7.0
    split_siblings: StrictBool = True
    emergency_stay_days: Days = 28.0
    step_down_prob: Prob = 0.5
    step_down_min_days: Days = 90.0
    #: A placement older than this has become the child's permanent home and is no longer
    #: stepped down. Neutral default: never.
    step_down_max_days: Days = MAX_DAYS
    step_down_max_age: Age = 16.0
    offers: Offers = Offers()

    @field_validator("cascade", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> Any:
        return _known_keys(v, CASCADE_STEPS, "cascade step(s)", complete=True)


class Providers(_Base):
    """Places outside the in-house service available to the council."""

    #: Neutral defaults: none; a council states the places it can call on.
    ifa_framework_places: Places = 0
    residential_places: Places = 0
    supported_places: Places = 0
    unregistered_places: Places = 0


class Distance(_Base):
    """Probability that a placement is within 20 miles of the child's home."""

    same_area: Prob = 0.92
    other_area: Prob = 0.35
    ifa_framework: Prob = 0.6
    ifa_spot: Prob = 0.35
    residential: Prob = 0.4
    supported: Prob = 0.55
    unregistered: Prob = 0.3


Positive = Annotated[float, _NUMBER, Field(gt=0, allow_inf_nan=False)]
EXTERNAL_TYPES = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")


class SpotMarket(_Base):
    """The IFA spot market as a finite pool of places shared with other councils, whose
    children arrive (Poisson) and stay (exponential) as their own process; a spot search finds
    a place only if one is free. ``places = None``: an unlimited market, in which other councils'
    children take nothing from this council's. When the pool is full, a spot search buys one of
    ``outside_places`` with agencies outside the county (``None``: as many as needed); the
    default 0 sends the child on down the cascade."""

    places: Annotated[int, _NUMBER, Field(ge=0, le=100_000)] | None = None
    outside_places: Annotated[int, _NUMBER, Field(ge=0, le=100_000)] | None = 0
    other_councils_initial: Annotated[int, _NUMBER, Field(ge=0, le=100_000)] = 0
    other_councils_per_year: Annotated[
        float, _NUMBER, Field(ge=0, le=100_000, allow_inf_nan=False)
    ] = 0.0
    other_councils_mean_years: Annotated[
        float, _NUMBER, Field(gt=0, le=30, allow_inf_nan=False)
    ] = 2.0

    @model_validator(mode="after")
    def _fits(self) -> SpotMarket:
        if self.places is not None and self.other_councils_initial > self.places:
            raise ValueError(
                f"other_councils_initial ({self.other_councils_initial}) exceeds places "
                f"({self.places})"
            )
        return self


class CapacityResponse(_Base):
    """Residential and supported capacity that follow demand with a lag: every ``review_days``
    each moves toward ``demand / target_occupancy`` by the share ``1 - exp(-review_days /
    (365.25 * response_years))`` of the gap (growth only; homes do not close on this signal).
    Demand is the occupied places, plus, for residential, the children in unregistered
    placements. ``response_years = None``: fixed capacity."""

    response_years: Annotated[float, _NUMBER, Field(gt=0, le=50, allow_inf_nan=False)] | None = None
    #: At least 0.1: below it the capacity wanted (demand / occupancy) has no sensible size.
    target_occupancy: Annotated[float, _NUMBER, _within(0.1, 1)] = 0.9
    review_days: Annotated[float, _NUMBER, Field(ge=1, le=365, allow_inf_nan=False)] = 30.0
    kinds: list[Literal["residential", "supported"]] = ["residential", "supported"]


class Market(_Base):
    """Places outside the in-house service that run out and respond to use."""

    spot: SpotMarket = SpotMarket()
    capacity_response: CapacityResponse = CapacityResponse()


class Geography(_Base):
    """Distance from where children and carers are: a district table shipped with the package
    (``districts = "kent"`` reads ``sim/data/kent_districts.csv``) gives each child's home and
    each placement a district; distance is between district centroids. External placements are
    outside the county with ``out_of_county_share[kind]``, at a lognormal distance (median
    ``out_of_county_median_miles``); inside it, in a district drawn by population, weighted by
    ``exp(-miles / search_miles)`` from home when ``search_miles`` is set. With
    ``nearest_area_first``, an in-house carer in another area is looked for in the areas
    nearest the child's home first. ``districts = ""``: the per-placement probabilities of
    ``distance``."""

    districts: str = ""
    search_miles: Annotated[float, _NUMBER, Field(gt=0, le=500, allow_inf_nan=False)] | None = None
    nearest_area_first: StrictBool = False
    out_of_county_share: dict[str, Prob] = {}
    out_of_county_median_miles: Annotated[
        float, _NUMBER, Field(gt=0, le=500, allow_inf_nan=False)
    ] = 30.0
    out_of_county_sigma: Annotated[float, _NUMBER, Field(gt=0, le=3, allow_inf_nan=False)] = 0.6
    #: UASC have no home address: their distance is 'not known', which DfE counts among all
    #: children looked after but not as within 20 miles.
    uasc_not_known: StrictBool = True

    @field_validator("out_of_county_share", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, EXTERNAL_TYPES, "placement type(s)")


def _default_breakdown_rates() -> dict[str, float]:
    return {
        "in_house": 0.06,
        "connected": 0.04,
        "ifa_framework": 0.08,
        "ifa_spot": 0.1,
        "residential": 0.2,
        "supported": 0.15,
        "unregistered": 0.6,
        "placed_for_adoption": 0.02,
        "with_parents": 0.05,
    }


class Breakdown(_Base):
    """Unplanned endings: heterogeneous hazards by child, placement, age and needs."""

    per_year: dict[str, Hazard] = Field(default_factory=_default_breakdown_rates)
    high_risk_share: Prob = 0.12
    high_risk_multiplier: Factor = 12.0
    teen_multiplier: Factor = 1.5
    teen_from_age: Age = 11.0
    complex_multiplier: Factor = 1.8
    carer_deregisters_prob: Prob = 0.12
    planned_move_per_year: Hazard = 0.08
    #: A placement this old is settled: its breakdown and planned-move hazards are multiplied
    #: by ``settled_multiplier``. Neutral default: 1 (no change with duration).
    settled_days: Days = 365.0
    settled_multiplier: Factor = 1.0
    _fill_rates = _keep_defaults("per_year", _default_breakdown_rates)

    @field_validator("per_year", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, PLACEMENT_TYPES, "placement type(s)")


class AgeRange(_Base):
    """Ages a newly approved household accepts, with how common that approval is."""

    min_age: ApprovalAge
    max_age: ApprovalAge
    weight: Weight

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.max_age < self.min_age:
            raise ValueError(f"max_age ({self.max_age}) is below min_age ({self.min_age})")
        return self


def _default_age_ranges() -> list[AgeRange]:
    return [
        AgeRange(min_age=0, max_age=17, weight=0.45),
        AgeRange(min_age=0, max_age=10, weight=0.25),
        AgeRange(min_age=5, max_age=17, weight=0.2),
        AgeRange(min_age=11, max_age=17, weight=0.1),
    ]


class Assessment(_Base):
    """Assessment duration: a mixture of a fast majority and a long tail (months)."""

    #: Neutral defaults: one lognormal whose mean, 7.0 months, is England's 273 days from
    #: enquiry to approval (The Fostering Network benchmark 2013/14, evidence.md 3.3) less the
    #: 60 days of the application and assessment-start stages; median 7.0 * exp(-0.35**2 / 2).
    fast_share: Prob = 1.0
    fast_median_months: Months = 6.6
    #: Log-scale sds: at 2 the mean is 7.4 times the median; larger ones overflow the mean.
    fast_sigma: Sigma = 0.35
    slow_median_months: Months = 10.5
    slow_sigma: Sigma = 0.35


def _default_type_weights() -> dict[str, float]:
    # Neutral default: mainstream only; the specialist types are a council's own choice.
    return {"mainstream": 1.0, "short_breaks": 0.0, "parent_and_child": 0.0, "emergency": 0.0}


class Household(_Base):
    """What a newly approved fostering household offers."""

    #: Neutral default: England's 1.99 approved places per household in 2018-19 (88,370 for
    #: 44,450; evidence.md 3.3), as 1% of households with 1 place and 99% with 2.
    places_weights: PlacesWeights = [0.01, 0.99]
    age_ranges: Annotated[list[AgeRange], Field(min_length=1, max_length=MAX_ITEMS)] = Field(
        default_factory=_default_age_ranges
    )
    accepts_complex_prob: Prob = 0.35
    held_back_prob: Prob = 0.1
    type_weights: dict[str, Weight] = Field(default_factory=_default_type_weights)
    #: Neutral default: the same share in each area.
    area_weights: dict[str, Weight] = {"North": 0.25, "South": 0.25, "East": 0.25, "West": 0.25}

    @field_validator("type_weights", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, CARER_TYPES, "carer type(s)")


class AssessingCapacity(_Base):
    """Assessing social workers' caseload: at most ``slots`` assessments under way at once.

    An application that finds every slot taken waits its turn (first come, first served) and
    withdraws after an exponential patience. ``None`` leaves assessments unlimited.
    """

    slots: Annotated[int, _NUMBER, Field(ge=1, le=100_000)] | None = None
    patience_days: Annotated[float, _NUMBER, Field(gt=0, le=3650)] = 120.0


class FollowUp(_Base):
    """The recruitment team's follow-up of enquiries (initial call and visit): at most
    ``slots`` enquiries in hand at once, each for an exponential ``days``.

    An enquiry that finds every slot taken is not followed up and does not become an
    application (a loss system, M/G/c/c: the followed-up share is Erlang's B formula away from
    1, see ``followed_up_share``). ``None`` follows up every enquiry. With slots, the funnel's
    ``application_prob`` is the conversion of the enquiries that are followed up.
    """

    slots: Annotated[int, _NUMBER, Field(ge=1, le=100_000)] | None = None
    days: Annotated[float, _NUMBER, Field(gt=0, le=365)] = 30.0

    def followed_up_share(
        self, enquiries_per_year: float, seasonality: Sequence[float] = (1.0,)
    ) -> float:
        """The long-run share of enquiries followed up at ``enquiries_per_year``: 1 - B(slots,
        load), Erlang's loss formula with load = rate x mean days in hand. With monthly
        ``seasonality`` factors, each month at its own rate, weighted by its enquiries (a
        follow-up lasts about a month, so each month is near its own steady state)."""
        if self.slots is None or sum(seasonality) <= 0:
            return 1.0
        followed = 0.0
        for factor in seasonality:
            load = enquiries_per_year * factor * self.days / 365.25
            blocked = 1.0
            for k in range(1, self.slots + 1):
                blocked = load * blocked / (k + load * blocked)
            followed += factor * (1.0 - blocked)
        return followed / sum(seasonality)


class Recruitment(_Base):
    """The funnel from enquiry to approval."""

    #: Neutral default: none (a council states its own).
    enquiries_per_year: Enquiries = 0.0
    #: Neutral default: no monthly pattern.
    seasonality: list[Factor] = Field(default_factory=_twelve)
    campaigns: Annotated[list[Campaign], Items] = []
    #: Neutral default: England's 9,740 applications of 127,850 enquiries in 2018-19
    #: (evidence.md 3.3).
    application_prob: Prob = 0.076
    application_days: StageDays = 30.0
    assessment_start_prob: Prob = 0.6
    assessment_start_days: StageDays = 30.0
    approval_prob: Prob = 0.55
    assessment: Assessment = Assessment()
    household: Household = Household()
    assessing: AssessingCapacity = AssessingCapacity()
    follow_up: FollowUp = FollowUp()


class Drive(Dated):
    """A dated utilisation drive: from ``start`` (inclusive) to ``end`` (exclusive) the
    service presses carers who are not actively fostering. Their own leaving hazards, once
    the home has been empty for ``empty_days``, and the review's chances of deregistering an
    inactive or mismatched household are multiplied by ``multiplier`` (a chance at most 1).
    """

    multiplier: Annotated[float, _NUMBER, Field(gt=0, le=20)] = 1.0


class Usage(_Base):
    """Retention and review that depend on how a household is used (off by default).

    Carers' own leaving hazards (resignation and moves to agencies) are multiplied by
    ``empty_multiplier`` once the home has been without a child for ``empty_days``, and by
    ``settled_multiplier`` while a child has been placed there for ``settled_days``. At its
    annual review, a household vacant for ``vacant_days`` is deregistered by the service with
    probability ``mismatch_deregistration_prob`` times the share of the last year's placements
    whose child its approval (age range, needs) would not take. A ``drive`` strengthens both
    for carers not actively fostering while it runs (:class:`Drive`).
    """

    empty_multiplier: Annotated[float, _NUMBER, Field(gt=0, le=20)] = 1.0
    empty_days: Annotated[float, _NUMBER, Field(gt=0, le=3650)] = 180.0
    settled_multiplier: Annotated[float, _NUMBER, Field(gt=0, le=20)] = 1.0
    settled_days: Annotated[float, _NUMBER, Field(gt=0, le=3650)] = 365.0
    mismatch_deregistration_prob: Prob = 0.0
    vacant_days: Annotated[float, _NUMBER, Field(gt=0, le=3650)] = 90.0
    drive: Drive | None = None

    @property
    def active(self) -> bool:
        return (
            self.empty_multiplier != 1.0
            or self.settled_multiplier != 1.0
            or self.mismatch_deregistration_prob > 0
            or self.driving
        )

    @property
    def driving(self) -> bool:
        """Whether a drive changes anything."""
        return self.drive is not None and self.drive.multiplier != 1.0


class Notice(_Base):
    """Carers who decide to leave while children are placed with them (off by default).

    With probability ``wait_prob`` such carers take no new children and keep those they
    have: their approval ends when the last of them leaves, or after ``max_days`` at most,
    when any still placed move on. Otherwise, as with ``wait_prob`` 0, it ends at once and
    the children move (DfE's "resignation or closure of provision").
    """

    wait_prob: Prob = 0.0
    max_days: Annotated[float, _NUMBER, Field(gt=0, le=7300)] = 730.0


class Attrition(_Base):
    """Deregistration and on-hold hazards of approved households."""

    tenure_edges_years: Annotated[list[Years], Field(min_length=1, max_length=100)] = [
        0.0,
        2.0,
        10.0,
    ]
    deregistration_per_year: Annotated[list[Hazard], Field(min_length=1, max_length=100)] = [
        0.1,
        0.07,
        0.1,
    ]
    to_ifa_per_year: Hazard = 0.01
    inactive_days: Threshold = 365.0
    #: Every household is reviewed this often: a month at least, or reviews alone would swamp
    #: the event queue.
    review_days: ReviewDays = 365.0
    service_deregistration_prob: Prob = 0.5
    #: Neutral default: none. With it on, every household is reviewed every ``review_days``
    #: and the service ends the approval after a standards-of-care concern or allegation with
    #: this probability per review, children placed or not (docs/MODEL.md 2.6.1).
    standards_deregistration_prob: Prob = 0.0
    on_hold_per_year: Hazard = 0.15
    on_hold_mean_days: Days = 180.0
    usage: Usage = Usage()
    notice: Notice = Notice()

    @model_validator(mode="after")
    def _pieces(self) -> Attrition:
        if len(self.tenure_edges_years) != len(self.deregistration_per_year):
            raise ValueError(
                "tenure_edges_years and deregistration_per_year must have the same length"
            )
        edges = self.tenure_edges_years
        if edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("tenure_edges_years must start at 0 and increase")
        return self


class Cost(_Base):
    """Weekly unit cost (GBP) with its plausible range."""

    central: WeeklyCost
    low: WeeklyCost
    high: WeeklyCost

    @model_validator(mode="after")
    def _ordered(self) -> Cost:
        if not self.low <= self.central <= self.high:
            raise ValueError("need low <= central <= high")
        return self


def _default_costs() -> dict[str, Cost]:
    return {
        "in_house": Cost(central=550, low=450, high=650),
        "connected": Cost(central=350, low=250, high=450),
        "ifa_framework": Cost(central=820, low=750, high=950),
        "ifa_spot": Cost(central=1000, low=850, high=1300),
        "residential": Cost(central=3935, low=3000, high=6108),
        "supported": Cost(central=1200, low=700, high=2000),
        "unregistered": Cost(central=8000, low=5000, high=12000),
        "placed_for_adoption": Cost(central=300, low=200, high=400),
        "with_parents": Cost(central=100, low=50, high=200),
        "staying_put": Cost(central=300, low=200, high=400),
    }


class UnitCost(_Base):
    """A unit cost (GBP, per enquiry, assessment or approval) with its plausible range."""

    central: ProgrammeCost
    low: ProgrammeCost
    high: ProgrammeCost

    @model_validator(mode="after")
    def _ordered(self) -> UnitCost:
        if not self.low <= self.central <= self.high:
            raise ValueError("need low <= central <= high")
        return self


class RecruitmentCosts(_Base):
    """What the recruitment funnel costs: each enquiry handled, each assessment started and
    each approval (assumptions: no unit cost was found in the evidence; docs/MODEL.md 3.3)."""

    per_enquiry: UnitCost = UnitCost(central=250, low=100, high=500)
    per_assessment: UnitCost = UnitCost(central=6000, low=4000, high=10000)
    per_approval: UnitCost = UnitCost(central=1500, low=500, high=3000)


class Costs(_Base):
    """Weekly unit costs by placement type and provider, what recruitment and each approved
    household cost, and an optional price index."""

    weekly: dict[str, Cost] = Field(default_factory=_default_costs)
    _fill_costs = _keep_defaults("weekly", _default_costs)
    #: Each approved fostering household's cost whatever its placements (retainers, where
    #: paid); 0 when the weekly cost per child already carries it.
    household_weekly: Cost = Cost(central=0, low=0, high=150)
    recruitment: RecruitmentCosts = RecruitmentCosts()
    #: Prices rise by this share each 1 April after the first financial year; None keeps the
    #: first year's prices throughout.
    inflation_per_year: Annotated[float, _NUMBER, _within(-0.5, 1.0)] | None = None

    @field_validator("weekly", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, [*PLACEMENT_TYPES, "staying_put"], "cost item(s)", complete=True)


def _default_initial_placements() -> dict[str, int]:
    # Neutral default: no children in care at the start; a council states its own stock.
    return dict.fromkeys(PLACEMENT_TYPES, 0)


class Initial(_Base):
    """The stock at the start date."""

    placements: dict[str, Kids] = Field(default_factory=_default_initial_placements)
    uasc: Kids = 0
    age_weights: list[Weight] = [0.05, 0.14, 0.18, 0.38, 0.25]
    mean_years_in_care: CappedMean = 2.8
    #: Neutral defaults: no households; England's 1.99 approved places per household in
    #: 2018-19 (evidence.md 3.3), as in recruitment.household; none on hold.
    households: HouseholdCount = 0
    #: Connected (family or friends) households the ``connected`` children live in; None
    #: gives each connected child a household of its own.
    connected_households: HouseholdCount | None = None
    #: Share of the ``connected`` children accommodated under section 20; None: the arrivals'
    #: ``children.section20_share``. A count of care orders only (Kent's A08) gives 0.
    connected_section20_share: Prob | None = None
    #: True: every ``in_house`` child starts with a council carer (the figure is an observed
    #: count), one who must be placed alone taking an empty household on exemption; False:
    #: those without a matching carer start with IFA spot carers (initial_overflow_to_ifa).
    place_all_in_house: StrictBool = False
    places_weights: PlacesWeights = [0.01, 0.99]
    on_hold_share: Prob = 0.0
    mean_years_approved: CappedMean = 7.0
    #: Share of children with 3+ placements in the 12 months to the start date (DfE stability
    #: indicator); None draws each child's recent moves from its own hazards only.
    three_plus_share: Prob | None = None
    #: Share of children under 16 in care 2.5+ years who are 2+ years in their placement at the
    #: start date (DfE stability indicator); None keeps the ages drawn from the hazards.
    same_placement_2y_share: Prob | None = None

    @field_validator("placements", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, PLACEMENT_TYPES, "placement type(s)")


# ----------------------------------------------------------------------------- interventions


def _range_ok(values: tuple[float, float], name: str) -> None:
    if values[0] > values[1]:
        raise ValueError(f"{name}: low ({values[0]}) must not exceed high ({values[1]})")


Multiplier = tuple[Factor, Factor]  # an effect size as a [low, high] range, sampled per replication


class _Dated(_Base):
    start: Date
    end: Date | None = None

    @model_validator(mode="after")
    def _dates(self) -> _Dated:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        for name, value in self:
            if isinstance(value, tuple) and len(value) == 2:
                _range_ok(value, name)
        return self


class HubFamilies(_Dated):
    """Kent's hub family scheme: an experienced carer linked with 3-4 carers nearby.

    Linked households (and the hub) have their breakdown and deregistration hazards
    multiplied; the hub keeps ``respite_places`` for respite, not ordinary placements.
    """

    hubs_per_area: Small = 2
    satellites: tuple[Small, Small] = (3, 4)
    breakdown_multiplier: Multiplier = (0.75, 1.0)
    deregistration_multiplier: Multiplier = (0.6, 1.0)
    respite_places: Small = 1
    cost_per_hub_per_year: ProgrammeCost = 12_000.0


class Mockingbird(_Base):
    """A Mockingbird constellation: a hub home with beds kept for sleepovers and emergencies,
    and 6-10 satellite households whose carers deregister and break down less."""

    start: Date
    end: Date | None = None
    area: str
    satellites: tuple[Small, Small] = (6, 10)
    hub_beds: Small = 2
    deregistration_multiplier: Multiplier = (0.18, 0.9)
    breakdown_multiplier: Multiplier = (0.8, 1.0)
    cost_per_year: ProgrammeCost = 100_000.0

    @model_validator(mode="after")
    def _check(self) -> Mockingbird:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        for name in ("satellites", "deregistration_multiplier", "breakdown_multiplier"):
            _range_ok(getattr(self, name), name)
        return self


class RecruitmentTarget(_Dated):
    """Recruit for ``approvals_per_year`` new households: enquiries are scaled so the funnel
    is expected to deliver that many approvals a year."""

    approvals_per_year: Enquiries  # the enquiries it implies: Scenario


class AssessmentCapacity(_Dated):
    """Extra assessing social workers: assessments finish sooner and fewer applicants drop out."""

    duration_multiplier: Speedup = 0.8
    approval_prob: Prob | None = None
    cost_per_year: ProgrammeCost = 0.0


class RetentionOffer(_Dated):
    """Fees or support that change every household's deregistration hazards."""

    deregistration_multiplier: Multiplier = (0.8, 0.95)
    weekly_cost_per_household: WeeklyCost = 20.0


class UascRingFence(_Dated):
    """Beds reserved for unaccompanied asylum-seeking children, by placement type.

    Neutral defaults: none (a scenario states its beds; Kent's 2024 ring-fence was 39 + 21 + 9).
    """

    in_house: Places = 0
    ifa_framework: Places = 0
    supported: Places = 0


class StepAcross(_Dated):
    """A programme moving children from residential care to fostering (in-house first)."""

    per_year: Hazard = 0.5
    cost_per_move: ProgrammeCost = 0.0


class ProviderChange(_Base):
    """From ``start``, a new capacity and/or weekly price for an external placement type."""

    start: Date
    kind: Literal["ifa_framework", "residential", "supported", "unregistered"]
    places: Places | None = None
    weekly_cost: WeeklyCost | None = None


class NtsChange(_Base):
    """From ``start``, new National Transfer Scheme rules, or a new limit on the UASC the
    council accommodates (``accommodate_all`` lifts it, as the July 2023 High Court ruling did)."""

    start: Date
    quota_share: Prob | None = None
    transfer_prob: Prob | None = None
    delay_days: Days | None = None
    accommodation_limit: Kids | None = None
    accommodate_all: StrictBool = False

    @model_validator(mode="after")
    def _one_limit(self) -> NtsChange:
        if self.accommodate_all and self.accommodation_limit is not None:
            raise ValueError("give 'accommodation_limit' or 'accommodate_all', not both")
        return self


class Interventions(_Base):
    """Dated policies; each can be combined with the others."""

    hub_families: Annotated[list[HubFamilies], Items] = []
    mockingbird: Annotated[list[Mockingbird], Items] = []
    recruitment_targets: Annotated[list[RecruitmentTarget], Items] = []
    assessment_capacity: Annotated[list[AssessmentCapacity], Items] = []
    retention_offers: Annotated[list[RetentionOffer], Items] = []
    uasc_ring_fence: Annotated[list[UascRingFence], Items] = []
    step_across: Annotated[list[StepAcross], Items] = []
    provider_changes: Annotated[list[ProviderChange], Items] = []
    nts_changes: Annotated[list[NtsChange], Items] = []

    def dated(self) -> list[tuple[str, int, Any]]:
        """Every intervention as (kind, index, item)."""
        return [
            (name, i, item)
            for name in type(self).model_fields
            for i, item in enumerate(getattr(self, name))
        ]


class PosteriorLink(_Base):
    """A posterior sample the scenario runs with (``posterior = "file.parquet"``; sim/posterior.py).

    ``kept`` lists the fields that files extending the declaring one (or overrides) set
    themselves: the draws leave them alone.
    """

    file: Annotated[str, Field(min_length=1, max_length=4096)]
    sha256: Annotated[str, Field(max_length=64)] = ""
    kept: Annotated[list[Annotated[str, Field(max_length=1000)]], Field(max_length=10_000)] = []


class Scenario(_Base):
    """Every parameter of one simulated council, its start date and horizon."""

    name: Annotated[str, Field(max_length=200)] = "unnamed"
    description: Annotated[str, Field(max_length=10_000)] = ""
    #: The council the scenario describes, as its published figures name it: a report draws
    #: those figures and the forecasts' validation when the calibration folder holds them.
    council: Annotated[str, Field(max_length=200)] = ""
    start: Date = dt.date(2019, 3, 31)
    years: Horizon = 10.0
    areas: Annotated[list[AreaName], Field(min_length=1, max_length=MAX_ITEMS)] = [
        "North",
        "South",
        "East",
        "West",
    ]
    #: Ages where the bands of per-band parameters start; the last, 18, is leaving care.
    age_band_edges: Annotated[list[AgeYear], Field(min_length=3, max_length=19)] = [
        0,
        1,
        5,
        10,
        16,
        18,
    ]
    children: Children = Children()
    uasc: Uasc = Uasc()
    matching: Matching = Matching()
    providers: Providers = Providers()
    distance: Distance = Distance()
    market: Market = Market()
    geography: Geography = Geography()
    breakdown: Breakdown = Breakdown()
    recruitment: Recruitment = Recruitment()
    attrition: Attrition = Attrition()
    costs: Costs = Costs()
    initial: Initial = Initial()
    interventions: Interventions = Interventions()
    #: set by a ``posterior`` link in the file, not written as a table
    posterior: PosteriorLink | None = None

    @property
    def end(self) -> dt.date:
        """The last day simulated."""
        return horizon_end(self.start, self.years)

    @property
    def n_bands(self) -> int:
        return len(self.age_band_edges) - 1

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = [
            *self._bands(),
            *self._weights(),
            *self._dates(),
            *self._rates(),
            *self._stock(),
        ]
        if problems:
            # Each problem keeps its own field: _describe lists them one by one.
            summary = "; ".join(f"{f}: {m}" for f, m in problems)
            raise PydanticCustomError(
                "scenario", "{summary}", {"summary": summary, "problems": problems}
            )
        return self

    @model_validator(mode="after")
    def _districts(self) -> Scenario:
        if not self.geography.districts:
            return self
        from sim.model.geography import read_districts  # the table is the model's data

        teams = {d.area for d in read_districts(self.geography.districts)}
        if teams != set(self.areas):
            raise ValueError(
                f"geography.districts: the districts of {self.geography.districts!r} are in "
                f"areas {sorted(teams)}, but the scenario's areas are {self.areas}"
            )
        return self

    def _bands(self) -> list[tuple[str, str]]:
        edges = self.age_band_edges
        if edges[0] != 0 or edges[-1] != 18 or any(b <= a for a, b in itertools.pairwise(edges)):
            return [("age_band_edges", f"must start at 0, increase and end at 18 (got {edges})")]
        nb = len(edges) - 1
        per_band = {
            "children.entry_age_weights": self.children.entry_age_weights,
            "children.complex_need_prob": self.children.complex_need_prob,
            "children.exits.return_home_per_year": self.children.exits.return_home_per_year,
            "children.exits.sgo_per_year": self.children.exits.sgo_per_year,
            "children.exits.adoption_per_year": self.children.exits.adoption_per_year,
            "initial.age_weights": self.initial.age_weights,
        }
        problems = [
            (field, f"needs one value per age band ({nb}), got {len(values)}")
            for field, values in per_band.items()
            if len(values) != nb
        ]
        for age in self.uasc.age_weights:
            if not 0 <= age < edges[-1]:
                problems.append(("uasc.age_weights", f"age {age} outside 0..{edges[-1] - 1}"))
        return problems

    def _weights(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for field, values in {
            "children.seasonality": self.children.seasonality,
            "recruitment.seasonality": self.recruitment.seasonality,
        }.items():
            if len(values) != 12:
                problems.append((field, f"needs 12 monthly values, got {len(values)}"))
        if len(set(self.areas)) != len(self.areas):
            problems.append(("areas", "names must not repeat"))
        areas = set(self.areas)
        for field, weights in {
            "children.area_weights": self.children.area_weights,
            "uasc.area_weights": self.uasc.area_weights,
            "recruitment.household.area_weights": self.recruitment.household.area_weights,
        }.items():
            unknown = set(weights) - areas
            if unknown:
                problems.append(
                    (field, f"unknown area(s) {sorted(unknown)}; allowed: {self.areas}")
                )
        household = self.recruitment.household
        for field, shares in {
            "children.area_weights": list(self.children.area_weights.values()),
            "uasc.area_weights": list(self.uasc.area_weights.values()),
            "recruitment.household.area_weights": list(household.area_weights.values()),
            "recruitment.household.type_weights": list(household.type_weights.values()),
            "recruitment.household.age_ranges": [r.weight for r in household.age_ranges],
            "children.entry_age_weights": self.children.entry_age_weights,
            "children.sibling_group_weights": self.children.sibling_group_weights,
            "recruitment.household.places_weights": household.places_weights,
            "initial.places_weights": self.initial.places_weights,
            "initial.age_weights": self.initial.age_weights,
            "uasc.age_weights": list(self.uasc.age_weights.values()),
        }.items():
            if sum(shares) <= 0:
                problems.append((field, "weights must not all be zero"))
        return problems

    def _dates(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        if self.end > LAST_DATE:
            problems.append(
                ("years", f"the horizon ends on {self.end}, after the last date {LAST_DATE}")
            )
        windows: dict[str, Sequence[Window]] = {
            "children.arrival_changes": self.children.arrival_changes,
            "uasc.surges": self.uasc.surges,
            "recruitment.campaigns": self.recruitment.campaigns,
        }
        spans: list[tuple[str, Dated]] = [
            (f"{field}[{i}]", w) for field, items in windows.items() for i, w in enumerate(items)
        ]
        if self.attrition.usage.drive is not None:
            spans.append(("attrition.usage.drive", self.attrition.usage.drive))
        for field, w in spans:
            if w.start < self.start or w.end > self.end:
                problems.append(
                    (
                        field,
                        f"dates {w.start}..{w.end} fall outside the horizon "
                        f"{self.start}..{self.end}",
                    )
                )
        areas = set(self.areas)
        dated = self.interventions.dated()
        starts = [(f"interventions.{k}[{i}]", item.start) for k, i, item in dated]
        problems += policy_start_problems(self.start, self.years, starts)
        for kind, i, item in self.interventions.dated():
            field = f"interventions.{kind}[{i}]"
            end = getattr(item, "end", None)
            if end is not None and end > self.end:
                problems.append((field, f"dates fall outside the horizon {self.start}..{self.end}"))
            area = getattr(item, "area", None)
            if area is not None and area not in areas:
                problems.append((f"{field}.area", f"unknown area {area!r}; allowed: {self.areas}"))
        return problems

    def _rates(self) -> list[tuple[str, str]]:
        """Peak rates of the arrival and enquiry streams, and of a child's breakdowns."""
        problems: list[tuple[str, str]] = []
        c, u, r = self.children, self.uasc, self.recruitment
        targets, target_problems = self._target_windows()
        problems += target_problems
        streams: list[tuple[str, float, list[float], Sequence[Window], list[Span], float]] = [
            ("children", c.arrivals_per_year, c.seasonality, c.arrival_changes, [], MAX_ARRIVALS),
            ("uasc", u.arrivals_per_year, [1.0], u.surges, [], MAX_UASC_ARRIVALS),
            (
                "recruitment",
                r.enquiries_per_year,
                r.seasonality,
                r.campaigns,
                targets,
                MAX_ENQUIRIES,
            ),
        ]
        for field, base, seasonality, windows, extra, cap in streams:
            peak = peak_per_year(base, seasonality, windows, extra)
            if peak > cap:
                problems.append(
                    (
                        field,
                        f"the peak rate, {peak:,.0f} a year (the base or an observed level, "
                        f"times the highest month and every multiplier in force at once), "
                        f"exceeds the bound of {cap:,}",
                    )
                )
        b = self.breakdown
        scheme = max(
            (
                m[1]
                for _, _, item in self.interventions.dated()
                for name, m in item
                if name == "breakdown_multiplier"
            ),
            default=1.0,
        )
        worst = (
            max(b.per_year.values(), default=0.0)
            * max(b.high_risk_multiplier, 1.0)
            * max(b.teen_multiplier, 1.0)
            * max(b.complex_multiplier, 1.0)
            * max(scheme, 1.0)
        )
        if worst > MAX_PLACEMENT_HAZARD:
            problems.append(
                (
                    "breakdown",
                    f"the highest breakdown hazard (the highest rate times every multiplier) "
                    f"is {worst:,.0f} a year, above the bound of {MAX_PLACEMENT_HAZARD:g} "
                    "(one a day)",
                )
            )
        return problems

    def approvals_per_enquiry(self, day: dt.date) -> float:
        """Approvals per enquiry through the funnel on ``day``, with the assessment-capacity
        policy's approval probability where one is in force then (the last one listed)."""
        r = self.recruitment
        approval = r.approval_prob
        for boost in self.interventions.assessment_capacity:
            if (
                boost.approval_prob is not None
                and boost.start <= day
                and (boost.end is None or day < boost.end)
            ):
                approval = boost.approval_prob
        followed = r.follow_up.followed_up_share(r.enquiries_per_year, r.seasonality)
        return followed * r.application_prob * r.assessment_start_prob * approval

    def _target_windows(self) -> tuple[list[Span], list[tuple[str, str]]]:
        """The enquiry multipliers that recruitment targets add, as the model adds them."""
        r = self.recruitment
        spans: list[Span] = []
        problems: list[tuple[str, str]] = []
        mean_season = sum(r.seasonality) / 12
        for i, item in enumerate(self.interventions.recruitment_targets):
            per_enquiry = self.approvals_per_enquiry(item.start)
            level = level_at(r.enquiries_per_year, r.campaigns, item.start)
            expected = level * mean_season * per_enquiry
            field = f"interventions.recruitment_targets[{i}].approvals_per_year"
            if expected <= 0:
                problems.append(
                    (field, "a target needs enquiries and a funnel that converts some of them")
                )
                continue
            needed = item.approvals_per_year / per_enquiry
            if needed > MAX_ENQUIRIES:
                problems.append(
                    (
                        field,
                        f"{item.approvals_per_year:,.0f} approvals a year need "
                        f"{needed:,.0f} enquiries a year at this funnel's conversion "
                        f"({per_enquiry:.3g}), above the bound of {MAX_ENQUIRIES:,}",
                    )
                )
            end = item.end or LAST_DATE
            spans.append((item.start, end, item.approvals_per_year / expected))
        return spans, problems

    def initial_places(self) -> float:
        """The mainstream places the initial households are expected to offer."""
        kinds = self.recruitment.household.type_weights
        weights = self.initial.places_weights
        if sum(kinds.values()) <= 0 or sum(weights) <= 0:
            return 0.0
        share = kinds.get("mainstream", 0.0) / sum(kinds.values())
        mean_places = sum((i + 1) * w for i, w in enumerate(weights)) / sum(weights)
        return self.initial.households * share * mean_places

    def notes(self) -> list[str]:
        """What a valid scenario does that its author may not expect."""
        places, in_house = self.initial_places(), self.initial.placements.get("in_house", 0)
        if 0 < places < in_house:
            return [
                f"field 'initial.households': {self.initial.households} households offer "
                f"about {places:,.0f} mainstream places for initial.placements.in_house = "
                f"{in_house} children; about {in_house - places:,.0f} of them, and any "
                "others the draws leave without a matching carer, will start with IFA spot "
                "carers (counted as initial_overflow_to_ifa)"
            ]
        return []

    def _stock(self) -> list[tuple[str, str]]:
        """The stock at the start must fit what the model can build from it."""
        ini = self.initial
        problems: list[tuple[str, str]] = []
        places = self.initial_places()
        in_house = ini.placements.get("in_house", 0)
        kinds = self.recruitment.household.type_weights
        if in_house > 0 and places == 0 and sum(kinds.values()) > 0 and sum(ini.places_weights) > 0:
            problems.append(
                (
                    "initial.households",
                    f"initial.placements.in_house = {in_house} children need mainstream "
                    f"households to be placed with, but {ini.households} households with a "
                    "mainstream share of recruitment.household.type_weights give none",
                )
            )
        kin, kin_households = ini.placements.get("connected", 0), ini.connected_households
        if kin_households is not None and not (
            kin_households <= kin and (kin > 0) == (kin_households > 0)
        ):
            problems.append(
                (
                    "initial.connected_households",
                    f"{kin_households} connected households for initial.placements.connected = "
                    f"{kin} children: each household needs at least one of them",
                )
            )
        edges = self.age_band_edges
        if ini.placements.get("residential", 0) > 0 and not any(
            w > 0 for i, w in enumerate(ini.age_weights[: len(edges) - 1]) if edges[i] >= edges[-3]
        ):
            problems.append(
                (
                    "initial.age_weights",
                    f"children in residential care at the start are aged {edges[-3]} or over, "
                    "but those bands' weights are all zero",
                )
            )
        return problems


Span = tuple[dt.date, dt.date, float]  # a multiplier in force from start (inclusive) to end


def horizon_end(start: dt.date, years: float) -> dt.date:
    """The last day simulated by a run of ``years`` from ``start``."""
    whole = int(years)
    try:
        anniversary = start.replace(year=start.year + whole)
    except ValueError:  # 29 February
        anniversary = start.replace(year=start.year + whole, day=28)
    return anniversary + dt.timedelta(days=round((years - whole) * 365.25))


def long_date(day: dt.date) -> str:
    """A date as a reader writes it: 1 November 2024."""
    return f"{day.day} {day:%B %Y}"


def policy_start_problems(
    start: dt.date, years: float, policies: Iterable[tuple[str, dt.date]]
) -> list[tuple[str, str]]:
    """(name, message) for each policy that a run of ``years`` from ``start`` cannot show:
    one starting before the run starts, or on or after its horizon ends.

    The one rule for every place that dates a policy: scenario files, the command line's
    ``--years`` and ``--starts``, and the web app's levers. ``policies`` are (name, start).
    """
    end = horizon_end(start, years)
    problems = []
    for name, day in policies:
        if day < start:
            problems.append(
                (
                    name,
                    f"the policy starts on {long_date(day)}, before the scenario starts "
                    f"({long_date(start)}); start it on {long_date(start)} or later",
                )
            )
        elif day >= end:
            tenths = math.floor((day - start).days / 36.525)  # the shortest run that shows it
            while horizon_end(start, tenths / 10) <= day:
                tenths += 1
            problems.append(
                (
                    name,
                    f"the policy starts on {long_date(day)}, but the horizon ends on "
                    f"{long_date(end)}, so nothing of it would be simulated: run for at least "
                    f"{tenths / 10:.1f} years, or start it earlier",
                )
            )
    return problems


def policy_starts(
    scenario: Scenario | Region, base: Scenario | Region | None = None
) -> list[tuple[str, dt.date]]:
    """Each dated policy of ``scenario`` as (what it is, start), earliest first; with ``base``,
    only those the base does not have (what a comparison with the base shows). A region's are
    its members', each named with its council."""
    if isinstance(scenario, Region):
        bases = {m.name: m for m in base.members} if isinstance(base, Region) else {}
        single = base if isinstance(base, Scenario) else None
        out = [
            (f"{m.name}: {title}", day)
            for m in scenario.members
            for title, day in policy_starts(m, bases.get(m.name, single))
        ]
        return sorted(out, key=lambda p: p[1])
    if isinstance(base, Region):
        base = next((m for m in base.members if m.name == scenario.name), None)
    known = base.interventions.model_dump() if base is not None else {}
    out = []
    for kind, _, item in scenario.interventions.dated():
        if item.model_dump() in known.get(kind, []):
            continue
        area = getattr(item, "area", None)
        out.append((POLICY_TITLES[kind] + (f" ({area})" if area else ""), item.start))
    for field, kind in WINDOW_TITLES.items():
        section, name = field.split(".")
        windows = getattr(getattr(scenario, section), name)
        before = getattr(getattr(base, section), name) if base is not None else []
        out += [(kind, w.start) for w in windows if w not in before]
    return sorted(out, key=lambda p: p[1])


#: The dated policies as a reader names them.
POLICY_TITLES = {
    "hub_families": "Hub families",
    "mockingbird": "Mockingbird constellation",
    "recruitment_targets": "Recruitment target",
    "assessment_capacity": "Extra assessment capacity",
    "retention_offers": "Retention offer",
    "uasc_ring_fence": "Beds ring-fenced for asylum-seeking children",
    "step_across": "Step-across from residential care",
    "provider_changes": "Change to external places",
    "nts_changes": "Change to the National Transfer Scheme",
}
#: Dated changes to a rate (:class:`Window`), as a reader names them.
WINDOW_TITLES = {
    "recruitment.campaigns": "Recruitment campaign",
    "children.arrival_changes": "Change in arrivals into care",
    "uasc.surges": "Change in UASC arrivals",
}


def level_at(base: float, windows: Iterable[Window], day: dt.date) -> float:
    """The rate a year at ``day``: ``base``, or the last observed level in force then."""
    level = base
    for w in windows:
        if w.per_year is not None and w.start <= day < w.end:
            level = w.per_year
    return level


def peak_factor(spans: Iterable[tuple[Any, Any, float]]) -> float:
    """The highest product of the multipliers (those above 1) in force at one time.

    The product is highest just after some window starts, so only starts are tried.
    """
    ups = [(s, e, m) for s, e, m in spans if m > 1]
    return max((math.prod(m for s, e, m in ups if s <= t < e) for t, _, _ in ups), default=1.0)


def peak_per_year(
    base: float, seasonality: list[float], windows: Sequence[Window], extra: Iterable[Span] = ()
) -> float:
    """An upper bound of a stream's rate a year, as its arrivals are drawn (by thinning)."""
    levels = [w.per_year for w in windows if w.per_year is not None]
    spans = [(w.start, w.end, w.multiplier) for w in windows if w.multiplier is not None]
    return max([base, *levels]) * max(seasonality, default=1.0) * peak_factor([*spans, *extra])


# ----------------------------------------------------------------------------- loading


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


MAX_FILE_BYTES = 1_000_000  # a scenario file is a few KB; the England one is 6 KB
MAX_DEPTH = 20  # tables and lists nested in a scenario (it needs 5)
MAX_EXTENDS = 20  # files in one chain of 'extends'


def read_toml(path: Path, missing: str) -> dict[str, Any]:
    """The TOML file at ``path``, or a ScenarioError naming it (``missing`` when not found).

    Only a regular file of UTF-8 text (a byte-order mark is allowed) is read: a directory, a
    FIFO or a device would fail, block or never end.
    """
    problem = ""
    try:
        if not path.exists():
            problem = missing
        elif path.is_dir():
            problem = "is a folder, not a scenario file"
        elif not path.is_file():
            problem = "not a regular file (a scenario is a TOML text file)"
        else:
            with path.open("rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        problem = f"cannot be read: {exc.strerror or exc}"
    except ValueError as exc:  # e.g. a NUL byte in the path
        problem = f"not a usable file name: {exc}"
    if problem:
        raise ScenarioError(f"{path}: {problem}")
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            f"{path}: larger than {MAX_FILE_BYTES // 1000} KB; a scenario file is a few KB"
        )
    return parse_toml(raw, str(path))


def parse_toml(raw: bytes, source: str) -> dict[str, Any]:
    """TOML from the bytes of a file, or a ScenarioError naming ``source``: text that is not
    UTF-8, not TOML, or nested too deeply."""
    # A scenario chain reads the same few files (the baseline, its calibration) again for
    # every scenario a command loads, and the TOML parser is pure Python: the same bytes are
    # parsed once, and each caller gets a copy of its own to change.
    return copy.deepcopy(_parsed(raw, source))


@functools.lru_cache(maxsize=64)
def _parsed(raw: bytes, source: str) -> dict[str, Any]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ScenarioError(f"{source}: not UTF-8 text (it looks like UTF-16: save it as UTF-8)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"{source}: not UTF-8 text (byte {raw[exc.start]:#04x} at position {exc.start}); "
            "a scenario is a TOML text file saved as UTF-8"
        ) from None
    if "\x00" in text:
        raise ScenarioError(f"{source}: not UTF-8 text (it holds NUL bytes: a binary file?)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: not valid TOML: nested too deeply") from None
    depth = _depth(data)
    if depth > MAX_DEPTH:
        raise ScenarioError(
            f"{source}: tables and lists are nested {depth} deep; a scenario needs at most "
            f"{MAX_DEPTH}"
        )
    return data


def _depth(value: Any) -> int:
    """How deeply tables and lists nest in ``value`` (without recursion)."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict | list):
            if level + 1 > deepest:
                deepest = level + 1
            if deepest > MAX_DEPTH:
                return deepest
            todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def _resolved(path: Path, where: str) -> Path:
    """``path`` with links followed, to recognise a file met twice; ``where`` names the field."""
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ScenarioError(f"{where}: not a usable file name: {exc}") from None


def _linked(path: Path, field: str, target: Any) -> Path:
    """The file that ``field`` (``extends`` or ``calibration``) of ``path`` names."""
    if not isinstance(target, str) or not target.strip():
        raise ScenarioError(f"{path}: field '{field}' must be a file path (a string)")
    linked = path.parent / target
    _resolved(linked, f"{path}: field '{field}'")
    return linked


def _read_toml(path: Path, seen: tuple[Path, ...] = (), calibrated: bool = True) -> dict[str, Any]:
    # Messages name files as given; cycles are found through their resolved paths.
    path = path.absolute()
    key = _resolved(path, str(path))
    if key in {_resolved(p, str(p)) for p in seen}:
        raise ScenarioError(
            f"{seen[-1]}: field 'extends' forms a cycle through {[str(p) for p in seen]}"
        )
    if len(seen) >= MAX_EXTENDS:
        raise ScenarioError(
            f"{seen[0]}: field 'extends': a chain of more than {MAX_EXTENDS} files "
            f"(reached {seen[-1]})"
        )
    try:
        data = read_toml(path, "scenario file not found")
    except ScenarioError as exc:
        if seen:
            raise ScenarioError(f"{exc} (field 'extends' of {seen[-1]})") from None
        raise
    parent = data.pop("extends", None)
    fitted = data.pop("calibration", None)
    posterior = data.pop("posterior", None)
    base: dict[str, Any] = {}
    if parent is not None:
        base = _read_toml(_linked(path, "extends", parent), (*seen, path), calibrated)
    if fitted is not None:
        target = _linked(path, "calibration", fitted)
        if calibrated:
            base = _merge(base, _fitted_values(target, path))
    if isinstance(posterior, dict):  # a resolved link, as a scenario written in full holds it
        base["posterior"] = posterior if calibrated else None
    elif posterior is not None and calibrated:
        base["posterior"] = posterior_link(_linked(path, "posterior", posterior))
    elif base.get("posterior"):
        base["posterior"] = _keeping(base["posterior"], data)
    return _merge(base, data)


def posterior_link(path: Path) -> dict[str, Any]:
    """The fields of a :class:`PosteriorLink` to the file at ``path``: its absolute path and
    its SHA-256, so that every run records which draws it used."""
    return {"file": os.path.normpath(path.absolute()), "sha256": _digest(path), "kept": []}


def _digest(path: Path) -> str:
    """The file's SHA-256 (recorded with every run that uses it), or "" if it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _keeping(link: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """A posterior link that also keeps the fields ``data`` sets (dotted paths)."""

    def paths(d: dict[str, Any], prefix: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            out += paths(v, key) if isinstance(v, dict) and v else [key]
        return out

    return {**link, "kept": [*link["kept"], *paths(data)]}


def _fitted_values(path: Path, source: Path) -> dict[str, Any]:
    """The ``[scenario]`` table of a calibration result: fitted values, below the file's own."""
    try:
        fitted = read_toml(path, "file not found")
    except ScenarioError as exc:
        raise ScenarioError(f"{exc} (field 'calibration' of {source})") from None
    table = fitted.get("scenario")
    if not isinstance(table, dict):
        raise ScenarioError(
            f"{source}: field 'calibration': {path} has no [scenario] table of fitted values"
        )
    return table


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names allowed at ``loc`` (the location of an unknown key)."""
    current: Any = model
    keyed = False  # the previous field was a table keyed by name (e.g. matching.cascade)
    for part in loc[:-1]:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return None
        annotation = fields[part].annotation
        keyed = typing.get_origin(annotation) is dict
        args = typing.get_args(annotation)
        candidates = [annotation, *args]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return None
    return sorted(current.model_fields) if current is not None else None


def _describe(
    exc: ValidationError, source: str, model: type[BaseModel] | None = None, what: str = "scenario"
) -> str:
    lines = [f"{source}: invalid {what}"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model or Scenario, loc) or []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  field '{field}': unknown key{guess}{hint}")
            continue
        if err["type"] == "scenario":
            prefix = f"{field}." if loc else ""
            lines += [f"  field '{prefix}{f}': {m}" for f, m in err["ctx"]["problems"]]
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        if isinstance(got, dict | list) or got is None:
            shown = ""
        else:
            shown = f" (got {got})" if isinstance(got, dt.date) else f" (got {got!r})"
        lines.append(f"  field '{field}': {msg}{shown}")
    return "\n".join(lines)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a plain dict as a Scenario, raising ScenarioError that names ``source``."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, source)) from None


def load_scenario(
    path: str | Path, overrides: dict[str, Any] | None = None, calibrated: bool = True
) -> Scenario:
    """Load a scenario TOML file (following ``extends``) and apply ``overrides``.

    Parameters
    ----------
    path : str or Path
        The scenario file.
    overrides : dict, optional
        Nested values that replace the file's, e.g. ``{"years": 5}``.
    calibrated : bool
        Apply the fitted values of a ``calibration = "fitted.toml"`` link (the calibration
        itself loads scenarios without them, so it starts from the stated assumptions).
    """
    path = Path(path)
    data = _read_toml(path, calibrated=calibrated)
    if overrides:
        if "posterior" in data:
            data["posterior"] = _keeping(data["posterior"], overrides)
        data = _merge(data, overrides)
    return scenario_from_dict(data, str(path))


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of ``scenario`` with nested ``overrides`` applied and validated again."""
    data = scenario.model_dump()
    if data.get("posterior") is not None:
        # Like a file's own values, an override wins over the posterior draws.
        data["posterior"] = _keeping(data["posterior"], overrides)
    return scenario_from_dict(_merge(data, overrides), scenario.name)


# -------------------------------------------------------------------------------- regions

#: The placement types whose places a region's councils may share (``[shared] markets``).
SharedMarket = Literal["ifa_spot", "residential", "supported"]
SHARED_MARKETS: tuple[SharedMarket, ...] = ("ifa_spot", "residential", "supported")
MAX_MEMBERS = 50


class Shared(_Base):
    """The markets a region's councils share: the places of each listed type form one pool
    (the sum of the members' own capacities) that every member's children compete for. Each
    member keeps its own in-house carers, IFA framework contracts, unregistered provision and
    demand. ``outside_share`` is the share of each member's other-councils demand on the spot
    pool (``market.spot.other_councils_*``) that comes from outside the region: the rest were
    the other members' children, who are now simulated as themselves."""

    markets: Annotated[list[SharedMarket], Field(max_length=3)] = list(SHARED_MARKETS)
    outside_share: Annotated[float, _NUMBER, Field(ge=0, le=1, allow_inf_nan=False)] = 1.0

    @field_validator("markets")
    @classmethod
    def _once(cls, markets: list[str]) -> list[str]:
        if len(set(markets)) != len(markets):
            raise ValueError(f"a market is listed twice: {markets}")
        return markets


class Region(_Base):
    """Several councils simulated together, sharing the markets of ``shared``."""

    name: Annotated[str, Field(max_length=200)] = "unnamed region"
    description: Annotated[str, Field(max_length=10_000)] = ""
    members: Annotated[list[Scenario], Field(min_length=1, max_length=MAX_MEMBERS)]
    files: list[str] = []  # the member scenario files as the region file names them
    shared: Shared = Shared()

    @model_validator(mode="after")
    def _together(self) -> Region:
        names = [m.name for m in self.members]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"members must be different councils; named twice: {twice}")
        first = self.members[0]
        for m in self.members[1:]:
            if (m.start, m.end) != (first.start, first.end):
                raise ValueError(
                    f"members must share one start and horizon: {first.name!r} runs "
                    f"{first.start} to {first.end}, {m.name!r} {m.start} to {m.end}"
                )
        return self

    @property
    def councils(self) -> list[str]:
        """The members' names, in the order of the region file."""
        return [m.name for m in self.members]

    @property
    def start(self) -> dt.date:
        return self.members[0].start

    @property
    def end(self) -> dt.date:
        return self.members[0].end

    @property
    def years(self) -> float:
        return self.members[0].years

    def notes(self) -> list[str]:
        """The members' notes, each named by its council."""
        return [f"{m.name}: {note}" for m in self.members for note in m.notes()]


def is_region(path: str | Path) -> bool:
    """Whether the TOML file at ``path`` is a region (it lists ``members``)."""
    return "members" in read_toml(Path(path), "scenario file not found")


def load_region(path: str | Path, overrides: dict[str, Any] | None = None) -> Region:
    """Load a region file: its member scenarios (paths relative to it), each with
    ``overrides`` applied, and its ``[shared]`` markets."""
    path = Path(path)
    data = read_toml(path, "region file not found")
    allowed = ("name", "description", "members", "shared")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ScenarioError(
            f"{path}: invalid region\n  unknown keys {unknown}; allowed: {list(allowed)}"
        )
    files = data.get("members")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise ScenarioError(
            f"{path}: invalid region\n  field 'members': a list of scenario files "
            f"(paths relative to the region file), got {files!r}"
        )
    members = []
    for i, file in enumerate(files):
        member = path.parent / file
        if not member.is_file():
            raise ScenarioError(
                f"{path}: invalid region\n  field 'members[{i}]': {file}: scenario file not found"
                f" (looked for {member})"
            )
        try:
            members.append(load_scenario(member, overrides))
        except ScenarioError as exc:
            raise ScenarioError(f"{exc}\n  (field 'members[{i}]' of region {path})") from None
    try:
        return Region.model_validate(
            {
                "name": data.get("name", path.stem),
                "description": data.get("description", ""),
                "members": members,
                "files": files,
                "shared": data.get("shared", {}),
            }
        )
    except ValidationError as exc:
        raise ScenarioError(_describe(exc, str(path), Region, "region")) from None


def load_any(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario | Region:
    """A scenario file, or a region file (one that lists ``members``)."""
    if is_region(path):
        return load_region(path, overrides)
    return load_scenario(path, overrides)
