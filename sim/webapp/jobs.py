"""Runs in the background: one job per press of "Run", each in its own folder.

A job runs every option of a comparison with the same seed and replication numbers, so
replication ``r`` of each option shares its random numbers (common random numbers) and the
options can be compared run by run. Jobs are queued and run one at a time (a laptop has few
cores); each has an unguessable id, so one user's results never show up for another.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import quantiles, year_end
from sim.batch import add_results
from sim.config import Scenario, ScenarioError
from sim.experiment import iter_replications, provenance
from sim.report import HEADLINE_COLUMNS, ReportData, ScenarioResult, save_report
from sim.webapp.scenarios import scenario_to_toml

log = logging.getLogger(__name__)

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Option:
    """One scenario of a comparison, after the user's levers were applied."""

    label: str
    scenario: Scenario
    source: str  # where the scenario came from, for the manifest


@dataclass
class Job:
    id: str
    options: list[Option]
    reps: int
    seed: int
    folder: Path
    status: str = "queued"  # queued, running, done, failed, cancelled
    done: int = 0
    message: str = "Waiting to start"
    error: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    results: list[ScenarioResult] = field(default_factory=list)
    scenario_files: list[str] = field(default_factory=list)
    view: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total(self) -> int:
        return self.reps * len(self.options)

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


def _replicate(scenario: Scenario, seed: int, rep: int) -> dict[str, pd.DataFrame]:
    """One replication's tables (runs in a worker process)."""
    return next(iter(iter_replications(scenario, [rep], seed)))


class Cancelled(Exception):
    pass


class JobManager:
    """Queue, run and keep jobs; build each finished job's view with ``make_view``."""

    def __init__(
        self,
        workdir: Path,
        workers: int = 1,
        make_view: Callable[[list[ScenarioResult]], dict[str, Any]] | None = None,
        keep: int = 30,
    ) -> None:
        self.workdir = workdir
        self.workers = workers
        self.make_view = make_view
        self.keep = keep
        self._jobs: dict[str, Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sufficiency-job")
        self._pool: ProcessPoolExecutor | None = None

    # -- public
    def submit(self, options: list[Option], reps: int, seed: int) -> Job:
        job_id = secrets.token_hex(16)
        job = Job(job_id, options, reps, seed, self.workdir / "runs" / job_id)
        with self._lock:
            self._jobs[job_id] = job
            self._order.append(job_id)
            self._forget_old()
        self._runner.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def position(self, job: Job) -> int:
        """How many jobs will run before this queued one."""
        with self._lock:
            ahead = [
                self._jobs[j] for j in self._order[: self._order.index(job.id)] if j in self._jobs
            ]
        return sum(j.status in ("queued", "running") for j in ahead)

    def shutdown(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel.set()
        self._runner.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    # -- files a finished job offers
    def files(self, job: Job) -> dict[str, str]:
        """Download name -> description, for a finished job."""
        if job.status != "done":
            return {}
        out = {
            "report.html": "Report (HTML, one file to share)",
            "snapshots.csv": "Monthly figures, every run (CSV)",
            "summary.csv": "Figures at each 31 March: median and 90% range (CSV)",
            "results.zip": "All tables (parquet) with manifests and scenarios",
        }
        for i, opt in enumerate(job.options, start=1):
            out[f"scenario-{i}.toml"] = f"Scenario: {opt.label} (TOML)"
        return out

    def file(self, job: Job, name: str) -> Path | None:
        """The path of download ``name`` of ``job``, built on first request; None if unknown."""
        if name not in self.files(job):
            return None
        path = job.folder / "downloads" / name
        with job.lock:
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                self._build_file(job, name, path)
        return path

    # -- internals
    def _forget_old(self) -> None:
        ended = ("done", "failed", "cancelled")
        finished = [j for j in self._order if self._jobs[j].status in ended]
        while len(self._order) > self.keep and finished:
            old = finished.pop(0)
            self._order.remove(old)
            job = self._jobs.pop(old)
            shutil.rmtree(job.folder, ignore_errors=True)

    def _pool_or_none(self) -> ProcessPoolExecutor | None:
        if self.workers <= 1:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        return self._pool

    def _replications(self, job: Job, option: Option) -> list[dict[str, pd.DataFrame]]:
        pool = self._pool_or_none()
        outs: list[dict[str, pd.DataFrame]] = []
        if pool is None:
            for out in iter_replications(option.scenario, range(job.reps), job.seed):
                outs.append(out)
                job.done += 1
                if job.cancel.is_set():
                    raise Cancelled
            return outs
        futures: list[Future] = [
            pool.submit(_replicate, option.scenario, job.seed, r) for r in range(job.reps)
        ]
        try:
            for fut in futures:
                while True:
                    if job.cancel.is_set():
                        raise Cancelled
                    try:
                        outs.append(fut.result(timeout=0.2))
                        break
                    except TimeoutError:
                        continue
                job.done += 1
        finally:
            for fut in futures:
                fut.cancel()
        return outs

    def _run(self, job: Job) -> None:
        if job.cancel.is_set():
            job.status, job.message = "cancelled", "Cancelled before it started"
            return
        job.status = "running"
        started = time.perf_counter()
        try:
            for i, option in enumerate(job.options, start=1):
                job.message = f"Running {option.label} ({i} of {len(job.options)})"
                outs = self._replications(job, option)
                tables = {
                    name: pd.concat([o[name] for o in outs], ignore_index=True) for name in outs[0]
                }
                manifest = provenance(
                    option.scenario,
                    job.seed,
                    job.reps,
                    label=option.label,
                    scenario_file=option.source,
                    seconds=round(time.perf_counter() - started, 2),
                )
                # All options in one results folder, as `sufficiency compare` writes it.
                add_results(
                    job.folder, option.label, option.scenario, tables, job.seed, option.source
                )
                name = f"scenario-{i}.toml"
                job.scenario_files.append(name)
                (job.folder / name).write_text(
                    scenario_to_toml(option.scenario, f"Option '{option.label}' of a web-app run"),
                    encoding="utf-8",
                )
                job.results.append(ScenarioResult({"snapshots": tables["snapshots"]}, manifest))
            job.message = "Drawing the charts"
            if self.make_view is not None:
                job.view = self.make_view(job.results)
            secs = time.perf_counter() - started
            job.status, job.message = "done", f"Finished {job.total} runs in {secs:.0f} s"
        except Cancelled:
            job.status, job.message = "cancelled", "Cancelled"
        except ScenarioError as exc:
            job.status, job.error = "failed", str(exc)
            job.message = "The scenario could not be run"
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("run %s failed (reference %s)", job.id, ref)
            job.status = "failed"
            job.message = "The run failed"
            job.error = (
                "Something went wrong on the server while running the model; nothing you "
                f"entered caused it. Please try again (reference {ref})."
            )
        finally:
            job.finished = time.time()

    def _build_file(self, job: Job, name: str, path: Path) -> None:
        if name == "report.html":
            save_report(ReportData(job.results), path)
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
        elif name.startswith("scenario-"):
            i = int(name.removeprefix("scenario-").removesuffix(".toml")) - 1
            shutil.copyfile(job.folder / job.scenario_files[i], path)
