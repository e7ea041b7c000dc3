"""Read several years of a council's SSDA903 return into one episode history.

A folder holds one sub-folder per collection year, each with the header, episodes and UASC
tables (CSV or Excel). The folder name may be the year the collection ends (``2018`` holds
1 April 2017 to 31 March 2018, as the DfE names it) or the year it starts (``2017`` holds
2017-18): the episodes' dates decide, and :class:`Return` says which was assumed.

Data-quality problems that can be repaired are repaired and listed (file, row, rule, what was
done); problems that make the files unreadable raise :class:`ReturnError`. No row is dropped
without a line in :attr:`Return.problems`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.ssda903 import DATE_FORMAT

TABLES = {
    "header": ("CHILD", "SEX", "DOB"),
    "episodes": ("CHILD", "DECOM", "RNE", "LS", "PLACE", "PLACE_PROVIDER", "DEC", "REC"),
    "uasc": ("CHILD", "DOB"),
}
OPTIONAL = {"episodes": ("REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "CIN")}
DATES = {"header": ("DOB",), "episodes": ("DECOM", "DEC"), "uasc": ("DOB",)}
SUFFIXES = (".csv", ".xlsx", ".xlsm")
MAX_LISTED = 5  # rows quoted in one error message


class ReturnError(ValueError):
    """SSDA903 files that cannot be read, with the file, the row and the rule broken."""


@dataclass(frozen=True)
class Problem:
    """One data-quality problem: where, which rule, and what was done about it."""

    file: str
    row: int  # line in the file (the header line is 1); 0 when the problem is not one row's
    child: str
    rule: str
    action: str

    @classmethod
    def at(cls, row: Any, rule: str, action: str, child: str | None = None) -> Problem:
        """A problem in one row read from a file: a row or ``itertuples`` tuple with ``file``,
        ``line`` and (unless ``child`` is given) ``CHILD``."""
        return cls(
            str(row.file), int(row.line), str(row.CHILD if child is None else child), rule, action
        )


@dataclass
class Return:
    """A council's SSDA903 history: every episode once, with its children."""

    episodes: pd.DataFrame  # one row per episode, dates parsed, ``year`` of the latest file
    children: pd.DataFrame  # CHILD, male, dob, uasc
    years: list[int]  # collection years by the year they end
    convention: str  # how the folder names were read
    problems: list[Problem] = field(default_factory=list)

    @property
    def start(self) -> dt.date:
        """The first day observed (1 April of the first collection year)."""
        return dt.date(self.years[0] - 1, 4, 1)

    @property
    def end(self) -> dt.date:
        """The last day observed (31 March of the last collection year)."""
        return dt.date(self.years[-1], 3, 31)

    def problems_table(self) -> pd.DataFrame:
        """The problems as a table (file, row, child, rule, action)."""
        return pd.DataFrame(
            [vars(p) for p in self.problems], columns=["file", "row", "child", "rule", "action"]
        )


def _find(folder: Path, table: str, prefix: str = "") -> Path:
    """The file of ``table`` in ``folder`` (with a flat layout, among those named ``prefix*``)."""
    found = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in SUFFIXES and table in p.stem.lower() and p.name.startswith(prefix)
    )
    if table == "episodes":  # a file named like 'episodes' beats e.g. 'uasc_episodes'
        found = [p for p in found if "uasc" not in p.stem.lower()] or found
    if not found:
        raise ReturnError(
            f"{folder}: missing table '{table}'{' for ' + prefix if prefix else ''}: expected "
            f"a CSV or Excel file whose name contains '{table}' "
            f"(found: {sorted(p.name for p in folder.iterdir())})"
        )
    if len(found) > 1:
        raise ReturnError(f"{folder}: more than one '{table}' table: {[p.name for p in found]}")
    return found[0]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(path: Path, table: str) -> pd.DataFrame:
    """One table as text columns, checked for its columns and dates (which are parsed)."""
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        df = pd.read_excel(path, dtype=object).map(_text)  # needs openpyxl
    df.columns = [str(c).strip().upper() for c in df.columns]
    missing = [c for c in TABLES[table] if c not in df.columns]
    if missing:
        raise ReturnError(
            f"{path}: wrong columns: {missing} missing; the {table} table needs "
            f"{list(TABLES[table])} (optional: {list(OPTIONAL.get(table, ()))}); "
            f"found {list(df.columns)}"
        )
    for col in OPTIONAL.get(table, ()):
        if col not in df.columns:
            df[col] = ""
    for col in df.columns:
        df[col] = df[col].astype(str).str.strip()
    df["line"] = df.index + 2
    df["file"] = str(path)
    for col in DATES[table]:
        raw = df[col]
        parsed = pd.to_datetime(raw, format=DATE_FORMAT, errors="coerce")
        bad = (raw != "") & parsed.isna()
        if col != "DEC":  # a start or a birth date must be there
            bad |= raw == ""
        if bad.any():
            rows = df[bad].head(MAX_LISTED)
            quoted = ", ".join(
                f"row {r.line} (CHILD {r.CHILD}): {getattr(r, col)!r}" for r in rows.itertuples()
            )
            raise ReturnError(
                f"{path}: column {col}: {int(bad.sum())} date(s) not in the DfE format "
                f"dd/mm/yyyy: {quoted}"
            )
        df[col.lower()] = parsed
    return df


def _collection_end(episodes: pd.DataFrame) -> int:
    """The year the collection in ``episodes`` ends: its latest start date falls in it (a start
    cannot follow the collection; a mistyped end can, and is reported, not trusted here)."""
    latest = episodes["decom"].max()
    return latest.year + (1 if (latest.month, latest.day) > (3, 31) else 0)


def _years(root: Path) -> list[tuple[int, dict[str, Path]]]:
    """Each collection year's tables: one sub-folder per year (``2018/episodes.csv``), or one
    folder of files named by year (``2018-episodes.csv``, as the demand model's samples)."""
    if not root.is_dir():
        raise ReturnError(f"{root}: not a folder (expected one sub-folder per collection year)")
    years = sorted((int(p.name), p) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
    if years:
        return [(y, {t: _find(folder, t) for t in TABLES}) for y, folder in years]
    flat = sorted({int(p.name[:4]) for p in root.iterdir() if p.name[:4].isdigit() and p.is_file()})
    if not flat:
        raise ReturnError(
            f"{root}: no collection years (expected folders named by year, e.g. 2018/, or "
            "files named by year, e.g. 2018-episodes.csv)"
        )
    return [(y, {t: _find(root, t, str(y)) for t in TABLES}) for y in flat]


def read_return(root: Path | str) -> Return:
    """Read every collection year under ``root`` into one :class:`Return`."""
    root = Path(root)
    problems: list[Problem] = []
    tables: dict[str, list[pd.DataFrame]] = {t: [] for t in TABLES}
    shifts = set()
    for name, files in _years(root):
        year_tables = {t: read_table(path, t) for t, path in files.items()}
        eps = year_tables["episodes"]
        path = files["episodes"]
        if eps.empty:
            raise ReturnError(f"{path}: no episodes")
        end = _collection_end(eps)
        if end not in (name, name + 1):
            raise ReturnError(
                f"{path}: the latest date is in the collection year ending 31 March {end}, "
                f"which folder {name} cannot hold under either naming convention"
            )
        shifts.add(end - name)
        late = eps["dec"] > pd.Timestamp(end, 3, 31)
        r: Any  # a row of mixed columns
        for r in eps[late].itertuples():
            problems.append(
                Problem.at(
                    r,
                    f"episode ends ({r.DEC}) after the collection year it is reported in "
                    f"(to 31 March {end})",
                    "the end date is kept",
                )
            )
        for t, df in year_tables.items():
            df["year"] = end
            tables[t].append(df)
    if len(shifts) > 1:
        raise ReturnError(
            f"{root}: the folders mix both naming conventions (some hold the year they end, "
            "some the year they start)"
        )
    convention = (
        "folder names are the year each collection ends (2018 holds 2017-18)"
        if shifts == {0}
        else "folder names are the year each collection starts (2017 holds 2017-18)"
    )
    episodes = pd.concat(tables["episodes"], ignore_index=True)
    years = sorted(episodes["year"].unique().tolist())
    episodes = _one_row_per_episode(episodes, problems)
    episodes = _check_episodes(episodes, years, problems)
    children = _children(tables["header"], tables["uasc"], episodes, problems)
    return Return(episodes, children, years, convention, problems)


def _one_row_per_episode(eps: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """Episodes repeated across years once each, from the latest file (which knows the end)."""
    eps = eps.sort_values(["CHILD", "decom", "year"], kind="stable")
    key = ["CHILD", "decom"]
    repeated = eps.duplicated(key, keep="last")
    fixed = ["PLACE", "PLACE_PROVIDER", "LS", "RNE"]
    cols = [*key, *fixed, "DEC", "DECOM", "line", "file"]
    pairs = eps.loc[repeated, cols].merge(eps.loc[~repeated, cols], on=key, suffixes=("", "_later"))
    differs = pd.concat([pairs[c] != pairs[f"{c}_later"] for c in fixed], axis=1)
    redated = (
        (pairs["DEC"] != "") & (pairs["DEC_later"] != "") & (pairs["DEC"] != pairs["DEC_later"])
    )
    for i in pairs.index[differs.any(axis=1) | redated]:
        r = pairs.loc[i]
        changed = [c for c, d in zip(fixed, differs.loc[i], strict=True) if d]
        if changed:
            problems.append(
                Problem.at(
                    r,
                    f"episode starting {r['DECOM']} repeated in a later year with other {changed}",
                    f"the later year's row (line {r['line_later']} of {r['file_later']}) is used",
                )
            )
        if redated[i]:
            problems.append(
                Problem.at(
                    r,
                    f"episode starting {r['DECOM']} ends {r['DEC']} here but "
                    f"{r['DEC_later']} later",
                    "the later year's end is used",
                )
            )
    n = int(repeated.sum())
    if n:
        problems.append(
            Problem(
                "(all years)",
                0,
                "",
                f"{n} episode rows repeat an episode of an earlier year (same CHILD and DECOM)",
                "each episode is kept once, from the latest year that holds it",
            )
        )
    return eps[~repeated].reset_index(drop=True)


def _check_episodes(eps: pd.DataFrame, years: list[int], problems: list[Problem]) -> pd.DataFrame:
    eps = eps.sort_values(["CHILD", "decom"], kind="stable").reset_index(drop=True)
    eps["excluded"] = False
    backwards = eps["dec"].notna() & (eps["dec"] < eps["decom"])
    r: Any  # a row of mixed columns
    for r in eps[backwards].itertuples():
        problems.append(
            Problem.at(
                r,
                f"episode ends ({r.DEC}) before it starts ({r.DECOM})",
                "episode excluded from every count and rate",
            )
        )
    eps.loc[backwards, "excluded"] = True
    ok = eps[~eps["excluded"]]
    # An episode is open at the end of its year's file; a later episode of the same child
    # closes it, else the child is still in care (or left the return) at the file's end.
    nxt = ok.groupby("CHILD")["decom"].shift(-1)
    open_ = ok["dec"].isna()
    overlap = open_ & nxt.notna()
    for i in ok.index[overlap]:
        r = eps.loc[i]
        problems.append(
            Problem.at(
                r,
                f"a child with two open episodes: this one (from {r['DECOM']}) is still open "
                f"when the next starts ({nxt[i].strftime(DATE_FORMAT)})",
                "closed the day the next episode starts, as a change of placement (X1)",
            )
        )
        eps.loc[i, ["dec", "REC"]] = [nxt[i], "X1"]
        eps.loc[i, "DEC"] = nxt[i].strftime(DATE_FORMAT)
    last = years[-1]
    vanished = open_ & nxt.isna() & (ok["year"] < last)
    for i in ok.index[vanished]:
        r = eps.loc[i]
        problems.append(
            Problem.at(
                r,
                f"episode open at 31 March {r['year']} is missing from the {r['year'] + 1} "
                "file, with no end date",
                f"counted as observed up to 31 March {r['year']} (censored there)",
            )
        )
    eps["censor"] = pd.NaT
    eps.loc[vanished[vanished].index, "censor"] = [
        pd.Timestamp(int(y), 3, 31) for y in ok.loc[vanished, "year"]
    ]
    return eps


def _children(
    headers: list[pd.DataFrame],
    uascs: list[pd.DataFrame],
    eps: pd.DataFrame,
    problems: list[Problem],
) -> pd.DataFrame:
    header = pd.concat(headers, ignore_index=True).sort_values("year", kind="stable")
    header = header.drop_duplicates("CHILD", keep="last").set_index("CHILD")
    uasc_ids = set(pd.concat(uascs, ignore_index=True)["CHILD"])
    missing = sorted(set(eps["CHILD"]) - set(header.index))
    for child in missing:
        r = eps[eps["CHILD"] == child].iloc[0]
        problems.append(
            Problem.at(
                r,
                "child has episodes but no row in any header table",
                "episodes excluded (no date of birth)",
            )
        )
    eps.loc[eps["CHILD"].isin(missing), "excluded"] = True
    sex = header["SEX"].str.upper()
    unknown = ~sex.isin(["1", "2", "M", "F"])
    for child, r in header[unknown].iterrows():
        problems.append(
            Problem.at(
                r,
                f"SEX {r['SEX']!r} is not 1/2 or M/F",
                "counted as female in the male share",
                child=str(child),
            )
        )
    return pd.DataFrame(
        {
            "CHILD": header.index,
            "male": sex.isin(["1", "M"]).to_numpy(),
            "dob": header["dob"].to_numpy(),
            "uasc": header.index.isin(uasc_ids),
        }
    ).reset_index(drop=True)
