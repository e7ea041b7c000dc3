"""Whether compiling the hot modules with mypyc pays, and whether it changes any result.

Run from the repository root (needs ``pip install mypy`` and a C compiler)::

    python benchmarks/bench_mypyc.py

It exports the committed tree (``git archive HEAD``) into a temporary folder, compiles
``HOT`` there with mypyc, checks that every table of ``--check-reps`` 10-year Kent replications
is identical, value for value, to the pure-Python code's, and then times both as
``bench_engine.py`` does (alternating subprocesses, CPU seconds, medians). ``HOT`` is what
``SUFFICIENCY_COMPILE=1 pip install .`` compiles (``sim/compiled.py``).

mypyc compiles only code that type-checks; if mypy reports errors in these modules the script
prints them and stops.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_engine import ROOT, export, run_tree

from sim.compiled import MODULES

HOT = list(MODULES)  # the modules a compiled install builds

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


def compile_hot(tree: Path) -> None:
    mypyc = Path(sys.executable).with_name("mypyc")
    if not mypyc.exists():
        sys.exit("mypyc is not installed: pip install mypy")
    # The build reads pyproject.toml with the installed setuptools; the modules need none of it.
    (tree / "pyproject.toml").unlink()
    done = subprocess.run([str(mypyc), *HOT], cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if ": error:" in line]
        print("\n".join(errors or done.stdout.splitlines()[-20:]))
        sys.exit(f"mypyc could not compile the hot modules ({len(errors)} type errors above)")


def tables(tree: Path, reps: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", TABLES, str(tree), str(reps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-reps", type=int, default=2, help="replications compared")
    parser.add_argument("--reps", type=int, default=3, help="timed replications a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = export("HEAD", Path(tmp))
        compile_hot(tree)
        same = tables(ROOT, args.check_reps) == tables(tree, args.check_reps)
        print(f"identical tables over {args.check_reps} replications: {same}")
        pure: list[float] = []
        compiled: list[float] = []
        for _ in range(args.rounds):
            pure += [c for c, _, _ in run_tree(ROOT, 10, 2019, args.reps)]
            compiled += [c for c, _, _ in run_tree(tree, 10, 2019, args.reps)]
    p, c = statistics.median(pure), statistics.median(compiled)
    print(f"pure Python {p:.3f} s CPU, compiled {c:.3f} s (medians of {len(pure)}): {p / c:.2f}x")
    if not same:
        sys.exit("the compiled modules give different results")


if __name__ == "__main__":
    main()
