"""Monte Carlo batches at scale: local processes or a Dask cluster, resumable parquet results.

A batch runs replications ``0 .. reps-1`` of one or more scenarios with one master seed and
writes them as they finish to a results folder, in the one layout described in
:mod:`sim.results` (``sufficiency run`` and ``compare`` are small batches).

Randomness
----------
The engine only ever calls :func:`sim.model.simulate` with a scenario, the master seed and a
replication index. Inside, each mechanism draws from its own stream
``SeedSequence([seed, replication, stream_id])`` (:mod:`sim.rng`). This is equivalent in
spirit to ``SeedSequence(seed).spawn(reps)`` followed by one child per mechanism, but every
stream is built from integers in the worker, so it cannot depend on the order in which
replications are spawned, scheduled or retried. Hence:

* the results are the same, bit for bit, with 1 worker, many processes or a Dask cluster;
* scenarios run with the same master seed share common random numbers, replication by
  replication (paired comparisons and sensitivity analyses need far fewer replications).

Resuming
--------
Each finished chunk of replications is written as its own part files, atomically (a hidden
temporary file, then a rename), the ``kpis`` part last: a chunk counts as done only once its
``kpis`` part exists. Rerunning the same command after Ctrl-C, a SIGKILL or a lost worker
runs only the replications that are missing and ends with exactly those asked for. A folder
made with other scenario content, another seed or another table format is refused (``run``
replaces it instead). A lock file keeps a second writer out; a write error (a full disk)
stops the batch with one line and leaves a folder that the same command resumes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

import sim
from sim.config import Region, Scenario, load_scenario
from sim.experiment import git_commit
from sim.model import simulate
from sim.outputs import CATALOGUE
from sim.region import simulate_region
from sim.results import (
    COUNCIL,
    DETAIL_TABLES,
    FORMAT,
    TABLE_FORMATS,
    TABLES,
    Lock,
    ResultsError,
    check_out,
    clear,
    part_files,
    read_part,
    write_json,
    write_part,
)

MAX_CHUNK = 10  # replications per task: enough to hide scheduling overhead, small in memory
MANIFEST_EVERY = 5.0  # seconds between manifest updates while a batch runs

#: The per-replication outcomes in ``kpis`` (the columns sensitivity analysis can use).
KPIS: dict[str, str] = {o.name: o.title for o in CATALOGUE["kpis"].values()}
#: The headline outcomes: what a commissioner asks about first.
HEADLINE_KPIS = ("places_vacant_y5", "ifa_spot_y5", "unregistered_mean", "cost_total_m")


class BatchError(ResultsError):
    """A batch that cannot start or resume, with what to do about it."""


# ----------------------------------------------------------------------------- worker side


def replication_kpis(
    snapshots: pd.DataFrame, flows: pd.DataFrame, scenario: Scenario | Region
) -> dict[str, float]:
    """One replication's headline outcomes from its snapshot and flow tables.

    "Year 5" is the last month end at most five years after the start (the final month if
    the horizon is shorter); the total cost is the spend of every financial year (placements,
    programmes and recruitment, accrued exactly by the recorder).
    """
    days = snapshots["day"].to_numpy(dtype=float)
    y5_date = scenario.start.replace(year=scenario.start.year + 5)
    y5_day = float((y5_date - scenario.start).days)
    i5 = max(int((days <= y5_day + 0.5).sum()) - 1, 0)
    last = snapshots.iloc[-1]
    cost = float(flows["spend_total"].sum())
    years = max(float(flows["days_simulated"].sum()) / 365.25, 1e-9)
    out = {
        "places_vacant_y5": float(snapshots["places_vacant"].iloc[i5]),
        "ifa_spot_y5": float(snapshots["ifa_spot"].iloc[i5]),
        "unregistered_mean": float(snapshots["unregistered"].iloc[1:].mean())
        if len(snapshots) > 1
        else float(snapshots["unregistered"].iloc[0]),
        "cost_total_m": cost / 1e6,
        "waiting_mean": float(snapshots["waiting"].mean()),
        "weekly_cost_final": float(last["total_weekly_cost"]),
    }
    for col in (
        "children_in_care",
        "in_house",
        "ifa_spot",
        "ifa",
        "residential",
        "unregistered",
        "households",
        "places_vacant",
        "kpi_3plus_placements",
        "kpi_same_placement_2y",
        "kpi_within_20_miles",
        "kpi_in_house_share",
    ):
        out[f"{col}_final"] = float(last[col])
    for name in ("approvals", "deregistrations", "breakdowns"):
        out[f"{name}_per_year"] = float(flows[name].sum()) / years
    return out


def _keyed(
    df: pd.DataFrame, label: str, replication: int | pd.Series, council: str | None = None
) -> pd.DataFrame:
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], dt.date):
            df[col] = pd.to_datetime(df[col])
    if council is not None:  # a region's member
        df.insert(0, COUNCIL, council)
    df.insert(0, "replication", replication)
    df.insert(0, "scenario", label)
    return df


def _simulate(scenario: Scenario | Region, seed: int, rep: int) -> dict[str | None, Any]:
    """One replication's results: of the scenario (keyed None), or of each region member."""
    if isinstance(scenario, Region):
        runs = simulate_region(scenario, seed=seed, replication=rep)
        return {council: res for council, res in runs.items()}
    return {None: simulate(scenario, seed=seed, replication=rep)}


_frozen = False


def _freeze_once() -> None:
    """Put what the process holds before its first replication (the modules, the scenario)
    out of the cyclic collector's reach, once: the full collection after each replication
    then visits that replication's objects only, not every object of pandas and numpy."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def run_chunk(
    scenario: Scenario | Region,
    label: str,
    seed: int,
    replications: Sequence[int],
    detail: bool = False,
) -> dict[str, Any]:
    """Run some replications of one scenario; the unit of work sent to a worker.

    A replication that raises is reported (with its seed and traceback) and does not stop the
    others. Returns plain data: tables stacked over the chunk, failures, seconds.
    """
    parts: dict[str, list[pd.DataFrame]] = {}
    kpi_rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    started = time.perf_counter()
    _freeze_once()
    for rep in replications:
        try:
            runs = _simulate(scenario, seed, rep)
            councils = {
                council: (res.tables(), float(res.meta.get("events", math.nan)))
                for council, res in runs.items()
            }
            kpis = {
                council: replication_kpis(tables["snapshots"], tables["flows"], scenario)
                for council, (tables, _) in councils.items()
            }
        except Exception as exc:  # a bad replication must not lose the rest of the chunk
            failures.append(
                {
                    "scenario": label,
                    "replication": int(rep),
                    "seed": int(seed),
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
            continue
        for council, (tables, events) in councils.items():
            for name in TABLES[:2] + (DETAIL_TABLES if detail else ()):
                parts.setdefault(name, []).append(_keyed(tables[name], label, rep, council))
            row: dict[str, Any] = {"scenario": label, "replication": int(rep)}
            if council is not None:
                row[COUNCIL] = council
            meta = runs[council].meta
            if "posterior_draw" in meta:
                row["posterior_draw"] = int(meta["posterior_draw"])
            kpi_rows.append({**row, "seed": int(seed), **kpis[council], "events": events})
        del runs, councils
        # A replication's world is full of reference cycles: collect it now, or several
        # replications' worth of garbage can wait for the next full collection.
        gc.collect()
    out: dict[str, pd.DataFrame] = {}
    if kpi_rows:
        out = {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}
        out["kpis"] = pd.DataFrame(kpi_rows)
    return {"tables": out, "failures": failures, "seconds": time.perf_counter() - started}


def replay(scenario: Scenario | str | Path, seed: int, replication: int, **overrides: Any) -> Any:
    """Run one replication alone, in this process (e.g. one a batch reported as failed).

    Any exception propagates with its full traceback, so it can be debugged
    (``python -m pdb``). Returns the :class:`~sim.model.metrics.Results`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, overrides or None)
    return simulate(scenario, seed=seed, replication=replication)


# ----------------------------------------------------------------------------- the folder


def fingerprint(scenario: Scenario | Region) -> str:
    """A hash of every resolved parameter: two scenarios with equal content share it."""
    text = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _clean(folder: Path) -> None:
    """Remove temporary files and the parts of chunks that never finished."""
    done = {p.stem for p in (folder / "kpis").glob("part-*.*")}
    for table in (*TABLES, *DETAIL_TABLES):
        sub = folder / table
        if not sub.is_dir():
            continue
        for p in sub.iterdir():
            if p.name.startswith(".") or (p.suffix in (".parquet", ".csv") and p.stem not in done):
                p.unlink(missing_ok=True)
    for p in folder.glob(".*.tmp"):
        p.unlink(missing_ok=True)


def done_replications(folder: Path, fmt: str = "parquet") -> dict[str, set[int]]:
    """Replications already written, by scenario label."""
    done: dict[str, set[int]] = {}
    for p in part_files(folder, "kpis", fmt):
        df = read_part(p, ["scenario", "replication"])
        for label, rep in zip(df["scenario"].astype(str), df["replication"], strict=True):
            done.setdefault(label, set()).add(int(rep))
    return done


def _labels(scenarios: Sequence[Scenario | Region]) -> list[str]:
    labels: list[str] = []
    for sc in scenarios:
        label, k = sc.name, 2
        while label in labels:
            label, k = f"{sc.name} ({k})", k + 1
        labels.append(label)
    return labels


# ----------------------------------------------------------------------------- engines


@dataclass(frozen=True)
class Chunk:
    """Some replications of one scenario: one task."""

    index: int  # position of the scenario in the batch
    replications: tuple[int, ...]

    @property
    def stem(self) -> str:
        return f"part-s{self.index:04d}-r{self.replications[0]:07d}-{self.replications[-1]:07d}"


def _chunks(pending: Sequence[int], index: int, size: int) -> list[Chunk]:
    return [Chunk(index, tuple(pending[i : i + size])) for i in range(0, len(pending), size)]


def _init_worker() -> None:
    # Ctrl-C is the parent's to handle: workers that die of it mid-write would only add noise.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = "1"


Task = tuple[Chunk, tuple[Any, ...]]
Outcome = tuple[Chunk, dict[str, Any] | None, BaseException | None]
Outcomes = Generator[Outcome, None, None]  # closed early when a batch is interrupted


def _run_inline(tasks: Iterator[Task]) -> Outcomes:
    for chunk, args in tasks:
        yield chunk, run_chunk(*args), None


class _CtrlC:
    """Ctrl-C noted as well as raised, for the main thread of a batch.

    The KeyboardInterrupt lands wherever the main thread happens to be, and some places
    swallow it (a finaliser, an extension that checks for signals itself): the batch checks
    the note at every step and stops all the same. A SIGINT that is ignored, or handled by
    someone else (a notebook's kernel), is left as it is.
    """

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def start(self) -> None:
        """Take over Python's default Ctrl-C handler, if it is the one in place."""
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._note)

    def _note(self, signum: int, frame: Any) -> None:
        self.pressed = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed since the batch began."""
        if self.pressed:
            raise KeyboardInterrupt

    def stop(self) -> None:
        """Give the handler back."""
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _run_pool(tasks: Iterator[Task], workers: int, check: Callable[[], None]) -> Outcomes:
    # Workers inherit the environment: numpy must not start a thread pool per process.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker)
    running: dict[Future, Chunk] = {}
    clean_exit = False
    try:
        for chunk, args in _take(tasks, 2 * workers):
            running[pool.submit(run_chunk, *args)] = chunk
        while running:
            # Not a blocking wait: a Ctrl-C swallowed where it landed is seen within a second
            # however long the chunks take.
            finished, _ = wait(running, timeout=1.0, return_when=FIRST_COMPLETED)
            check()
            for fut in finished:
                chunk = running.pop(fut)
                try:
                    yield chunk, fut.result(), None
                except BrokenProcessPool:
                    raise
                except Exception as exc:
                    yield chunk, None, exc
                # Keep a bounded number of tasks in flight so memory stays flat.
                for nxt, args in _take(tasks, 1):
                    running[pool.submit(run_chunk, *args)] = nxt
        clean_exit = True
    finally:
        if clean_exit:
            pool.shutdown(wait=True)
        else:
            # Interrupted: do not wait for running chunks (their replications are rerun on
            # resume). ProcessPoolExecutor has no public way to stop its workers before 3.14.
            procs = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                with contextlib.suppress(Exception):
                    proc.terminate()


def _take(tasks: Iterator[Task], n: int) -> list[Task]:
    out = []
    for _ in range(n):
        item = next(tasks, None)
        if item is None:
            break
        out.append(item)
    return out


def dask_client(scheduler: Any, workers: int) -> tuple[Any, Callable[[], None]]:
    """A ``dask.distributed.Client`` for ``scheduler`` and a function that closes what we opened.

    ``scheduler`` is ``"local"`` (a :class:`~dask.distributed.LocalCluster` of ``workers``
    single-threaded processes), a scheduler address such as ``"tcp://10.0.0.5:8786"``, or an
    existing ``Client`` (e.g. one connected to a dask-jobqueue ``SLURMCluster``).
    """
    from dask.distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if scheduler == "local":
        # One thread per worker: the model is pure Python, threads would share one GIL.
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    if not isinstance(scheduler, str) or "://" not in scheduler:
        raise BatchError(
            f"--scheduler {scheduler!r}: give 'local' or a scheduler address such as "
            "tcp://host:8786"
        )
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise BatchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    return client, client.close


def _check_workers(client: Any) -> None:
    """Warn when cluster workers run another version of the package (results would differ)."""

    def version() -> str:
        import sim as package

        return package.__version__

    with contextlib.suppress(Exception):
        versions = set(client.run(version).values())
        if versions and versions != {sim.__version__}:
            print(
                f"warning: Dask workers run placement-sufficiency {sorted(versions)}, "
                f"this client {sim.__version__}",
                file=sys.stderr,
            )


def _run_dask(tasks: Iterator[Task], client: Any) -> Outcomes:
    from dask.distributed import as_completed

    _check_workers(client)
    slots = max(sum(client.nthreads().values()), 1)
    futures: dict[Any, Chunk] = {}

    def submit(chunk: Chunk, args: tuple[Any, ...]) -> Any:
        # pure=False: two chunks with equal arguments must both run, never be merged.
        fut = client.submit(run_chunk, *args, pure=False, retries=1)
        futures[fut] = chunk
        return fut

    pending = as_completed([submit(c, a) for c, a in _take(tasks, 2 * slots)])
    try:
        for fut in pending:
            chunk = futures.pop(fut)
            try:
                yield chunk, fut.result(), None
            except Exception as exc:  # e.g. KilledWorker after repeated worker losses
                yield chunk, None, exc
            finally:
                fut.release()
            for nxt, args in _take(tasks, 1):
                pending.add(submit(nxt, args))
    finally:
        if futures:
            client.cancel(list(futures))


# ----------------------------------------------------------------------------- the batch


@dataclass
class BatchSummary:
    """What a batch did: where, how many replications, which failed."""

    folder: Path
    requested: int
    done: dict[str, int]
    failures: list[dict[str, Any]] = field(default_factory=list)
    ran: int = 0
    seconds: float = 0.0
    engine: str = ""

    @property
    def complete(self) -> bool:
        return not self.failures and all(n == self.requested for n in self.done.values())

    def message(self) -> str:
        total = sum(self.done.values())
        lines = [
            f"{self.folder}: {total} of {self.requested * len(self.done)} replications done "
            f"({self.ran} run now in {self.seconds:.1f} s, {self.engine})"
        ]
        for f in self.failures:
            lines.append(
                f"  FAILED {f['scenario']} replication {f['replication']} (seed {f['seed']}): "
                f"{f['error']}\n    rerun alone: {f['rerun']}"
            )
        if self.failures:
            lines.append(
                f"  tracebacks in {self.folder / 'failures.json'}; rerunning the batch "
                "retries only the missing replications"
            )
        return "\n".join(lines)


def run_batch(
    scenarios: Sequence[Scenario | Region],
    reps: int,
    out: str | Path,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    chunk_size: int | None = None,
    detail: bool = False,
    progress: bool = True,
    files: Sequence[str | None] | None = None,
    labels: Sequence[str] | None = None,
    store_parameters: bool = True,
    overrides: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    table_format: str = "parquet",
    replace: bool = False,
) -> BatchSummary:
    """Run replications ``0 .. reps-1`` of each scenario and write them to ``out`` as they finish.

    Parameters
    ----------
    scenarios : sequence of Scenario
        The scenarios; replication ``r`` of each uses the same random numbers.
    reps : int
        Replications wanted per scenario. Replications already in ``out`` are not rerun.
    out : path
        Results folder (created, or resumed if it holds a batch of the same scenarios and seed).
    seed : int
        Master seed.
    workers : int, optional
        Local processes (default, and at most: the cores, and no more than the replications
        left to run); 1 runs in this process. With ``scheduler="local"`` the number of Dask
        workers.
    scheduler : str or dask.distributed.Client, optional
        ``None`` for local processes, ``"local"`` for a Dask LocalCluster, a scheduler address
        (``"tcp://host:8786"``) or a ``Client``.
    chunk_size : int, optional
        Replications per task (default: enough tasks to balance the workers, at most 10).
    detail : bool
        Also keep the episode log and the child table of every replication (large).
    files : sequence of str, optional
        The scenario files, recorded in the manifest and in the advice to rerun a failure.
    labels : sequence of str, optional
        The ``scenario`` value of each scenario's rows (default: unique scenario names).
    overrides : dict, optional
        Overrides already applied to the scenario files (e.g. ``{"years": 2}``), recorded so
        that a failed replication can be rerun alone.
    store_parameters : bool
        Record every resolved parameter of each scenario in the manifest (off for designs with
        hundreds of points, which record them elsewhere).
    extra : dict, optional
        More entries for the manifest.
    table_format : str
        ``"parquet"`` or ``"csv"`` part files.
    replace : bool
        If ``out`` holds results of other inputs, replace them instead of refusing.
    """
    if reps < 1:
        raise BatchError(f"reps must be at least 1, got {reps}")
    if not scenarios:
        raise BatchError("no scenario given")
    if table_format not in TABLE_FORMATS:
        raise BatchError(f"format must be one of {', '.join(TABLE_FORMATS)}, got {table_format!r}")
    folder = check_out(out)
    labels = list(labels) if labels is not None else _labels(scenarios)
    if len(set(labels)) != len(labels):
        raise BatchError(f"scenario labels must be unique, got {labels}")
    files = list(files) if files is not None else [None] * len(scenarios)
    entries = [
        _entry(sc, label, file, store_parameters)
        for sc, label, file in zip(scenarios, labels, files, strict=True)
    ]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"cannot create {folder}: {exc.strerror or exc}") from None
    with Lock(folder):
        manifest = _open(folder, seed, detail, entries, table_format, reps, replace)
        manifest["overrides"] = overrides or manifest.get("overrides") or {}
        return _run(
            folder,
            manifest,
            scenarios,
            labels,
            files,
            reps,
            seed,
            workers,
            scheduler,
            chunk_size,
            detail,
            progress,
            overrides or {},
            extra or {},
        )


def _entry(
    sc: Scenario | Region, label: str, file: str | None, store_parameters: bool
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "label": label,
        "name": sc.name,
        "file": file,
        "fingerprint": fingerprint(sc),
    }
    if isinstance(sc, Region):
        entry["councils"] = sc.councils
        entry["member_files"] = sc.files
    if store_parameters:
        entry["parameters"] = sc.model_dump(mode="json")
    return entry


def _open(
    folder: Path,
    seed: int,
    detail: bool,
    entries: list[dict[str, Any]],
    table_format: str,
    reps: int,
    replace: bool,
) -> dict[str, Any]:
    """The manifest to run under: the folder's own when resuming, else a new one."""
    path = folder / "manifest.json"
    if path.is_file():
        try:
            manifest = results_manifest(folder)
            manifest.setdefault("table_format", "parquet")  # folders from before --format
            _check_resume(manifest, folder, seed, detail, entries, table_format)
            _clean(folder)
            done = done_replications(folder, table_format)
            for label in (e["label"] for e in entries):
                extra_reps = sorted(r for r in done.get(label, ()) if r >= reps)
                if extra_reps:
                    raise BatchError(
                        f"{folder} already holds replications up to {extra_reps[-1]} of "
                        f"'{label}'; ask for --reps {extra_reps[-1] + 1} or more, or use a new "
                        "--out folder"
                    )
            return manifest
        except ResultsError:
            if not replace:
                raise
            clear(folder)
    elif any((folder / t).is_dir() for t in (*TABLES, *DETAIL_TABLES)):
        if not replace:
            raise BatchError(
                f"{folder} holds result tables but no manifest.json; use a new --out folder"
            )
        clear(folder)
    return {
        "format": FORMAT,
        "table_format": table_format,
        "package": "placement-sufficiency",
        "started": _now(),
        "seed": seed,
        "detail": detail,
        "random_streams": (
            "replication r of every scenario draws mechanism m from "
            "SeedSequence([seed, r, stream_id(m)]) (sim/rng.py)"
        ),
        "tables": {
            "snapshots": "one row per scenario x replication x month end",
            "flows": "one row per scenario x replication x financial year",
            "kpis": "one row per scenario x replication",
            **(
                {
                    "episodes": "one row per placement episode",
                    "children": "one row per child",
                }
                if detail
                else {}
            ),
        },
        "scenarios": entries,
    }


def results_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of ``folder`` to resume from (refused if it is of another layout)."""
    from sim.results import read_manifest

    try:
        return read_manifest(folder)
    except ResultsError as exc:
        raise BatchError(f"cannot resume into {folder}: {exc}") from None


def _run(
    folder: Path,
    manifest: dict[str, Any],
    scenarios: Sequence[Scenario | Region],
    labels: list[str],
    files: list[str | None],
    reps: int,
    seed: int,
    workers: int | None,
    scheduler: Any,
    chunk_size: int | None,
    detail: bool,
    progress: bool,
    overrides: dict[str, Any],
    extra: dict[str, Any],
) -> BatchSummary:
    manifest_path = folder / "manifest.json"
    fmt = manifest["table_format"]
    now = _now()
    done = done_replications(folder, fmt)
    pending = {
        i: [r for r in range(reps) if r not in done.get(label, set())]
        for i, label in enumerate(labels)
    }
    n_pending = sum(len(p) for p in pending.values())

    cores = os.cpu_count() or 1
    if scheduler is not None:
        engine = "dask"
    elif workers == 1 or n_pending <= 1 or cores == 1:
        engine = "in-process"
    else:
        engine = "processes"
    # More local processes than cores or than replications left only cost memory.
    n_workers = max(1, min(workers or cores, cores, n_pending))
    client, close = (None, lambda: None)
    if engine == "dask":
        client, close = dask_client(scheduler, n_workers)
        n_workers = max(sum(client.nthreads().values()), 1)
        engine = f"dask ({client.scheduler.address if client.scheduler else scheduler})"
    if chunk_size is None:
        chunk_size = max(1, min(MAX_CHUNK, math.ceil(n_pending / (4 * n_workers))))
    chunks = [c for i, p in pending.items() for c in _chunks(p, i, chunk_size)]

    run_record: dict[str, Any] = {
        "started": now,
        "version": sim.__version__,
        "commit": git_commit(),
        "build": sim.build_mode(),  # the same results either way; the timings differ
        "engine": engine,
        "workers": n_workers,
        "chunk_size": chunk_size,
        "replications_requested": reps,
    }
    runs = manifest.setdefault("runs", [])
    if runs and runs[-1].get("commit") != run_record["commit"]:
        print(
            f"warning: {folder} was started from commit {runs[-1].get('commit')}, this run is "
            f"{run_record['commit']}; replications from both are mixed",
            file=sys.stderr,
        )
    runs.append(run_record)
    manifest.update(
        version=sim.__version__,
        commit=run_record["commit"],
        replications=reps,
        status="running",
        **extra,
    )
    counts = {label: len(done.get(label, ())) for label in labels}
    manifest["replications_done"] = counts
    _write_manifest(manifest_path, manifest)

    tasks = (
        (c, (scenarios[c.index], labels[c.index], seed, c.replications, detail)) for c in chunks
    )
    ctrl_c = _CtrlC()
    if engine == "in-process":
        outcomes = _run_inline(tasks)
    elif engine == "processes":
        outcomes = _run_pool(tasks, n_workers, ctrl_c.check)
    else:
        outcomes = _run_dask(tasks, client)

    failures: list[dict[str, Any]] = []
    started = time.perf_counter()
    last_manifest = started
    ran = 0
    compute = 0.0
    bar = tqdm(
        total=reps * len(labels),
        initial=sum(counts.values()),
        unit="rep",
        desc="replications",
        disable=not progress,
        smoothing=0.1,
    )
    status = "interrupted"
    ctrl_c.start()
    try:
        for chunk, result, error in outcomes:
            label = labels[chunk.index]
            if error is not None:
                failures.extend(
                    {
                        "scenario": label,
                        "replication": r,
                        "seed": seed,
                        "error": f"{type(error).__name__}: {error}",
                        "traceback": "".join(traceback.format_exception(error)),
                    }
                    for r in chunk.replications
                )
            else:
                assert result is not None  # an outcome holds a result or an error
                _write_chunk(folder, chunk, result["tables"], fmt)
                failures.extend(result["failures"])
                compute += result["seconds"]
                kpis = result["tables"].get("kpis")
                counts[label] += 0 if kpis is None else kpis["replication"].nunique()
            ran += len(chunk.replications)
            bar.update(len(chunk.replications))
            if failures:
                bar.set_postfix(failed=len(failures))
            if time.perf_counter() - last_manifest > MANIFEST_EVERY:
                manifest["replications_done"] = counts
                _write_manifest(manifest_path, manifest)
                last_manifest = time.perf_counter()
            ctrl_c.check()
        status = "complete" if not failures else "incomplete"
    except BrokenProcessPool as exc:
        status = "incomplete"
        raise BatchError(
            f"a worker process died ({exc}); the {sum(counts.values())} replications finished "
            "so far are saved: rerun the same command to resume"
        ) from None
    except OSError as exc:  # a full disk, a folder made read-only, a lost network drive
        status = "incomplete"
        raise BatchError(
            f"cannot write to {folder}: {exc.strerror or exc}; the "
            f"{sum(counts.values())} replications finished so far are saved: fix this and rerun "
            "the same command to resume"
        ) from None
    finally:
        ctrl_c.stop()
        bar.close()
        outcomes.close()
        close()
        elapsed = time.perf_counter() - started
        for f in failures:
            f["rerun"] = _rerun_hint(files[labels.index(f["scenario"])], f, overrides)
        run_record.update(
            finished=_now(),
            seconds=round(elapsed, 3),
            replications_run=ran,
            compute_seconds=round(compute, 3),
            status=status,
        )
        manifest.update(status=status, finished=run_record["finished"])
        manifest["replications_done"] = counts
        manifest["failures"] = [{k: v for k, v in f.items() if k != "traceback"} for f in failures]
        # If even the manifest cannot be written, the one on disk says "running" with no
        # lock held: readers take that as interrupted, and a rerun resumes all the same.
        with contextlib.suppress(OSError):
            _write_manifest(manifest_path, manifest)
            if failures:
                write_json(folder / "failures.json", failures)
            elif (folder / "failures.json").exists() and status == "complete":
                (folder / "failures.json").unlink()
    return BatchSummary(folder, reps, counts, failures, ran, elapsed, engine)


def add_results(
    folder: str | Path,
    label: str,
    scenario: Scenario | Region,
    tables: dict[str, pd.DataFrame],
    seed: int,
    file: str | None = None,
) -> None:
    """Add one scenario's tables, run in memory (as by :func:`sim.experiment.run`), to a
    results folder, as if a batch had run them: the web app writes its options this way.
    Of a region, the tables hold every member's rows (their ``council`` column).

    Every scenario of one folder must share the seed.
    """
    folder = check_out(folder)
    folder.mkdir(parents=True, exist_ok=True)
    detail = all(t in tables for t in DETAIL_TABLES)
    with Lock(folder):
        path = folder / "manifest.json"
        entry = _entry(scenario, label, file, True)
        if path.is_file():
            manifest = results_manifest(folder)
            if manifest["seed"] != seed or bool(manifest.get("detail")) != detail:
                raise BatchError(f"{folder}: holds results of another seed or detail level")
            if any(s["label"] == label for s in manifest["scenarios"]):
                raise BatchError(f"{folder}: already holds a scenario labelled {label!r}")
            manifest["scenarios"].append(entry)
        else:
            manifest = _open(folder, seed, detail, [entry], "parquet", 0, False)
        index = len(manifest["scenarios"]) - 1
        snaps, flows = tables["snapshots"], tables["flows"]
        reps = sorted(int(r) for r in snaps["replication"].unique())
        # A region's KPIs are each member's, as a batch writes them (sim.results totals them).
        councils = scenario.councils if isinstance(scenario, Region) else [None]
        rows = []
        for r in reps:
            for council in councils:
                snap, flow = snaps[snaps["replication"] == r], flows[flows["replication"] == r]
                if council is not None:
                    snap, flow = snap[snap[COUNCIL] == council], flow[flow[COUNCIL] == council]
                row: dict[str, Any] = {"scenario": label, "replication": r}
                if council is not None:
                    row[COUNCIL] = council
                kpi = replication_kpis(snap.reset_index(drop=True), flow, scenario)
                rows.append({**row, "seed": seed, **kpi, "events": math.nan})
        kpis = pd.DataFrame(rows)
        parts = {
            name: _keyed(
                tables[name].drop(columns="replication"), label, tables[name]["replication"]
            )
            for name in (*TABLES[:2], *(DETAIL_TABLES if detail else ()))
        }
        _write_chunk(folder, Chunk(index, tuple(reps)), {**parts, "kpis": kpis}, "parquet")
        counts = manifest.setdefault("replications_done", {})
        counts[label] = len(reps)
        manifest.update(
            replications=max(manifest.get("replications", 0), len(reps)),
            status="complete",
            version=sim.__version__,
            commit=git_commit(),
        )
        _write_manifest(path, manifest)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    manifest["updated"] = _now()
    write_json(path, manifest)


def _write_chunk(
    folder: Path, chunk: Chunk, tables: dict[str, pd.DataFrame], fmt: str = "parquet"
) -> None:
    if "kpis" not in tables:
        return  # every replication of the chunk failed
    # kpis last: a chunk counts as finished only once its kpis part exists.
    for name in sorted(tables, key=lambda n: n == "kpis"):
        write_part(folder, name, chunk.stem, tables[name], fmt)


def _check_resume(
    manifest: dict[str, Any],
    folder: Path,
    seed: int,
    detail: bool,
    params: list[dict[str, Any]],
    table_format: str,
) -> None:
    labels = [e["label"] for e in params]
    old = [(s["label"], s.get("fingerprint")) for s in manifest["scenarios"]]
    new = [(e["label"], e["fingerprint"]) for e in params]
    problems = []
    there = manifest.get("table_format", "parquet")
    if there != table_format:
        problems.append(f"{there} tables there, {table_format} now")
    if manifest.get("seed") != seed:
        problems.append(f"master seed {manifest.get('seed')} there, {seed} now")
    if old != new:
        changed = [
            label
            for (label, fp), (olabel, ofp) in zip(new, old, strict=False)
            if label == olabel and fp != ofp
        ]
        if changed and len(old) == len(new):
            what = f"scenario content changed for {_short(changed)}"
            stored = {s["label"]: s.get("parameters") for s in manifest["scenarios"]}
            now = {e["label"]: e.get("parameters") for e in params}
            fields = sorted(
                {
                    f
                    for c in changed
                    if stored[c] is not None and now[c] is not None
                    for f in _differences(stored[c], now[c])
                }
            )
            if fields:
                what += f": {', '.join(fields[:5])}{' ...' if len(fields) > 5 else ''}"
        else:
            what = f"scenarios {_short([o[0] for o in old])} there, {_short(labels)} now"
        problems.append(what)
    if bool(manifest.get("detail")) != detail:
        problems.append(f"detail tables {'on' if manifest.get('detail') else 'off'} there")
    if problems:
        raise BatchError(
            f"cannot resume into {folder}: it was made with different inputs ("
            + "; ".join(problems)
            + "). Use a new --out folder, or rerun with the original scenarios, seed and format."
        )


def _short(items: list[str], n: int = 4) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return f"[{shown}{f', ... ({len(items)} in all)' if len(items) > n else ''}]"


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Dotted paths at which two parameter trees differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(set(a) | set(b))
            for d in _differences(a.get(k, _MISSING), b.get(k, _MISSING), _join(path, k))
        ]
    return [] if a == b else [path or "(top level)"]


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


_MISSING = object()


def _rerun_hint(file: str | None, failure: dict[str, Any], overrides: dict[str, Any]) -> str:
    target = repr(file) if file else f"<the '{failure['scenario']}' Scenario>"
    extra = "".join(f", {k}={v!r}" for k, v in overrides.items())
    return (
        f'python -c "from sim.batch import replay; replay({target}, seed={failure["seed"]}, '
        f'replication={failure["replication"]}{extra})"'
    )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
