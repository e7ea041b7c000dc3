"""Whether compiling the model with mypyc pays, and whether it changes any result.

Run from the repository root (needs ``pip install mypy`` and a C compiler)::

    python benchmarks/bench_mypyc.py

It exports the committed tree (``git archive HEAD``) into a temporary folder, compiles
``sim/compiled.py``'s modules there with mypyc (what ``SUFFICIENCY_COMPILE=1 pip install .``
compiles), checks that every table of ``--check-reps`` 10-year Kent replications is identical,
value for value, to the pure-Python code's, and then times both as ``bench_engine.py`` does
(alternating subprocesses, CPU seconds, medians). ``bench_engine.py --compiled`` times the
compiled tree against the baseline commit and bare SimPy as well.

mypyc compiles only code that type-checks; if mypy reports errors in these modules the script
prints them and stops.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench_engine import ROOT, compile_modules, export, run_tree, tables


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-reps", type=int, default=2, help="replications compared")
    parser.add_argument("--reps", type=int, default=3, help="timed replications a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tree = export("HEAD", Path(tmp))
        compile_modules(tree)
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
