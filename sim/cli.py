"""The ``sufficiency`` command line: ``run`` a scenario, ``check`` one without running."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

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


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.compare import compare, difference_chart, format_differences, variance_reduction
    from sim.experiment import provenance

    base = load_scenario(args.base, _overrides(args))
    policies = [load_scenario(p, _overrides(args)) for p in args.policies]
    workers = args.workers or min(os.cpu_count() or 1, args.reps)
    result = compare(base, policies, args.reps, args.seed, workers, progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    diff = result.differences
    diff.to_csv(out / "paired_differences.csv", index=False)
    years = sorted(diff["year"].unique())
    shown = years[1::2] if len(years) > 6 else years[1:]
    print(f"\nPaired differences from '{base.name}' ({args.reps} replications, seed {args.seed})")
    print("Each cell: policy minus base [95% confidence interval], P(better)\n")
    print(format_differences(diff, shown))
    base_snaps = result.tables[base.name]["snapshots"]
    for p in policies:
        fig = difference_chart(diff, p.name)
        path = out / f"differences_{_slug(p.name)}.png"
        fig.savefig(path, dpi=100)
        vr = variance_reduction(base_snaps, result.tables[p.name]["snapshots"], "in_house")
        ratio = vr["replications_ratio"].iloc[-1]
        print(
            f"\n{p.name}: pairing needs {ratio:.0%} of the replications independent runs would "
            f"need for the same precision (in-house placements, final year). Chart: {path}"
        )
    manifest = provenance(base, args.seed, args.reps, policies=[p.name for p in policies])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return 0


def cmd_target(args: argparse.Namespace) -> int:
    from sim.target import Goal, solve

    scenario = load_scenario(args.scenario)
    goal = Goal.parse(args.goal, args.by)
    bar = tqdm(desc="runs", unit="run", disable=args.quiet)
    result = solve(
        scenario,
        goal,
        args.confidence,
        lever=args.lever,
        low=args.low,
        high=args.high,
        reps=args.reps,
        seed=args.seed,
        step=args.step,
        progress=lambda n: bar.update(n - bar.n),
    )
    bar.close()
    print(result.summary())
    if args.lever == "approvals":
        print(
            "Kent's own targets for comparison: 150 approvals (2018-19 plan), 120 (2019-20 plan);"
            " 78 achieved in 2018-19 (seed documents D01, A76, A23)."
        )
    return 0


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


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

    cmp_ = sub.add_parser("compare", help="compare policies with a base, paired replications")
    cmp_.add_argument("base", help="base scenario TOML")
    cmp_.add_argument("policies", nargs="+", help="policy scenario TOML files")
    cmp_.add_argument("--reps", type=_positive(int), default=20)
    cmp_.add_argument("--seed", type=int, default=2019)
    cmp_.add_argument("--years", type=_positive(float), help="override the horizon in years")
    cmp_.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    cmp_.add_argument("--out", default="results/compare")
    cmp_.add_argument("--quiet", action="store_true")
    cmp_.set_defaults(func=cmd_compare)

    tgt = sub.add_parser(
        "target", help="smallest recruitment that meets a sufficiency goal by a year"
    )
    tgt.add_argument("scenario")
    tgt.add_argument(
        "--goal",
        required=True,
        help="MEASURE OP VALUE, e.g. 'in_house_share >= 0.9', 'unregistered == 0', 'ifa_spot < 50'",
    )
    tgt.add_argument("--by", type=int, required=True, help="the year (goal checked at 31 March)")
    tgt.add_argument("--confidence", type=float, default=0.8, help="probability (default 0.8)")
    tgt.add_argument(
        "--lever",
        default="approvals",
        help="approvals (a year), enquiries (a year), or a dotted scenario field",
    )
    tgt.add_argument("--low", type=float, default=0.0)
    tgt.add_argument("--high", type=float, default=300.0)
    tgt.add_argument("--step", type=_positive(float), default=1.0)
    tgt.add_argument("--reps", type=_positive(int), default=20)
    tgt.add_argument("--seed", type=int, default=2019)
    tgt.add_argument("--quiet", action="store_true")
    tgt.set_defaults(func=cmd_target)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad goal, lever or option values
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
