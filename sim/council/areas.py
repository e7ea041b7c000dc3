"""A council's areas from the postcodes in its SSDA903 return (``init-council --areas FILE``).

The user gives the table that maps postcode districts (the outward code, ``ME4`` of
``ME4 4AB``) to the council's areas, a CSV with the columns ``postcode_district`` and
``area``. No lookup is bundled: the national postcode-to-district tables (ONS) are large and
their terms must be read with each download. The shares of children by home area, of UASC by
home area and of the council's carers by placement postcode then replace the single area.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from sim.council.read903 import Return, ReturnError
from sim.council.scenario import Entry, area_entries

COLUMNS = ("postcode_district", "area")
IN_HOUSE_PROVIDERS = ("PR1", "PR2", "PR3")  # the council's own provision (SSDA903)
FOSTER_PLACES = ("U4", "U5", "U6")  # foster placements other than with relatives or friends


def district(postcode: object) -> str:
    """The postcode district (outward code) of a full or partial postcode, or ``""``."""
    text = postcode.strip().upper() if isinstance(postcode, str) else ""
    return text.split()[0] if text else ""


def read_areas(path: Path | str) -> dict[str, str]:
    """The user's postcode district -> area table; a ReturnError names the file, row, rule."""
    path = Path(path)
    if not path.is_file():
        raise ReturnError(f"{path}: areas file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReturnError(f"{path}: not a readable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ReturnError(
            f"{path}: missing columns {missing}; an areas file has the columns "
            f"{', '.join(COLUMNS)} (e.g. ME4,Medway North)"
        )
    lookup: dict[str, str] = {}
    for i, (post, area) in enumerate(zip(df["postcode_district"], df["area"], strict=True)):
        row = i + 2  # the header is line 1
        key, area = district(post), area.strip()
        if not key or not area:
            raise ReturnError(f"{path}: row {row}: a postcode district and an area are needed")
        if lookup.get(key, area) != area:
            raise ReturnError(
                f"{path}: row {row}: district {key} is in two areas ({lookup[key]}, {area})"
            )
        lookup[key] = area
    if not lookup:
        raise ReturnError(f"{path}: no rows")
    return lookup


def area_entries_from(
    ret: Return, lookup: dict[str, str], source: str
) -> tuple[list[Entry], list[str]]:
    """The scenario's areas and area weights from the return's postcodes, with notes on the
    postcodes left out."""
    areas = sorted(set(lookup.values()))
    episodes = ret.episodes[~ret.episodes["excluded"].astype(bool)]
    first = episodes.sort_values("decom").drop_duplicates("CHILD")  # a child's home: first seen
    first = first.merge(ret.children[["CHILD", "uasc"]], on="CHILD", how="left")
    notes: list[str] = []
    homes = first["HOME_POST"].map(district)
    children = _shares(homes[~first["uasc"].astype(bool)], lookup, areas, "home", notes)
    uasc = _shares(homes[first["uasc"].astype(bool)], lookup, areas, "UASC home", notes)
    own = episodes[
        episodes["PLACE"].isin(FOSTER_PLACES) & episodes["PLACE_PROVIDER"].isin(IN_HOUSE_PROVIDERS)
    ]
    carers = _shares(own["PL_POST"].map(district), lookup, areas, "in-house placement", notes)
    if children is None and not (homes != "").any():
        return area_entries(
            f"one area: the return has no home postcodes to place in the areas of {source}"
        ), notes
    if children is None:
        raise ReturnError(
            f"{source}: no child's home postcode district is in the areas file; "
            "check its postcode_district column against HOME_POST"
        )
    weights = children[0]
    entries = [
        Entry("areas", areas, f"the areas of {source}"),
        _weights("children.area_weights", children, f"children's HOME_POST districts, {source}"),
    ]
    fallback = " in the areas file, so the children's shares"
    entries.append(
        _weights("uasc.area_weights", uasc, f"UASC HOME_POST districts, {source}")
        if uasc
        else Entry("uasc.area_weights", weights, f"no UASC home postcodes{fallback}")
    )
    entries.append(
        _weights(
            "recruitment.household.area_weights",
            carers,
            f"PL_POST districts of in-house foster placements, {source}",
            "placements",
        )
        if carers
        else Entry("recruitment.household.area_weights", weights, f"no carer postcodes{fallback}")
    )
    return entries, notes


def _shares(
    districts: pd.Series, lookup: dict[str, str], areas: list[str], what: str, notes: list[str]
) -> tuple[dict[str, float], int] | None:
    given = districts[districts != ""]
    mapped = given.map(lookup)
    unknown = sorted(set(given[mapped.isna()]))
    if len(given) < len(districts):
        notes.append(f"areas: {len(districts) - len(given)} {what} postcodes missing, left out")
    if unknown:
        shown = ", ".join(unknown[:8]) + (", ..." if len(unknown) > 8 else "")
        notes.append(
            f"areas: {int(mapped.isna().sum())} {what} postcodes in districts not in the areas "
            f"file ({shown}), left out"
        )
    mapped = mapped.dropna()
    if mapped.empty:
        return None
    counts = mapped.value_counts().reindex(areas, fill_value=0)
    return {str(a): round(int(c) / len(mapped), 4) for a, c in counts.items()}, len(mapped)


def _weights(
    path: str, shares: tuple[dict[str, float], int], source: str, unit: str = "children"
) -> Entry:
    weights, n = shares
    se = {a: math.sqrt(p * (1 - p) / n) for a, p in weights.items()}
    shown = ", ".join(f"{a}: {s:.3g}" for a, s in se.items())
    return Entry(path, weights, f"SE {{{shown}}} (binomial, {n} {unit}); {source}")
