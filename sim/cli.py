"""The ``sufficiency`` command line: ``run`` a scenario, ``check`` one without running."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from sim.config import ScenarioError, load_scenario


def _positive(kind: type) -> type:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _overrides(args: argparse.Namespace) -> dict:
    return {"years": args.years} if getattr(args, "years", None) else {}


def cmd_check(args: argparse.Namespace) -> int:
    for path in args.scenarios:
        sc = load_scenario(path)
        print(f"{path}: OK ({sc.name}, {sc.start} to {sc.end})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from sim.experiment import format_summary, provenance, run, write_tables, yearly_summary
    from sim.report import write_report

    scenario = load_scenario(args.scenario, _overrides(args))
    workers = args.workers or min(os.cpu_count() or 1, args.reps)
    started = time.perf_counter()
    tables = run(scenario, args.reps, args.seed, workers, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    manifest = provenance(
        scenario, args.seed, args.reps, scenario_file=str(args.scenario), seconds=round(elapsed, 2)
    )
    out = Path(args.out)
    write_tables(tables, out, args.format, manifest)
    report = write_report(tables, manifest, out / "report.html")
    summary = yearly_summary(tables)
    print(f"\n{scenario.name}: {args.reps} replications, seed {args.seed}, {elapsed:.1f} s")
    print("Median [90% interval] over replications\n")
    print(format_summary(summary))
    print(f"\nTables ({args.format}) and manifest in {out}/; report: {report}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sufficiency",
        description="Simulate whether there will be enough placements for children in care.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and summarise it")
    run.add_argument("scenario", help="scenario TOML file, e.g. scenarios/kent_baseline.toml")
    run.add_argument("--reps", type=_positive(int), default=20, help="replications (default 20)")
    run.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    run.add_argument("--out", default="results", help="output folder (default results/)")
    run.add_argument("--years", type=_positive(float), help="override the horizon in years")
    run.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    run.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate scenario files without running them")
    check.add_argument("scenarios", nargs="+")
    check.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
