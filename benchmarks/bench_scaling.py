"""Scaling benchmark: replication cost against council size, memory, batch throughput, Dask.

Prints, in one run, markdown tables of:

1. time per replication (wall and CPU) and peak memory against size: Kent x 1, 4, 16, 40
   (``sim.scaling.scaled``), each in a fresh process;
2. batch throughput with 1 and 2 local worker processes, and the parallel efficiency;
3. the same batch on a Dask ``LocalCluster`` (2 single-threaded worker processes) against the
   local process pool;
4. optionally (``--england``) one replication of ``scenarios/england.toml``.

Usage::

    .venv/bin/python benchmarks/bench_scaling.py              # about 10 minutes on 2 cores
    .venv/bin/python benchmarks/bench_scaling.py --quick      # about a minute
    .venv/bin/python benchmarks/bench_scaling.py --england    # adds England (several minutes)

CPU seconds are reported beside wall seconds because a shared machine's load inflates wall
time; the load average at the start and end is printed for the same reason.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KENT = ROOT / "scenarios" / "kent_baseline.toml"
GOAL_REPS, GOAL_SECONDS = 1000, 120.0


def _one_replication(
    path: str, factor: float, years: float, split: int | None = None
) -> dict[str, float]:
    """Run in a fresh process: one replication's wall and CPU time, events and peak memory."""
    from sim import load_scenario
    from sim.model import simulate
    from sim.scaling import scaled

    scenario = load_scenario(path, {"years": years})
    if factor != 1:
        scenario = scaled(scenario, factor, split)
    simulate(load_scenario(KENT, {"years": 0.1}), seed=0, replication=99)  # warm imports
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.perf_counter(), time.process_time()
    res = simulate(scenario, seed=1, replication=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "wall": wall,
        "cpu": cpu,
        "events": float(res.meta.get("events", 0)),
        "children": float(res.snapshots["children_in_care"].iloc[0]),
        "households": float(res.snapshots["households"].iloc[0]),
        "areas": float(len(scenario.areas)),
        "rss_mb": peak / 1024,
        "extra_mb": max(peak - before, 0) / 1024,
    }


def _fresh(path: Path, factor: float, years: float, split: int | None = None) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_one_replication, str(path), factor, years, split).result()


def size_table(factors: list[float], years: list[float], split: int | None = None) -> None:
    areas = "four areas throughout" if split == 1 else "areas growing with the square root of size"
    print(f"\n### Time and memory per replication against size ({areas})\n")
    print(
        "| size | areas | children in care | households | years | wall s | CPU s | events "
        "| CPU s per Kent-year | peak RSS MB | of which the replication MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for factor, y in zip(factors, years, strict=True):
        r = _fresh(KENT, factor, y, split)
        per = r["cpu"] / (factor * y)
        print(
            f"| Kent x {factor:g} | {r['areas']:.0f} | {r['children']:,.0f} | "
            f"{r['households']:,.0f} | {y:g} | {r['wall']:.2f} | {r['cpu']:.2f} | "
            f"{r['events']:,.0f} | {per:.3f} | {r['rss_mb']:.0f} | {r['extra_mb']:.0f} |",
            flush=True,
        )


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (pool and Dask workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _batch(reps: int, years: float, workers: int, scheduler: str | None) -> tuple[float, float]:
    """Wall and CPU seconds (all processes) of one batch, written to a temporary folder."""
    from sim import load_scenario
    from sim.batch import run_batch

    scenario = load_scenario(KENT, {"years": years})
    out = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        cpu, started = _cpu(), time.perf_counter()
        summary = run_batch(
            [scenario], reps, out, seed=1, workers=workers, scheduler=scheduler, progress=False
        )
        elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
        assert summary.complete, summary.message()
        return elapsed, cpu
    finally:
        shutil.rmtree(out, ignore_errors=True)


def throughput_table(reps: int, years: float, dask: bool) -> None:
    print(f"\n### Batch throughput: {reps} Kent replications of {years:g} years\n")
    print(
        "| engine | workers | wall s | replications/s | parallel efficiency (wall) "
        "| CPU s, all processes | CPU overhead vs in-process | 1,000 reps at this rate |"
    )
    print("|---|---|---|---|---|---|---|---|")
    one, one_cpu = _batch(reps, years, 1, None)
    rows = [("in-process", 1, one, one_cpu)]
    rows.append(("local processes", 2, *_batch(reps, years, 2, None)))
    if dask:
        rows.append(("Dask LocalCluster (incl. start-up)", 2, *_batch(reps, years, 2, "local")))
    for name, workers, t, cpu in rows:
        eff = one / (t * workers)
        print(
            f"| {name} | {workers} | {t:.1f} | {reps / t:.2f} | {eff:.0%} | {cpu:.1f} | "
            f"{cpu / one_cpu - 1:+.0%} | {GOAL_REPS * t / reps:,.0f} s |",
            flush=True,
        )
    print(
        f"\nGoal: {GOAL_REPS} Kent 10-year replications in <= {GOAL_SECONDS:.0f} s on 2 cores "
        f"(that is <= {GOAL_SECONDS / GOAL_REPS * 2:.2f} CPU s per replication). Parallel "
        "efficiency (wall) = in-process time / (time x workers); it is only meaningful on an "
        "otherwise idle machine. CPU overhead counts the work the engine adds (processes, "
        "pickling, parquet writes, Dask) whatever the load."
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and batches (about 1 min)")
    p.add_argument("--reps", type=int, help="replications per throughput batch")
    p.add_argument("--years", type=float, default=10.0, help="horizon of the throughput batch")
    p.add_argument("--big-years", type=float, default=10.0, help="horizon for Kent x 16 and x 40")
    p.add_argument("--england", action="store_true", help="also one England replication")
    p.add_argument(
        "--fixed-areas",
        action="store_true",
        help="keep Kent's four areas at every size (isolates the cost of more areas)",
    )
    p.add_argument("--only-sizes", action="store_true", help="skip the throughput tables")
    p.add_argument("--only-throughput", action="store_true", help="skip the size table")
    p.add_argument("--no-dask", action="store_true")
    args = p.parse_args(argv)

    load = os.getloadavg()
    cpu = platform.processor() or platform.machine()
    print(
        f"## Scaling benchmark\n\n{os.cpu_count()} cores ({cpu}), Python "
        f"{platform.python_version()}, {sys.platform}; load average at start "
        f"{load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"
    )
    if args.quick:
        size_table([1, 4], [2, 2])
        throughput_table(args.reps or 8, 2.0, not args.no_dask)
    else:
        big = args.big_years
        if not args.only_throughput:
            size_table([1, 4, 16, 40], [10, 10, big, big], 1 if args.fixed_areas else None)
        if not args.only_sizes:
            throughput_table(args.reps or 40, args.years, not args.no_dask)
    if args.england:
        print("\n### England (scenarios/england.toml), one replication\n")
        r = _fresh(ROOT / "scenarios" / "england.toml", 1, 10)
        print(
            f"{r['children']:,.0f} children in care, {r['households']:,.0f} households, "
            f"{r['areas']:.0f} areas, 10 years: wall {r['wall']:.0f} s, CPU {r['cpu']:.0f} s, "
            f"{r['events']:,.0f} events, peak RSS {r['rss_mb']:.0f} MB"
        )
    load = os.getloadavg()
    print(f"\nload average at end {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
