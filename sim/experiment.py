"""Replications of a scenario, tidy tables across them, and their provenance.

The runner knows nothing of the model's insides: it sends a scenario, a master seed and a
replication index to :func:`sim.model.simulate` (in this process or a worker) and stacks the
tables it gets back.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

import sim
from sim.config import Region, Scenario
from sim.model import simulate
from sim.region import simulate_region


def _one(args: tuple[Scenario | Region, int, int]) -> dict[str, pd.DataFrame]:
    scenario, seed, rep = args
    if not isinstance(scenario, Region):
        res = simulate(scenario, seed=seed, replication=rep)
        out = {}
        for name, df in res.tables().items():
            df = df.copy()
            df.insert(0, "replication", rep)
            out[name] = df
        out["meta"] = pd.DataFrame([{"replication": rep, **res.meta}])
        return out
    # A region: each member's rows, with its council (sim.results.COUNCIL).
    parts: dict[str, list[pd.DataFrame]] = {}
    for council, res in simulate_region(scenario, seed=seed, replication=rep).items():
        tables = {**res.tables(), "meta": pd.DataFrame([res.meta])}
        for name, df in tables.items():
            df = df.copy()
            df.insert(0, "council", council)
            df.insert(0, "replication", rep)
            parts.setdefault(name, []).append(df)
    return {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}


def iter_replications(
    scenario: Scenario | Region,
    reps: Iterable[int],
    seed: int,
    workers: int = 1,
    progress: bool = False,
) -> Iterable[dict[str, pd.DataFrame]]:
    """Yield each replication's tables, in replication order, as they finish."""
    reps = list(reps)
    jobs = [(scenario, seed, r) for r in reps]
    bar = tqdm(total=len(jobs), desc=scenario.name, unit="rep", disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _one(job)
                bar.update()
        else:
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for out in pool.map(_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))):
                    yield out
                    bar.update()
    finally:
        bar.close()


def run(
    scenario: Scenario | Region, reps: int, seed: int = 0, workers: int = 1, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Run ``reps`` replications and stack their tables (with a ``replication`` column and,
    of a region, a ``council`` column).

    The result does not depend on ``workers``: replication ``r`` always uses the streams of
    ``(seed, r)``.
    """
    parts: dict[str, list[pd.DataFrame]] = {}
    for out in iter_replications(scenario, range(reps), seed, workers, progress):
        for name, df in out.items():
            parts.setdefault(name, []).append(df)
    return {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}


def git_commit() -> str:
    """The commit of the source tree the package runs from, or ``"unknown"``."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(scenario: Scenario | Region, seed: int, reps: int, **extra: Any) -> dict[str, Any]:
    """What a reader needs to reproduce a set of outputs."""
    return {
        "scenario": scenario.name,
        "parameters": json.loads(scenario.model_dump_json()),
        "seed": seed,
        "replications": reps,
        "package": "placement-sufficiency",
        "version": sim.__version__,
        "commit": git_commit(),
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }


def slug(text: str) -> str:
    """A file-name-safe form of a scenario or option name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "option"
