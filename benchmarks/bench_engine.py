"""How fast the model runs against an older version of itself and against bare SimPy.

Run from the repository root::

    python benchmarks/bench_engine.py             # a plain table
    python benchmarks/bench_engine.py --markdown  # a table for benchmarks/README.md

Figures (all measured in this one run, on this machine, as CPU time of the process):

(a) the current code: one 10-year Kent baseline replication,
    ``World(scenario, make_streams(seed, rep)).run()``, CPU seconds from building the world to
    the result tables (not loading the scenario), median over ``--rounds`` x ``--reps`` runs.
(b) the code at ``--baseline`` (default a8306ce, the commit the speed work started from),
    exported with ``git archive`` into a temporary folder and run the same way. Each round
    runs the baseline and the current code in fresh subprocesses one after the other, so the
    load on a shared machine falls on both alike; the speed-up is (b) / (a).
(c) bare SimPy: ``--processes`` processes, each doing ``yield env.timeout(rng.exponential(1))``,
    events per CPU second (the draws come from :class:`sim.rng.Stream`, the model's own),
    once a round, median CPU time.
(d) the ratio of the model's events per CPU second (``world.events`` / (a)) to (c): the share
    of SimPy's bare speed the model keeps with its own work per event.
(e) peak Python memory of one replication (``tracemalloc``, in a separate untimed run).

With ``--compiled``, (a) is the committed tree (``git archive HEAD``) with the modules of
``sim/compiled.py`` compiled by mypyc, as ``SUFFICIENCY_COMPILE=1 pip install .`` builds them,
after a check that its tables are identical to pure Python's; the pure-Python code of this
checkout is timed in the same rounds, as (a0). Compiling takes a minute or two.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "a8306ce"

# Run in a fresh interpreter with the tree to measure first on sys.path: prints, as JSON, the
# CPU seconds, wall seconds and model events of each replication.
WORKER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from sim.config import load_scenario
from sim.model.world import World
from sim.rng import make_streams
path = sys.argv[1] + "/scenarios/kent_baseline.toml"
scenario = load_scenario(path, {"years": float(sys.argv[2])})
out = []
for rep in range(int(sys.argv[4])):
    c0, t0 = time.process_time(), time.perf_counter()
    world = World(scenario, make_streams(int(sys.argv[3]), rep))
    world.run()
    out.append((time.process_time() - c0, time.perf_counter() - t0, world.events))
print(json.dumps(out))
"""


def run_tree(tree: Path, years: float, seed: int, reps: int) -> list[tuple[float, float, int]]:
    """Replications 0..reps-1 of the Kent baseline with the code in ``tree``."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(tree), str(years), str(seed), str(reps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    return [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]


def export(commit: str, into: Path) -> Path:
    """The tree of ``commit`` written into ``into`` (``git archive``)."""
    tar = into / "tree.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(tar), commit], check=True
    )
    tree = into / commit
    with tarfile.open(tar) as t:
        t.extractall(tree, filter="data")
    return tree


def compile_modules(tree: Path) -> None:
    """Compile ``sim/compiled.py``'s modules inside ``tree`` with mypyc (needs a C compiler)."""
    sys.path.insert(0, str(ROOT))
    from sim.compiled import MODULES

    mypyc = Path(sys.executable).with_name("mypyc")
    if not mypyc.exists():
        sys.exit("mypyc is not installed: pip install mypy")
    # The build reads pyproject.toml with the installed setuptools; the modules need none of it.
    (tree / "pyproject.toml").unlink()
    done = subprocess.run([str(mypyc), *MODULES], cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if ": error:" in line]
        print("\n".join(errors or done.stdout.splitlines()[-20:]))
        sys.exit(f"mypyc could not compile the modules ({len(errors)} type errors above)")


# Prints, as JSON, a hash of every table of each replication.
TABLES = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pandas as pd
from sim.config import load_scenario
from sim.model import simulate
scenario = load_scenario(sys.argv[1] + "/scenarios/kent_baseline.toml", {"years": 10})
out = {}
for rep in range(int(sys.argv[2])):
    tables = simulate(scenario, seed=2019, replication=rep).tables()
    out[rep] = {k: str(pd.util.hash_pandas_object(v).sum()) for k, v in tables.items()}
print(json.dumps(out))
"""


def tables(tree: Path, reps: int) -> dict:
    """A hash of every table of 10-year Kent replications 0..reps-1 with the code in ``tree``."""
    done = subprocess.run(
        [sys.executable, "-c", TABLES, str(tree), str(reps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bare_simpy(total_events: int, processes: int, seed: int) -> tuple[int, float]:
    """Fire about ``total_events`` exponential timeouts across ``processes`` processes.

    Returns the number of timeouts fired and the CPU seconds they took.
    """
    import numpy as np
    import simpy

    sys.path.insert(0, str(ROOT))
    from sim.rng import Stream

    rng = Stream(np.random.SeedSequence(seed))
    env = simpy.Environment()
    per_process = total_events // processes

    def worker(env: simpy.Environment):
        for _ in range(per_process):
            yield env.timeout(rng.exponential(1.0))

    for _ in range(processes):
        env.process(worker(env))
    c0 = time.process_time()
    env.run()
    return per_process * processes, time.process_time() - c0


def peak_memory(years: float, seed: int) -> int:
    """Peak bytes allocated by Python while building and running replication 0."""
    sys.path.insert(0, str(ROOT))
    from sim.config import load_scenario
    from sim.model.world import World
    from sim.rng import make_streams

    scenario = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": years})
    tracemalloc.start()
    try:
        World(scenario, make_streams(seed, 0)).run()
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
    load0 = os.getloadavg()[0]
    current: list[tuple[float, float, int]] = []
    baseline: list[tuple[float, float, int]] = []
    pure: list[tuple[float, float, int]] = []
    paired: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        old = export(args.baseline, Path(tmp)) if args.baseline else None
        this = ROOT
        if args.compiled:
            this = export("HEAD", Path(tmp))
            compile_modules(this)
            if tables(ROOT, 2) != tables(this, 2):
                sys.exit("the compiled modules give other tables than pure Python")
        bare_simpy(min(20_000, args.bare_events), args.processes, args.seed)  # warm-up
        bare = []
        for _ in range(args.rounds):
            now = run_tree(this, args.years, args.seed, args.reps)
            current += now
            if args.compiled:
                pure += run_tree(ROOT, args.years, args.seed, args.reps)
            if old is not None:
                then = run_tree(old, args.years, args.seed, args.reps)
                baseline += then
                paired.append(sum(c for c, _, _ in then) / sum(c for c, _, _ in now))
            bare.append(bare_simpy(args.bare_events, args.processes, args.seed))
    bare_n = bare[0][0]
    bare_cpu = statistics.median(c for _, c in bare)
    cpu = statistics.median(c for c, _, _ in current)
    events = statistics.median(n for _, _, n in current)
    model_rate = statistics.median(n / c for c, _, n in current)
    m = {
        "cpu": cpu,
        "cpu_range": (min(c for c, _, _ in current), max(c for c, _, _ in current)),
        "wall": statistics.median(w for _, w, _ in current),
        "events": events,
        "model_rate": model_rate,
        "bare_events": bare_n,
        "bare_cpu": bare_cpu,
        "bare_rate": bare_n / bare_cpu,
        "ratio": model_rate / (bare_n / bare_cpu),
        "runs": len(current),
        "peak_mib": peak_memory(args.years, args.seed) / 2**20,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "load": (load0, os.getloadavg()[0]),
        "python": platform.python_version(),
        "commit": git_commit(),
        "baseline": args.baseline,
    }
    if pure:
        m["pure_cpu"] = statistics.median(c for c, _, _ in pure)
        m["pure_range"] = (min(c for c, _, _ in pure), max(c for c, _, _ in pure))
    if baseline:
        m["base_cpu"] = statistics.median(c for c, _, _ in baseline)
        m["base_range"] = (min(c for c, _, _ in baseline), max(c for c, _, _ in baseline))
        m["base_events"] = statistics.median(n for _, _, n in baseline)
        m["speedup"] = m["base_cpu"] / cpu
        m["paired"] = (statistics.median(paired), min(paired), max(paired))
    return m


def rows(m: dict, args: argparse.Namespace) -> list[tuple[str, str, str]]:
    lo, hi = m["cpu_range"]
    out = [
        (
            f"(a) Kent baseline, {args.years:g} years, this code"
            + (", compiled (mypyc)" if "pure_cpu" in m else ""),
            f"{m['cpu']:.3f} s CPU",
            f"median of {m['runs']} replications (range {lo:.3f}-{hi:.3f} s); wall "
            f"{m['wall']:.3f} s; {m['events']:,.0f} model events",
        )
    ]
    if "pure_cpu" in m:
        plo, phi = m["pure_range"]
        out.append(
            (
                "(a0) the same in pure Python",
                f"{m['pure_cpu']:.3f} s CPU",
                f"median of {m['runs']} (range {plo:.3f}-{phi:.3f} s); tables identical to (a); "
                f"(a0)/(a) {m['pure_cpu'] / m['cpu']:.2f}x",
            )
        )
    if "base_cpu" in m:
        blo, bhi = m["base_range"]
        med, plo, phi = m["paired"]
        out += [
            (
                f"(b) the same at {m['baseline']}",
                f"{m['base_cpu']:.3f} s CPU",
                f"median of {m['runs']} (range {blo:.3f}-{bhi:.3f} s); "
                f"{m['base_events']:,.0f} model events",
            ),
            (
                "(b)/(a) speed-up",
                f"{m['speedup']:.2f}x",
                f"ratio of medians; per round {med:.2f}x (range {plo:.2f}-{phi:.2f}); goal >= 3",
            ),
        ]
    out += [
        (
            "(c) Bare SimPy",
            f"{m['bare_rate']:,.0f} events/s",
            f"{m['bare_events']:,} timeouts, {args.processes} processes, {m['bare_cpu']:.2f} s CPU",
        ),
        (
            "(d) Model events/s over bare SimPy",
            f"{m['ratio']:.3f}",
            f"model {m['model_rate']:,.0f} events per CPU second; goal >= 0.25",
        ),
        (
            "1,000 replications on 2 cores (projected)",
            f"{1000 * m['cpu'] / 2:.0f} s",
            "1,000 x (a) / 2, at full parallel efficiency; goal < 300 s",
        ),
        ("(e) Peak memory, one replication", f"{m['peak_mib']:.1f} MiB", "tracemalloc peak"),
    ]
    return out


def context(m: dict) -> str:
    return (
        f"{m['date']}, {m['cpus']} CPUs (nproc), load average {m['load'][0]:.1f} at the start "
        f"and {m['load'][1]:.1f} at the end, Python {m['python']}, commit {m['commit']}"
    )


def print_text(m: dict, args: argparse.Namespace) -> None:
    table = rows(m, args)
    w0 = max(len(r[0]) for r in table)
    w1 = max(len(r[1]) for r in table)
    print(f"Engine benchmark: {context(m)}")
    for name, value, note in table:
        print(f"  {name:<{w0}}  {value:>{w1}}  {note}")


def print_markdown(m: dict, args: argparse.Namespace) -> None:
    flags = " --compiled" if "pure_cpu" in m else ""
    print(f"Measured by `python benchmarks/bench_engine.py --markdown{flags}`: {context(m)}.")
    print()
    print("| Figure | Value | Notes |")
    print("|---|---:|---|")
    for name, value, note in rows(m, args):
        print(f"| {name} | {value} | {note} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--reps", type=int, default=3, help="replications a round (default 3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--years", type=float, default=10, help="horizon in years (default 10)")
    parser.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help=f"commit to compare with (default {BASELINE}; '' for none)",
    )
    parser.add_argument(
        "--bare-events", type=int, default=300_000, help="bare SimPy timeouts (default 300000)"
    )
    parser.add_argument(
        "--processes", type=int, default=100, help="bare SimPy processes (default 100)"
    )
    parser.add_argument(
        "--compiled",
        action="store_true",
        help="time the committed tree with sim/compiled.py's modules compiled by mypyc",
    )
    args = parser.parse_args(argv)
    m = measure(args)
    if args.markdown:
        print_markdown(m, args)
    else:
        print_text(m, args)


if __name__ == "__main__":
    main()
