"""The one results layout, and the one reader of it.

``sufficiency run``, ``compare``, ``batch`` and the web app all write a results folder the
same way (:mod:`sim.batch` writes it)::

    DIR/manifest.json                 format, table format, seed, scenarios (every resolved
                                      parameter), version, commit, status, each run
    DIR/snapshots/part-*.parquet      one row per scenario x replication x month end
    DIR/flows/part-*.parquet          one row per scenario x replication x financial year
                                      (flows, and the spend by category: Results.spend)
    DIR/kpis/part-*.parquet           one row per scenario x replication (headline outcomes)
    DIR/episodes/, DIR/children/      the episode log and child table, when kept
    DIR/failures.json                 replications that raised, each with its seed
    DIR/.lock                         while a command writes the folder: its pid, host, time

A region's tables (:mod:`sim.region`) have a ``council`` column after ``replication``: one
row per member council. The reader returns the region's totals unless asked for one council
(``load(folder, council=...)``); :meth:`Results.by_council` gives every council's rows.

With ``--format csv`` the parts are ``part-*.csv``. A chunk of replications counts as
written once its ``kpis`` part exists (it is written last). The report, the analysis
functions, the SSDA903 export and the web app read the folder through :func:`load`, which
checks the manifest: a folder holds one run's tables, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

FORMAT = "sufficiency-batch/1"
TABLE_FORMATS = ("parquet", "csv")
TABLES = ("snapshots", "flows", "kpis")
DETAIL_TABLES = ("episodes", "children")
#: Columns that identify a row of each table (after ``scenario`` and ``replication``).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "snapshots": ("date",),
    "flows": ("financial_year",),
    "kpis": (),
    "episodes": (),
    "children": (),
}
#: Columns holding dates (read back as dates from CSV parts).
DATE_COLUMNS = ("date", "start_date", "end_date", "entry_date", "exit_date", "dob")
LOCK = ".lock"
#: The column naming a region's member council.
COUNCIL = "council"


class ResultsError(ValueError):
    """A results folder that cannot be written or read, with what to do about it."""


# ----------------------------------------------------------------------------- writing


def check_out(path: str | Path) -> Path:
    """Refuse an output folder that cannot be one (a file, or a path under a file) before
    any work is done."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            where = "is a file" if p == path else f"is under {p}, which is a file"
            raise ResultsError(f"--out {path} {where}; give a folder")
    return path


def write_atomic(path: Path, write: Callable[[Any], None], binary: bool = True) -> None:
    """Write through a hidden temporary file, then rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    write_atomic(path, lambda f: json.dump(data, f, indent=2, default=str), binary=False)


def write_part(folder: Path, table: str, stem: str, df: pd.DataFrame, fmt: str) -> None:
    """Write one part of ``table`` atomically."""
    sub = folder / table
    sub.mkdir(exist_ok=True)
    if fmt == "csv":
        write_atomic(sub / f"{stem}.csv", lambda f: df.to_csv(f, index=False), binary=False)
    else:
        write_atomic(sub / f"{stem}.parquet", lambda f: df.to_parquet(f, index=False))


def clear(folder: Path) -> None:
    """Remove a results folder's tables and manifest (and nothing else), to replace them."""
    for name in (*TABLES, *DETAIL_TABLES):
        sub = folder / name
        if sub.is_dir():
            for p in sub.iterdir():
                if p.suffix in (".parquet", ".csv", ".tmp"):
                    p.unlink()
            with contextlib.suppress(OSError):
                sub.rmdir()
        for fmt in TABLE_FORMATS:  # tables of the layout `sufficiency run` wrote before 0.2
            (folder / f"{name}.{fmt}").unlink(missing_ok=True)
    for name in ("manifest.json", "failures.json", "report.html"):
        (folder / name).unlink(missing_ok=True)


@dataclass
class Lock:
    """The folder's lock: one writer at a time.

    The lock is a file holding the writer's pid, host and start time, locked with ``flock``,
    so the kernel releases it when the writer dies: a lock left by a dead process (a stale
    lock) is taken over, never honoured.
    """

    folder: Path
    _fd: int | None = field(default=None, repr=False)

    def acquire(self) -> Lock:
        import fcntl

        path = self.folder / LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise ResultsError(
                    f"{self.folder} is being written by another command ({_holder(path)}); "
                    "wait for it to finish or use another --out folder"
                ) from None
            # The holder may have removed the file between our open and flock: lock the file
            # that is at the path now.
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now()}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            (self.folder / LOCK).unlink()
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']} since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown process"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- reading


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a results folder, checked: it must be of this layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultsError(f"{folder}: no such results folder")
    path = folder / "manifest.json"
    if not path.is_file():
        raise ResultsError(
            f"{folder}: no manifest.json; give a folder written by 'sufficiency run', "
            "'compare' or 'batch' (--out)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ResultsError(f"{path}: not a readable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultsError(
            f"{path}: not a results manifest of this version (format {FORMAT}); rerun the "
            "command that made it"
        )
    if manifest.get("table_format", "parquet") not in TABLE_FORMATS:
        raise ResultsError(f"{path}: table_format must be one of {', '.join(TABLE_FORMATS)}")
    if not isinstance(manifest.get("scenarios"), list) or not manifest["scenarios"]:
        raise ResultsError(f"{path}: lists no scenarios")
    return manifest


def part_files(folder: Path, table: str, fmt: str = "parquet") -> list[Path]:
    """The finished part files of ``table`` (parts of unfinished chunks are left out)."""
    done = {p.stem for p in (folder / "kpis").glob(f"part-*.{fmt}")}
    return sorted(p for p in (folder / table).glob(f"part-*.{fmt}") if p.stem in done)


def read_part(path: Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One part file, only ``columns`` (those present) if given."""
    if path.suffix == ".csv":
        head = pd.read_csv(path, nrows=0).columns
        use = list(head) if columns is None else [c for c in columns if c in head]
        dates = [c for c in use if c in DATE_COLUMNS]
        return pd.read_csv(path, usecols=use, parse_dates=dates)
    if columns is None:
        return pd.read_parquet(path)
    present = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in columns if c in present])


def read_table(
    folder: str | Path,
    table: str,
    columns: Sequence[str] | None = None,
    manifest: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """One table of a results folder, sorted by scenario, replication and row key.

    Parameters
    ----------
    folder : path
        A results folder.
    table : str
        ``"snapshots"``, ``"flows"``, ``"kpis"`` (or ``"episodes"``/``"children"`` if kept).
    columns : sequence of str, optional
        Read only these columns (the key columns are always read).
    """
    folder = Path(folder)
    manifest = manifest or read_manifest(folder)
    fmt = manifest.get("table_format", "parquet")
    keys = ["scenario", "replication", *ROW_KEYS.get(table, ())]
    wanted = None if columns is None else list(dict.fromkeys([*keys, *columns]))
    frames = [read_part(p, wanted) for p in part_files(folder, table, fmt)]
    if not frames:
        return pd.DataFrame(columns=wanted or keys)
    df = pd.concat(frames, ignore_index=True)
    labels = [s["label"] for s in manifest["scenarios"]]
    strangers = sorted(set(df["scenario"].astype(str)) - set(labels))
    if strangers:
        raise ResultsError(
            f"{folder}/{table} holds rows of scenarios {strangers} that its manifest does not "
            f"list ({labels}): the folder mixes runs; rerun into a new --out folder"
        )
    df["scenario"] = pd.Categorical(df["scenario"].astype(str), categories=labels, ordered=True)
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


@dataclass
class Results:
    """A results folder; each table is read from disk the first time it is used.

    In a region's folder the snapshots, flows and KPIs are the region's totals, or one
    member's rows if ``council`` names it; the episodes and children are every member's rows
    (a child is identified by its council and id), or one member's.
    """

    folder: Path
    manifest: dict[str, Any] = field(repr=False)
    council: str | None = None
    _read: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.council is not None and self.council not in self.councils:
            held = f"its councils are {self.councils}" if self.councils else "it is no region"
            raise ResultsError(f"{self.folder}: no council {self.council!r}; {held}")

    @property
    def councils(self) -> list[str]:
        """A region's member councils, in the order of its region file (else empty)."""
        names: list[str] = []
        for s in self.manifest["scenarios"]:
            names += [c for c in s.get("councils", []) if c not in names]
        return names

    def by_council(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Table ``name`` with one row per member council (its ``council`` column)."""
        if columns is not None:
            return self._named(read_table(self.folder, name, columns, self.manifest))
        if name not in self._read:  # filters read the detail tables many times
            self._read[name] = self._named(read_table(self.folder, name, None, self.manifest))
        return self._read[name]

    def _named(self, df: pd.DataFrame) -> pd.DataFrame:
        """A single council's rows beside a region's (a comparison of the two) take the
        council's name, so that a council's rows of both can be compared."""
        if COUNCIL not in df.columns or not df[COUNCIL].isna().any():
            return df
        names = {s["label"]: s.get("name", s["label"]) for s in self.manifest["scenarios"]}
        own = df["scenario"].astype(str).map(names)
        return df.assign(**{COUNCIL: df[COUNCIL].fillna(own)})

    @cached_property
    def snapshots(self) -> pd.DataFrame:
        """One row per scenario x replication x month end."""
        return self.table("snapshots")

    @cached_property
    def flows(self) -> pd.DataFrame:
        """One row per scenario x replication x financial year."""
        return self.table("flows")

    @cached_property
    def kpis(self) -> pd.DataFrame:
        """One row per scenario x replication: the KPIs of the output catalogue."""
        return self.table("kpis")

    @cached_property
    def spend(self) -> pd.DataFrame:
        """One row per scenario x replication x financial year x spend category (see
        :func:`spend_table`)."""
        return spend_table(self.flows)

    @property
    def scenarios(self) -> list[str]:
        """The scenario labels, in the order they were given (the base first)."""
        return [s["label"] for s in self.manifest["scenarios"]]

    def entry(self, label: str) -> dict[str, Any]:
        """The manifest's entry of one scenario (name, file, parameters, fingerprint)."""
        for s in self.manifest["scenarios"]:
            if s["label"] == label:
                return dict(s)
        raise ResultsError(f"{self.folder}: no scenario {label!r}; it holds {self.scenarios}")

    @property
    def failures(self) -> list[dict[str, Any]]:
        path = self.folder / "failures.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []

    def table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Any table, optionally only some columns (to keep memory down on big batches)."""
        if not self.councils:
            return read_table(self.folder, name, columns, self.manifest)
        df = self.by_council(name)
        if self.council is not None:
            df = df[df[COUNCIL] == self.council].drop(columns=COUNCIL).reset_index(drop=True)
        elif name == "kpis":
            df = self._total_kpis(df)
        elif name in ("snapshots", "flows"):
            regions = [s["label"] for s in self.manifest["scenarios"] if s.get("councils")]
            region = df["scenario"].isin(regions)
            single = df[~region].drop(columns=COUNCIL)
            df = pd.concat([single, region_total(name, df[region])], ignore_index=True)
            df = df.sort_values(keys(name), kind="stable").reset_index(drop=True)
        wanted = None if columns is None else {*keys(name), *columns}
        return df if wanted is None else df[[c for c in df.columns if c in wanted]]

    def _total_kpis(self, kpis: pd.DataFrame) -> pd.DataFrame:
        """The region's KPIs, computed from its total snapshots and flows as a member's are
        (the rows of a single council, compared with a region, as they are)."""
        from sim.batch import replication_kpis
        from sim.config import Region

        snapshots, flows = self.snapshots, self.flows
        regions: dict[str, Region] = {}
        rows: list[dict[Any, Any]] = []
        for (label, rep), part in kpis.groupby(["scenario", "replication"], observed=True):
            entry = self.entry(str(label))
            if not entry.get("councils"):
                rows += part.drop(columns=COUNCIL).to_dict("records")
                continue
            if str(label) not in regions:
                regions[str(label)] = Region.model_validate(entry["parameters"])
            snap = snapshots[(snapshots["scenario"] == label) & (snapshots["replication"] == rep)]
            flow = flows[(flows["scenario"] == label) & (flows["replication"] == rep)]
            row = {"scenario": label, "replication": rep, "seed": part["seed"].iloc[0]}
            row.update(replication_kpis(snap.reset_index(drop=True), flow, regions[str(label)]))
            rows.append({**row, "events": part["events"].sum()})
        df = pd.DataFrame(rows)
        df["scenario"] = df["scenario"].astype(kpis["scenario"].dtype)
        return df

    def of(self, label: str, name: str) -> pd.DataFrame:
        """One scenario's rows of table ``name`` (its ``scenario`` column as text)."""
        df = getattr(self, name) if name in TABLES else self.table(name)
        part = df[df["scenario"] == label].reset_index(drop=True)
        return part.assign(scenario=part["scenario"].astype(str))


def spend_table(flows: pd.DataFrame) -> pd.DataFrame:
    """The spend columns of a flows table (``spend_<category>``, :mod:`sim.outputs`) as a
    long table: the flows' key columns, then ``category`` (``total`` for their sum) and
    ``spend`` (£ in the financial year, at its prices)."""
    spend = [c for c in flows.columns if c.startswith("spend_")]
    keys = [c for c in ("scenario", "replication", "financial_year") if c in flows]
    long = flows.melt(id_vars=keys, value_vars=spend, var_name="category", value_name="spend")
    long["category"] = long["category"].str.removeprefix("spend_")
    return long


def load(folder: str | Path, council: str | None = None) -> Results:
    """Open a results folder (its manifest is read and checked now, its tables when used);
    of a region, its totals or one ``council``'s rows."""
    folder = Path(folder)
    return Results(folder, read_manifest(folder), council)


def keys(table: str) -> list[str]:
    """The columns that identify a row of ``table``."""
    return ["scenario", "replication", *ROW_KEYS.get(table, ())]


# The snapshot shares and what each is a share of, so that a region's share is the ratio of
# its members' sums: (share, numerator columns or None, denominator columns).
_SHARES: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "kpi_3plus_placements": (None, ("children_in_care",)),
    "kpi_same_placement_2y": (None, ("long_term_group",)),
    "kpi_within_20_miles": (None, ("placed_distance_known",)),
    "kpi_within_20_miles_all": (None, None),  # of the children placed: every placement type
    "kpi_in_house_share": (
        ("in_house", "connected"),
        ("in_house", "connected", "ifa_framework", "ifa_spot"),
    ),
}


def region_total(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """A region's ``snapshots`` or ``flows`` summed over its councils, shares recomputed."""
    from sim.config import PLACEMENT_TYPES
    from sim.model.metrics import flow_ratios

    by = keys(table)
    df = df.copy()
    shares = [c for c in _SHARES if c in df.columns] if table == "snapshots" else []
    for share in shares:
        num, den = _SHARES[share]
        if num is None:  # share x its denominator is the count it was made of
            df[share] = (df[share] * df[list(den or PLACEMENT_TYPES)].sum(axis=1)).fillna(0.0)
    first = [c for c in ("day", "days_simulated") if c in df.columns]
    counts = [
        c
        for c in df.columns
        if c not in (*by, COUNCIL, *first) and pd.api.types.is_numeric_dtype(df[c])
    ]
    grouped = df.groupby(by, observed=True, sort=False)
    out = grouped[counts].sum()
    for c in first:
        out[c] = grouped[c].first()
    out = out.reset_index()
    for share in shares:
        num, den = _SHARES[share]
        total = out[list(den or PLACEMENT_TYPES)].sum(axis=1)
        top = out[share] if num is None else out[list(num)].sum(axis=1)
        out[share] = top / total.where(total > 0)
    if table == "flows":
        out = flow_ratios(out)
    order = [c for c in df.columns if c != COUNCIL]
    return out[order].sort_values(by, kind="stable").reset_index(drop=True)


def replication(
    folder: str | Path, rep: int = 0, label: str | None = None, council: str | None = None
) -> dict[str, Any]:
    """One replication of one scenario (default: the first): its episodes, children and
    snapshots, the scenario's start and end dates and the folder's manifest. Of a region,
    one ``council``'s (child ids are a council's own)."""
    res = load(folder, council)
    if res.councils and council is None:
        raise ResultsError(
            f"{res.folder}: holds a region; name one council ({', '.join(res.councils)})"
        )
    label = label or res.scenarios[0]
    params = res.entry(label).get("parameters")
    if council is not None and isinstance(params, dict):
        params = next(m for m in params.get("members", []) if m.get("name") == council)
    if not isinstance(params, dict) or "start" not in params:
        raise ResultsError(
            f"{res.folder}/manifest.json: scenario {label!r} has no parameters (start date); "
            "rerun the command that made the folder"
        )
    if not res.manifest.get("detail"):
        raise ResultsError(
            f"{res.folder}: has no episode log; rerun with 'sufficiency run' (or batch --detail)"
        )
    tables: dict[str, Any] = {}
    for name in ("episodes", "children", "snapshots"):
        df = res.of(label, name)
        reps = sorted(df["replication"].unique())
        if not reps:
            raise ResultsError(f"{res.folder}: no finished replication yet")
        if rep not in reps:
            raise ResultsError(
                f"replication {rep} is not in {res.folder} (it has {reps[0]}..{reps[-1]})"
            )
        tables[name] = df[df["replication"] == rep].reset_index(drop=True)
    start = dt.date.fromisoformat(str(params["start"])[:10])
    end = pd.to_datetime(tables["snapshots"]["date"]).max().date()
    manifest = {**res.manifest, "scenario": label, "parameters": params}
    return {**tables, "start": start, "end": end, "manifest": manifest}


# ----------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filter:
    """Which children to count: the filters of a regional dashboard. ``None`` keeps all.

    ``sex`` is ``"F"`` or ``"M"``; ``age`` the first and last whole year of age, inclusive.
    """

    council: str | None = None
    sex: str | None = None
    uasc: bool | None = None
    age: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.sex not in (None, "F", "M"):
            raise ResultsError(f"sex must be F or M, got {self.sex!r}")
        if self.age is not None and not 0 <= self.age[0] <= self.age[1] <= 25:
            raise ResultsError(f"age must be two years FIRST-LAST within 0-25, got {self.age}")

    @classmethod
    def parse_age(cls, text: str) -> tuple[int, int]:
        """``"16-17"`` (or ``"16"``) as the years of age it covers."""
        first, _, last = text.partition("-")
        try:
            return int(first), int(last or first)
        except ValueError:
            raise ResultsError(
                f"age must be FIRST-LAST whole years, e.g. 16-17; got {text!r}"
            ) from None

    def label(self) -> str:
        """The filter in words, e.g. ``Medway, girls, UASC, aged 16-17``."""
        parts = [self.council] if self.council else []
        if self.sex:
            parts.append({"F": "girls", "M": "boys"}[self.sex])
        if self.uasc is not None:
            parts.append("UASC" if self.uasc else "not UASC")
        if self.age:
            parts.append(f"aged {self.age[0]}-{self.age[1]}")
        return ", ".join(parts) or "all children"


def in_care(res: Results, where: Filter, dates: Sequence[Any] | None = None) -> pd.DataFrame:
    """Children in care matching ``where`` at each snapshot date (or ``dates``), by placement
    type: one row per scenario x replication x date, in the columns of the snapshots.

    Counted from the episode log and the child table (``run`` keeps them, or ``batch
    --detail``), so every child-level filter applies; without filters the counts are the
    snapshots' own.
    """
    from sim.config import PLACEMENT_TYPES

    if not res.manifest.get("detail"):
        raise ResultsError(
            f"{res.folder}: has no episode log to filter; rerun with 'sufficiency run' "
            "(or batch --detail)"
        )
    region = bool(res.councils)
    if where.council is not None and where.council not in res.councils:
        Results(res.folder, res.manifest, where.council)  # raises, naming the councils
    kids = res.by_council("children")
    episodes = res.by_council("episodes")
    if region and where.council is not None:
        kids = kids[kids[COUNCIL] == where.council]
        episodes = episodes[episodes[COUNCIL] == where.council]
    if where.sex is not None:
        kids = kids[kids["male"].astype(bool) == (where.sex == "M")]
    if where.uasc is not None:
        kids = kids[kids["uasc"].astype(bool) == where.uasc]
    child = ["scenario", "replication", "child", *([COUNCIL] if region else [])]
    episodes = episodes.merge(kids[[*child, "dob_day"]], on=child, how="inner")
    snaps = res.by_council("snapshots", ["day"])
    days = snaps.drop_duplicates("date")[["date", "day"]]
    reps = snaps[["scenario", "replication"]].drop_duplicates()
    if dates is not None:
        days = days[days["date"].isin(pd.to_datetime(list(dates)))]
    day_values = days["day"].to_numpy(dtype=float)
    by = ["scenario", "replication"]
    ep = _at_dates(
        episodes[[*by, "placement", "start_day", "end_day", "dob_day"]],
        "start_day",
        "end_day",
        day_values,
        where.age,
    )
    ch = _at_dates(
        kids[[*by, "entry_day", "exit_day", "dob_day"]],
        "entry_day",
        "exit_day",
        day_values,
        where.age,
    )
    counts = ep.groupby([*by, "at", "placement"], observed=True).size().unstack(fill_value=0)
    total = ch.groupby([*by, "at"], observed=True).size().rename("children_in_care")
    table = counts.reindex(columns=list(PLACEMENT_TYPES), fill_value=0).join(total, how="outer")
    # A replication with no such child at a date counts zero, not missing.
    grid = reps.merge(pd.DataFrame({"at": range(len(days))}), how="cross")
    out = grid.merge(table.reset_index(), on=[*by, "at"], how="left")
    out[out.columns[3:]] = out[out.columns[3:]].fillna(0).astype(int)
    out.insert(2, "date", days["date"].to_numpy()[out.pop("at").to_numpy()])
    return out.sort_values([*by, "date"], kind="stable").reset_index(drop=True)


def _at_dates(
    df: pd.DataFrame, start: str, end: str, days: Any, age: tuple[int, int] | None
) -> pd.DataFrame:
    """One row per row of ``df`` open at each of the sorted ``days`` (column ``at``: the
    index of the day), kept if the child's whole years of age then lie within ``age``."""
    first = np.searchsorted(days, df[start].to_numpy(dtype=float), side="left")
    ends = df[end].to_numpy(dtype=float)
    last = np.where(np.isnan(ends), len(days), np.searchsorted(days, ends, side="left"))
    n = np.maximum(last - first, 0)
    rows = np.repeat(np.arange(len(df)), n)
    at = np.repeat(first, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
    out = df.iloc[rows].reset_index(drop=True)
    out["at"] = at
    if age is not None:
        years = np.floor((days[at] - out["dob_day"].to_numpy(dtype=float)) / 365.25)
        out = out[(years >= age[0]) & (years <= age[1])]
    return out
