"""Plain words for a scenario's settings and for the documents figures come from.

The report shows assumptions to readers who do not know the schema: a label in words for each
setting (never its dotted path), values rounded with their units (never JSON), and sources by
document title (never a file name). Labels for the settings every reader should see are in
:data:`LABELS`; any other setting gets one built from the words of its path.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from functools import cache
from importlib import resources
from typing import Any

from sim.outputs import format_money

#: Settings with a label of their own, in the order the report lists them.
LABELS: dict[str, str] = {
    "start": "Start date",
    "years": "Years simulated",
    "children.arrivals_per_year": "Children coming into care each year (not UASC)",
    "uasc.arrivals_per_year": "Unaccompanied asylum-seeking children (UASC) arriving each year",
    "uasc.nts.transfer_prob": "Share of UASC transferred to other councils when over quota",
    "recruitment.enquiries_per_year": "Fostering enquiries each year",
    "recruitment.campaigns": "Recruitment campaigns (enquiries multiplied, or a level a year)",
    "recruitment.application_prob": "Share of followed-up enquiries that become applications",
    "recruitment.follow_up.slots": "Enquiries the recruitment team can follow up at once",
    "recruitment.approval_prob": "Share of assessments that end in approval",
    "initial.households": "The council's fostering households at the start",
    "providers.ifa_framework_places": "Places on the IFA framework",
    "providers.residential_places": "Residential places the council can use",
    "providers.supported_places": "Supported accommodation places",
    "costs.weekly.in_house.central": "Weekly cost of an in-house foster placement",
    "costs.weekly.ifa_framework.central": "Weekly cost of an IFA framework placement",
    "costs.weekly.ifa_spot.central": "Weekly cost of an IFA spot placement",
    "costs.weekly.residential.central": "Weekly cost of a residential placement",
    "costs.weekly.unregistered.central": "Weekly cost of an unregistered placement",
}

#: Words for the parts of a setting's path that are not plain English as written.
_WORDS: dict[str, str] = {
    "children": "children in care",
    "uasc": "unaccompanied asylum-seeking children",
    "nts": "National Transfer Scheme",
    "recruitment": "fostering recruitment",
    "attrition": "carers leaving",
    "usage": "retention and review by how homes are used",
    "matching": "finding placements",
    "cascade": "search step",
    "providers": "places outside the council's service",
    "market": "agency market",
    "geography": "distance from home",
    "breakdown": "placement breakdowns",
    "weekly": "per week",
    "initial": "at the start",
    "interventions": "policy",
    "mockingbird": "Mockingbird",
    "in_house": "in-house foster care",
    "in_house_home": "in-house in the home area",
    "in_house_other": "in-house elsewhere",
    "connected": "family and friends care",
    "ifa_framework": "IFA framework",
    "ifa_spot": "IFA spot",
    "supported": "supported accommodation",
    "placed_for_adoption": "placed for adoption",
    "with_parents": "placed with parents",
    "staying_put": "Staying Put",
    "central": "central estimate",
    "low": "low end",
    "high": "high end",
}
#: Words for the words inside a part of a path.
_TOKENS: dict[str, str] = {
    "prob": "probability",
    "uasc": "UASC",
    "ifa": "IFA",
    "nts": "National Transfer Scheme",
    "kpi": "indicator",
    "sgo": "special guardianship",
    "initial": "at the start",
}

_MONTHS = (
    "January February March April May June July August September October November December"
).split()


def _words(part: str) -> str:
    if part in _WORDS:
        return _WORDS[part]
    return " ".join(_TOKENS.get(w, w) for w in part.split("_"))


def label(path: str) -> str:
    """A plain label for a setting, from :data:`LABELS` or the words of its dotted path."""
    if path in LABELS:
        return LABELS[path]
    first, *rest = path.split(".")
    head = _words(first)
    head = head[0].upper() + head[1:]
    return head + (": " + ", ".join(_words(p) for p in rest) if rest else "")


def _date(text: str) -> str | None:
    try:
        d = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return f"{d.day} {_MONTHS[d.month - 1]} {d.year}"


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _unit_of(name: str) -> str:
    """How the values of a setting called ``name`` are written ("" if it does not say)."""
    if name.endswith(("_prob", "_share", "share", "_weights", "weights")) or name == "prob":
        return "share"
    if "multiplier" in name:
        return "times"
    if name.startswith("weekly_cost") or name == "weekly":
        return "money_week"
    if name.startswith("cost_per"):
        return "money"
    if name.endswith("days"):
        return "days"
    if name.endswith("years"):
        return "years"
    if name.endswith("per_year"):
        return "a_year"
    return ""


def _unit(path: str) -> str:
    """The unit of ``path``: that of its last part that names one (``breakdown.per_year.
    residential`` is a rate a year, ``costs.weekly.ifa_spot.central`` pounds a week)."""
    for part in reversed(path.split(".")):
        if unit := _unit_of(part):
            return unit
    return ""


def _scalar(value: Any, unit: str) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return _date(value) or value
    if not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    if unit == "share":
        return f"{value:.0%}" if value == 0 or abs(value) >= 0.1 else f"{value:.1%}"
    if unit == "times":
        return f"×{value:.3g}"
    if unit.startswith("money"):
        tail = " a week" if unit == "money_week" else ""
        return format_money(value) + tail
    if unit in ("days", "years"):
        return f"{_number(value)} {unit.removesuffix('s') if value == 1 else unit}"
    if unit == "a_year":
        # A rate below one a year is a chance a year: 0.147 a year reads 15% a year.
        return f"{value:.1%} a year" if value < 1 else f"{_number(value)} a year"
    return _number(value)


def _item(item: dict[str, Any]) -> str:
    """One dated policy or window in words: 'from 1 September 2020 to 1 October 2020, ...'."""
    parts = []
    if "start" in item:
        when = f"from {_scalar(item['start'], '')}"
        if item.get("end"):
            when += f" to {_scalar(item['end'], '')}"
        parts.append(when)
    for key, v in item.items():
        if key in ("start", "end") or v is None:
            continue
        # A level a year or a multiplier says what it is by its unit: "450 a year", "×1.3".
        named = key not in ("per_year", "multiplier")
        parts.append(f"{_words(key)} {describe(key, v)}" if named else describe(key, v))
    return ", ".join(parts)


def describe(path: str, value: Any) -> str:
    """A setting's value in words with its unit: '34%', '£1,000 a week', '×0.75 to ×1'."""
    unit = _unit(path)
    if isinstance(value, dict):
        if all(isinstance(v, dict) for v in value.values()):
            return "; ".join(f"{_words(str(k))}: {_item(v)}" for k, v in value.items())
        return ", ".join(f"{_words(str(k))} {describe(path, v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        if all(isinstance(v, dict) for v in value):
            return "; ".join(_item(v) for v in value)
        if len(value) == 2 and all(isinstance(v, int | float) for v in value):
            # Every pair in the schema is a range: (low, high) of an effect, a count or a wait.
            return f"{_scalar(value[0], unit)} to {_scalar(value[1], unit)}"
        if len(value) > 5 and all(isinstance(v, int | float) for v in value):
            return (
                f"{len(value)} values from {_scalar(min(value), unit)} "
                f"to {_scalar(max(value), unit)}"
            )
        return ", ".join(describe(path, v) for v in value)
    return _scalar(value, unit)


@cache
def _sources() -> dict[str, str]:
    text = resources.files("sim").joinpath("data/sources.csv").read_text(encoding="utf-8")
    return {row["source"]: row["title"] for row in csv.DictReader(text.splitlines())}


def source_title(source: str) -> str:
    """The title of the document a source reference names.

    ``source`` is a reference as the calibration files write it: a file name with an optional
    figure id or section (``"004_7ff32ea817a1971a.txt E55"``, ``"evidence.md 4.1"``).
    Unknown references are returned unchanged.
    """
    titles = _sources()
    parts = str(source).split()
    if not parts:
        return str(source)
    file, rest = parts[0], parts[1:]
    if file in titles and file != "evidence.md":
        return titles[file]
    # Sections of the evidence file: the most specific one listed ("4.1", then "4").
    section = rest[0] if rest else ""
    while section:
        if f"{file} {section}" in titles:
            return titles[f"{file} {section}"]
        section = section.rpartition(".")[0]
    return titles.get(file, str(source))
