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
from sim.config import Scenario
from sim.model import simulate
from sim.outputs import fmt, title

#: The figures the command-line summary shows (titles and units from :mod:`sim.outputs`).
SUMMARY_COLUMNS = (
    "children_in_care",
    "in_house",
    "connected",
    "ifa_framework",
    "ifa_spot",
    "residential",
    "supported",
    "unregistered",
    "waiting",
    "households",
    "places_vacant",
    "weekly_cost",
    "kpi_within_20_miles",
    "kpi_3plus_placements",
)


def _one(args: tuple[Scenario, int, int]) -> dict[str, pd.DataFrame]:
    scenario, seed, rep = args
    res = simulate(scenario, seed=seed, replication=rep)
    out = {}
    for name, df in res.tables().items():
        df = df.copy()
        df.insert(0, "replication", rep)
        out[name] = df
    out["meta"] = pd.DataFrame([{"replication": rep, **res.meta}])
    return out


def iter_replications(
    scenario: Scenario,
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
    scenario: Scenario, reps: int, seed: int = 0, workers: int = 1, progress: bool = False
) -> dict[str, pd.DataFrame]:
    """Run ``reps`` replications and stack their tables (with a ``replication`` column).

    The result does not depend on ``workers``: replication ``r`` always uses the streams of
    ``(seed, r)``.
    """
    parts: dict[str, list[pd.DataFrame]] = {}
    for out in iter_replications(scenario, range(reps), seed, workers, progress):
        for name, df in out.items():
            parts.setdefault(name, []).append(df)
    return {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}


def quantiles(df: pd.DataFrame, by: str, columns: list[str]) -> pd.DataFrame:
    """Median and 90% interval over replications of ``columns`` for each value of ``by``."""
    g = df.groupby(by)[columns]
    out = pd.concat(
        {"p05": g.quantile(0.05), "median": g.median(), "p95": g.quantile(0.95)}, axis=1
    )
    return out.swaplevel(axis=1).sort_index(axis=1, level=0, sort_remaining=False)


def yearly_summary(
    tables: dict[str, pd.DataFrame], columns: list[str] | None = None
) -> pd.DataFrame:
    """Headline stocks at each 31 March: median and 90% interval across replications."""
    snaps = tables["snapshots"]
    dates = pd.to_datetime(snaps["date"])
    march = snaps[(dates.dt.month == 3) & (dates.dt.day == 31)].copy()
    march["year"] = pd.to_datetime(march["date"]).dt.year
    return quantiles(march, "year", columns or list(SUMMARY_COLUMNS))


def format_summary(summary: pd.DataFrame) -> str:
    """A readable text table: each cell ``median [p05, p95]``."""
    rows = []
    present = set(summary.columns.get_level_values(0))
    order = [c for c in SUMMARY_COLUMNS if c in present] + sorted(present - set(SUMMARY_COLUMNS))
    for year, r in summary.iterrows():
        cells = {"31 March": str(year)}
        for col in order:
            med, lo, hi = (fmt(col, r[(col, q)]) for q in ("median", "p05", "p95"))
            cells[title(col)] = f"{med} [{lo}, {hi}]"
        rows.append(cells)
    return pd.DataFrame(rows).set_index("31 March").T.to_string()


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


def provenance(scenario: Scenario, seed: int, reps: int, **extra: Any) -> dict[str, Any]:
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


def year_end(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The snapshot rows at each 31 March (financial year ends), with a ``year`` column."""
    dates = pd.to_datetime(snapshots["date"])
    out = snapshots[(dates.dt.month == 3) & (dates.dt.day == 31)].copy()
    out["year"] = pd.to_datetime(out["date"]).dt.year
    return out


def slug(text: str) -> str:
    """A file-name-safe form of a scenario or option name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "option"


def write_comparison(
    out: Path, options: list[tuple[str, dict[str, pd.DataFrame], dict[str, Any]]], fmt: str
) -> list[str]:
    """Write each option's tables to ``out/<nn>-<slug>/`` and their order, base first, to
    ``out/comparison.json``: the layout ``sufficiency report`` reads as a comparison."""
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (label, tables, manifest) in enumerate(options):
        name = f"{i:02d}-{slug(label)}"
        write_tables(tables, out / name, fmt, manifest)
        names.append(name)
    (out / "comparison.json").write_text(json.dumps(names), encoding="utf-8")
    return names


def write_tables(
    tables: dict[str, pd.DataFrame], out: Path, fmt: str, manifest: dict[str, Any]
) -> list[Path]:
    """Write each table as ``out/<name>.<fmt>`` and the provenance as ``manifest.json``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in tables.items():
        df = df.copy()
        for col in df.columns:
            if df[col].dtype == object and df[col].map(type).eq(dt.date).any():
                df[col] = pd.to_datetime(df[col])
        if "scenario" not in df:
            df.insert(0, "scenario", manifest["scenario"])
        if "seed" not in df:
            df.insert(1, "seed", manifest["seed"])
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        paths.append(path)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    paths.append(out / "manifest.json")
    return paths
