"""The simulator's episode log as a DfE SSDA903 (children looked after) return.

For each collection year (1 April to 31 March) of one replication, :func:`export` writes
``<year>/header.csv``, ``<year>/episodes.csv`` and ``<year>/uasc.csv`` in the layout of the
DfE's SSDA903 CSV files, as read by the DfE validation rules (``csc-validator-be-903``) and the
Social Finance / data-to-insight demand model (``cs-demand-model``). ``<year>`` is the year the
collection ends: ``2020`` holds 1 April 2019 to 31 March 2020.

Every code the export writes comes from one table, :data:`MAPPING`; ``docs/SSDA903.md`` shows
the same table (a test keeps them equal) with what each code means and why it was chosen.

How the model's history becomes a chain of SSDA903 episodes, per child:

- An event at time ``t`` (days after the scenario's start date ``S``) falls on the date
  ``S + ceil(t)``. A monthly snapshot at day ``k`` is the stock at the end of date ``S + k``, so a
  child counted in care by the 31 March snapshot has an open episode at 31 March in the export
  (the round-trip test checks this for every year).
- Each placement episode of the model is one SSDA903 episode. Time in care without a placement
  (the model's children who are still searching: at entry, after a breakdown, after an
  emergency bed ends) becomes an episode of its own with the "other placement" code, so the
  chain from the start of care to its end has no gaps, as the DfE requires.
- Episodes shorter than one calendar day disappear (the DfE has no episodes of less than
  24 hours): the neighbours meet on that date.
- Episodes open at any time in a collection year are in that year's file; an episode still open
  at 31 March has no DEC, REC or REASON_PLACE_CHANGE in that year's file.

The second half of the module runs the two external tools, each in its own cached virtual
environment (both pin pandas < 2, which the project cannot share): :func:`validate` and
:func:`demand_model_predict`. Nothing here is imported by the model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# ---------------------------------------------------------------------------- the code table

KENT_LA_CODE = "E10000016"  # ONS code of Kent County Council (upper tier), for PL_LA checks
DATE_FORMAT = "%d/%m/%Y"
HEADER_COLUMNS = ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"]
EPISODE_COLUMNS = [
    "CHILD",
    "DECOM",
    "RNE",
    "LS",
    "CIN",
    "PLACE",
    "PLACE_PROVIDER",
    "DEC",
    "REC",
    "REASON_PLACE_CHANGE",
    "HOME_POST",
    "PL_POST",
    "URN",
]
UASC_COLUMNS = ["CHILD", "SEX", "DOB", "DUC"]

WAITING = "waiting"  # in care, no placement: not a model placement type, a state of the child
PLACED = "placed (end of a waiting episode)"  # why a waiting episode ends
REGISTERED = "supported accommodation registered"  # episodes split on 29 October 2023
SEX_LETTERS_FROM = 2025  # collection year 2024-25: SEX becomes M/F instead of 1/2


@dataclass(frozen=True)
class Code:
    """One row of the mapping: a model value and the SSDA903 code it becomes."""

    what: str  # which model attribute: placement, exit, move, legal, child, placeholder
    model: str  # the model's value (or a description of the case)
    field: str  # the SSDA903 field
    code: str  # the code, as written up to the 2024-25 collection
    later: str  # the code from collection year ``since`` on, where the DfE code list changed
    meaning: str  # the DfE's meaning of the code, and why it was chosen
    since: int  # the collection year (by its end: 2025 is 2024-25) that ``later`` starts


def _c(
    what: str, model: str, field: str, code: str, meaning: str, later: str = "", since: int = 0
) -> Code:
    return Code(what, model, field, code, later or code, meaning, since)


MAPPING: tuple[Code, ...] = (
    # -- placement types (PLACE) and providers (PLACE_PROVIDER)
    _c(
        "placement",
        "in_house",
        "PLACE",
        "U6",
        "Foster placement with other foster carer, not long-term or FFA (the model has no "
        "long-term fostering decision, so U4 is never used)",
    ),
    _c("placement", "in_house", "PLACE_PROVIDER", "PR1", "Own provision (by the LA)"),
    _c(
        "placement",
        "connected",
        "PLACE",
        "U3",
        "Fostering placement with relative or friend, not long-term or FFA",
    ),
    _c("placement", "connected", "PLACE_PROVIDER", "PR1", "Own provision (by the LA)"),
    _c(
        "placement",
        "ifa_framework",
        "PLACE",
        "U6",
        "Foster placement with other foster carer, not long-term or FFA",
    ),
    _c(
        "placement",
        "ifa_framework",
        "PLACE_PROVIDER",
        "PR4",
        "Private provision (the model does not know whether an agency is private or voluntary; "
        "framework and spot agencies look the same in SSDA903)",
    ),
    _c(
        "placement",
        "ifa_spot",
        "PLACE",
        "U6",
        "Foster placement with other foster carer, not long-term or FFA",
    ),
    _c("placement", "ifa_spot", "PLACE_PROVIDER", "PR4", "Private provision"),
    _c(
        "placement",
        "residential",
        "PLACE",
        "K2",
        "Children's home subject to Children's Homes Regulations",
    ),
    _c("placement", "residential", "PLACE_PROVIDER", "PR4", "Private provision"),
    _c(
        "placement",
        "supported",
        "PLACE",
        "H5",
        "Semi-independent living not subject to Children's Homes Regulations; from 2024-25 K3, "
        "supported accommodation registered with Ofsted (the DfE's code list change; the "
        "validator's 2024-25 rule 146 lists it as 'k3' and so flags it, a validator bug)",
        later="K3",
        since=2025,
    ),
    _c("placement", "supported", "PLACE_PROVIDER", "PR4", "Private provision"),
    _c(
        "placement",
        "unregistered",
        "PLACE",
        "Z1",
        "Other placements: SSDA903 has no code for unregistered provision before 2025-26; Z1 "
        "keeps it apart from registered homes (K2). From 2025-26 Z1 is split into Z11-Z14; "
        "Z14 is used as 'other', an assumption to check against the DfE guidance",
        later="Z14",
        since=2026,
    ),
    _c(
        "placement",
        "unregistered",
        "PLACE_PROVIDER",
        "",
        "Blank: the DfE rules forbid a provider for Z1/Z11-Z14",
    ),
    _c(
        "placement",
        "placed_for_adoption",
        "PLACE",
        "A6",
        "Placed for adoption with placement order, not with current foster carer",
    ),
    _c(
        "placement",
        "placed_for_adoption",
        "PLACE_PROVIDER",
        "PR1",
        "Own provision (the council's or regional adoption agency)",
    ),
    _c(
        "placement",
        "with_parents",
        "PLACE",
        "P1",
        "Placed with own parent(s) or other person(s) with parental responsibility",
    ),
    _c(
        "placement",
        "with_parents",
        "PLACE_PROVIDER",
        "PR0",
        "Parent(s) or other person(s) with parental responsibility",
    ),
    _c(
        "placement",
        WAITING,
        "PLACE",
        "Z1",
        "Other placements: time in care while the model is still searching for a placement "
        "(no model placement type); Z14 from 2025-26",
        later="Z14",
        since=2026,
    ),
    _c("placement", WAITING, "PLACE_PROVIDER", "", "Blank, as for Z1"),
    # -- reasons an episode ceased (REC)
    _c(
        "exit",
        "move to another placement",
        "REC",
        "X1",
        "Episode ceases and new episode begins on same day, for any reason",
    ),
    _c(
        "exit",
        "return_home",
        "REC",
        "E4A",
        "Returned home to live with parent(s) or other person(s) with parental responsibility "
        "as part of the care planning process",
    ),
    _c(
        "exit",
        "sgo (from connected)",
        "REC",
        "E45",
        "Special guardianship order made to former foster carer(s), who was/are a relative(s) "
        "or friend(s)",
    ),
    _c(
        "exit",
        "sgo (from other foster care)",
        "REC",
        "E46",
        "Special guardianship order made to former foster carer(s), other than relative(s) or "
        "friend(s)",
    ),
    _c(
        "exit",
        "sgo (from any other placement)",
        "REC",
        "E47",
        "Special guardianship order made to carer(s), other than former foster carer(s), who "
        "was/are a relative(s) or friend(s)",
    ),
    _c(
        "exit",
        "adoption",
        "REC",
        "E11",
        "Adopted: application for an adoption order unopposed (ends the A6 episode)",
    ),
    _c(
        "exit",
        "age_18",
        "REC",
        "E5",
        "Moved into independent living with supportive accommodation. The model does not record "
        "which young people Stay Put; E17 (remained with current carers) would need that flag",
    ),
    _c(
        "exit",
        "nts_transfer",
        "REC",
        "E3",
        "Care taken over by another local authority in the UK (National Transfer Scheme)",
    ),
    _c(
        "exit",
        "any other exit reason",
        "REC",
        "E8",
        "Period of being looked after ceased for any other reason",
    ),
    # -- reasons for a change of placement (REASON_PLACE_CHANGE, on the episode that ends)
    _c(
        "move",
        "breakdown",
        "REASON_PLACE_CHANGE",
        "CREQB",
        "Carer(s) requests placement end due to child's behaviour (an unplanned ending)",
    ),
    _c(
        "move",
        "carer_deregistered",
        "REASON_PLACE_CHANGE",
        "CLOSE",
        "Resignation or closure of provision",
    ),
    _c(
        "move",
        "planned",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan",
    ),
    _c(
        "move",
        "step_down",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan",
    ),
    _c(
        "move",
        "step_across",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan",
    ),
    _c(
        "move",
        "emergency_end",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan (an emergency bed ends as planned)",
    ),
    _c(
        "move",
        "pc_assessment_end",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan (parent-and-child assessment ends)",
    ),
    _c(
        "move",
        "placed_for_adoption",
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan",
    ),
    _c(
        "move",
        PLACED,
        "REASON_PLACE_CHANGE",
        "CARPL",
        "Change to or implementation of care plan",
    ),
    _c(
        "move",
        REGISTERED,
        "REASON_PLACE_CHANGE",
        "PLACE",
        "Change in the status of placement only: a supported accommodation episode open on 28 "
        "October 2023, when Ofsted registration began, is split there (URN XXXXXXX before, a "
        "URN after)",
    ),
    _c("move", "any other move reason", "REASON_PLACE_CHANGE", "OTHER", "Other"),
    # -- reasons for a new episode (RNE) and legal status (LS)
    _c("new episode", "start of a period of care", "RNE", "S", "Started to be looked after"),
    _c("new episode", "change of placement", "RNE", "P", "Change of placement and carer(s) only"),
    _c(
        "new episode",
        "placed for adoption",
        "RNE",
        "U",
        "Change of legal status (to E1) and placement and carer(s) at the same time",
    ),
    _c(
        "legal",
        "section20 (and every UASC)",
        "LS",
        "V2",
        "Single period of accommodation under section 20 of the Children Act 1989",
    ),
    _c(
        "legal",
        "not section20, or ever placed with parents",
        "LS",
        "C2",
        "Full care order (a child placed with parents cannot be under section 20)",
    ),
    _c("legal", "placed_for_adoption", "LS", "E1", "Placement order granted"),
    # -- child attributes
    _c("child", "male", "SEX", "1", "Male", later="M", since=SEX_LETTERS_FROM),
    _c("child", "female", "SEX", "2", "Female", later="F", since=SEX_LETTERS_FROM),
    _c("child", "uasc", "CIN", "N8", "Absent parenting (the usual category for UASC)"),
    _c(
        "child",
        "not uasc",
        "CIN",
        "N1",
        "Abuse or neglect: placeholder, the model has no category of need",
    ),
    _c(
        "child",
        "uasc",
        "DUC",
        "18th birthday",
        "Date UASC status ceased: the 18th birthday (the model has no asylum decisions)",
    ),
    # -- placeholders for what the model does not simulate
    _c("placeholder", "ethnicity", "ETHNIC", "NOBT", "Information not yet obtained"),
    _c("placeholder", "UPN, under school age", "UPN", "UN1", "Not of school age and no UPN yet"),
    _c("placeholder", "UPN, uasc", "UPN", "UN2", "Never attended a school in England"),
    _c(
        "placeholder",
        "UPN, other children",
        "UPN",
        "UN5",
        "UPN not known (the model has no pupil numbers)",
    ),
    _c(
        "placeholder",
        "mother status, girls",
        "MOTHER",
        "0",
        "Not a mother (the model does not simulate parenthood); blank for boys, MC_DOB blank",
    ),
    _c(
        "placeholder",
        "home postcode",
        "HOME_POST",
        "civic office of the home area",
        "Real Kent postcodes of public buildings, one per home area (blank for UASC, as the "
        "DfE asks): see HOME_POSTCODES",
    ),
    _c(
        "placeholder",
        "placement postcode",
        "PL_POST",
        "civic office near or far",
        "A postcode within 20 miles of the home postcode when the model placed the child within "
        "20 miles, else one further away, so the DfE's distance reproduces the 20-mile KPI",
    ),
    _c(
        "placeholder",
        "Ofsted URN",
        "URN",
        "XXXXXXX / SC000000",
        "XXXXXXX (not applicable) for fostering and adoption; the dummy SC000000 for children's "
        "homes (K2) and supported accommodation episodes from 28 October 2023 (the DfE refuses "
        "XXXXXXX there: H5 from then, K2 and K3 from 2025-26); a real return carries the "
        "setting's Ofsted URN. Blank for P1 and Z1",
    ),
)

# Home postcode of each model area and placement postcodes within and beyond 20 miles of it
# (straight-line distance, as the DfE computes PL_DISTANCE). Public buildings in Kent.
HOME_POSTCODES = {"North": "DA1 1DR", "South": "TN23 1PL", "East": "CT1 1YW", "West": "ME14 1XQ"}
NEAR_POSTCODES = {
    "North": ("DA2 7HQ", "DA12 1AU", "TN13 1HG"),
    "South": ("TN24 0NS", "CT1 1YW", "CT20 2QY"),
    "East": ("CT5 1DJ", "CT16 3PJ", "CT9 1XZ"),
    "West": ("ME15 6JQ", "ME19 4LZ", "TN9 1DP"),
}
FAR_POSTCODES = {
    "North": ("CT1 1YW", "CT20 2QY", "CT9 1XZ"),
    "South": ("DA12 1AU", "TN13 1HG", "TN1 1RS"),
    "East": ("ME14 1XQ", "DA12 1AU", "TN1 1RS"),
    "West": ("CT1 1YW", "CT20 2QY", "CT9 1XZ"),
}
DUMMY_URN = "SC000000"
SUPPORTED_REGISTRATION = pd.Timestamp(2023, 10, 28)  # Ofsted registration of supported
# accommodation began: DfE rule 230 wants a URN on H5 episodes ending on or after 29 October
NOT_APPLICABLE_URN = "XXXXXXX"
NO_URN_PLACES = ("P1", "Z1", "Z11", "Z12", "Z13", "Z14")

_LOOKUP = {(c.what, c.model, c.field): c for c in MAPPING}


def code(what: str, model: str, field: str, year: int) -> str:
    """The code of ``(what, model, field)`` in the collection ending in March ``year``."""
    row = _LOOKUP[(what, model, field)]
    return row.later if row.since and year >= row.since else row.code


def place_codes(kind: str, year: int) -> tuple[str, str]:
    """PLACE and PLACE_PROVIDER of a model placement type (or :data:`WAITING`)."""
    if ("placement", kind, "PLACE") not in _LOOKUP:
        kind = WAITING  # an unknown placement type is reported as "other placement"
    return code("placement", kind, "PLACE", year), code("placement", kind, "PLACE_PROVIDER", year)


def sex_code(male: bool, year: int) -> str:
    return code("child", "male" if male else "female", "SEX", year)


def move_reason(reason: str) -> str:
    key = ("move", reason, "REASON_PLACE_CHANGE")
    return (_LOOKUP.get(key) or _LOOKUP[("move", "any other move reason", key[2])]).code


def exit_code(reason: str, last_kind: str) -> str:
    if reason == "sgo":
        if last_kind == "connected":
            case = "sgo (from connected)"
        elif last_kind in ("in_house", "ifa_framework", "ifa_spot"):
            case = "sgo (from other foster care)"
        else:
            case = "sgo (from any other placement)"
        return _LOOKUP[("exit", case, "REC")].code
    row = _LOOKUP.get(("exit", reason, "REC")) or _LOOKUP[("exit", "any other exit reason", "REC")]
    return row.code


def _later(c: Code) -> str:
    if not c.since:
        return ""
    return f"{c.later} from {c.since - 1}-{c.since % 100:02d}"


def mapping_table() -> pd.DataFrame:
    """The mapping as a table (what docs/SSDA903.md shows)."""
    rows = []
    for c in MAPPING:
        rows.append(
            {
                "model": f"{c.what}: {c.model}",
                "field": c.field,
                "code": c.code,
                "later code": _later(c),
                "meaning": c.meaning,
            }
        )
    return pd.DataFrame(rows)


def mapping_markdown() -> str:
    """The mapping as a Markdown table, exactly as in docs/SSDA903.md."""
    lines = [
        "| model | SSDA903 field | code | later code | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in MAPPING:
        lines.append(f"| {c.what}: {c.model} | {c.field} | {c.code} | {_later(c)} | {c.meaning} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------- episodes to SSDA903


def collection_years(start: dt.date, end: dt.date) -> list[int]:
    """Collection years (by the year they end) wholly inside ``start``..``end``."""
    # the first year whose 1 April comes after the start date (the model's day 0)
    first = start.year + 1 if start < dt.date(start.year, 4, 1) else start.year + 2
    return [y for y in range(first, end.year + 1) if dt.date(y, 3, 31) <= end]


def _day(t: float) -> int:
    """The day offset of an event at time ``t``: it falls on date ``start + ceil(t)``."""
    return math.ceil(t - 1e-9)


@dataclass
class _Segment:
    kind: str  # model placement type, or WAITING
    start: int  # day offsets (see _day)
    end: int | None  # None: still open at the end of the run
    end_reason: str  # why it ended: a model move reason, "placed", an exit reason, or "open"
    near: bool  # within 20 miles


def _segments(child: Any, eps: list[Any], horizon: float) -> tuple[list[_Segment], bool]:
    """The child's time in care as contiguous segments; and whether care starts in them."""
    entry = float(child.entry_day)
    exit_t = float(child.exit_day)
    left = not math.isnan(exit_t)
    segs: list[tuple[str, float, float | None, str, bool]] = []
    if child.initial and eps:
        cursor = float(eps[0].start_day)
        starts_care = cursor <= entry + 1e-9
    else:
        cursor = entry
        starts_care = True
    for ep in eps:
        s = float(ep.start_day)
        if s > cursor + 1e-9:
            segs.append((WAITING, cursor, s, PLACED, True))
        e = float(ep.end_day)
        open_ = math.isnan(e)
        segs.append(
            (ep.placement, s, None if open_ else e, ep.reason_end, bool(ep.within_20_miles))
        )
        cursor = math.inf if open_ else e
    if cursor != math.inf:
        if left:
            if exit_t > cursor + 1e-9:
                segs.append((WAITING, cursor, exit_t, child.exit_reason, True))
        elif cursor < horizon:
            segs.append((WAITING, cursor, None, "open", True))
    days = [
        [kind, _day(s), None if e is None else _day(e), reason, near]
        for kind, s, e, reason, near in segs
    ]
    if days and days[-1][0] == "placed_for_adoption" and days[-1][2] == days[-1][1]:
        # Adopted on the day of placement: the DfE needs the adoption placement (A6) before the
        # adoption (rule 390), so it gets that day and the placement before it ends a day early.
        days[-1][1] -= 1
        for d in days[:-1]:
            d[2] = min(d[2], days[-1][1])
            d[1] = min(d[1], d[2])
    out = []
    for kind, d0, d1, reason, near in days:
        if d1 is not None and d1 <= d0:
            continue  # shorter than a day on the calendar
        out.append(_Segment(kind, d0, d1, reason, near))
    if out and left:
        out[-1].end_reason = child.exit_reason or "other"
        out[-1].end = max(out[-1].end or _day(exit_t), out[-1].start + 1)
    return out, starts_care


def _postcode(pool: dict[str, tuple[str, ...]], area: str, i: int) -> str:
    options = pool.get(area) or pool[sorted(pool)[zlib.crc32(area.encode()) % len(pool)]]
    return options[i % len(options)]


def _home_postcode(area: str) -> str:
    return HOME_POSTCODES.get(area) or _postcode(
        {a: (p,) for a, p in HOME_POSTCODES.items()}, area, 0
    )


def _date_of_birth(child: Any, segs: list[_Segment], origin: pd.Timestamp, end: dt.date):
    """The model's date of birth, nudged by a day or two so that the calendar agrees with the
    model's ages (it counts years of 365.25 days): a young person who left at 18 had their
    18th birthday that day; everyone else was under 18 while in care."""
    dob = origin + pd.Timedelta(days=_day(float(child.dob_day)))
    last = segs[-1]
    out = pd.Timestamp(end) if last.end is None else origin + pd.Timedelta(days=last.end)
    if last.end is not None and child.exit_reason == "age_18":
        dob = out - pd.DateOffset(years=18)
    elif dob + pd.DateOffset(years=18) <= out:
        dob = out - pd.DateOffset(years=18) + pd.Timedelta(days=1)
    return min(dob, origin + pd.Timedelta(days=segs[0].start))


def _split_at_registration(segs: list[_Segment], day: int) -> list[_Segment]:
    out = []
    for s in segs:
        if s.kind == "supported" and s.start < day and (s.end is None or s.end > day):
            out.append(_Segment(s.kind, s.start, day, REGISTERED, s.near))
            out.append(_Segment(s.kind, day, s.end, s.end_reason, s.near))
        else:
            out.append(s)
    return out


def build(
    episodes: pd.DataFrame, children: pd.DataFrame, start: dt.date, end: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SSDA903 episodes over the whole run, and one row per child, for one replication.

    Returns ``(episodes, children)``. Episodes carry the SSDA903 fields that do not depend on
    the collection year plus ``kind`` (model placement type or ``waiting``), ``start``/``end``
    (dates; ``end`` NaT while open at the end of the run), ``end_reason`` and ``near``.
    Children carry ``CHILD``, ``male``, ``uasc``, ``dob`` (date), ``area`` and ``LS``.
    """
    origin = pd.Timestamp(start)
    horizon = float((end - start).days)
    eps = episodes.sort_values(["child", "start_day", "end_day"], na_position="last")
    by_child: dict[int, list[Any]] = {}
    for ep in eps.itertuples(index=False):
        by_child.setdefault(int(ep.child), []).append(ep)
    rows: list[dict[str, Any]] = []
    kids: list[dict[str, Any]] = []
    for ch in children.drop_duplicates("child").itertuples(index=False):
        cid = int(ch.child)
        segs, starts_care = _segments(ch, by_child.get(cid, []), horizon)
        if not segs:
            continue  # in care for less than a calendar day
        dob = _date_of_birth(ch, segs, origin, end)
        if ch.initial and segs[0].kind == "supported":
            # The initial stock backdates placements without the age rule of supported
            # accommodation (16+): its known history starts at the 16th birthday at the earliest.
            sixteen = (dob + pd.DateOffset(years=16) - origin).days
            if sixteen > segs[0].start and (segs[0].end is None or sixteen < segs[0].end):
                segs[0].start = sixteen
                starts_care = False
        segs = _split_at_registration(segs, (SUPPORTED_REGISTRATION - origin).days)
        kinds = {s.kind for s in segs}
        base_ls = "V2" if bool(ch.section20) and "with_parents" not in kinds else "C2"
        area = str(ch.area)
        home = "" if ch.uasc else _home_postcode(area)
        ls = base_ls
        for i, s in enumerate(segs):
            prev_ls = ls
            if s.kind == "placed_for_adoption":
                ls = "E1"
            if i == 0:
                rne = "S" if starts_care else "P"
            else:
                rne = "U" if ls != prev_ls else "P"
            last = i == len(segs) - 1
            if not last:
                rec, why = "X1", move_reason(s.end_reason)
            elif s.end is not None:
                rec, why = exit_code(s.end_reason, s.kind), ""
            else:
                rec, why = "", ""
            if s.kind == "with_parents":
                pl_post = home or _postcode(NEAR_POSTCODES, area, i)
            elif i > 0 and segs[i - 1].end_reason == REGISTERED:
                pass  # same placement, now registered: same postcode
            else:
                pl_post = _postcode(NEAR_POSTCODES if s.near else FAR_POSTCODES, area, i)
            rows.append(
                {
                    "CHILD": cid,
                    "kind": s.kind,
                    "start": origin + pd.Timedelta(days=s.start),
                    "end": pd.NaT if s.end is None else origin + pd.Timedelta(days=s.end),
                    "RNE": rne,
                    "LS": ls,
                    "CIN": "N8" if ch.uasc else "N1",
                    "rec": rec,
                    "why": why,
                    "HOME_POST": home,
                    "PL_POST": pl_post,
                    "end_reason": s.end_reason,
                    "near": s.near,
                }
            )
        kids.append(
            {
                "CHILD": cid,
                "male": bool(ch.male),
                "uasc": bool(ch.uasc),
                "dob": dob,
                "area": area,
                "initial": bool(ch.initial),
            }
        )
    return pd.DataFrame(rows), pd.DataFrame(kids)


def _fmt(dates: pd.Series) -> pd.Series:
    return dates.dt.strftime(DATE_FORMAT).fillna("")


def _upn(kids: pd.DataFrame, year: int) -> pd.Series:
    # The DfE's rule 209: UN1 only while under 4 on 31 August before the collection year.
    ref = pd.Timestamp(year - 2, 8, 31)
    school_age = kids["dob"].map(lambda d: d + pd.DateOffset(years=4)) <= ref
    upn = pd.Series("UN1", index=kids.index)
    upn[school_age] = "UN5"
    upn[kids["uasc"]] = "UN2"
    return upn


def year_tables(eps: pd.DataFrame, kids: pd.DataFrame, year: int) -> dict[str, pd.DataFrame]:
    """The header, episodes and UASC tables of the collection year ending 31 March ``year``."""
    y0, y1 = pd.Timestamp(year - 1, 4, 1), pd.Timestamp(year, 3, 31)
    inside = (eps["start"] <= y1) & (eps["end"].isna() | (eps["end"] >= y0))
    e = eps[inside].copy()
    still_open = e["end"].isna() | (e["end"] > y1)
    e.loc[still_open, ["rec", "why"]] = ""
    e["DEC"] = _fmt(e["end"].where(~still_open))
    e["DECOM"] = _fmt(e["start"])
    place = e["kind"].map(lambda k: place_codes(k, year))
    e["PLACE"] = place.str[0]
    e["PLACE_PROVIDER"] = place.str[1]
    e["REC"] = e["rec"]
    e["REASON_PLACE_CHANGE"] = e["why"]
    e["URN"] = NOT_APPLICABLE_URN
    registered = (e["kind"] == "residential") | (
        (e["kind"] == "supported") & (e["start"] >= SUPPORTED_REGISTRATION)
    )
    e.loc[registered, "URN"] = DUMMY_URN
    e.loc[e["PLACE"].isin(NO_URN_PLACES), "URN"] = ""
    episodes = e.sort_values(["CHILD", "start"])[EPISODE_COLUMNS].reset_index(drop=True)

    k = kids[kids["CHILD"].isin(episodes["CHILD"])].sort_values("CHILD").reset_index(drop=True)
    header = pd.DataFrame(
        {
            "CHILD": k["CHILD"],
            "SEX": k["male"].map(lambda m: sex_code(m, year)),
            "DOB": _fmt(k["dob"]),
            "ETHNIC": "NOBT",
            "UPN": _upn(k, year),
            "MOTHER": k["male"].map(lambda m: "" if m else "0"),
            "MC_DOB": "",
        }
    )[HEADER_COLUMNS]
    u = k[k["uasc"]]
    uasc = pd.DataFrame(
        {
            "CHILD": u["CHILD"],
            "SEX": u["male"].map(lambda m: sex_code(m, year)),
            "DOB": _fmt(u["dob"]),
            "DUC": _fmt(u["dob"].map(lambda d: d + pd.DateOffset(years=18))),
        }
    )[UASC_COLUMNS]
    return {"header": header, "episodes": episodes, "uasc": uasc}


# ------------------------------------------------------------------------------ the export


def load_run(results: Path | str, rep: int = 0) -> dict[str, Any]:
    """One replication's episodes, children and snapshots, with its start and end dates."""
    from sim.results import replication

    return replication(results, rep)


def export_tables(
    episodes: pd.DataFrame,
    children: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    out: Path | str,
    years: Iterable[int] | None = None,
) -> list[Path]:
    """Write ``out/<year>/{header,episodes,uasc}.csv`` for each collection year."""
    out = Path(out)
    eps, kids = build(episodes, children, start, end)
    written = []
    for year in years or collection_years(start, end):
        folder = out / str(year)
        folder.mkdir(parents=True, exist_ok=True)
        for name, df in year_tables(eps, kids, year).items():
            path = folder / f"{name}.csv"
            df.to_csv(path, index=False)
            written.append(path)
    return written


def export(results: Path | str, out: Path | str, rep: int = 0) -> list[Path]:
    """Export replication ``rep`` of a ``sufficiency run`` results folder as SSDA903 files."""
    run = load_run(results, rep)
    years = collection_years(run["start"], run["end"])
    if not years:
        raise ValueError(
            f"the run ({run['start']} to {run['end']}) holds no whole collection year "
            "(1 April to 31 March)"
        )
    return export_tables(run["episodes"], run["children"], run["start"], run["end"], out, years)


# Model placement types grouped as SSDA903 can tell them apart (PLACE, PLACE_PROVIDER).
DFE_GROUPS = {
    "in_house": ("in_house",),
    "connected": ("connected",),
    "ifa": ("ifa_framework", "ifa_spot"),
    "residential": ("residential",),
    "supported": ("supported",),
    "other (unregistered or waiting)": ("unregistered", "waiting"),
    "placed_for_adoption": ("placed_for_adoption",),
    "with_parents": ("with_parents",),
}


def group_of(place: str, provider: str) -> str:
    """The :data:`DFE_GROUPS` name of an SSDA903 (PLACE, PLACE_PROVIDER) pair."""
    place = str(place)
    provider = "" if pd.isna(provider) else str(provider)
    if place in ("U1", "U2", "U3"):
        return "connected"
    if place in ("U4", "U5", "U6"):
        return "in_house" if provider in ("PR1", "PR2", "PR3") else "ifa"
    if place in ("K1", "K2", "R1"):
        return "residential"
    if place in ("H5", "K3", "P2"):
        return "supported"
    if place.startswith("A"):
        return "placed_for_adoption"
    if place == "P1":
        return "with_parents"
    return "other (unregistered or waiting)"


def in_care_at_31_march(folder: Path | str) -> pd.Series:
    """Children in care at the end of an exported year (open episodes), by :data:`DFE_GROUPS`.

    Reads only the CSV files, as an analyst would.
    """
    eps = pd.read_csv(Path(folder) / "episodes.csv", dtype=str, keep_default_na=False)
    open_ = eps[eps["DEC"] == ""]
    groups = [group_of(p, q) for p, q in zip(open_["PLACE"], open_["PLACE_PROVIDER"], strict=True)]
    return pd.Series(groups, dtype=object).value_counts().reindex(list(DFE_GROUPS), fill_value=0)


def model_in_care(snapshots: pd.DataFrame, date: dt.date) -> pd.Series:
    """The model's own count at ``date`` (a snapshot), by :data:`DFE_GROUPS`."""
    row = snapshots[pd.to_datetime(snapshots["date"]).dt.date == date]
    if row.empty:
        raise ValueError(f"no snapshot on {date}")
    r = row.iloc[0]
    return pd.Series(
        {g: int(sum(r[k] for k in kinds)) for g, kinds in DFE_GROUPS.items()}, dtype=int
    )


# -------------------------------------------------------------- the external tools' venvs


class ToolUnavailable(RuntimeError):
    """An external tool's virtual environment could not be created or used."""


@dataclass(frozen=True)
class Tool:
    name: str
    requirements: tuple[str, ...]
    check: str  # python code that must run in the environment once installed


VALIDATOR = Tool(
    "csc-validator-be-903",
    ("csc-validator-be-903==0.1.17", "pandas<2"),
    "import lac_validator.lac_validator",
)
DEMAND_MODEL = Tool(
    "cs-demand-model",
    ("cs-demand-model[cli]==0.5.1", "pandas<2"),
    "import cs_demand_model",
)


def cache_dir() -> Path:
    """Where the tools' environments live: ``$SUFFICIENCY_903_CACHE`` or ``.cache/ssda903-venv``
    in the repository (git-ignored)."""
    env = os.environ.get("SUFFICIENCY_903_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / ".cache" / "ssda903-venv"


def _base_python() -> str:
    """An interpreter for the tools: they pin pandas < 2, which has wheels up to Python 3.11."""
    env = os.environ.get("SUFFICIENCY_903_PYTHON")
    if env:
        return env
    if sys.version_info[:2] in ((3, 10), (3, 11)):
        return sys.executable
    for name in ("python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    raise ToolUnavailable(
        "no Python 3.10 or 3.11 found for the SSDA903 tools (they pin pandas < 2); set "
        "SUFFICIENCY_903_PYTHON to one"
    )


@contextlib.contextmanager
def _lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def tool_python(tool: Tool, timeout: float = 900) -> Path:
    """The Python of ``tool``'s environment, created (and cached) on first use.

    Raises :class:`ToolUnavailable` with the reason when it cannot be created (no network to
    PyPI, no suitable interpreter...).
    """
    root = cache_dir() / tool.name
    python = root / "bin" / "python"
    stamp = root / ".installed"
    spec = "\n".join(tool.requirements)
    with _lock(cache_dir() / f"{tool.name}.lock"):
        if stamp.exists() and stamp.read_text() == spec and python.exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        steps = [
            [_base_python(), "-m", "venv", str(root)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *tool.requirements,
            ],
            [str(python), "-c", tool.check],
        ]
        for cmd in steps:
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=timeout, env=_tool_env()
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ToolUnavailable(f"{tool.name}: `{' '.join(cmd[:4])}` failed: {exc}") from exc
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
                raise ToolUnavailable(
                    f"{tool.name}: could not create its environment in {root}; "
                    f"`{' '.join(cmd[:5])}` exited {done.returncode}:\n{tail}"
                )
        stamp.write_text(spec)
    return python


def _tool_env() -> dict[str, str]:
    """The environment for a tool: none of this process's Python or plotting settings (a
    notebook's inline matplotlib backend, say, does not exist in the tool's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MPL"))}
    env["MPLBACKEND"] = "Agg"
    return env


def _run_script(tool: Tool, script: str, args: dict[str, Any], timeout: float = 1200) -> Any:
    python = tool_python(tool)
    done = subprocess.run(
        [str(python), "-c", script, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_tool_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool.name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    marker = "@@RESULT@@"
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    raise RuntimeError(f"{tool.name} printed no result:\n{done.stdout[-2000:]}")


# ------------------------------------------------------------------------------ validation

_VALIDATOR_SCRIPT = r"""
import importlib, json, logging, sys
logging.disable(logging.CRITICAL)
import pandas as pd
from lac_validator import lac_validator
from lac_validator.utils import process_uploaded_files

args = json.loads(sys.argv[1])
out = []
for job in args["jobs"]:
    module = importlib.import_module("lac_validator.rules." + job["ruleset"])
    registry = module.registry
    files = {"This year": job["this_year"]}
    if job["prev_year"]:
        files["Prev year"] = job["prev_year"]
    v = lac_validator.LacValidator(
        metadata={"collectionYear": str(job["year"]), "localAuthority": job["la"]},
        files=process_uploaded_files(files),
        registry=registry,
        selected_rules=None,
    )
    failures = {}
    examples = {}
    values = {}
    for table, df in v.ds_results.items():
        if table == "metadata" or not isinstance(df, pd.DataFrame):
            continue
        for col in df.columns:
            if str(col).startswith("ERR_"):
                hit = df[col].fillna(False).astype(bool)
                n = int(hit.sum())
                if n:
                    rule = str(col)[4:]
                    failures[rule] = failures.get(rule, 0) + n
                    if "CHILD" in df:
                        examples.setdefault(rule, [str(c) for c in df.loc[hit, "CHILD"][:5]])
                    if table == "Episodes" and "PLACE" in df:
                        counts = df.loc[hit, "PLACE"].fillna("").value_counts()
                        places = values.setdefault(rule, {})
                        for k, n in counts.items():
                            places[str(k)] = places.get(str(k), 0) + int(n)
    out.append({
        "year": job["year"],
        "ruleset": job["ruleset"],
        "rules": {c: {"message": r.message, "tables": list(r.tables or [])}
                  for c, r in registry.items()},
        "ran": sorted(v.dones),
        "skipped": sorted(v.skips),
        "crashed": sorted(v.fails),
        "failures": failures,
        "examples": examples,
        "failing_places": values,
        "has_previous": bool(job["prev_year"]),
        "rows": {t: int(len(df)) for t, df in v.dfs.items()},
    })
print("@@RESULT@@" + json.dumps(out))
"""

RULESET_YEARS = (2023, 2024, 2025, 2026, 2027)  # editions in csc-validator-be-903 0.1.17


def ruleset_for(year: int) -> str:
    """The validator's rule set for the collection ending in March ``year`` (clamped to the
    editions it ships: 2022-23 to 2026-27)."""
    y = min(max(year, RULESET_YEARS[0]), RULESET_YEARS[-1])
    return f"lac{y - 1}_{y % 100:02d}"


# Why rules do not run on the export. The validator skips a rule when a table it needs was not
# uploaded; these are the tables the model does not produce.
NOT_PRODUCED: dict[str, str] = {
    "AD1": "adoption details (matching dates, adopters): the model has no adopters",
    "PlacedAdoption": "decisions that a child should be placed for adoption: no decision dates",
    "OC2": "outcomes of children looked after for 12 months (health, SDQ, offending)",
    "OC3": "care leavers' activity and accommodation at 17 to 21: not followed after care",
    "Reviews": "review dates and participation",
    "Missing": "missing or away from placement episodes",
    "PrevPerm": "permanence orders before care",
    "SWEpisodes": "social worker episodes",
    "DoLo": "deprivation of liberty orders (new for 2026-27)",
    "Provider Info": "Ofsted's lists of homes and providers (a URN lookup): no real URNs",
}
TABLE_ALIASES = {"oc2s": "oc2", "dolo_last": "dolo"}
SKIP_REASONS: dict[str, str] = {
    "105": "checks the UASC flag of XML returns; from CSV the validator derives the flag itself",
    "1012": "concerns OC3 care leavers (its table list omits OC3)",
}
FIRST_YEAR = "compares with last year's return, which the first exported year does not have"
# Rules that raise an error inside the validator on any CSV upload (validator bugs); the tests
# check what they mean to check directly on the exported files.
CRASHING_RULES: dict[str, str] = {
    "231": "reads a UASC_STATUS column that the validator's CSV reader never creates",
    "233": "reads a DATE_EPISODE_CEASED column; the field is DEC",
}
# Rule failures that are validator bugs, with the only PLACE codes they may flag.
KNOWN_BUGS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("lac2024_25", "146"): (
        {"K3"},
        "the 2024-25 code list spells the new supported accommodation code 'k3' while the "
        "reader upper-cases every value, so every K3 episode fails",
    ),
}


def _table_key(name: str) -> str:
    key = name.lower().removesuffix("_last")
    return TABLE_ALIASES.get(key, key)


_OURS = {"header", "episodes", "uasc"}
_NOT_PRODUCED = {_table_key(t): t for t in NOT_PRODUCED}


@dataclass
class Validation:
    """The DfE rules run over one exported collection year."""

    year: int
    ruleset: str
    rules: dict[str, dict[str, Any]]
    ran: list[str]
    skipped: list[str]
    crashed: list[str]
    failures: dict[str, int]
    examples: dict[str, list[str]]
    failing_places: dict[str, dict[str, int]]
    has_previous: bool
    rows: dict[str, int]

    def skip_reasons(self) -> dict[str, str]:
        """Why each skipped rule did not run ("" when unexplained)."""
        out = {}
        for rule in self.skipped:
            tables = {_table_key(t) for t in self.rules[rule]["tables"]}
            missing = sorted(_NOT_PRODUCED[t] for t in tables - _OURS if t in _NOT_PRODUCED)
            if missing:
                out[rule] = "needs " + ", ".join(missing)
            elif rule in SKIP_REASONS:
                out[rule] = SKIP_REASONS[rule]
            elif not self.has_previous:
                out[rule] = FIRST_YEAR
            else:
                out[rule] = ""
        return out

    def unexplained_skips(self) -> list[str]:
        return sorted(c for c, why in self.skip_reasons().items() if not why)

    def unexplained_crashes(self) -> list[str]:
        return sorted(c for c in self.crashed if c not in CRASHING_RULES)

    def known_bug(self, rule: str) -> bool:
        """Whether all of ``rule``'s failures are a known validator bug."""
        bug = KNOWN_BUGS.get((self.ruleset, rule))
        places = self.failing_places.get(rule, {})
        if bug is None or not places:
            return False
        return set(places) <= bug[0] and sum(places.values()) == self.failures[rule]

    def unexpected(self) -> dict[str, int]:
        """Failures that are not a known validator bug: none are expected."""
        return {r: n for r, n in self.failures.items() if not self.known_bug(r)}

    def summary(self) -> str:
        bad = self.unexpected()
        bugs = sorted(set(self.failures) - set(bad))
        text = (
            f"{self.year} ({self.ruleset}): {len(self.ran)} rules ran, {len(self.skipped)} "
            f"skipped, {len(self.crashed)} crashed in the validator "
            f"({', '.join(self.crashed) or 'none'}), {sum(bad.values())} failures"
        )
        if bad:
            text += f" {bad}"
        if bugs:
            text += "; known validator bug: " + ", ".join(
                f"{r} ({self.failures[r]} rows)" for r in bugs
            )
        return text


def validate(
    export_dir: Path | str, years: Iterable[int] | None = None, la_code: str = KENT_LA_CODE
) -> list[Validation]:
    """Run the DfE validation rules over exported years (each with the year before, if there).

    Uses the ``csc-validator-be-903`` rule set of each year (clamped to the editions it ships).
    Raises :class:`ToolUnavailable` when its environment cannot be created.
    """
    export_dir = Path(export_dir).resolve()
    available = sorted(int(p.name) for p in export_dir.iterdir() if p.name.isdigit())
    tables = ("header", "episodes", "uasc")
    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for year in years or available:
            this = [str(export_dir / str(year) / f"{t}.csv") for t in tables]
            prev_dir = export_dir / str(year - 1)
            prev = []
            if prev_dir.exists():
                if year - 1 < SEX_LETTERS_FROM <= year:
                    # Last year's return used 1/2 for sex, this year's M/F: the validator's rule
                    # 202 compares the raw codes, so last year's files are recoded first.
                    prev_dir = _recode_sex(prev_dir, Path(tmp) / str(year - 1))
                prev = [str(prev_dir / f"{t}.csv") for t in tables]
            jobs.append(
                {
                    "year": year,
                    "ruleset": ruleset_for(year),
                    "this_year": this,
                    "prev_year": prev,
                    "la": la_code,
                }
            )
        results = _run_script(VALIDATOR, _VALIDATOR_SCRIPT, {"jobs": jobs})
    return [Validation(**r) for r in results]


def _recode_sex(folder: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for name in ("header", "episodes", "uasc"):
        df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        if "SEX" in df:
            df["SEX"] = df["SEX"].replace({"1": "M", "2": "F"})
        df.to_csv(to / f"{name}.csv", index=False)
    return to


# ---------------------------------------------------------------------------- demand model

_DEMAND_SCRIPT = r"""
import json, logging, sys
logging.disable(logging.CRITICAL)
import pandas as pd
from cs_demand_model import Config, DemandModellingDataContainer, ModelPredictor, PopulationStats
from cs_demand_model.datastore import fs_datastore

args = json.loads(sys.argv[1])
config = Config()
dc = DemandModellingDataContainer(fs_datastore(args["source"]), config)
stats = PopulationStats(dc.enriched_view, config)
end = pd.Timestamp(args["reference_end"]) if args["reference_end"] else dc.end_date
start = pd.Timestamp(args["reference_start"]) if args["reference_start"] else (
    end - pd.DateOffset(months=6))
predictor = ModelPredictor.from_model(stats, start, end)
days = int(args["days"])
step = int(args["step_days"])
pred = predictor.predict(days // step, step_days=step)
hist = stats.stock.loc[:end]

def flat(df):
    df = df.copy()
    df.columns = ["|".join(c) if isinstance(c, tuple) else str(c) for c in df.columns]
    df.index = [pd.Timestamp(i).strftime("%Y-%m-%d") for i in df.index]
    return json.loads(df.to_json(orient="split"))

print("@@RESULT@@" + json.dumps({
    "reference_start": pd.Timestamp(start).strftime("%Y-%m-%d"),
    "reference_end": pd.Timestamp(end).strftime("%Y-%m-%d"),
    "prediction": flat(pred),
    "history": flat(hist.iloc[::7]),
}))
"""


def _unflat(d: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(d["data"], index=pd.to_datetime(d["index"]), columns=d["columns"])
    df.columns = pd.MultiIndex.from_tuples(
        [tuple(c.split("|")) for c in df.columns], names=["age", "placement"]
    )
    return df


def demand_model_predict(
    export_dir: Path | str,
    days: int = 3 * 365,
    step_days: int = 30,
    reference_start: dt.date | None = None,
    reference_end: dt.date | None = None,
) -> dict[str, Any]:
    """Run the demand model's Markov projection over an exported history.

    Returns ``{"prediction": DataFrame, "history": DataFrame, "reference_start",
    "reference_end"}``: population by (age bracket, placement category), one row per date.
    The reference period defaults to the demand model's own (the last six months).
    """
    out = _run_script(
        DEMAND_MODEL,
        _DEMAND_SCRIPT,
        {
            "source": str(Path(export_dir).resolve()),
            "days": days,
            "step_days": step_days,
            "reference_start": str(reference_start) if reference_start else None,
            "reference_end": str(reference_end) if reference_end else None,
        },
    )
    return {
        "prediction": _unflat(out["prediction"]),
        "history": _unflat(out["history"]),
        "reference_start": dt.date.fromisoformat(out["reference_start"]),
        "reference_end": dt.date.fromisoformat(out["reference_end"]),
    }


def demand_model_cli(export_dir: Path | str, *args: str, timeout: float = 600) -> str:
    """Run ``demand-model predict EXPORT_DIR ARGS...`` (the tool's own command line)."""
    python = tool_python(DEMAND_MODEL)
    exe = python.parent / "demand-model"
    done = subprocess.run(
        [str(exe), "predict", str(export_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_tool_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"demand-model predict failed ({done.returncode}):\n{done.stderr}")
    return done.stdout
