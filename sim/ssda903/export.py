"""The SSDA903 files of one replication: one folder per collection year, read back by DfE groups.

For each collection year (1 April to 31 March) of one replication, :func:`export` writes
``<year>/header.csv``, ``<year>/episodes.csv`` and ``<year>/uasc.csv`` in the layout of the
DfE's SSDA903 CSV files; ``<year>`` is the year the collection ends (``2020`` holds 1 April 2019
to 31 March 2020). Episodes open at any time in a collection year are in that year's file; an
episode still open at 31 March has no DEC, REC or REASON_PLACE_CHANGE in that year's file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from sim.ssda903.codes import (
    DATE_FORMAT,
    EPISODE_COLUMNS,
    HEADER_COLUMNS,
    NO_URN_PLACES,
    REGISTERED,
    SUPPORTED_REGISTRATION,
    UASC_COLUMNS,
    code,
    place_codes,
    sex_code,
)
from sim.ssda903.episodes import RNE_START, build, collection_years

UPN_UNDER_SCHOOL_AGE = code("placeholder", "UPN, under school age", "UPN")
UPN_UASC = code("placeholder", "UPN, uasc", "UPN")
UPN_OTHER = code("placeholder", "UPN, other children", "UPN")
ETHNIC = code("placeholder", "ethnicity", "ETHNIC")
MOTHER_GIRLS = code("placeholder", "mother status, girls", "MOTHER")
URN_NOT_APPLICABLE = code("placeholder", "Ofsted URN, not applicable", "URN")
URN_REGISTERED = code("placeholder", "Ofsted URN, registered setting", "URN")


def _fmt(dates: pd.Series) -> pd.Series:
    return dates.dt.strftime(DATE_FORMAT).fillna("")


def _upn(kids: pd.DataFrame, year: int) -> pd.Series:
    # The DfE's rule 209: UN1 only while under 4 on 31 August before the collection year.
    ref = pd.Timestamp(year - 2, 8, 31)
    school_age = kids["dob"].map(lambda d: d + pd.DateOffset(years=4)) <= ref
    upn = pd.Series(UPN_UNDER_SCHOOL_AGE, index=kids.index)
    upn[school_age] = UPN_OTHER
    upn[kids["uasc"]] = UPN_UASC
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
    e["URN"] = URN_NOT_APPLICABLE
    registered = (e["kind"] == "residential") | (
        (e["kind"] == "supported") & (e["start"] >= SUPPORTED_REGISTRATION)
    )
    e.loc[registered, "URN"] = URN_REGISTERED
    e.loc[e["PLACE"].isin(NO_URN_PLACES), "URN"] = ""
    episodes = e.sort_values(["CHILD", "start"])[EPISODE_COLUMNS].reset_index(drop=True)

    k = kids[kids["CHILD"].isin(episodes["CHILD"])].sort_values("CHILD").reset_index(drop=True)
    header = pd.DataFrame(
        {
            "CHILD": k["CHILD"],
            "SEX": k["male"].map(lambda m: sex_code(m, year)),
            "DOB": _fmt(k["dob"]),
            "ETHNIC": ETHNIC,
            "UPN": _upn(k, year),
            "MOTHER": k["male"].map(lambda m: "" if m else MOTHER_GIRLS),
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


def load_run(results: Path | str, rep: int = 0, council: str | None = None) -> dict[str, Any]:
    """One replication's episodes, children and snapshots, with its start and end dates (of
    a region, one ``council``'s)."""
    from sim.results import replication

    return replication(results, rep, council=council)


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


def export(
    results: Path | str, out: Path | str, rep: int = 0, council: str | None = None
) -> list[Path]:
    """Export replication ``rep`` of a ``sufficiency run`` results folder as SSDA903 files
    (of a region, one ``council``'s: a return is a council's)."""
    run = load_run(results, rep, council)
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
    "other": ("unregistered",),
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
    return "other"


def in_care_at_31_march(folder: Path | str) -> pd.Series:
    """Children in care at the end of an exported year (open episodes), by :data:`DFE_GROUPS`.

    Reads only the CSV files, as an analyst would.
    """
    eps = pd.read_csv(Path(folder) / "episodes.csv", dtype=str, keep_default_na=False)
    open_ = eps[eps["DEC"] == ""]
    groups = [group_of(p, q) for p, q in zip(open_["PLACE"], open_["PLACE_PROVIDER"], strict=True)]
    return pd.Series(groups, dtype=object).value_counts().reindex(list(DFE_GROUPS), fill_value=0)


def _snapshot(snapshots: pd.DataFrame, date: dt.date) -> pd.Series:
    row = snapshots[pd.to_datetime(snapshots["date"]).dt.date == date]
    if row.empty:
        raise ValueError(f"no snapshot on {date}")
    return row.iloc[0]


def model_in_care(snapshots: pd.DataFrame, date: dt.date) -> pd.Series:
    """The model's own count of placed children at ``date`` (a snapshot), by :data:`DFE_GROUPS`.

    The children the model counts as ``waiting`` then are not in it: the export has them in
    the placement they are waiting to leave (or, on coming into care, the one they are about
    to start; "other" if they never had one).
    """
    r = _snapshot(snapshots, date)
    return pd.Series(
        {g: int(sum(r[k] for k in kinds)) for g, kinds in DFE_GROUPS.items()}, dtype=int
    )


STATUS_ONLY = code("move", REGISTERED, "REASON_PLACE_CHANGE")  # same placement, new episode
ADOPTIVE_PLACES = ("A3", "A4", "A5", "A6")  # placed for adoption


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def _new_placement(eps: pd.DataFrame) -> pd.Series:
    """Whether each episode (sorted by child and start) begins a placement: every episode does
    but one that follows a change in the status of the placement only."""
    before = eps.groupby("CHILD")["REASON_PLACE_CHANGE"].shift()
    return before.ne(STATUS_ONLY)


def stability_by_child(export_dir: Path | str, year: int) -> pd.DataFrame:
    """Each child looked after at 31 March ``year``, as the DfE stability measures see them,
    from the exported files alone (those of ``year`` and the years before).

    Columns: ``placements`` in the year (episodes in the year's file; an episode that only
    changes the status of the placement is not a new placement), ``long_term`` (under 16 at
    31 March and looked after for 2.5 years or more) and ``stable`` (in the long-term group and
    in the same placement for 2 years or more, an adoptive placement counted together with the
    placement it directly follows). The start of care is the latest episode with RNE ``S``,
    else the first episode known (care began on or before it).
    """
    export_dir = Path(export_dir)
    y1 = pd.Timestamp(year, 3, 31)
    years = sorted(int(p.name) for p in export_dir.iterdir() if p.name.isdigit())
    files = [_read(export_dir / str(y), "episodes").assign(year=y) for y in years if y <= year]
    history = pd.concat(files, ignore_index=True).drop_duplicates(["CHILD", "DECOM"], keep="last")
    history["start"] = pd.to_datetime(history["DECOM"], format=DATE_FORMAT)
    history = history.sort_values(["CHILD", "start"], kind="stable").reset_index(drop=True)
    new = _new_placement(history)
    placement = new.groupby(history["CHILD"]).cumsum()
    by_placement = [history["CHILD"], placement]
    history["since"] = history.groupby(by_placement)["start"].transform("min")
    before = history.groupby("CHILD")[["since", "DEC"]].shift()
    adoptive = history["PLACE"].isin(ADOPTIVE_PLACES) & new & (before["DEC"] == history["DECOM"])
    history["since"] = history["since"].mask(adoptive, before["since"])
    history["since"] = history.groupby(by_placement)["since"].transform("min")
    this_year = history[history["year"] == year]
    now = this_year[this_year["DEC"] == ""].set_index("CHILD")
    out = pd.DataFrame(index=now.index)
    out["placements"] = new[this_year.index].groupby(this_year["CHILD"]).sum().reindex(out.index)
    care_start = history[history["RNE"] == RNE_START].groupby("CHILD")["start"].max()
    care_start = care_start.combine_first(history.groupby("CHILD")["start"].min())
    header = _read(export_dir / str(year), "header").set_index("CHILD")
    dob = pd.to_datetime(header["DOB"], format=DATE_FORMAT).reindex(out.index)
    out["long_term"] = (dob + pd.DateOffset(years=16) > y1) & (
        care_start.reindex(out.index) <= y1 - pd.DateOffset(months=30)
    )
    out["stable"] = out["long_term"] & (now["since"] <= y1 - pd.DateOffset(years=2))
    return out


def stability(export_dir: Path | str, year: int) -> dict[str, float]:
    """The DfE placement stability measures at 31 March ``year``, from the exported files alone
    (see :func:`stability_by_child`): ``kpi_3plus_placements``, the share of children looked
    after at 31 March with three or more placements during the year, and
    ``kpi_same_placement_2y``, the share of the long-term group in the same placement for two
    years or more; with the counts ``in_care``, ``n_3plus``, ``n_long_term`` and ``n_stable``.
    """
    by_child = stability_by_child(export_dir, year)
    in_care = len(by_child)
    n_3plus = int((by_child["placements"] >= 3).sum())
    n_long_term = int(by_child["long_term"].sum())
    n_stable = int(by_child["stable"].sum())
    return {
        "in_care": in_care,
        "n_3plus": n_3plus,
        "n_long_term": n_long_term,
        "n_stable": n_stable,
        "kpi_3plus_placements": n_3plus / in_care if in_care else float("nan"),
        "kpi_same_placement_2y": n_stable / n_long_term if n_long_term else float("nan"),
    }
