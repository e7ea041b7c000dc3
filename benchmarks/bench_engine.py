"""How fast the model runs compared with SimPy itself, and how much memory a replication takes.

Run from the repository root::

    python benchmarks/bench_engine.py             # a plain table
    python benchmarks/bench_engine.py --markdown  # a table for benchmarks/README.md

Figures (all measured in this one run, on this machine):

(a) bare SimPy: ``--processes`` processes, each doing ``yield env.timeout(rng.exponential(1))``
    until ``--bare-events`` timeouts have fired in all; events per second of wall time. The
    draws come from :class:`sim.rng.Stream`, the model's own buffered stream, so the
    comparison is of the engine and not of the random number generator.
(b) one Kent baseline replication, ``World(scenario, make_streams(seed, rep)).run()``, timed
    for ``--reps`` replications; median wall time and median events per second, where the
    events are ``world.events`` (one per fired model callback or arrival).
(c) the ratio of (b)'s events per second to (a)'s: the share of SimPy's bare speed the model
    keeps with its own work per event. Goal: at least 0.5.
(d) peak Python memory of one replication (``tracemalloc``, in a separate untimed run, since
    tracing slows the run down).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import simpy  # noqa: E402

from sim.config import load_scenario  # noqa: E402
from sim.model.world import World  # noqa: E402
from sim.rng import Stream, make_streams  # noqa: E402

SCENARIO = ROOT / "scenarios" / "kent_baseline.toml"


def bare_simpy(total_events: int, processes: int, seed: int) -> tuple[int, float]:
    """Fire about ``total_events`` exponential timeouts across ``processes`` processes.

    Returns the number of timeouts fired and the wall time in seconds.
    """
    rng = Stream(np.random.SeedSequence(seed))
    env = simpy.Environment()
    per_process = total_events // processes

    def worker(env: simpy.Environment):
        for _ in range(per_process):
            yield env.timeout(rng.exponential(1.0))

    for _ in range(processes):
        env.process(worker(env))
    t0 = time.perf_counter()
    env.run()
    return per_process * processes, time.perf_counter() - t0


def replication(scenario, seed: int, rep: int) -> tuple[int, float]:
    """Run one replication; return its model events and wall time in seconds."""
    t0 = time.perf_counter()
    world = World(scenario, make_streams(seed, rep))
    world.run()
    return world.events, time.perf_counter() - t0


def peak_memory(scenario, seed: int, rep: int) -> int:
    """Peak bytes allocated by Python while building and running one replication."""
    tracemalloc.start()
    try:
        world = World(scenario, make_streams(seed, rep))
        world.run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def git_commit() -> str:
    """Short commit of the tree measured, with ``-dirty`` if tracked files were modified."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def measure(args: argparse.Namespace) -> dict:
    scenario = load_scenario(SCENARIO, {"years": args.years})

    bare_simpy(min(20_000, args.bare_events), args.processes, args.seed)  # warm-up
    bare_n, bare_s = bare_simpy(args.bare_events, args.processes, args.seed)

    runs = [replication(scenario, args.seed, rep) for rep in range(args.reps)]
    walls = [s for _, s in runs]
    rates = [n / s for n, s in runs]
    model_rate = statistics.median(rates)

    return {
        "bare_events": bare_n,
        "bare_seconds": bare_s,
        "bare_rate": bare_n / bare_s,
        "model_events": statistics.median(n for n, _ in runs),
        "model_seconds": statistics.median(walls),
        "model_seconds_range": (min(walls), max(walls)),
        "model_rate": model_rate,
        "ratio": model_rate / (bare_n / bare_s),
        "peak_mib": peak_memory(scenario, args.seed, 0) / 2**20,
        "date": dt.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "simpy": simpy.__version__,
        "commit": git_commit(),
    }


def rows(m: dict, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    lo, hi = m["model_seconds_range"]
    return [
        (
            "(a) Bare SimPy",
            f"{m['bare_rate']:,.0f} events/s",
            f"{m['bare_events']:,} timeouts, {args.processes} processes, {m['bare_seconds']:.2f} s",
        ),
        (
            f"(b) Kent baseline, {args.years:g} years: wall time",
            f"{m['model_seconds']:.2f} s",
            f"median of {args.reps} replications (range {lo:.2f}-{hi:.2f} s)",
        ),
        (
            "(b) Kent baseline: model events/s",
            f"{m['model_rate']:,.0f} events/s",
            f"median; {m['model_events']:,.0f} model events per replication (median)",
        ),
        ("(c) Ratio model / bare SimPy", f"{m['ratio']:.2f}", "goal >= 0.5"),
        ("(d) Peak memory, one replication", f"{m['peak_mib']:.1f} MiB", "tracemalloc peak"),
    ]


def context(m: dict) -> str:
    return (
        f"{m['date']}, {m['cpus']} CPUs (nproc), Python {m['python']}, SimPy {m['simpy']}, "
        f"commit {m['commit']}"
    )


def print_text(m: dict, args: argparse.Namespace) -> None:
    table = rows(m, args)
    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    print(f"Engine benchmark: {context(m)}")
    for name, value, note in table:
        print(f"  {name:<{w0}}  {value:>{w1}}  {note}")


def print_markdown(m: dict, args: argparse.Namespace) -> None:
    print(f"Measured by `python benchmarks/bench_engine.py --markdown`: {context(m)}.")
    print()
    print("| Figure | Value | Notes |")
    print("|---|---:|---|")
    for name, value, note in rows(m, args):
        print(f"| {name} | {value} | {note} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--reps", type=int, default=5, help="timed replications (default 5)")
    parser.add_argument("--years", type=float, default=10, help="horizon in years (default 10)")
    parser.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    parser.add_argument(
        "--bare-events", type=int, default=300_000, help="bare SimPy timeouts (default 300000)"
    )
    parser.add_argument(
        "--processes", type=int, default=100, help="bare SimPy processes (default 100)"
    )
    args = parser.parse_args(argv)
    m = measure(args)
    if args.markdown:
        print_markdown(m, args)
    else:
        print_text(m, args)


if __name__ == "__main__":
    main()
