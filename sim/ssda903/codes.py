"""The SSDA903 code table: which code each model value becomes, read from ``codes.csv``.

``codes.csv`` (shipped with the package) has one row per model value and SSDA903 field: the
code, the code from a later collection year where the DfE's code list changed, the DfE's
meaning and why the code was chosen, and the source of the code. It drives the export and
the mapping table in ``docs/SSDA903.md`` and ``docs/MODEL.md`` (a test keeps them equal to
:func:`mapping_markdown`). ``postcodes.csv`` holds the placeholder postcodes.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

import pandas as pd

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
KENT_LA_CODE = "E10000016"  # ONS code of Kent County Council (upper tier), for PL_LA checks

WAITING = "waiting"  # in care, no placement: not a model placement type, a state of the child
REGISTERED = "supported accommodation registered"  # episodes split on 28 October 2023
SEX_LETTERS_FROM = 2025  # collection year 2024-25: SEX becomes M/F instead of 1/2
SUPPORTED_REGISTRATION = pd.Timestamp(2023, 10, 28)  # Ofsted registration of supported
# accommodation began: DfE rule 230 wants a URN on H5 episodes ending on or after 29 October
NO_URN_PLACES = ("P1", "Z1", "Z11", "Z12", "Z13", "Z14")


@dataclass(frozen=True)
class Code:
    """One row of the mapping: a model value and the SSDA903 code it becomes."""

    what: str  # which model attribute: placement, exit, move, legal, child, placeholder
    model: str  # the model's value (or a description of the case)
    field: str  # the SSDA903 field
    code: str  # the code, as written before collection year ``since``
    later: str  # the code from collection year ``since`` on, where the DfE code list changed
    meaning: str  # the DfE's meaning of the code, and why it was chosen
    since: int  # the collection year (by its end: 2025 is 2024-25) that ``later`` starts; 0: none
    source: str  # where the code comes from


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _read_mapping() -> tuple[Code, ...]:
    out = []
    for r in _rows("codes.csv"):
        since = int(r["since"] or 0)
        out.append(
            Code(
                r["what"],
                r["model"],
                r["field"],
                r["code"],
                r["later"] or r["code"],
                r["meaning"],
                since,
                r["source"],
            )
        )
    return tuple(out)


MAPPING: tuple[Code, ...] = _read_mapping()
_LOOKUP = {(c.what, c.model, c.field): c for c in MAPPING}


def _postcodes(use: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for r in _rows("postcodes.csv"):
        if r["use"] == use:
            out.setdefault(r["area"], []).append(r["postcode"])
    return {a: tuple(p) for a, p in out.items()}


# Home postcode of each model area and placement postcodes within and beyond 20 miles of it
# (straight-line distance, as the DfE computes PL_DISTANCE). Public buildings in Kent.
HOME_POSTCODES = {a: p[0] for a, p in _postcodes("home").items()}
NEAR_POSTCODES = _postcodes("near")
FAR_POSTCODES = _postcodes("far")


def code(what: str, model: str, field: str, year: int = 0) -> str:
    """The code of ``(what, model, field)`` in the collection ending in March ``year`` (0: the
    code before any change)."""
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
    """The mapping as a table (what docs/SSDA903.md shows, plus each code's source)."""
    return pd.DataFrame(
        [
            {
                "model": f"{c.what}: {c.model}",
                "field": c.field,
                "code": c.code,
                "later code": _later(c),
                "meaning": c.meaning,
                "source": c.source,
            }
            for c in MAPPING
        ]
    )


def mapping_markdown() -> str:
    """The mapping as a Markdown table, exactly as in docs/SSDA903.md."""
    lines = [
        "| model | SSDA903 field | code | later code | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in MAPPING:
        lines.append(f"| {c.what}: {c.model} | {c.field} | {c.code} | {_later(c)} | {c.meaning} |")
    return "\n".join(lines) + "\n"
