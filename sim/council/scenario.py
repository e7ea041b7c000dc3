"""A council's scenario: estimates mapped onto the schema and written as commented TOML.

Each value set is an :class:`Entry` with the comment written beside it (its standard error and
where it came from). Everything not set keeps the schema default in ``sim/config.py``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

from sim.config import Breakdown, Children, Recruitment, Scenario, scenario_from_dict
from sim.council.estimate import Estimate, Estimates

AREA = "All"  # one area where postcodes cannot place children in districts
IFA_TYPES = ("ifa_framework", "ifa_spot")
GROUP_TYPES = {  # SSDA903 placement group -> model placement types
    "in_house": ("in_house",),
    "connected": ("connected",),
    "ifa": IFA_TYPES,
    "residential": ("residential",),
    "supported": ("supported",),
    "other": ("unregistered",),
    "placed_for_adoption": ("placed_for_adoption",),
    "with_parents": ("with_parents",),
}
HEADROOM = 1.1  # external capacity: the places in use at the start plus a tenth (assumption)


def capacity_entries(placements: dict[str, int]) -> list[Entry]:
    """External capacity at the start: the framework holds the agency placements in use, and
    residential, supported and unregistered places are those in use plus ``HEADROOM``."""
    out = [
        Entry(
            "providers.ifa_framework_places",
            placements["ifa_framework"],
            "framework capacity = IFA placements in use at the start (assumption)",
        )
    ]
    for kind in ("residential", "supported", "unregistered"):
        out.append(
            Entry(
                f"providers.{kind}_places",
                max(1, math.ceil(placements[kind] * HEADROOM)),
                f"places in use at the start ({placements[kind]}) plus a tenth (assumption)",
            )
        )
    return out


@dataclass(frozen=True)
class Entry:
    """One value of the scenario and the comment that says where it came from."""

    path: str
    value: Any
    comment: str


def _fmt_se(se: Any) -> str:
    if isinstance(se, list):
        return "[" + ", ".join(f"{x:.3g}" for x in se) + "]"
    if isinstance(se, dict):
        return "{" + ", ".join(f"{k}: {x:.3g}" for k, x in se.items()) + "}"
    return f"{se:.3g}"


def from_estimate(path: str, est: Estimate, source: str) -> Entry:
    """An entry for an estimated value, commented with its standard error and basis."""
    return Entry(path, est.value, f"SE {_fmt_se(est.se)}; {est.basis} ({source})")


def _finite(value: Any) -> bool:
    values = value.values() if isinstance(value, dict) else np.atleast_1d(value)
    return bool(np.isfinite(np.asarray(list(values), dtype=float)).all())


def _mean_multiplier(teen_share: float, complex_share: float) -> float:
    b = Breakdown()
    return (
        (1 - b.high_risk_share + b.high_risk_share * b.high_risk_multiplier)
        * (1 + (b.teen_multiplier - 1) * teen_share)
        * (1 + (b.complex_multiplier - 1) * complex_share)
    )


def episode_entries(est: Estimates, source: str) -> list[Entry]:
    """Entries for everything estimated from the SSDA903 episodes."""
    v = est.values
    for k, e in list(v.items()):
        if not _finite(e.value):
            est.notes.append(f"{k}: not estimable from the return ({e.basis}); schema default kept")
            del v[k]
    out = [from_estimate(k, e, source) for k, e in v.items() if not k.startswith("observed.")]
    out = [e for e in out if e.path not in ("initial.uasc",)]
    out.append(
        Entry("initial.uasc", v["initial.uasc"].value, f"{v['initial.uasc'].basis} ({source})")
    )
    stock = est.tables["stock"]
    counts = stock["group"].value_counts()
    placements: dict[str, int] = {}
    for group, kinds in GROUP_TYPES.items():
        placements[kinds[0]] = int(counts.get(group, 0))
        for k in kinds[1:]:
            placements[k] = 0
    out.append(
        Entry(
            "initial.placements",
            placements,
            f"children in care at {est.start:%d/%m/%Y} by placement (counts; {source}); "
            "SSDA903 cannot tell framework from spot agencies (both PR4/PR5), so every IFA "
            "placement is counted as framework",
        )
    )
    out += capacity_entries(placements)
    moves = est.tables["moves"].set_index("group")
    ages = v["initial.age_weights"].value
    assert isinstance(ages, list)  # one weight per age band
    complex_share = sum(w * p for w, p in zip(ages, Children().complex_need_prob, strict=True))
    rates: dict[str, float] = {}
    notes = []
    for group, kinds in GROUP_TYPES.items():
        if group not in moves.index or moves["placement_years"][group] < 1:
            continue
        row = cast(pd.Series, moves.loc[group])  # groups are unique: one row
        m = _mean_multiplier(float(row["teen_share_of_years"]), complex_share)
        for k in kinds:
            rates[k] = round(float(row["breakdown_per_year"]) / m, 5)
        notes.append(
            f"{group} {row['breakdown_per_year']:.3f} (SE {row['breakdown_se']:.3f}) / {m:.2f}"
        )
    out.append(
        Entry(
            "breakdown.per_year",
            rates,
            "breakdowns (REASON_PLACE_CHANGE CREQB) per placement-year, divided by the mean "
            "of the schema's high-risk, teenage and complex-needs multipliers: "
            + "; ".join(notes)
            + f" ({source})",
        )
    )
    return out


def fostering_entries(fost: dict[str, Any], connected_households: int) -> list[Entry]:
    """Entries for the supply side, from :func:`~sim.council.fostering.read_fostering`."""
    out = []
    households, src = fost["households"]
    mainstream = max(round(households - connected_households), 1)
    out.append(
        Entry(
            "initial.households",
            mainstream,
            f"{households:.0f} households ({src}) less {connected_households} connected-person "
            "households (made with initial.placements.connected)",
        )
    )
    filled, vacant, na = (
        fost[k][0] for k in ("places_filled", "places_vacant", "places_not_available")
    )
    total = filled + vacant + na
    if total > 0:
        out.append(
            Entry(
                "initial.on_hold_share",
                round(na / total, 4),
                f"places not available / approved places ({fost['places_not_available'][1]})",
            )
        )
    if "households_by_places" in fost:
        counts, src = fost["households_by_places"]
        out.append(
            Entry(
                "initial.places_weights",
                [round(c / sum(counts), 4) for c in counts],
                f"households with 1, 2, 3 and 4+ places ({src})",
            )
        )
    enquiries, src_e = fost["enquiries"]
    applications, src_a = fost["applications"]
    approvals, src_p = fost["approvals"]
    out.append(Entry("recruitment.enquiries_per_year", round(enquiries, 1), f"enquiries ({src_e})"))
    if enquiries > 0:
        out.append(
            Entry(
                "recruitment.application_prob",
                round(min(applications / enquiries, 1.0), 4),
                f"applications / enquiries ({src_a})",
            )
        )
    start_prob = Recruitment().assessment_start_prob
    if applications > 0:
        out.append(
            Entry(
                "recruitment.approval_prob",
                round(min(approvals / (applications * start_prob), 1.0), 4),
                f"approvals / (applications x the schema's assessment_start_prob {start_prob}) "
                f"({src_p})",
            )
        )
    if households > 0:
        carer, src_c = fost["deregistrations.carer"]
        default = Scenario().attrition.deregistration_per_year
        scale = carer / households / (sum(default) / len(default))
        out.append(
            Entry(
                "attrition.deregistration_per_year",
                [round(x * scale, 4) for x in default],
                f"the schema's tenure profile scaled to {carer:.0f} carer-initiated "
                f"deregistrations per {households:.0f} households ({src_c})",
            )
        )
        to_ifa, src_i = fost["deregistrations.to_ifa"]
        out.append(
            Entry(
                "attrition.to_ifa_per_year",
                round(to_ifa / households, 4),
                f"households transferring to an IFA / households ({src_i})",
            )
        )
    return out


def area_entries(why: str) -> list[Entry]:
    """A single area for every table keyed by area."""
    return [
        Entry("areas", [AREA], why),
        Entry("children.area_weights", {AREA: 1.0}, "one area"),
        Entry("uasc.area_weights", {AREA: 1.0}, "one area"),
        Entry("recruitment.household.area_weights", {AREA: 1.0}, "one area"),
    ]


def nested(entries: list[Entry]) -> dict[str, Any]:
    """The entries as the nested dict a scenario validates from."""
    out: dict[str, Any] = {}
    for e in entries:
        *tables, key = e.path.split(".")
        d = out
        for t in tables:
            d = d.setdefault(t, {})
        d[key] = e.value
    return out


def validate(entries: list[Entry], source: str) -> Scenario:
    """The scenario the entries make, validated (a ScenarioError names ``source``)."""
    return scenario_from_dict(nested(entries), source)


def _value(v: Any) -> str:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    return _value(float(v))  # numpy scalars


def _key(k: Any) -> str:
    k = str(k)
    return k if k.replace("_", "").replace("-", "").isalnum() else _value(k)


def to_toml(entries: list[Entry], header: list[str]) -> str:
    """The scenario as TOML text: top-level values first, then one table per section, each
    value followed by its comment."""
    lines = [f"# {h}" for h in header] + [""]
    tables: dict[str, list[Entry]] = {}
    for e in entries:
        table, _, key = e.path.rpartition(".")
        tables.setdefault(table, []).append(Entry(key, e.value, e.comment))
    for table, items in tables.items():
        if table:
            lines.append(f"\n[{table}]")
        for e in items:
            lines.append(f"# {e.comment}")
            lines.append(f"{e.path} = {_value(e.value)}")
    return "\n".join(lines) + "\n"
