"""Scenario schema: every parameter of the model, loaded from TOML with clear errors.

A scenario file may ``extends = "other.toml"`` (a path relative to itself) and
override any field; tables are merged key by key, lists and values replace.
"""

from __future__ import annotations

import datetime as dt
import difflib
import itertools
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

Rate = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Prob = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Days = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]

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


class Window(_Base):
    """A dated change to a rate, from ``start`` (inclusive) to ``end`` (exclusive): either a
    ``multiplier`` or an observed level ``per_year`` that replaces the base rate (seasonality
    and other multipliers still apply)."""

    start: dt.date
    end: dt.date
    multiplier: Rate | None = None
    per_year: Rate | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if (self.multiplier is None) == (self.per_year is None):
            raise ValueError("give exactly one of 'multiplier' and 'per_year'")
        return self


def _twelve(default: float = 1.0) -> list[float]:
    return [default] * 12


class Exits(_Base):
    """Hazards of leaving care per year, one value per age band."""

    return_home_per_year: list[Rate] = [0.22, 0.2, 0.15, 0.12, 0.08]
    section20_return_multiplier: Rate = 1.6
    sgo_per_year: list[Rate] = [0.10, 0.15, 0.10, 0.04, 0.01]
    adoption_per_year: list[Rate] = [0.45, 0.25, 0.02, 0.0, 0.0]
    connected_sgo_multiplier: Rate = 4.0
    adoption_placement_days: Days = 240.0


class Children(_Base):
    """Arrivals into care of children other than UASC, and how they leave."""

    arrivals_per_year: Rate = 520.0
    seasonality: list[Rate] = Field(default_factory=_twelve)
    arrival_changes: list[Window] = []
    entry_age_weights: list[Rate] = [0.2, 0.16, 0.17, 0.3, 0.17]
    sibling_group_weights: list[Rate] = [0.72, 0.2, 0.06, 0.02]
    complex_need_prob: list[Prob] = [0.05, 0.08, 0.15, 0.3, 0.3]
    section20_share: Prob = 0.5
    area_weights: dict[str, Rate] = {"North": 0.27, "South": 0.22, "East": 0.28, "West": 0.23}
    placed_with_parents_prob: Prob = 0.02
    kinship_prob: Prob = 0.06
    parent_and_child_prob: Prob = 0.1
    parent_and_child_days: Days = 84.0
    parent_and_child_home_prob: Prob = 0.5
    solo_prob_complex: Prob = 0.25
    residential_need_prob: Prob = 0.35
    residential_need_from_age: Rate = 10.0
    male_share: Prob = 0.55
    exits: Exits = Exits()
    staying_put_prob: Prob = 0.57
    staying_put_mean_years: Rate = 1.2
    staying_put_max_years: Rate = 3.0


class NationalTransferScheme(_Base):
    """UASC transferred to other councils while the council is above its quota."""

    child_population: Count = 348_000
    quota_share: Prob = 0.001
    transfer_prob: Prob = 0.0
    delay_days: Days = 10.0
    #: UASC in care from which the council accommodates no new arrival (they stay with the
    #: Home Office); None: every arrival is accommodated.
    accommodation_limit: Count | None = None


class Uasc(_Base):
    """Unaccompanied asylum-seeking children: their own arrival stream."""

    arrivals_per_year: Rate = 175.0
    surges: list[Window] = []
    age_weights: dict[int, Rate] = {13: 0.03, 14: 0.07, 15: 0.2, 16: 0.35, 17: 0.35}
    area_weights: dict[str, Rate] = {"North": 0.15, "South": 0.35, "East": 0.35, "West": 0.15}
    complex_need_prob: Prob = 0.1
    male_share: Prob = 0.92
    supported_first_prob_16plus: Prob = 0.7
    return_per_year: Rate = 0.03
    nts: NationalTransferScheme = NationalTransferScheme()


class Step(_Base):
    """One step of the search cascade: how long it takes and how often it finds a place."""

    delay_days: Days = 0.0
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


class Matching(_Base):
    """The search cascade and the planned moves that follow a placement."""

    cascade: dict[str, Step] = Field(default_factory=_default_cascade)
    _fill_cascade = _keep_defaults("cascade", _default_cascade)
    retry_days: Days = 7.0
    split_siblings: bool = True
    emergency_stay_days: Days = 28.0
    step_down_prob: Prob = 0.5
    step_down_min_days: Days = 90.0
    step_down_max_age: Rate = 16.0

    @field_validator("cascade", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> Any:
        return _known_keys(v, CASCADE_STEPS, "cascade step(s)", complete=True)


class Providers(_Base):
    """Places outside the in-house service available to the council."""

    ifa_framework_places: Count = 190
    residential_places: Count = 140
    supported_places: Count = 330
    unregistered_places: Count = 40


class Distance(_Base):
    """Probability that a placement is within 20 miles of the child's home."""

    same_area: Prob = 0.92
    other_area: Prob = 0.35
    ifa_framework: Prob = 0.6
    ifa_spot: Prob = 0.35
    residential: Prob = 0.4
    supported: Prob = 0.55
    unregistered: Prob = 0.3


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

    per_year: dict[str, Rate] = Field(default_factory=_default_breakdown_rates)
    high_risk_share: Prob = 0.12
    high_risk_multiplier: Rate = 12.0
    teen_multiplier: Rate = 1.5
    teen_from_age: Rate = 11.0
    complex_multiplier: Rate = 1.8
    carer_deregisters_prob: Prob = 0.12
    planned_move_per_year: Rate = 0.08
    _fill_rates = _keep_defaults("per_year", _default_breakdown_rates)

    @field_validator("per_year", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, PLACEMENT_TYPES, "placement type(s)")


class AgeRange(_Base):
    """Ages a newly approved household accepts, with how common that approval is."""

    min_age: Annotated[int, Field(ge=0, le=17)]
    max_age: Annotated[int, Field(ge=0, le=17)]
    weight: Rate

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

    fast_share: Prob = 0.91
    fast_median_months: Rate = 5.2
    fast_sigma: Rate = 0.06
    slow_median_months: Rate = 10.5
    slow_sigma: Rate = 0.35


def _default_type_weights() -> dict[str, float]:
    return {"mainstream": 0.86, "short_breaks": 0.04, "parent_and_child": 0.04, "emergency": 0.06}


class Household(_Base):
    """What a newly approved fostering household offers."""

    places_weights: list[Rate] = [0.28, 0.43, 0.28, 0.01]
    age_ranges: list[AgeRange] = Field(default_factory=_default_age_ranges)
    accepts_complex_prob: Prob = 0.35
    held_back_prob: Prob = 0.1
    type_weights: dict[str, Rate] = Field(default_factory=_default_type_weights)
    area_weights: dict[str, Rate] = {"North": 0.25, "South": 0.25, "East": 0.3, "West": 0.2}

    @field_validator("type_weights", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, CARER_TYPES, "carer type(s)")


class Recruitment(_Base):
    """The funnel from enquiry to approval."""

    enquiries_per_year: Rate = 590.0
    seasonality: list[Rate] = [1.0, 0.9, 0.9, 0.8, 0.9, 1.2, 0.9, 0.8, 1.3, 1.1, 1.0, 1.2]
    campaigns: list[Window] = []
    application_prob: Prob = 0.34
    application_days: Days = 30.0
    assessment_start_prob: Prob = 0.6
    assessment_start_days: Days = 30.0
    approval_prob: Prob = 0.55
    assessment: Assessment = Assessment()
    household: Household = Household()


class Attrition(_Base):
    """Deregistration and on-hold hazards of approved households."""

    tenure_edges_years: list[Rate] = [0.0, 2.0, 10.0]
    deregistration_per_year: list[Rate] = [0.1, 0.07, 0.1]
    to_ifa_per_year: Rate = 0.01
    inactive_days: Days = 365.0
    review_days: Days = 365.0
    service_deregistration_prob: Prob = 0.5
    on_hold_per_year: Rate = 0.15
    on_hold_mean_days: Days = 180.0

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

    central: Rate
    low: Rate
    high: Rate

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


class Costs(_Base):
    """Weekly unit costs by placement type and provider."""

    weekly: dict[str, Cost] = Field(default_factory=_default_costs)
    _fill_costs = _keep_defaults("weekly", _default_costs)

    @field_validator("weekly", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, [*PLACEMENT_TYPES, "staying_put"], "cost item(s)", complete=True)


def _default_initial_placements() -> dict[str, int]:
    return {
        "in_house": 898,
        "connected": 47,
        "ifa_framework": 150,
        "ifa_spot": 73,
        "residential": 108,
        "supported": 251,
        "unregistered": 7,
        "placed_for_adoption": 38,
        "with_parents": 18,
    }


class Initial(_Base):
    """The stock at the start date."""

    placements: dict[str, Count] = Field(default_factory=_default_initial_placements)
    uasc: Count = 255
    age_weights: list[Rate] = [0.05, 0.14, 0.18, 0.38, 0.25]
    mean_years_in_care: Rate = 2.8
    households: Count = 638
    places_weights: list[Rate] = [0.28, 0.43, 0.28, 0.01]
    on_hold_share: Prob = 0.08
    mean_years_approved: Rate = 7.0
    #: Share of children with 3+ placements in the 12 months to the start date (DfE stability
    #: indicator); None draws each child's recent moves from its own hazards only.
    three_plus_share: Prob | None = None

    @field_validator("placements", mode="before")
    @classmethod
    def _types(cls, v: Any) -> Any:
        return _known_keys(v, PLACEMENT_TYPES, "placement type(s)")


# ----------------------------------------------------------------------------- interventions


def _range_ok(values: tuple[float, float], name: str) -> None:
    if values[0] > values[1]:
        raise ValueError(f"{name}: low ({values[0]}) must not exceed high ({values[1]})")


Multiplier = tuple[Rate, Rate]  # an effect size as a [low, high] range, sampled per replication


class _Dated(_Base):
    start: dt.date
    end: dt.date | None = None

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

    hubs_per_area: Count = 2
    satellites: tuple[Count, Count] = (3, 4)
    breakdown_multiplier: Multiplier = (0.75, 1.0)
    deregistration_multiplier: Multiplier = (0.6, 1.0)
    respite_places: Count = 1
    cost_per_hub_per_year: Rate = 12_000.0


class Mockingbird(_Base):
    """A Mockingbird constellation: a hub home with beds kept for sleepovers and emergencies,
    and 6-10 satellite households whose carers deregister and break down less."""

    start: dt.date
    end: dt.date | None = None
    area: str
    satellites: tuple[Count, Count] = (6, 10)
    hub_beds: Count = 2
    deregistration_multiplier: Multiplier = (0.18, 0.9)
    breakdown_multiplier: Multiplier = (0.8, 1.0)
    cost_per_year: Rate = 100_000.0

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

    approvals_per_year: Rate


class AssessmentCapacity(_Dated):
    """Extra assessing social workers: assessments finish sooner and fewer applicants drop out."""

    duration_multiplier: Annotated[float, Field(gt=0, le=10)] = 0.8
    approval_prob: Prob | None = None
    cost_per_year: Rate = 0.0


class RetentionOffer(_Dated):
    """Fees or support that change every household's deregistration hazards."""

    deregistration_multiplier: Multiplier = (0.8, 0.95)
    weekly_cost_per_household: Rate = 20.0


class UascRingFence(_Dated):
    """Beds reserved for unaccompanied asylum-seeking children (Kent 2024: 39 + 21 + 9)."""

    in_house: Count = 39
    ifa_framework: Count = 21
    supported: Count = 9


class StepAcross(_Dated):
    """A programme moving children from residential care to fostering (in-house first)."""

    per_year: Rate = 0.5
    cost_per_move: Rate = 0.0


class ProviderChange(_Base):
    """From ``start``, a new capacity and/or weekly price for an external placement type."""

    start: dt.date
    kind: Literal["ifa_framework", "residential", "supported", "unregistered"]
    places: Count | None = None
    weekly_cost: Rate | None = None


class NtsChange(_Base):
    """From ``start``, new National Transfer Scheme rules, or a new limit on the UASC the
    council accommodates (``accommodate_all`` lifts it, as the July 2023 High Court ruling did)."""

    start: dt.date
    quota_share: Prob | None = None
    transfer_prob: Prob | None = None
    delay_days: Days | None = None
    accommodation_limit: Count | None = None
    accommodate_all: bool = False

    @model_validator(mode="after")
    def _one_limit(self) -> NtsChange:
        if self.accommodate_all and self.accommodation_limit is not None:
            raise ValueError("give 'accommodation_limit' or 'accommodate_all', not both")
        return self


class Interventions(_Base):
    """Dated policies; each can be combined with the others."""

    hub_families: list[HubFamilies] = []
    mockingbird: list[Mockingbird] = []
    recruitment_targets: list[RecruitmentTarget] = []
    assessment_capacity: list[AssessmentCapacity] = []
    retention_offers: list[RetentionOffer] = []
    uasc_ring_fence: list[UascRingFence] = []
    step_across: list[StepAcross] = []
    provider_changes: list[ProviderChange] = []
    nts_changes: list[NtsChange] = []

    def dated(self) -> list[tuple[str, int, Any]]:
        """Every intervention as (kind, index, item)."""
        return [
            (name, i, item)
            for name in type(self).model_fields
            for i, item in enumerate(getattr(self, name))
        ]


class Scenario(_Base):
    """Every parameter of one simulated council, its start date and horizon."""

    name: str = "unnamed"
    description: str = ""
    start: dt.date = dt.date(2019, 3, 31)
    years: Annotated[float, Field(gt=0, le=50)] = 10.0
    areas: list[str] = ["North", "South", "East", "West"]
    age_band_edges: list[int] = [0, 1, 5, 10, 16, 18]
    children: Children = Children()
    uasc: Uasc = Uasc()
    matching: Matching = Matching()
    providers: Providers = Providers()
    distance: Distance = Distance()
    breakdown: Breakdown = Breakdown()
    recruitment: Recruitment = Recruitment()
    attrition: Attrition = Attrition()
    costs: Costs = Costs()
    initial: Initial = Initial()
    interventions: Interventions = Interventions()

    @property
    def end(self) -> dt.date:
        """The last day simulated."""
        whole = int(self.years)
        try:
            anniversary = self.start.replace(year=self.start.year + whole)
        except ValueError:  # 29 February
            anniversary = self.start.replace(year=self.start.year + whole, day=28)
        return anniversary + dt.timedelta(days=round((self.years - whole) * 365.25))

    @property
    def n_bands(self) -> int:
        return len(self.age_band_edges) - 1

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        edges = self.age_band_edges
        if edges[0] != 0 or any(b <= a for a, b in itertools.pairwise(edges)):
            problems.append(("age_band_edges", "must start at 0 and increase"))
        nb = len(edges) - 1
        per_band = {
            "children.entry_age_weights": self.children.entry_age_weights,
            "children.complex_need_prob": self.children.complex_need_prob,
            "children.exits.return_home_per_year": self.children.exits.return_home_per_year,
            "children.exits.sgo_per_year": self.children.exits.sgo_per_year,
            "children.exits.adoption_per_year": self.children.exits.adoption_per_year,
            "initial.age_weights": self.initial.age_weights,
        }
        for field, values in per_band.items():
            if len(values) != nb:
                problems.append((field, f"needs one value per age band ({nb}), got {len(values)}"))
        for field, values in {
            "children.seasonality": self.children.seasonality,
            "recruitment.seasonality": self.recruitment.seasonality,
        }.items():
            if len(values) != 12:
                problems.append((field, f"needs 12 monthly values, got {len(values)}"))
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
            if sum(weights.values()) <= 0:
                problems.append((field, "weights must not all be zero"))
        for field, shares in {
            "children.entry_age_weights": self.children.entry_age_weights,
            "children.sibling_group_weights": self.children.sibling_group_weights,
            "recruitment.household.places_weights": self.recruitment.household.places_weights,
            "initial.places_weights": self.initial.places_weights,
            "initial.age_weights": self.initial.age_weights,
            "uasc.age_weights": list(self.uasc.age_weights.values()),
        }.items():
            if sum(shares) <= 0:
                problems.append((field, "weights must not all be zero"))
        for age in self.uasc.age_weights:
            if not 0 <= age < edges[-1]:
                problems.append(("uasc.age_weights", f"age {age} outside 0..{edges[-1] - 1}"))
        windows = {
            "children.arrival_changes": self.children.arrival_changes,
            "uasc.surges": self.uasc.surges,
            "recruitment.campaigns": self.recruitment.campaigns,
        }
        for field, items in windows.items():
            for i, w in enumerate(items):
                if w.start < self.start or w.end > self.end:
                    problems.append(
                        (
                            f"{field}[{i}]",
                            f"dates {w.start}..{w.end} fall outside the horizon "
                            f"{self.start}..{self.end}",
                        )
                    )
        for kind, i, item in self.interventions.dated():
            field = f"interventions.{kind}[{i}]"
            end = getattr(item, "end", None)
            if not self.start <= item.start <= self.end or (end is not None and end > self.end):
                problems.append((field, f"dates fall outside the horizon {self.start}..{self.end}"))
            area = getattr(item, "area", None)
            if area is not None and area not in areas:
                problems.append((f"{field}.area", f"unknown area {area!r}; allowed: {self.areas}"))
        if problems:
            raise ValueError("; ".join(f"{f}: {m}" for f, m in problems))
        return self


# ----------------------------------------------------------------------------- loading


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_toml(path: Path, missing: str) -> dict[str, Any]:
    """The TOML file at ``path``, or a ScenarioError naming it (``missing`` when not found)."""
    if not path.is_file():
        raise ScenarioError(f"{path}: {missing}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None


def _read_toml(path: Path, seen: tuple[Path, ...] = (), calibrated: bool = True) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ScenarioError(f"{path}: 'extends' forms a cycle through {[str(p) for p in seen]}")
    where = f" (extended by {seen[-1]})" if seen else ""
    data = read_toml(path, f"scenario file not found{where}")
    parent = data.pop("extends", None)
    fitted = data.pop("calibration", None)
    base: dict[str, Any] = {}
    if parent is not None:
        if not isinstance(parent, str):
            raise ScenarioError(f"{path}: field 'extends' must be a file path (a string)")
        base = _read_toml(path.parent / parent, (*seen, path), calibrated)
    if fitted is not None:
        if not isinstance(fitted, str):
            raise ScenarioError(f"{path}: field 'calibration' must be a file path (a string)")
        if calibrated:
            base = _merge(base, _fitted_values(path.parent / fitted, path))
    return _merge(base, data)


def _fitted_values(path: Path, source: Path) -> dict[str, Any]:
    """The ``[scenario]`` table of a calibration result: fitted values, below the file's own."""
    if not path.is_file():
        raise ScenarioError(f"{source}: field 'calibration': file not found: {path}")
    fitted = read_toml(path, "file not found")
    table = fitted.get("scenario")
    if not isinstance(table, dict):
        raise ScenarioError(f"{path}: has no [scenario] table of fitted values")
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


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid scenario"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(Scenario, loc) or []
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            guess = f" (did you mean '{close[0]}'?)" if close else ""
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  field '{field}': unknown key{guess}{hint}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
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
        data = _merge(data, overrides)
    return scenario_from_dict(data, str(path))


def with_overrides(scenario: Scenario, overrides: dict[str, Any]) -> Scenario:
    """A copy of ``scenario`` with nested ``overrides`` applied and validated again."""
    data = _merge(scenario.model_dump(), overrides)
    return scenario_from_dict(data, scenario.name)
