"""Runs in the background: one job per press of "Run", each in its own folder.

A job runs every option of a comparison with the same seed and replication numbers, so
replication ``r`` of each option shares its random numbers (common random numbers) and the
options can be compared run by run. Jobs are queued and run one at a time (a laptop has few
cores); each has an unguessable id, so one user's results never show up for another.

Replications run in worker processes that belong to the job, so cancelling a job, deleting it
or stopping the app terminates them: a stuck or oversized run cannot hold the app. The queue,
each run's size and the disk space of kept results are bounded (``Limits``); results are kept
until the user deletes them, also across restarts of the app (each finished job's folder holds
``job.json``). A goal-seek job (``Seek``) runs the recruitment-target solver of
``sufficiency target`` in one worker process of its own, with progress and Cancel.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import queue
import re
import secrets
import shutil
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import forkserver, get_all_start_methods, get_context
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import quantiles, year_end
from sim.batch import add_results
from sim.config import Region, Scenario, ScenarioError, is_region, load_region, scenario_from_dict
from sim.experiment import provenance
from sim.report import HEADLINE_COLUMNS, ReportData, ScenarioResult, load_results, save_report
from sim.results import write_json
from sim.target import Goal, TargetResult
from sim.webapp.scenarios import region_to_toml, scenario_to_toml
from sim.webapp.worker import seek, work

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")
#: What a finished job was, in its folder, so that the app finds it again after a restart.
JOB_FILE = "job.json"


@dataclass(frozen=True)
class Limits:
    """What one app accepts: runs waiting or running, simulated years per run, disk use."""

    waiting: int = 4
    run_years: int = 2_000  # replications x years x options (x a region's councils)
    disk_bytes: int = 2 * 1024**3


class RunRefused(Exception):
    """A run or upload the app will not take, with the message to show."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Option:
    """One scenario of a comparison, after the user's levers were applied."""

    label: str
    scenario: Scenario | Region
    source: str  # where the scenario came from, for the manifest
    upload: str | None = None  # the id of the uploaded scenario it came from, if any


@dataclass(frozen=True)
class Seek:
    """A goal-seek: the smallest ``lever`` value (a multiple of ``step`` in ``low..high``)
    meeting ``goal`` with probability ``confidence``, found by :func:`sim.target.solve`, the
    lever raised from ``start`` (None: the scenario's start)."""

    goal: Goal
    confidence: float
    lever: str = "approvals"
    low: float = 0.0
    high: float = 300.0
    step: float = 5.0
    start: dt.date | None = None

    def runs(self, reps: int) -> int:
        """The most simulations the solver makes: per replication the two ends, the
        bisection between them, and the check of the answer."""
        steps = max(2, round((self.high - self.low) / self.step))
        return reps * (3 + math.ceil(math.log2(steps)))

    def settings(self, reps: int, seed: int) -> dict[str, Any]:
        return {
            "confidence": self.confidence,
            "lever": self.lever,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "start": self.start,
            "reps": reps,
            "seed": seed,
        }


@dataclass
class Job:
    id: str
    options: list[Option]
    reps: int
    seed: int
    folder: Path
    seek: Seek | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # as the page sent them, to restore
    status: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    message: str = "Waiting to start"
    error: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: list[ScenarioResult] = field(default_factory=list)
    scenario_files: list[str] = field(default_factory=list)
    view: dict[str, Any] | None = None
    answer: TargetResult | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        if self.seek is not None:
            return self.seek.runs(self.reps)
        return self.reps * len(self.options)

    @property
    def years(self) -> float:
        """Simulated years the job asks for: replications x years, summed over options (for
        a goal-seek, every simulation the solver may make)."""
        if self.seek is not None:
            return self.total * self.options[0].scenario.years
        return sum(self.reps * simulated_years(o.scenario) for o in self.options)

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def state(self, position: int = 0) -> dict[str, Any]:
        message = self.message
        if self.status == "queued" and position > 0:
            message = f"Waiting for {position} other run{'s' if position > 1 else ''} to finish"
        return {
            "id": self.id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "message": message,
            "error": self.error,
        }


class Cancelled(Exception):
    pass


class WorkerFailed(Exception):
    pass


def simulated_years(scenario: Scenario | Region) -> float:
    """Years one replication simulates: a region simulates each of its councils."""
    if isinstance(scenario, Region):
        return scenario.years * len(scenario.members)
    return scenario.years


def _stop(processes: list[Any]) -> None:
    """Terminate worker processes and wait for them, killing any that do not stop."""
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(timeout=3)
        if p.is_alive():
            p.kill()
            p.join(timeout=3)


_LEVER_WORDS = {"approvals": "approvals a year", "enquiries": "enquiries a year"}


def _finite(value: float) -> float | None:
    """A number for JSON: None where the goal was never met (infinity)."""
    return value if math.isfinite(value) else None


def _infinite(value: float | None) -> float:
    """A number from JSON, None back to infinity."""
    return math.inf if value is None else float(value)


def _receive(job: Job, processes: list[Any], out: Any) -> Any:
    """The next message of the job's worker processes, or None after a short wait; Cancelled
    if the job was cancelled, WorkerFailed if a worker stopped."""
    if job.cancel.is_set():
        raise Cancelled
    try:
        return out.get(timeout=0.2)
    except queue.Empty:
        stopped = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
        if stopped:
            # Ctrl+C reaches a worker still starting before it ignores SIGINT; the app's
            # shutdown then cancels the job within moments: not a failure.
            if job.cancel.wait(2.0):
                raise Cancelled from None
            raise WorkerFailed(f"a worker stopped (exit code {stopped[0]})") from None
        return None


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links are not followed)."""
    total = 0
    for f in folder.rglob("*"):
        try:
            if f.is_file() and not f.is_symlink():
                total += f.stat().st_size
        except OSError:
            continue
    return total


def _mb(n: float) -> str:
    return f"{n / 1024**2:,.0f} MB"


class JobManager:
    """Queue, run and keep jobs; build each finished job's view with ``make_view``."""

    def __init__(
        self,
        workdir: Path,
        workers: int = 1,
        make_view: Callable[[Job], dict[str, Any]] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.workdir = workdir
        self.workers = max(1, workers)
        self.make_view = make_view
        self.limits = limits or Limits()
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sufficiency-job")
        self._restore()
        # Workers are forked from a small server process that has already imported the model,
        # so a job's processes start in milliseconds and share nothing with the web server.
        self._forkserver = "forkserver" in get_all_start_methods()  # not on Windows
        self._context = get_context("forkserver") if self._forkserver else get_context("spawn")
        if self._forkserver:
            self._context.set_forkserver_preload(["sim.webapp.worker"])
        os.environ.setdefault("OMP_NUM_THREADS", "1")

    def start(self) -> None:
        """Start the workers' fork server now, so the first run does not wait for it."""
        if self._forkserver:
            threading.Thread(target=forkserver.ensure_running, daemon=True).start()

    # -- public
    def submit(
        self,
        options: list[Option],
        reps: int,
        seed: int,
        seek: Seek | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a job (a goal-seek on the one option if ``seek`` is given); RunRefused if it
        is too large, the queue is full or the disk quota used."""
        job_id = secrets.token_hex(16)
        folder = self.workdir / "runs" / job_id
        job = Job(job_id, options, reps, seed, folder, seek, inputs or {})
        if job.years > self.limits.run_years:
            raise RunRefused(self._too_large(job), 413)
        self.check_disk()
        with self._lock:
            waiting = sum(j.active for j in self._jobs.values())
            if waiting >= self.limits.waiting:
                raise RunRefused(
                    f"The app already has {waiting} runs waiting or running, the most it takes; "
                    "wait for one to finish or cancel one, then press Run again.",
                    429,
                )
            self._jobs[job_id] = job
            self._order.append(job_id)
        self._runner.submit(self._run, job)
        return job

    def check_disk(self) -> None:
        """RunRefused if the kept results and uploads have reached the disk quota."""
        used, quota = folder_bytes(self.workdir), self.limits.disk_bytes
        if used >= quota:
            raise RunRefused(
                f"The runs kept by the app take {_mb(used)}, its limit is {_mb(quota)} (in "
                f"{self.workdir}). Delete runs you no longer need with their Delete button, or "
                "start the app with another folder (sufficiency serve --workdir FOLDER).",
                507,
            )

    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many jobs will run before this queued one."""
        with self._lock:
            if job.id not in self._order:  # deleted meanwhile
                return 0
            ahead = [
                self._jobs[j] for j in self._order[: self._order.index(job.id)] if j in self._jobs
            ]
        return sum(j.active for j in ahead)

    def view(self, job: Job) -> dict[str, Any] | None:
        """What the page shows for a finished job (built on first request after a restart)."""
        if job.status != "done" or self.make_view is None:
            return None
        with job.lock:
            if job.view is None and not job.deleted:
                self._results(job)
                job.view = self.make_view(job)
        return job.view

    def councils(self, job: Job) -> list[str]:
        """The member councils of the job's regions, in their region files' order."""
        names: list[str] = []
        for o in job.options:
            if isinstance(o.scenario, Region):
                names += [c for c in o.scenario.councils if c not in names]
        return names

    def locked(self, job: Job, read: Callable[[], Any]) -> Any:
        """``read()`` of a finished job's folder, which a delete cannot remove meanwhile."""
        with job.lock:
            if job.deleted:
                raise RunRefused("This run was deleted.", 404)
            return read()

    def delete(self, job: Job) -> None:
        """Forget the job and remove its folder, stopping it first if it is queued or running."""
        with self._lock:
            self._jobs.pop(job.id, None)
            if job.id in self._order:
                self._order.remove(job.id)
            job.deleted = True
            job.cancel.set()
            active = job.active
        if not active:  # else the job's own thread removes the folder when it stops
            with job.lock:
                shutil.rmtree(job.folder, ignore_errors=True)

    def uploads_in_use(self) -> set[str]:
        """Ids of uploaded scenarios that a kept job used."""
        with self._lock:
            return {o.upload for j in self._jobs.values() for o in j.options if o.upload}

    def shutdown(self) -> None:
        """Cancel every job and wait until their worker processes have stopped."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel.set()
        self._runner.shutdown(wait=True, cancel_futures=True)

    # -- files a finished job offers
    def files(self, job: Job) -> dict[str, str]:
        """Download name -> description, for a finished job."""
        if job.status != "done":
            return {}
        if job.seek is not None:
            return {
                "target.json": "The answer, each run's threshold and how it was made (JSON)",
                "scenario-1.toml": f"Scenario: {job.options[0].label} (TOML)",
            }
        out = {
            "report.html": "Report (HTML, one file to share)",
            "snapshots.csv": "Monthly figures, every run (CSV)",
            "summary.csv": "Figures at each 31 March: mean and 90% range (CSV)",
            "results.zip": "All tables (parquet) with manifests and scenarios",
        }
        for i, opt in enumerate(job.options, start=1):
            if isinstance(opt.scenario, Region):
                out[f"scenario-{i}.toml"] = f"Region: {opt.label} (TOML, names the files below)"
                for k, member in enumerate(opt.scenario.members, start=1):
                    out[f"scenario-{i}-{k}.toml"] = f"Member of {opt.label}: {member.name} (TOML)"
            else:
                out[f"scenario-{i}.toml"] = f"Scenario: {opt.label} (TOML)"
        return out

    def file(self, job: Job, name: str) -> Path | None:
        """The path of download ``name`` of ``job``, built on first request; None if unknown."""
        if name not in self.files(job):
            return None
        path = job.folder / "downloads" / name
        with job.lock:
            if job.deleted:
                return None
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                self._results(job)
                self._build_file(job, name, path)
        return path

    # -- kept across restarts
    def _save(self, job: Job) -> None:
        """Write what the finished job was into its folder (a failure only logs: the job is
        still shown until the app stops)."""
        seek = job.seek
        record = {
            "id": job.id,
            "reps": job.reps,
            "seed": job.seed,
            "done": job.done,
            "message": job.message,
            "created": job.created,
            "finished": job.finished or time.time(),
            "inputs": job.inputs,
            "options": [
                {"label": o.label, "source": o.source, "upload": o.upload} for o in job.options
            ],
            "scenario_files": job.scenario_files,
            "seek": None
            if seek is None
            else {
                "goal": vars(seek.goal),
                "confidence": seek.confidence,
                "lever": seek.lever,
                "low": seek.low,
                "high": seek.high,
                "step": seek.step,
                "start": seek.start.isoformat() if seek.start else None,
            },
        }
        try:
            write_json(job.folder / JOB_FILE, record)
        except OSError as exc:
            log.warning("run %s: could not keep it for the next start: %s", job.id, exc)

    def _restore(self) -> None:
        """Take back the finished jobs kept in the working folder, oldest first."""
        found = []
        for path in (self.workdir / "runs").glob(f"*/{JOB_FILE}"):
            try:
                found.append(self._load(path))
            except (OSError, ValueError, KeyError, TypeError, ScenarioError) as exc:
                log.warning("run folder %s could not be read back: %s", path.parent, exc)
        for job in sorted(found, key=lambda j: j.created):
            self._jobs[job.id] = job
            self._order.append(job.id)

    def _load(self, path: Path) -> Job:
        r = json.loads(path.read_text(encoding="utf-8"))
        folder = path.parent
        if r["id"] != folder.name or not JOB_ID.match(r["id"]):
            raise ValueError("the folder's name is not its run's id")
        scenarios = [
            load_region(folder / f)
            if is_region(folder / f)
            else scenario_from_dict(tomllib.loads((folder / f).read_text(encoding="utf-8")), f)
            for f in r["scenario_files"]
        ]
        options = [
            Option(o["label"], sc, o["source"], o["upload"])
            for o, sc in zip(r["options"], scenarios, strict=True)
        ]
        seek = None
        if r["seek"] is not None:
            s = r["seek"]
            start = dt.date.fromisoformat(s["start"]) if s.get("start") else None
            seek = Seek(
                Goal(**s["goal"]),
                s["confidence"],
                s["lever"],
                s["low"],
                s["high"],
                s["step"],
                start,
            )
        job = Job(r["id"], options, r["reps"], r["seed"], folder, seek, r["inputs"])
        job.status, job.done, job.message = "done", r["done"], r["message"]
        job.created, job.finished = r["created"], r["finished"]
        job.scenario_files = r["scenario_files"]
        if seek is not None:
            t = json.loads((folder / "target.json").read_text(encoding="utf-8"))
            job.answer = TargetResult(
                t["lever"],
                seek.goal,
                t["confidence"],
                _infinite(t["answer"]),
                (_infinite(t["interval"][0]), _infinite(t["interval"][1])),
                [_infinite(v) for v in t["thresholds"]],
                t["achieved"],
                t["runs"],
                t["funnel"],
            )
        return job

    def _results(self, job: Job) -> None:
        """Read a comparison's results back from its folder if the app was restarted (of a
        region: its totals)."""
        if job.seek is None and not job.results:
            job.results = load_results(job.folder).results

    # -- internals
    def _too_large(self, job: Job) -> str:
        n, years = len(job.options), job.options[0].scenario.years
        if job.seek is not None:
            g = job.seek.goal
            cli = (
                f"sufficiency target scenario-1.toml --goal '{g.column} {g.op} {g.value:g}' "
                f"--by {g.year} --confidence {job.seek.confidence:g} --lever {job.seek.lever} "
                f"--low {job.seek.low:g} --high {job.seek.high:g} --step {job.seek.step:g} "
                f"--reps {job.reps}"
                + (f" --starts {job.seek.start.isoformat()}" if job.seek.start else "")
            )
            size = f"up to {job.total} simulations × {years:g} years"
        else:
            cli = (
                f"sufficiency run scenario-1.toml --reps {job.reps} --years {years:g}"
                if n == 1
                else (
                    "sufficiency compare "
                    + " ".join(f"scenario-{i}.toml" for i in range(1, n + 1))
                    + f" --reps {job.reps} --years {years:g}"
                )
            )
            size = f"{n} option{'s' if n > 1 else ''} × {job.reps} runs × {years:g} years"
            councils = sum(
                len(o.scenario.members) if isinstance(o.scenario, Region) else 1
                for o in job.options
            )
            if councils > n:
                size += f", {councils} councils in all (a region simulates each of its councils)"
        return (
            f"This run is too large for the app: {size} = {job.years:,.0f} simulated years, "
            "and the app runs at "
            f"most {self.limits.run_years:,} at a time. Use fewer runs, years or options; or "
            "download the scenario files from a smaller run and run it from the command line, "
            f"which has no such limit: {cli}"
        )

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            if job.cancel.is_set():
                job.status, job.message = "cancelled", "Cancelled before it started"
                return
            job.status = "running"
            if job.seek is not None:
                self._seek(job, started)
            else:
                self._simulate(job)
            job.message = "Drawing the charts"
            if self.make_view is not None:
                job.view = self.make_view(job)
            secs = time.perf_counter() - started
            job.status, job.message = "done", f"Finished {job.done} runs in {secs:.0f} s"
            self._save(job)
        except Cancelled:
            job.status, job.message = "cancelled", "Cancelled"
        except ScenarioError as exc:
            job.status, job.error = "failed", str(exc)
            job.message = "The scenario could not be run"
        except Exception as exc:
            ref = secrets.token_hex(4)
            log.error("run %s failed (reference %s)", job.id, ref, exc_info=exc)
            job.status = "failed"
            job.message = "The run failed"
            job.error = (
                "Something went wrong on the server while running the model; nothing you "
                f"entered caused it. Please try again (reference {ref})."
            )
        finally:
            job.finished = time.time()
            with self._lock:
                deleted = job.deleted
            if deleted:
                with job.lock:
                    shutil.rmtree(job.folder, ignore_errors=True)

    def _simulate(self, job: Job) -> None:
        """Run every replication of every option in the job's worker processes; write each
        option's tables as soon as its last replication arrives."""
        tasks = [(i, r) for i in range(len(job.options)) for r in range(job.reps)]
        n = min(self.workers, len(tasks))
        out = self._context.Queue()
        scenarios = [o.scenario for o in job.options]
        processes = [
            self._context.Process(
                target=work,
                args=(os.getpid(), scenarios, job.seed, tasks[k::n], out),
                daemon=True,
            )
            for k in range(n)
        ]
        got: dict[int, dict[int, dict[str, pd.DataFrame]]] = {i: {} for i in range(len(scenarios))}
        written: dict[int, str] = {}
        try:
            for p in processes:
                p.start()
            while len(written) < len(scenarios):
                first = min(set(range(len(scenarios))) - set(written))
                label = job.options[first].label
                job.message = f"Running {label} ({first + 1} of {len(scenarios)})"
                message = _receive(job, processes, out)
                if message is None:
                    continue
                i, rep, tables, error = message
                if error is not None:
                    kind, text = error
                    raise ScenarioError(text) if kind == "scenario" else WorkerFailed(text)
                got[i][rep] = tables
                job.done += 1
                if len(got[i]) == job.reps:
                    outs = got.pop(i)
                    in_order = [outs[r] for r in range(job.reps)]
                    written[i] = self._write_option(job, i, in_order)
        finally:
            _stop(processes)
            out.close()
        job.scenario_files = [written[i] for i in range(len(scenarios))]
        # Read back from the folder: the provenance and tables are the manifest's and the
        # folder's, as every later reader sees them (of a region: its councils' totals).
        job.results = load_results(job.folder).results

    def _seek(self, job: Job, started: float) -> None:
        """Run the goal-seek in one worker process of the job; keep its answer and write it
        with its provenance and the scenario it was found for."""
        option = job.options[0]
        assert job.seek is not None and isinstance(option.scenario, Scenario)
        out = self._context.Queue()
        process = self._context.Process(
            target=seek,
            args=(
                os.getpid(),
                option.scenario,
                job.seek.goal,
                job.seek.settings(job.reps, job.seed),
                out,
            ),
            daemon=True,
        )
        job.message = f"Searching for the smallest {_LEVER_WORDS[job.seek.lever]}"
        process.start()
        try:
            while job.answer is None:
                message = _receive(job, [process], out)
                if message is None:
                    continue
                kind, payload = message
                if kind == "progress":
                    job.done = min(payload, job.total)
                elif kind == "error":
                    what, text = payload
                    raise ScenarioError(text) if what == "scenario" else WorkerFailed(text)
                else:
                    job.answer = payload
        finally:
            _stop([process])
            out.close()
        answer = job.answer
        job.done = answer.runs
        job.folder.mkdir(parents=True, exist_ok=True)
        g = answer.goal
        record = provenance(
            option.scenario,
            job.seed,
            job.reps,
            label=option.label,
            scenario_file=option.source,
            seconds=round(time.perf_counter() - started, 2),
            goal={
                "measure": g.column,
                "table": g.table,
                "op": g.op,
                "value": g.value,
                "by": g.year,
            },
            lever=answer.lever,
            confidence=answer.confidence,
            range={"low": job.seek.low, "high": job.seek.high, "step": job.seek.step},
            starts=(job.seek.start or option.scenario.start).isoformat(),
            answer=_finite(answer.answer),
            interval=[_finite(v) for v in answer.interval],
            thresholds=[_finite(v) for v in answer.thresholds],
            achieved=answer.achieved,
            runs=answer.runs,
            funnel=answer.funnel,
        )
        (job.folder / "target.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        (job.folder / "scenario-1.toml").write_text(
            scenario_to_toml(option.scenario, f"Goal-seek '{option.label}' of a web-app run"),
            encoding="utf-8",
        )
        job.scenario_files = ["scenario-1.toml"]

    def _write_option(self, job: Job, i: int, outs: list[dict[str, pd.DataFrame]]) -> str:
        option = job.options[i]
        tables = {name: pd.concat([o[name] for o in outs], ignore_index=True) for name in outs[0]}
        # All options in one results folder, as `sufficiency compare` writes it.
        add_results(job.folder, option.label, option.scenario, tables, job.seed, option.source)
        name = f"scenario-{i + 1}.toml"
        comment = f"Option '{option.label}' of a web-app run"
        if isinstance(option.scenario, Region):
            members = [
                f"scenario-{i + 1}-{k}.toml" for k in range(1, len(option.scenario.members) + 1)
            ]
            for member, scenario in zip(members, option.scenario.members, strict=True):
                (job.folder / member).write_text(
                    scenario_to_toml(scenario, f"{comment}: member of the region {name}"),
                    encoding="utf-8",
                )
            text = region_to_toml(option.scenario, members, comment)
        else:
            text = scenario_to_toml(option.scenario, comment)
        (job.folder / name).write_text(text, encoding="utf-8")
        return name

    def _build_file(self, job: Job, name: str, path: Path) -> None:
        if name == "report.html":
            regions = any(isinstance(o.scenario, Region) for o in job.options)
            # Of a region, the report adds each council's figures, as `sufficiency report` does.
            save_report(load_results(job.folder) if regions else ReportData(job.results), path)
        elif name == "snapshots.csv":
            frames = [
                r.snapshots.assign(option=r.label)[["option", *r.snapshots.columns]]
                for r in job.results
            ]
            pd.concat(frames, ignore_index=True).to_csv(path, index=False)
        elif name == "summary.csv":
            rows = []
            for r in job.results:
                cols = [c for c in HEADLINE_COLUMNS if c in r.snapshots]
                q = quantiles(year_end(r.snapshots), ["year"], cols)
                rows.append(q.assign(option=r.label)[["option", *q.columns]])
            pd.concat(rows, ignore_index=True).to_csv(path, index=False)
        elif name == "results.zip":
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(job.folder.rglob("*")):
                    if f.is_file() and "downloads" not in f.relative_to(job.folder).parts:
                        zf.write(f, f.relative_to(job.folder).as_posix())
        elif name == "target.json":
            shutil.copyfile(job.folder / name, path)
        elif name.startswith("scenario-"):
            shutil.copyfile(job.folder / name, path)
