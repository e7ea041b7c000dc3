"""The model's episode log as a chain of SSDA903 episodes per child, over the whole run.

- An event at time ``t`` (days after the scenario's start date ``S``) falls on the date
  ``S + ceil(t)``. A monthly snapshot at day ``k`` is the stock at the end of date ``S + k``, so a
  child counted in care by the 31 March snapshot has an open episode at 31 March in the export.
- Each placement episode of the model is one SSDA903 episode, and the chain from the start of
  care to its end has no gaps, as the DfE requires. Time in care without a placement (the
  model's children who are still searching: at entry, after a breakdown, after an emergency
  bed ends) is no episode of its own (see :func:`_segments`), so the placements counted from
  the export are the model's.
- Episodes shorter than one calendar day disappear (the DfE has no episodes of less than
  24 hours): the neighbours meet on that date.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.model.timing import YEAR
from sim.ssda903.codes import (
    FAR_POSTCODES,
    HOME_POSTCODES,
    NEAR_POSTCODES,
    REGISTERED,
    SUPPORTED_REGISTRATION,
    WAITING,
    code,
    exit_code,
    move_reason,
)

LS_SECTION20 = code("legal", "section20 (and every UASC)", "LS")
LS_CARE_ORDER = code("legal", "not section20, or ever placed with parents", "LS")
LS_ADOPTION = code("legal", "placed_for_adoption", "LS")
RNE_START = code("new episode", "start of a period of care", "RNE")
RNE_PLACEMENT = code("new episode", "change of placement", "RNE")
RNE_ADOPTION = code("new episode", "placed for adoption", "RNE")
REC_MOVE = code("exit", "move to another placement", "REC")
CIN_UASC = code("child", "uasc", "CIN")
CIN_OTHER = code("child", "not uasc", "CIN")
SUPPORTED_FROM_AGE = 16  # DfE rule 371 from 2023-24: supported accommodation from 16


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
    end_reason: str  # why it ended: a model move reason, an exit reason, or "open"
    near: bool  # within 20 miles


def _segments(child: Any, eps: list[Any]) -> tuple[list[_Segment], bool]:
    """The child's time in care as contiguous segments; and whether care starts in them.

    The model's time in care without a placement, while the search cascade looks for one, is
    no episode of its own: a child waiting after a placement ended is still in that placement
    until the next one starts (or until leaving care), and a child waiting on coming into care
    is in the first placement from the day care starts. Only a period of care that never had
    a placement is one :data:`WAITING` episode.
    """
    entry = float(child.entry_day)
    exit_t = float(child.exit_day)
    left = not math.isnan(exit_t)
    segs: list[list[Any]] = []  # kind, start, end (None: open), end reason, within 20 miles
    starts_care = not (child.initial and eps) or float(eps[0].start_day) <= entry + 1e-9
    for ep in eps:
        s = float(ep.start_day)
        if segs:
            segs[-1][2] = s
        elif not child.initial:
            sixteen = float(child.dob_day) + SUPPORTED_FROM_AGE * YEAR
            if ep.placement == "supported" and entry < sixteen <= s:
                # Came into care before 16 and was placed in supported accommodation after a
                # search that outlasted the birthday: the wait cannot be booked as supported
                # accommodation (rule 371), so it is an episode of its own.
                segs.append([WAITING, entry, s, "placed", True])
            else:
                s = entry
        e = float(ep.end_day)
        end = None if math.isnan(e) else e
        segs.append([ep.placement, s, end, ep.reason_end, bool(ep.within_20_miles)])
    if not segs:
        segs.append([WAITING, entry, None, "open", True])
    if left:
        segs[-1][2] = max(segs[-1][2] or exit_t, exit_t)
    elif segs[-1][2] is not None:
        segs[-1][2:4] = [None, "open"]  # still searching at the end of the run
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


def _check_supported_age(child: Any, segs: list[_Segment]) -> None:
    """Supported accommodation is for young people of 16 and over (DfE rule 371): an episode
    that starts before the model's 16th birthday is an error in the model's history, which the
    export reports rather than move the episode."""
    sixteen = _day(float(child.dob_day) + SUPPORTED_FROM_AGE * YEAR)
    for s in segs:
        if s.kind == "supported" and s.start < sixteen:
            raise ValueError(
                f"child {child.child}: a supported accommodation episode starts on day {s.start} "
                f"of the run, before the 16th birthday (day {sixteen}); SSDA903 allows it from "
                "16 only"
            )


def _split_at_registration(segs: list[_Segment], day: int, last: int) -> list[_Segment]:
    """Supported episodes that span ``day`` (registration began) split there; an open episode
    spans up to ``last``, the run's last day, so a run that ends earlier splits none."""
    out = []
    for s in segs:
        end = last if s.end is None else s.end
        if s.kind == "supported" and s.start < day < end:
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
    Children carry ``CHILD``, ``male``, ``uasc``, ``dob`` (date), ``area`` and ``initial``.
    """
    origin = pd.Timestamp(start)
    eps = episodes.sort_values(["child", "start_day", "end_day"], na_position="last")
    by_child: dict[int, list[Any]] = {}
    ep: Any
    for ep in eps.itertuples(index=False):
        by_child.setdefault(int(ep.child), []).append(ep)
    rows: list[dict[str, Any]] = []
    kids: list[dict[str, Any]] = []
    ch: Any
    for ch in children.drop_duplicates("child").itertuples(index=False):
        cid = int(ch.child)
        segs, starts_care = _segments(ch, by_child.get(cid, []))
        if not segs:
            continue  # in care for less than a calendar day
        dob = _date_of_birth(ch, segs, origin, end)
        _check_supported_age(ch, segs)
        segs = _split_at_registration(
            segs, (SUPPORTED_REGISTRATION - origin).days, (pd.Timestamp(end) - origin).days
        )
        kinds = {s.kind for s in segs}
        section20 = bool(ch.section20) and "with_parents" not in kinds
        base_ls = LS_SECTION20 if section20 else LS_CARE_ORDER
        area = str(ch.area)
        home = "" if ch.uasc else _home_postcode(area)
        ls = base_ls
        for i, s in enumerate(segs):
            prev_ls = ls
            if s.kind == "placed_for_adoption":
                ls = LS_ADOPTION
            if i == 0:
                rne = RNE_START if starts_care else RNE_PLACEMENT
            else:
                rne = RNE_ADOPTION if ls != prev_ls else RNE_PLACEMENT
            last = i == len(segs) - 1
            if not last:
                rec, why = REC_MOVE, move_reason(s.end_reason)
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
                    "CIN": CIN_UASC if ch.uasc else CIN_OTHER,
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
