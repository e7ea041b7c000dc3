"""The policy levers the web app offers, and how each maps to scenario overrides.

One table, :data:`LEVERS`, says for every control what it is called, its bounds and the
scenario field it sets. Every policy a lever sets starts on a date the user can move (default:
the scenario's own policy start, else its start); a policy that would start after the horizon
is refused in plain words (:func:`starts_after_horizon`). A lever whose field is not (yet)
in :class:`sim.config.Scenario` is shown disabled with a note; it becomes available by itself
once the field exists, because the schema is checked when the app asks (:func:`lever_status`),
not when this file was written.
"""

from __future__ import annotations

import datetime as dt
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from sim.config import (
    POLICY_TITLES,
    Scenario,
    ScenarioError,
    horizon_end,
    long_date,
    policy_start_problems,
    with_overrides,
)


def _months_later(date: dt.date, months: int) -> dt.date:
    month = date.month - 1 + months
    year = date.year + month // 12
    month = month % 12 + 1
    for day in (date.day, 30, 29, 28):
        try:
            return date.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


Write = Callable[[Scenario, float, Mapping[str, float], dt.date, dt.date], dict[str, Any]]
Later = Callable[[Scenario, float, dt.date, dt.date], dict[str, Any]]


@dataclass(frozen=True)
class Lever:
    """A control on the page and the scenario field it sets.

    ``path`` is the dotted scenario field; the lever is enabled only while that field exists
    and holds a number. ``read`` gives the value the chosen scenario already has and ``write``
    the overrides for a new value (both default to the field at ``path``); ``write`` also sees
    every lever's value, for levers that work together, and the day the policy starts and the
    horizon's end. A lever that sets a plain field and starts after the scenario's start is
    written by ``later`` instead (a dated window or change). ``dated`` levers have their own
    "starts on" date, read by ``read_start`` (default: the scenario's start).
    """

    id: str
    label: str
    help: str
    path: str
    minimum: float
    maximum: float
    step: float
    unit: str = ""
    integer: bool = False
    read: Callable[[Scenario], float] | None = None
    write: Write | None = None
    later: Later | None = None
    dated: bool = True
    read_start: Callable[[Scenario], dt.date] | None = None

    def start(self, scenario: Scenario) -> dt.date:
        """The day the scenario's own policy for this lever starts (else the scenario's start)."""
        return self.read_start(scenario) if self.read_start is not None else scenario.start

    def value(self, scenario: Scenario) -> float:
        if self.read is not None:
            return self.read(scenario)
        current: Any = scenario
        for part in self.path.split("."):
            current = getattr(current, part)
        return float(current)

    def overrides(
        self,
        scenario: Scenario,
        value: float,
        values: Mapping[str, float],
        start: dt.date,
        end: dt.date,
    ) -> dict[str, Any]:
        if self.write is not None:
            return self.write(scenario, value, values, start, end)
        if start > scenario.start and self.later is not None:
            return self.later(scenario, round(value) if self.integer else float(value), start, end)
        out: dict[str, Any] = {}
        node = out
        parts = self.path.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = round(value) if self.integer else float(value)
        return out


def _add_campaign(
    scenario: Scenario, size: float, values: Mapping[str, float], start: dt.date, end: dt.date
) -> dict[str, Any]:
    months = int(values.get("campaign_months", 0) or 0)
    if size <= 1 or months <= 0:
        return {}
    window = {"start": start, "end": _months_later(start, months), "multiplier": float(size)}
    existing = [w.model_dump() for w in scenario.recruitment.campaigns]
    return {"recruitment": {"campaigns": [*existing, window]}}


def _no_write(
    scenario: Scenario, value: float, values: Mapping[str, float], start: dt.date, end: dt.date
) -> dict[str, Any]:
    return {}  # campaign_months is applied together with campaign_size


def _level_from(path: str) -> Later:
    """From ``start`` to the horizon, a level ``per_year`` replacing the rate at ``path``
    (a window added to the scenario's own)."""

    def later(scenario: Scenario, value: float, start: dt.date, end: dt.date) -> dict[str, Any]:
        section, windows = path.split(".")
        existing = [w.model_dump() for w in getattr(getattr(scenario, section), windows)]
        window = {"start": start, "end": end, "per_year": float(value)}
        return {section: {windows: [*existing, window]}}

    return later


def _framework_from(
    scenario: Scenario, value: float, start: dt.date, end: dt.date
) -> dict[str, Any]:
    items = [c.model_dump() for c in scenario.interventions.provider_changes]
    change = {"start": start, "kind": "ifa_framework", "places": int(value)}
    return _interventions("provider_changes", [*items, change])


def _interventions(kind: str, items: list[Any]) -> dict[str, Any]:
    return {"interventions": {kind: items}}


def _first_start(kind: str) -> Callable[[Scenario], dt.date]:
    """The start of the first ``interventions.<kind>`` item, else the scenario's start."""

    def read_start(scenario: Scenario) -> dt.date:
        items = getattr(scenario.interventions, kind)
        return items[0].start if items else scenario.start

    return read_start


def _first_item(kind: str, field: str, cast: type) -> tuple[Callable, Write]:
    """Read and write ``field`` and the start of the first ``interventions.<kind>`` item; 0
    removes them all, and other items keep their own values."""

    def read(scenario: Scenario) -> float:
        items = getattr(scenario.interventions, kind)
        return float(getattr(items[0], field)) if items else 0.0

    def write(
        scenario: Scenario, value: float, values: Mapping[str, float], start: dt.date, end: dt.date
    ) -> dict[str, Any]:
        items = [i.model_dump() for i in getattr(scenario.interventions, kind)]
        if value <= 0:
            return _interventions(kind, [])
        first = items[0] if items else {}
        return _interventions(kind, [{**first, "start": start, field: cast(value)}, *items[1:]])

    return read, write


_read_target, _write_target = _first_item("recruitment_targets", "approvals_per_year", float)
_read_hubs, _write_hubs = _first_item("hub_families", "hubs_per_area", int)


def _write_mockingbird(
    scenario: Scenario, value: float, values: Mapping[str, float], start: dt.date, end: dt.date
) -> dict[str, Any]:
    """Constellations the scenario has are kept first (with their own dates unless the start
    was moved); new ones open on ``start``, one area after another."""
    items = [m.model_dump() for m in scenario.interventions.mockingbird][: int(value)]
    if items and start != items[0]["start"]:
        items = [{**m, "start": start} for m in items]
    areas = scenario.areas
    while len(items) < int(value):
        items.append({"start": start, "area": areas[len(items) % len(areas)]})
    return _interventions("mockingbird", items)


# Kent's 2024 ring-fence (seed figures E101-E104): 39 in-house, 21 IFA framework, 9 supported.
_RING_FENCE_SPLIT = {"in_house": 39, "ifa_framework": 21, "supported": 9}


def _read_ring_fence(scenario: Scenario) -> float:
    fences = scenario.interventions.uasc_ring_fence
    return float(sum(getattr(fences[0], k) for k in _RING_FENCE_SPLIT)) if fences else 0.0


def _write_ring_fence(
    scenario: Scenario, value: float, values: Mapping[str, float], start: dt.date, end: dt.date
) -> dict[str, Any]:
    items = [f.model_dump() for f in scenario.interventions.uasc_ring_fence]
    total = int(value)
    if total <= 0:
        return _interventions("uasc_ring_fence", [])
    whole = sum(_RING_FENCE_SPLIT.values())
    beds = {k: total * v // whole for k, v in _RING_FENCE_SPLIT.items()}
    beds["in_house"] += total - sum(beds.values())
    first = items[0] if items else {}
    return _interventions("uasc_ring_fence", [{**first, "start": start, **beds}, *items[1:]])


LEVERS: tuple[Lever, ...] = (
    Lever(
        "enquiries_per_year",
        "Fostering enquiries per year",
        "People who contact the service about fostering each year. Kent had 590 in 2018-19; "
        "about one in ten becomes an approved household, some six months later.",
        "recruitment.enquiries_per_year",
        0,
        5000,
        10,
        "enquiries a year",
        later=_level_from("recruitment.campaigns"),
    ),
    Lever(
        "campaign_size",
        "Recruitment campaign: enquiries multiplied by",
        "A campaign from its start date that multiplies enquiries while it runs (1 = no "
        "campaign). Added to any campaigns the scenario already has.",
        "recruitment.campaigns",
        1,
        10,
        0.5,
        "times the usual rate",
        read=lambda sc: 1.0,
        write=_add_campaign,
    ),
    Lever(
        "campaign_months",
        "Recruitment campaign: length",
        "How many months the campaign runs, from its start date.",
        "recruitment.campaigns",
        0,
        24,
        1,
        "months",
        integer=True,
        read=lambda sc: 3.0,
        write=_no_write,
        dated=False,
    ),
    Lever(
        "approvals_target",
        "Recruitment target: new households approved per year",
        "Recruit for this many approvals a year from its start date: enquiries are raised "
        "until the funnel is expected to deliver them (0 = no target; Kent's plan for 2019-20 "
        "was 120, and 78 were approved in 2018-19).",
        "interventions.recruitment_targets",
        0,
        500,
        5,
        "households a year",
        read=_read_target,
        write=_write_target,
        read_start=_first_start("recruitment_targets"),
    ),
    Lever(
        "hub_families",
        "Hub families per area",
        "Experienced carers who each support 3-4 foster families nearby with respite and "
        "advice (Kent planned 2 per area in 2019-20). 0 = no hub families.",
        "interventions.hub_families",
        0,
        10,
        1,
        "per area",
        integer=True,
        read=_read_hubs,
        write=_write_hubs,
        read_start=_first_start("hub_families"),
    ),
    Lever(
        "mockingbird_constellations",
        "Mockingbird constellations",
        "A hub home with two beds for sleepovers and emergencies, supporting 6-10 satellite "
        "fostering households. New constellations open on the start date, one area after "
        "another; those the scenario already has are kept first, with their own dates unless "
        "the start date is moved.",
        "interventions.mockingbird",
        0,
        20,
        1,
        "constellations",
        integer=True,
        read=lambda sc: float(len(sc.interventions.mockingbird)),
        write=_write_mockingbird,
        read_start=_first_start("mockingbird"),
    ),
    Lever(
        "uasc_arrivals_per_year",
        "Unaccompanied asylum-seeking children arriving per year",
        "Children arriving alone to seek asylum who come into the council's care (Kent: about "
        "175 a year before 2020, many more in 2022-24).",
        "uasc.arrivals_per_year",
        0,
        5000,  # Kent: 2,228 arrivals in 2023, 2,330 a year in early 2024
        5,
        "children a year",
        later=_level_from("uasc.surges"),
    ),
    Lever(
        "uasc_ring_fenced_beds",
        "Beds ring-fenced for asylum-seeking children",
        "Places kept for unaccompanied asylum-seeking children, split as in Kent's 2024 "
        "ring-fence (39 in-house foster, 21 IFA framework, 9 supported accommodation of 69). "
        "0 = none.",
        "interventions.uasc_ring_fence",
        0,
        500,
        1,
        "beds",
        integer=True,
        read=_read_ring_fence,
        write=_write_ring_fence,
        read_start=_first_start("uasc_ring_fence"),
    ),
    Lever(
        "ifa_framework_places",
        "Places on the IFA framework",
        "Foster placements contracted in advance from independent fostering agencies, at a "
        "lower price than spot purchases.",
        "providers.ifa_framework_places",
        0,
        2000,
        5,
        "places",
        integer=True,
        later=_framework_from,
    ),
)

#: Settings of the whole run, shared by every option so that they can be compared.
RUN_SETTINGS: tuple[Lever, ...] = (
    Lever(
        "years",
        "Years to simulate",
        "How far ahead to look from the start date.",
        "years",
        1,
        20,
        1,
        "years",
        integer=True,
    ),
    Lever(
        "replications",
        "Runs (replications)",
        "How many times to simulate each option. More runs narrow the intervals but take "
        "longer: about a second per run for ten years.",
        "",
        1,
        200,
        1,
        "runs",
        integer=True,
    ),
    Lever(
        "seed",
        "Random seed",
        "Runs with the same seed repeat the same random events.",
        "",
        0,
        2**31 - 1,
        1,
        "",
        integer=True,
    ),
)

LEVERS_BY_ID = {lever.id: lever for lever in LEVERS}
SETTINGS_BY_ID = {s.id: s for s in RUN_SETTINGS}


# ----------------------------------------------------------------------------- the schema


def _model_in(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def schema_field(path: str, model: type[BaseModel] = Scenario) -> Any | None:
    """The annotation of the scenario field at dotted ``path``, or None if there is none."""
    current: type[BaseModel] | None = model
    annotation: Any = None
    for part in path.split("."):
        if current is None or part not in current.model_fields:
            return None
        annotation = current.model_fields[part].annotation
        current = _model_in(annotation)
    return annotation


def _is_number(annotation: Any) -> bool:
    if annotation in (int, float):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_is_number(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def lever_status(lever: Lever) -> tuple[bool, str]:
    """Whether the lever can be used with the model as it is now, and if not, why."""
    annotation = schema_field(lever.path)
    if annotation is None:
        return False, "Not in the model yet: this control will work once the model has it."
    if lever.read is None and not _is_number(annotation):
        return False, "The model describes this differently; this control cannot set it yet."
    return True, ""


def levers_for(scenario: Scenario) -> list[dict[str, Any]]:
    """Every lever as the page needs it: bounds, the scenario's value, enabled or why not."""
    out = []
    for lever in LEVERS:
        enabled, note = lever_status(lever)
        out.append(
            {
                "id": lever.id,
                "label": lever.label,
                "help": lever.help,
                "unit": lever.unit,
                "min": lever.minimum,
                "max": lever.maximum,
                "step": lever.step,
                "integer": lever.integer,
                "value": lever.value(scenario) if enabled else None,
                "dated": lever.dated,
                "start": lever.start(scenario).isoformat() if enabled else None,
                "enabled": enabled,
                "note": note,
            }
        )
    return out


# ----------------------------------------------------------------------------- applying


class LeverError(ValueError):
    """Inputs the user has to correct, one plain message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_number(lever: Lever, raw: Any) -> tuple[float | None, str | None]:
    """``raw`` as a number within the lever's bounds, or a message saying what is wrong."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, f"{lever.label}: enter a number"
    if isinstance(raw, bool):
        return None, f"{lever.label}: enter a number"
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None, f"{lever.label}: '{raw}' is not a number"
    if not math.isfinite(value):
        return None, f"{lever.label}: enter a finite number"
    if value < lever.minimum or value > lever.maximum:
        return None, (
            f"{lever.label}: must be between {lever.minimum:,g} and {lever.maximum:,g} "
            f"(you entered {value:,g})"
        )
    if lever.integer and value != int(value):
        return None, f"{lever.label}: must be a whole number (you entered {value:,g})"
    return value, None


def check_start(lever: Lever, raw: Any, first: dt.date) -> tuple[dt.date | None, str | None]:
    """``raw`` (YYYY-MM-DD) as the day ``lever``'s policy starts, on or after the scenario's
    start ``first``, or a message saying what is wrong."""
    name = f"{lever.label}, starts on"
    try:
        day = dt.date.fromisoformat(str(raw).strip())
    except ValueError:
        return None, f"{name}: '{raw}' is not a date (use the date picker, or YYYY-MM-DD)"
    last = first.replace(year=first.year + MAX_START_YEARS)
    if not first <= day <= last:
        return None, (
            f"{name}: must be between {long_date(first)} (the scenario's start) and "
            f"{long_date(last)} (you entered {long_date(day)})"
        )
    return day, None


def apply_levers(
    scenario: Scenario,
    values: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    starts: Mapping[str, Any] | None = None,
) -> Scenario:
    """The scenario with every lever the user moved away from its value or start applied.

    Levers left at the scenario's own value and start change nothing (so a campaign the
    scenario already has is kept). ``starts`` gives the day a lever's policy starts (default:
    the scenario's own, else its start). ``extra`` overrides (e.g. the horizon) are applied
    with them. Raises :class:`LeverError` listing every value out of bounds, disabled lever set
    away from its value, bad start date and policy that would start after the horizon, and
    :class:`sim.config.ScenarioError` if the result is not a valid scenario.
    """
    extra = dict(extra or {})
    problems = []
    checked: dict[str, float] = {}
    for key, raw in values.items():
        lever = LEVERS_BY_ID.get(key)
        if lever is None:
            problems.append(f"'{key}' is not a control this app knows")
            continue
        enabled, note = lever_status(lever)
        if not enabled:
            if raw not in (None, ""):
                problems.append(f"{lever.label}: {note}")
            continue
        value, problem = check_number(lever, raw)
        if problem:
            problems.append(problem)
        else:
            checked[key] = value  # type: ignore[assignment]
    days: dict[str, dt.date] = {}
    for key, raw in (starts or {}).items():
        lever = LEVERS_BY_ID.get(key)
        if lever is None or not lever.dated:
            problems.append(f"'{key}' is not a control with a start date")
            continue
        day, problem = check_start(lever, raw, scenario.start)
        if problem:
            problems.append(problem)
        else:
            days[key] = day  # type: ignore[assignment]
    years = float(extra.get("years", scenario.years))
    end = scenario.model_copy(update={"years": years}).end
    changes = []
    for key, value in checked.items():
        lever = LEVERS_BY_ID[key]
        start = days.get(key, lever.start(scenario))
        moved = lever.write is not None and start != lever.start(scenario)
        if moved or not math.isclose(value, lever.value(scenario), rel_tol=1e-12, abs_tol=1e-12):
            changes.append((lever, value, start))
            # A lever at its minimum sets no policy (no hubs, no campaign).
            if lever.write is None or value > lever.minimum:
                problems += late_starts([(lever.label, start)], scenario.start, years)
    if problems:
        raise LeverError(problems)
    # Worked out over a horizon long enough for every policy, so that one starting after the
    # horizon asked for is refused in plain words below rather than by the schema.
    latest = max([end, *(start for _, _, start in changes)])
    wide = scenario
    if latest > scenario.end:
        wide = with_overrides(scenario, {"years": (latest - scenario.start).days / 365.25 + 1})
    result = wide
    for lever, value, start in changes:
        # From the result so far: two levers may add to one list (campaigns and a later
        # level of enquiries).
        overrides = lever.overrides(result, value, checked, start, end)
        if overrides:
            result = with_overrides(result, overrides)
    late = starts_after_horizon(result, years)
    if late:
        raise LeverError(late)
    if changes or extra:
        result = with_overrides(result, {**extra, "years": years})
    return result


# ----------------------------------------------------------------------------- policy dates

#: How far after the scenario's start a lever's policy may start.
MAX_START_YEARS = 40


_PROVIDERS = {
    "ifa_framework": "IFA framework",
    "residential": "Residential",
    "supported": "Supported accommodation",
    "unregistered": "Unregistered",
}


def _policy_name(kind: str, item: Any) -> str:
    name = POLICY_TITLES.get(kind, kind.replace("_", " ").capitalize())
    if kind == "mockingbird":
        return f"{name} in {item.area}"
    if kind == "hub_families":
        return f"{name} ({item.hubs_per_area} per area)"
    if kind == "recruitment_targets":
        return f"{name} of {item.approvals_per_year:,.0f} approvals a year"
    if kind == "uasc_ring_fence":
        return f"{item.in_house + item.ifa_framework + item.supported} {name.lower()}"
    if kind == "provider_changes":
        what = _PROVIDERS.get(item.kind, item.kind)
        if item.places is not None:
            return f"{what} places: {item.places:,}"
        return f"{what} weekly price: £{item.weekly_cost:,.0f}"
    return name


def policy_starts(scenario: Scenario) -> list[tuple[str, dt.date]]:
    """Every dated policy and change of the scenario, named in plain words, with its start."""
    out = [
        (_policy_name(kind, item), item.start) for kind, _, item in scenario.interventions.dated()
    ]
    for w in scenario.recruitment.campaigns:
        out.append(
            (
                "Recruitment campaign"
                if w.per_year is None
                else f"Fostering enquiries of {w.per_year:,.0f} a year",
                w.start,
            )
        )
    for surge in scenario.uasc.surges:
        out.append(
            (
                "Change in asylum-seeking children's arrivals"
                if surge.per_year is None
                else f"{surge.per_year:,.0f} asylum-seeking children arriving a year",
                surge.start,
            )
        )
    return sorted(out, key=lambda item: item[1])


def starts_after_horizon(scenario: Scenario, years: float) -> list[str]:
    """A plain message for each policy of ``scenario`` that starts after a horizon of
    ``years`` (the scenario schema's rule, :func:`sim.config.policy_start_problems`)."""
    return late_starts(policy_starts(scenario), scenario.start, years)


def late_starts(policies: list[tuple[str, dt.date]], first: dt.date, years: float) -> list[str]:
    """Why each of ``policies`` (name, start) cannot run in a simulation of ``years`` from
    ``first``, and what to do; only those that start after the horizon."""
    late = [(name, day) for name, day in policies if day >= horizon_end(first, years)]
    return [f"{name}: {message}" for name, message in policy_start_problems(first, years, late)]


__all__ = [
    "LEVERS",
    "RUN_SETTINGS",
    "Lever",
    "LeverError",
    "ScenarioError",
    "apply_levers",
    "check_number",
    "check_start",
    "lever_status",
    "levers_for",
    "long_date",
    "policy_starts",
    "schema_field",
    "starts_after_horizon",
]
