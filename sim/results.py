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
    """A results folder; each table is read from disk the first time it is used."""

    folder: Path
    manifest: dict[str, Any] = field(repr=False)

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
        return read_table(self.folder, name, columns, self.manifest)

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


def load(folder: str | Path) -> Results:
    """Open a results folder (its manifest is read and checked now, its tables when used)."""
    folder = Path(folder)
    return Results(folder, read_manifest(folder))


def replication(folder: str | Path, rep: int = 0, label: str | None = None) -> dict[str, Any]:
    """One replication of one scenario (default: the first): its episodes, children and
    snapshots, the scenario's start and end dates and the folder's manifest."""
    res = load(folder)
    label = label or res.scenarios[0]
    params = res.entry(label).get("parameters")
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
