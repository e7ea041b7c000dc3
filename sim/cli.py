"""The ``sufficiency`` command line: ``run`` a scenario, ``check`` one without running,
``report`` on a results folder, ``serve`` the web app."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from sim.config import (
    Region,
    Scenario,
    ScenarioError,
    load_any,
    load_scenario,
    long_date,
    policy_starts,
)
from sim.results import Filter, check_out
from sim.terminal import WIDTH


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {text}")
    return value


def _years(text: str) -> list[int]:
    try:
        years = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected years separated by commas, e.g. 2026,2027; got {text!r}"
        ) from None
    if not years:
        raise argparse.ArgumentTypeError("give at least one year, e.g. 2026")
    return years


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date as YYYY-MM-DD, e.g. 2025-04-01; got {text!r}"
        ) from None


def _overrides(args: argparse.Namespace) -> dict:
    return {"years": args.years} if getattr(args, "years", None) else {}


def _load(path: str, args: argparse.Namespace, overrides: dict | None = None) -> Scenario | Region:
    """A scenario (or region) as ``--parameters`` asks: with its posterior draws (if it
    declares a posterior) or the point values (``point``: exactly the scenario without draws);
    a region's members each so."""
    from sim.posterior import check, point

    loaded = load_any(path, _overrides(args) if overrides is None else overrides)
    members = loaded.members if isinstance(loaded, Region) else [loaded]
    if getattr(args, "parameters", None) == "point":
        members = [point(m) for m in members]
    else:
        for m in members:
            check(m, str(path))
    if isinstance(loaded, Region):
        return loaded.model_copy(update={"members": members})
    return members[0]


def _load_council(path: str, args: argparse.Namespace) -> Scenario:
    """:func:`_load` for a command that takes one council's scenario, not a region."""
    loaded = _load(path, args)
    if isinstance(loaded, Region):
        raise ScenarioError(f"{path}: a region; this command takes one council's scenario")
    return loaded


def _parameters_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--parameters",
        choices=("posterior", "point"),
        help="posterior: replication r runs with draw r of the scenario's posterior (the "
        "default when the scenario declares one); point: the point values, no draws",
    )


def _workers(args: argparse.Namespace) -> int:
    """Processes for an in-memory run: at most the cores and the replications."""
    cores = os.cpu_count() or 1
    return max(1, min(args.workers or cores, cores, args.reps))


def _starts(scenario: Scenario | Region, base: Scenario | Region | None = None) -> list[str]:
    """When each of the scenario's policies starts (those not in ``base``), one a line."""
    return [f"{title} from {long_date(day)}" for title, day in policy_starts(scenario, base)]


def _say(text: str) -> None:
    """Print ``text`` wrapped to the 80 columns of a terminal (paths are not broken)."""
    print(
        "\n".join(
            textwrap.fill(line, WIDTH, break_long_words=False, break_on_hyphens=False)
            for line in text.split("\n")
        )
    )


def _say_starts(scenario: Scenario | Region, base: Scenario | Region | None = None) -> None:
    """When the policies start: all of ``scenario``'s, or those it adds to ``base``."""
    starts = "; ".join(_starts(scenario, base))
    if base is None:
        _say(f"Policies: {starts or 'none dated'}.")
    else:
        _say(f"'{scenario.name}' adds: {starts or 'no dated policy (parameters only)'}.")


def cmd_check(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.scenarios:  # every file is checked, not only up to the first bad one
        try:
            sc = _load(path, args, {})
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}: OK ({sc.name}, {sc.start} to {sc.end})")
        if isinstance(sc, Region):
            shared = ", ".join(sc.shared.markets) or "none"
            print(f"  region of {', '.join(sc.councils)}; shared markets: {shared}")
        for line in _starts(sc):
            print(f"  {line}")
        for member in sc.members if isinstance(sc, Region) else [sc]:
            if member.posterior is not None:
                where = member.posterior.file
                print(f"  replication r runs with posterior draw r mod N of {where}")
        for note in sc.notes():
            print(f"note: {path}: {note}")
    return 2 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from sim.analysis import ESTIMATOR, format_spend, format_summary, spend_summary, yearly_summary
    from sim.batch import run_batch
    from sim.outputs import COST_EXCLUDES, COST_INCLUDES, prices_note
    from sim.report import load_results, save_report
    from sim.terminal import spend_blocks, summary_table

    check_out(args.out)
    scenario = _load(args.scenario, args)
    # One run per folder: results of other inputs there are replaced, never mixed.
    summary = run_batch(
        [scenario],
        args.reps,
        args.out,
        seed=args.seed,
        workers=args.workers,
        detail=True,
        progress=not args.quiet,
        files=[str(args.scenario)],
        overrides=_overrides(args),
        table_format=args.format,
        replace=True,
    )
    if not summary.complete:
        print(summary.message(), file=sys.stderr)
        return 1
    out = Path(args.out)
    data = load_results(out)
    report = save_report(data, out / "report.html")
    table = yearly_summary(data.results[0].snapshots)
    _say(f"\n{scenario.name}: {args.reps} replications, seed {args.seed}, {summary.seconds:.1f} s")
    _say_starts(scenario)
    _say(ESTIMATOR + "\n")
    print(format_summary(table) if args.wide else summary_table(table))
    _by_council(out, args.wide)
    first = scenario.members[0] if isinstance(scenario, Region) else scenario
    prices = prices_note(first.costs.inflation_per_year)
    _say(f"\nSpend by financial year, {prices}: mean (the range of 90% of runs)\n")
    spend = spend_summary(data.results[0].tables["flows"])
    print(format_spend(spend) if args.wide else spend_blocks(spend))
    for heading, items in (("includes", COST_INCLUDES), ("leaves out", COST_EXCLUDES)):
        print(f"\nThe spend {heading}:")
        print(
            "\n".join(
                textwrap.fill(x, WIDTH - 2, initial_indent="- ", subsequent_indent="  ")
                for x in items
            )
        )
    _say(f"\nTables ({args.format}) and manifest in {out}/; report: {report}")
    return 0


def _by_council(folder: Path, wide: bool) -> None:
    """Print each member's summary after a region's totals."""
    from sim.analysis import format_summary, yearly_summary
    from sim.results import load
    from sim.terminal import summary_table

    for council in load(folder).councils:
        _say(f"\n{council} (of the region above)\n")
        table = yearly_summary(load(folder, council).snapshots)
        print(format_summary(table) if wide else summary_table(table))


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.analysis import ESTIMATOR, format_spend_differences
    from sim.batch import run_batch
    from sim.compare import (
        difference_chart,
        differences,
        format_differences,
        money,
        variance_reduction,
        years_shown,
    )
    from sim.experiment import slug
    from sim.report import load_results, save_report
    from sim.terminal import differences_table, spend_difference_blocks

    check_out(args.out)
    base = _load(args.base, args)
    policies = [_load(p, args) for p in args.policies]
    names = [sc.name for sc in [base, *policies]]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must differ to be compared: {names}")
    shown = years_shown(base, policies, args.years_shown)  # refused before anything runs
    summary = run_batch(
        [base, *policies],
        args.reps,
        args.out,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
        files=[args.base, *args.policies],
        labels=names,
        overrides=_overrides(args),
        table_format=args.format,
        replace=True,
    )
    if not summary.complete:
        print(summary.message(), file=sys.stderr)
        return 1
    out = Path(args.out)
    data = load_results(out)
    snapshots = {r.label: r.snapshots for r in data.results}
    diff = differences(snapshots)
    diff.to_csv(out / "paired_differences.csv", index=False)
    spend = money({r.label: r.tables["flows"] for r in data.results})
    spend.to_csv(out / "spend_differences.csv", index=False)
    _say(f"\nPaired differences from '{base.name}' ({args.reps} replications, seed {args.seed})")
    _say(ESTIMATOR)
    for p in policies:
        _say_starts(p, base)
    if args.wide:
        print("Each cell: policy minus base [90% confidence interval], P(better)\n")
        print(format_differences(diff, shown))
    else:
        _say(
            "At 31 March of each year: policy minus base, the mean over replications (90% "
            "confidence interval), and the share of replications in which the policy does "
            "better\n"
        )
        print(differences_table(diff[diff["year"].isin(shown)]))
    _say("\nSpend, policy minus base, by financial year (90% confidence interval)\n")
    print(format_spend_differences(spend) if args.wide else spend_difference_blocks(spend))
    for p in policies:
        fig = difference_chart(diff, p.name, shown)
        path = out / f"differences-{slug(p.name)}.png"
        fig.savefig(path, dpi=100)
        vr = variance_reduction(snapshots[base.name], snapshots[p.name], "in_house")
        ratio = vr["replications_ratio"].iloc[-1]
        _say(
            f"\n{p.name}: pairing needs {ratio:.0%} of the replications independent runs would "
            f"need for the same precision (in-house placements, final year). Chart: {path}"
        )
    _differences_by_council(out, shown)
    report = save_report(data, out / "report.html")
    _say(f"\nTables of every scenario and manifest in {out}/; report: {report}")
    return 0


def _differences_by_council(folder: Path, shown: list) -> None:
    """A comparison of regions: each member council's paired differences too."""
    import pandas as pd

    from sim.compare import differences, format_differences
    from sim.results import COUNCIL, load

    res = load(folder)
    frames = []
    for council in res.councils:
        by = load(folder, council)
        snapshots = {label: by.of(label, "snapshots") for label in by.scenarios}
        snapshots = {label: df for label, df in snapshots.items() if not df.empty}
        if res.scenarios[0] not in snapshots or len(snapshots) < 2:
            continue  # the council is in the base, or in one option, only
        diff = differences(snapshots)
        print(f"\n{council}: paired differences from the base\n")
        print(format_differences(diff, shown))
        frames.append(diff.assign(**{COUNCIL: council}))
    if frames:
        pd.concat(frames).to_csv(folder / "paired_differences_by_council.csv", index=False)


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
        start=args.starts,
    )
    bar.close()
    start = args.starts or scenario.start
    default = " (the scenario's start)" if start == scenario.start else ""
    print(f"Lever ({args.lever}) in force from {long_date(start)}{default}")
    print(result.summary())
    if args.lever == "approvals":
        print(
            "Kent's own targets for comparison: 150 approvals (2018-19 plan), 120 (2019-20 plan);"
            " 78 achieved in 2018-19 (seed documents D01, A76, A23)."
        )
    return 0


# Option -> (one-year default, --history default)
CALIBRATION_FILES = {
    "scenario": ("calibration/kent_2018.toml", "scenarios/kent_2014.toml"),
    "targets": ("calibration/targets.toml", "calibration/targets_history.toml"),
    "params": ("calibration/free_parameters.toml", "calibration/free_parameters_history.toml"),
    "out": ("calibration/fitted.toml", "calibration/fitted_history.toml"),
}


def _calibrate_posterior(args: argparse.Namespace) -> int:
    from sim.history_matching import calibrate_posterior

    try:
        waves = [int(w) for w in args.waves.split(",")]
    except ValueError:
        raise ScenarioError(
            f"--waves: expected runs per wave such as 60,40, got {args.waves!r}"
        ) from None
    if not waves or min(waves) < 10:
        raise ScenarioError(f"--waves: each wave needs at least 10 runs, got {args.waves!r}")
    until = None
    if args.until is not None:
        try:
            until = dt.date.fromisoformat(args.until)
        except ValueError:
            raise ScenarioError(
                f"--until: expected a date such as 2017-03-31, got {args.until!r}"
            ) from None
    out = Path(args.out).parent  # the folder of the fitted values: calibration/
    done = calibrate_posterior(
        Path(args.scenario),
        Path(args.targets),
        Path(args.params),
        out,
        waves,
        draws=args.draws,
        confirm=args.confirm,
        min_draws=args.min_draws,
        seed=args.seed,
        workers=args.workers or 1,
        log=(lambda s: None) if args.quiet else (lambda s: print(s, flush=True)),
        until=until,
    )
    meta, result = done["meta"], done["result"]
    print("\n" + result.summary.to_string(index=False))
    if result.excluded:
        print(f"\nImplausible across the whole prior (model discrepancy): {result.excluded}")
    print(
        f"\n{meta['draws']} draws in {out / 'posterior.parquet'} (the space's "
        f"{meta['space_draws']} in posterior_space.parquet); {meta['seconds']:.0f} s; "
        f"waves, emulator checks and ranges in {out}/history_waves.csv, history_emulators.csv, "
        "posterior_ranges.csv"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.calibrate import fit, load_parameters, load_targets, write_fitted, year_by_year
    from sim.experiment import git_commit
    from sim.validate import format_table

    for name, (one_year, history) in CALIBRATION_FILES.items():
        if getattr(args, name) is None:
            setattr(args, name, history if args.history or args.posterior else one_year)
    if args.posterior:
        return _calibrate_posterior(args)
    if args.until is not None:
        raise ScenarioError("--until: only with --posterior (a history match to a rolling origin)")
    scenario = load_scenario(args.scenario, calibrated=False)
    targets = load_targets(args.targets)
    params = load_parameters(args.params)
    workers = _workers(args)
    bar = tqdm(desc="calibrating", unit="eval", disable=args.quiet)

    def progress(n: int, value: float) -> None:
        bar.update(n - bar.n)
        bar.set_postfix(objective=f"{value:.1f}")

    started = time.perf_counter()
    result = fit(
        scenario,
        targets.target,
        params,
        reps=args.reps,
        seed=args.seed,
        workers=workers,
        max_evaluations=args.max_evaluations,
        progress=progress,
    )
    bar.close()
    seconds = time.perf_counter() - started
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "scenario": str(args.scenario),
        "targets": str(args.targets),
        "commit": git_commit(),
        "seconds": round(seconds, 1),
    }
    write_fitted(result, scenario, out, meta)
    # fitted.toml -> fit_table.csv, fitted_history.toml -> fit_table_history.csv
    suffix = out.stem.removeprefix("fitted") if out.stem.startswith("fitted") else ""
    table_path = out.with_name(f"fit_table{suffix}.csv")
    result.table.to_csv(table_path, index=False)
    years_path = table_path.with_name(f"{table_path.stem}_by_year.csv")
    year_by_year(result.table).to_csv(years_path)
    # The fit evaluates the objective, then the Jacobian and the final table (2n + 2 more runs).
    runs = result.evaluations + 2 * len(params) + 2
    print(
        f"\nObjective {result.start_objective:.1f} -> {result.objective:.1f} "
        f"after {result.evaluations} evaluations ({args.reps} replications each); "
        f"{seconds:.0f} s, {seconds / runs:.1f} s per evaluation\n"
    )
    for p, v, se in zip(result.parameters, result.values, result.standard_errors, strict=True):
        print(f"  {p.name:30s} {v:10.4g}  (se {se:.3g}; range {p.low:g} to {p.high:g})")
    shown = result.table[result.table["status"] == "compared"]
    print("\n" + format_table(shown))
    fits, checks = shown[shown["use"] == "fit"], shown[shown["use"] == "check"]
    print(
        f"\nWithin tolerance: {int(fits['within_tolerance'].sum())} of {len(fits)} fitted targets, "
        f"{int(checks['within_tolerance'].sum())} of {len(checks)} checks (not in the loss); "
        f"fitted values in {out}, fit table in {table_path}, year by year in {years_path}"
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import pandas as pd

    from sim.calibrate import load_targets
    from sim.experiment import provenance
    from sim.scoring import load_series
    from sim.validate import (
        forecast_ensemble,
        format_summary,
        format_table,
        hindcast_figures,
        refit_scenario,
        summary,
        validation_table,
    )

    targets = load_targets(args.targets)
    series = load_series(args.reference)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workers = _workers(args)
    held_out, hindcast = _load_council(args.scenario, args), _load_council(args.hindcast, args)
    exercises = [
        ("held out", held_out, list(targets.holdout), "validation", held_out.start),
        (
            "hindcast",
            hindcast,
            hindcast_figures(targets.target, hindcast),
            "validation_hindcast",
            hindcast.start,
        ),
    ]
    if args.parameters == "point":
        # The refit is its draws: point values would be the history's priors' starting points.
        print("Refit hindcast skipped: it runs the draws of its own fit, not point values.")
    else:
        refit = refit_scenario(args.refit)
        figures = hindcast_figures(load_targets(refit.targets).target, refit.scenario, refit.origin)
        exercises.append(
            ("refit hindcast", refit.scenario, figures, "validation_refit", refit.origin)
        )
    # Provenance before any file is written, so the commit is not marked dirty by this run.
    keys = ("scenario", "seed", "replications", "version", "commit")
    metas = [provenance(sc, args.seed, args.reps) for _, sc, _, _, _ in exercises]
    summaries = []
    for (name, scenario, figures, stem, origin), meta in zip(exercises, metas, strict=True):
        ensemble = forecast_ensemble(scenario, figures, args.reps, args.seed, workers)
        table = validation_table(scenario, figures, ensemble, series, origin)
        table.to_csv(out / f"{stem}_table.csv", index=False)
        ensemble.rename_axis("replication").to_csv(out / f"{stem}_ensemble.csv")
        scores = summary(table)
        summaries.append(scores.assign(exercise=name, **{k: meta[k] for k in keys}))
        how = (
            f"run from {scenario.start} with the draws of a fit to the figures up to {origin}, "
            "scored on the later ones"
            if origin != scenario.start
            else "scored without refitting"
        )
        print(
            f"\n{name.capitalize()}: forecast of '{scenario.name}' from {origin} "
            f"({args.reps} replications), {how}:\n"
        )
        print(format_table(table))
        print("\n" + format_summary(scores))
    scores_path = out / "validation_scores.csv"
    pd.concat(summaries).to_csv(scores_path, index=False)
    print(f"\nTables and ensembles in {out}; scores in {scores_path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from sim.report import load_results, read_any_table, save_report

    folder = Path(args.results)
    filtered = args.sex or args.uasc or args.age
    try:
        where = Filter(
            council=args.council,
            sex=args.sex,
            uasc=None if args.uasc is None else args.uasc == "yes",
            age=Filter.parse_age(args.age) if args.age else None,
        )
        data = load_results(folder, args.council)
        if args.calibration:
            data.calibration = read_any_table(Path(args.calibration))
        if args.validation:
            data.validation = read_any_table(Path(args.validation))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        check_out(Path(args.out).parent)
    out = save_report(data, Path(args.out) if args.out else folder / "report.html")
    labels = ", ".join(r.label for r in data.results)
    print(f"Report on {labels}{f' ({args.council})' if args.council else ''}: {out}")
    if filtered:
        _filtered(folder, where)
    return 0


def _filtered(folder: Path, where: Filter) -> None:
    """Children in care by placement type for the filtered group, at each 31 March."""
    from sim.analysis import ESTIMATOR, yearly_summary
    from sim.experiment import slug
    from sim.results import in_care, load
    from sim.terminal import summary_table

    res = load(folder)
    table = in_care(res, where)
    path = folder / f"in_care-{slug(where.label())}.csv"
    table.to_csv(path, index=False)
    for label in res.scenarios:
        _say(f"\n{label}: {where.label()}. {ESTIMATOR}\n")
        print(summary_table(yearly_summary(table[table["scenario"] == label])))
    _say(f"\nTable: {path}")


def cmd_serve(args: argparse.Namespace) -> int:
    from sim.webapp import serve

    serve(
        host=args.host,
        port=args.port,
        scenario_folder=Path(args.scenarios) if args.scenarios else None,
        workdir=Path(args.workdir) if args.workdir else None,
        workers=args.workers,
    )
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from sim.analysis import format_mc_error, monte_carlo_error
    from sim.batch import run_batch
    from sim.results import load

    check_out(args.out)
    scenarios = [_load(path, args) for path in args.scenarios]
    try:
        summary = run_batch(
            scenarios,
            args.reps,
            args.out,
            seed=args.seed,
            workers=args.workers,
            scheduler=args.scheduler,
            chunk_size=args.chunk,
            detail=args.detail,
            progress=not args.quiet,
            files=args.scenarios,
            overrides=_overrides(args),
            table_format=args.format,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: finished replications are saved in {args.out}/; "
            "rerun the same command to resume",
            file=sys.stderr,
        )
        return 130
    print(summary.message())
    kpis = load(args.out).kpis
    if len(kpis) > 1:
        print("\nMonte Carlo error of the headline means (target: +/-5% at 95% confidence)")
        print(format_mc_error(monte_carlo_error(kpis)))
    return 0 if summary.complete else 1


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.sensitivity import format_indices, load_params, run_sensitivity

    base = load_scenario(args.scenario, _overrides(args))
    spec = load_params(args.params, base)
    if args.reps:
        spec.replications = args.reps
    result = run_sensitivity(
        base,
        spec,
        args.method,
        args.n,
        args.out,
        seed=args.seed,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.quiet,
        overrides=_overrides(args),
    )
    print(
        f"\n{args.method} sensitivity of '{base.name}': {len(result.design)} design points x "
        f"{spec.replications} replications (common random numbers, seed {args.seed})\n"
    )
    print(format_indices(result.indices, args.method))
    print(f"\nIndices: {result.folder / 'indices.csv'}; chart: {result.figure}")
    return 0


def cmd_export_903(args: argparse.Namespace) -> int:
    from sim import ssda903

    check_out(args.out)
    paths = ssda903.export(args.results, args.out, rep=args.rep, council=args.council)
    years = sorted({p.parent.name for p in paths})
    print(f"SSDA903 files for collection years {', '.join(years)} in {args.out}/")
    if args.validate:
        try:
            results = ssda903.validate(args.out)
        except ssda903.ToolUnavailable as exc:
            print(f"error: cannot run the DfE validator: {exc}", file=sys.stderr)
            return 1
        for r in results:
            print(r.summary())
        if any(r.unexpected() for r in results):
            return 1
    return 0


def cmd_init_council(args: argparse.Namespace) -> int:
    from sim.council import build, dfe
    from sim.experiment import slug

    if args.la is not None and args.la.lower() == "list":
        print("\n".join(dfe.councils()))
        return 0
    if (args.ssda903 is None) == (args.la is None):
        print("error: give either --903 DIR (a council's own return) or --la NAME", file=sys.stderr)
        return 2
    if args.ssda903 is not None:
        if not args.name:
            print("error: --903 needs --name NAME (the council's name)", file=sys.stderr)
            return 2
        built = build.from_return(args.ssda903, args.fostering, args.name, args.areas)
    elif args.areas is not None:
        print("error: --areas maps the postcodes of a return: it needs --903", file=sys.stderr)
        return 2
    else:
        built = dfe.from_la(args.la, args.fostering, args.name)
    stem = built.name if args.out is None else Path(args.out).stem
    out = Path(args.out or f"scenarios/{slug(stem)}.toml")
    default_report = f"results/init-council-{slug(stem)}"
    report = None if args.no_report else Path(args.report or default_report)
    paths = build.write(built, out, report, args.reps, args.seed)
    for key, value in build.summary(built).items():
        print(f"{key}: {value:g}")
    for note in built.notes:
        print(f"note: {note}")
    print(f"scenario: {paths[0]}")
    if report is not None:
        print(f"fit report: {report / 'fit.html'} (tables as CSV beside it)")
    return 0


class _Version(argparse.Action):
    """``--version``: the package's version and whether its model is compiled."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        import sim

        print(f"sufficiency {sim.__version__} ({sim.build_mode()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sufficiency",
        description="Simulate whether there will be enough placements for children in care.",
    )
    p.add_argument("--version", action=_Version, help="the version, and compiled or pure Python")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario and summarise it")
    run.add_argument("scenario", help="scenario TOML file, e.g. scenarios/kent_baseline.toml")
    run.add_argument("--reps", type=_positive(int), default=20, help="replications (default 20)")
    run.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    run.add_argument("--out", default="results", help="output folder (default results/)")
    run.add_argument("--years", type=_positive(float), help="override the horizon in years")
    run.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    run.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format of the result tables (default parquet)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--wide", action="store_true", help="the summary with years as columns (wider than 80)"
    )
    _parameters_option(run)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate scenario files without running them")
    check.add_argument(
        "scenarios", nargs="+", help="scenario or region TOML files to check, e.g. scenarios/*.toml"
    )
    check.set_defaults(func=cmd_check)

    cmp_ = sub.add_parser("compare", help="compare policies with a base, paired replications")
    cmp_.add_argument("base", help="base scenario TOML")
    cmp_.add_argument("policies", nargs="+", help="policy scenario TOML files")
    cmp_.add_argument(
        "--reps",
        type=_positive(int),
        default=20,
        help="replications of each scenario, paired (default 20)",
    )
    cmp_.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    cmp_.add_argument("--years", type=_positive(float), help="override the horizon in years")
    cmp_.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    cmp_.add_argument(
        "--out", default="results/compare", help="output folder (default results/compare/)"
    )
    cmp_.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format of the result tables (default parquet)",
    )
    cmp_.add_argument("--quiet", action="store_true", help="no progress bar")
    cmp_.add_argument(
        "--years-shown",
        type=_years,
        help="years (31 March) to print, e.g. 2026,2027 (default: every year from the first "
        "policy start to the horizon)",
    )
    cmp_.add_argument(
        "--wide", action="store_true", help="the differences with years as columns (wider)"
    )
    _parameters_option(cmp_)
    cmp_.set_defaults(func=cmd_compare)

    tgt = sub.add_parser(
        "target", help="smallest recruitment that meets a sufficiency goal by a year"
    )
    tgt.add_argument("scenario", help="scenario TOML file, e.g. scenarios/kent_baseline.toml")
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
    tgt.add_argument(
        "--starts",
        type=_date,
        help="date the approvals or enquiries lever starts, YYYY-MM-DD (default: the "
        "scenario's start)",
    )
    tgt.add_argument(
        "--low", type=float, default=0.0, help="lowest lever value searched (default 0)"
    )
    tgt.add_argument(
        "--high",
        type=float,
        default=300.0,
        help="highest lever value searched (default 300)",
    )
    tgt.add_argument(
        "--step",
        type=_positive(float),
        default=1.0,
        help="precision of the answer: the values searched are --low plus multiples of this "
        "(default 1)",
    )
    tgt.add_argument(
        "--reps",
        type=_positive(int),
        default=20,
        help="replications, each searched for its own smallest value (default 20)",
    )
    tgt.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    tgt.add_argument("--quiet", action="store_true", help="no progress bar")
    tgt.set_defaults(func=cmd_target)

    cal = sub.add_parser("calibrate", help="fit the free parameters to the published figures")
    cal.add_argument(
        "--history",
        action="store_true",
        help="fit the 2014-2019 history: the defaults become scenarios/kent_2014.toml, "
        "calibration/targets_history.toml, free_parameters_history.toml and fitted_history.toml",
    )
    cal.add_argument(
        "--scenario",
        help="scenario TOML to fit (default calibration/kent_2018.toml; with --history or "
        "--posterior: scenarios/kent_2014.toml)",
    )
    cal.add_argument(
        "--targets",
        help="TOML of the published figures to fit (default calibration/targets.toml; with "
        "--history or --posterior: calibration/targets_history.toml)",
    )
    cal.add_argument(
        "--params",
        help="TOML of the free parameters and their ranges (default "
        "calibration/free_parameters.toml; with --history or --posterior: "
        "calibration/free_parameters_history.toml)",
    )
    cal.add_argument(
        "--reps",
        type=_positive(int),
        default=6,
        help="replications per evaluation of the fit (default 6; not used by --posterior)",
    )
    cal.add_argument("--seed", type=int, default=2018, help="master seed (default 2018)")
    cal.add_argument(
        "--workers",
        type=_positive(int),
        help="processes (default: all cores, at most --reps; with --posterior: 1)",
    )
    cal.add_argument(
        "--max-evaluations",
        type=_positive(int),
        default=240,
        help="most evaluations of the objective the fit may make (default 240; not used by "
        "--posterior)",
    )
    cal.add_argument(
        "--out",
        help="file of the fitted values (default calibration/fitted.toml; with --history or "
        "--posterior: calibration/fitted_history.toml); --posterior writes into its folder",
    )
    cal.add_argument(
        "--quiet", action="store_true", help="no progress bar (with --posterior: no wave log)"
    )
    cal.add_argument(
        "--posterior",
        action="store_true",
        help="history matching with Gaussian-process emulators over the 2014-2019 history "
        "(the --history files), in waves; writes calibration/posterior.parquet and its reports",
    )
    cal.add_argument(
        "--waves", default="60,40,40", help="--posterior: runs per wave (default 60,40,40)"
    )
    cal.add_argument(
        "--draws",
        type=_positive(int),
        default=200,
        help="--posterior: draws sampled from the emulators' space (default 200)",
    )
    cal.add_argument(
        "--confirm",
        type=int,
        default=20,
        help="--posterior: of the draws, how many are simulated once each; the posterior is "
        "those whose run passes the cut (default 20; 0: keep every draw unsimulated)",
    )
    cal.add_argument(
        "--min-draws",
        type=int,
        default=0,
        help="--posterior: while fewer draws than this pass, simulate the next --confirm draws "
        "of the space too, until all --draws are run (default 0: only the first --confirm)",
    )
    cal.add_argument(
        "--until",
        help="--posterior: fit only the targets dated up to this day (a rolling origin such "
        "as 2017-03-31, for the refit hindcast of `validate`); the draws carry every value",
    )
    cal.set_defaults(func=cmd_calibrate)

    val = sub.add_parser("validate", help="forecast 2019-2024 and score against held-out figures")
    val.add_argument(
        "--scenario",
        default="scenarios/kent_2019_2024_observed.toml",
        help="scenario of the forecast from March 2019 scored against the held-out figures "
        "(default scenarios/kent_2019_2024_observed.toml)",
    )
    val.add_argument(
        "--targets",
        default="calibration/targets.toml",
        help="TOML of the published figures: the held-out ones score the forecast, the fitted "
        "ones the hindcast (default calibration/targets.toml)",
    )
    val.add_argument(
        "--reps", type=_positive(int), default=20, help="replications of each forecast (default 20)"
    )
    val.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    val.add_argument(
        "--workers", type=_positive(int), help="processes (default: all cores, at most --reps)"
    )
    val.add_argument(
        "--reference",
        default="calibration/validation_reference.csv",
        help="observed series for the persistence and trend reference forecasts",
    )
    val.add_argument(
        "--hindcast",
        default="calibration/kent_2017.toml",
        help="scenario of the hindcast that carries the March 2017 stock forward",
    )
    val.add_argument(
        "--refit",
        default="calibration/hindcast_2017/posterior.parquet",
        help="posterior of a fit to a rolling origin (`calibrate --posterior --until`): the "
        "refit hindcast runs its history scenario with these draws and scores the later figures",
    )
    val.add_argument(
        "--out",
        default="results/validation",
        help="output folder for the tables, ensembles and scores (default results/validation/)",
    )
    _parameters_option(val)
    val.set_defaults(func=cmd_validate)

    report = sub.add_parser(
        "report", help="write the self-contained HTML report of a results folder"
    )
    report.add_argument("results", help="folder written by 'run' (or a comparison of several)")
    report.add_argument("--out", help="report file (default RESULTS/report.html)")
    report.add_argument(
        "--calibration", help="calibration fit table to include (e.g. calibration/fit_table.csv)"
    )
    report.add_argument(
        "--validation",
        help="validation table to include (e.g. results/validation/validation_table.csv)",
    )
    report.add_argument("--council", help="of a region: one member council's report")
    report.add_argument("--sex", choices=("F", "M"), help="also count only girls or boys")
    report.add_argument("--uasc", choices=("yes", "no"), help="also count only (or no) UASC")
    report.add_argument("--age", help="also count only these years of age, e.g. 16-17")
    report.set_defaults(func=cmd_report)

    serve = sub.add_parser("serve", help="start the web app and open it in your browser")
    serve.add_argument("--port", type=_port, default=8050, help="port (default 8050)")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only)",
    )
    serve.add_argument("--scenarios", help="folder of bundled scenarios (default scenarios/)")
    serve.add_argument(
        "--workdir", help="folder for uploads and results (default: a new temporary folder)"
    )
    serve.add_argument("--workers", type=_positive(int), help="processes per run (default 2)")
    serve.set_defaults(func=cmd_serve)

    bat = sub.add_parser(
        "batch", help="Monte Carlo replications to a resumable parquet folder (local or Dask)"
    )
    bat.add_argument("scenarios", nargs="+", help="scenario TOML files")
    bat.add_argument("--reps", type=_positive(int), required=True, help="replications each")
    bat.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    bat.add_argument("--out", required=True, help="results folder (rerun to resume)")
    bat.add_argument("--years", type=_positive(float), help="override the horizon in years")
    bat.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    bat.add_argument(
        "--scheduler", help="Dask: 'local' (a LocalCluster) or a scheduler address tcp://host:port"
    )
    bat.add_argument("--chunk", type=_positive(int), help="replications per task (default: auto)")
    bat.add_argument("--detail", action="store_true", help="also keep episodes and children")
    bat.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default="parquet",
        help="file format of the result tables (default parquet)",
    )
    bat.add_argument("--quiet", action="store_true", help="no progress bar")
    _parameters_option(bat)
    bat.set_defaults(func=cmd_batch)

    sen = sub.add_parser("sensitivity", help="Morris or Sobol' sensitivity analysis (SALib)")
    sen.add_argument("scenario", help="base scenario TOML")
    sen.add_argument("--params", required=True, help="TOML of parameter ranges (dotted paths)")
    sen.add_argument(
        "--method",
        choices=("morris", "sobol"),
        default="morris",
        help="morris: a quick screening of which parameters matter; sobol: the share of the "
        "variance each explains, with more runs (default morris)",
    )
    sen.add_argument(
        "--n",
        type=_positive(int),
        default=10,
        help="trajectories (morris; default 10) or base samples (sobol: a power of 2, e.g. 64)",
    )
    sen.add_argument(
        "--reps",
        type=_positive(int),
        help="replications per design point (default: the --params file's, else 3)",
    )
    sen.add_argument("--seed", type=int, default=2019, help="master seed (default 2019)")
    sen.add_argument("--out", required=True, help="results folder (rerun to resume)")
    sen.add_argument("--years", type=_positive(float), help="override the horizon in years")
    sen.add_argument("--workers", type=_positive(int), help="processes (default: all cores)")
    sen.add_argument("--scheduler", help="Dask: 'local' or tcp://host:port")
    sen.add_argument("--quiet", action="store_true", help="no progress bar")
    sen.set_defaults(func=cmd_sensitivity)

    x903 = sub.add_parser(
        "export-903",
        help="write a run's episodes as DfE SSDA903 returns, one folder per collection year",
    )
    x903.add_argument("results", help="a results folder (`sufficiency run --out`)")
    x903.add_argument("--rep", type=int, default=0, help="replication to export (default 0)")
    x903.add_argument("--council", help="of a region: the member council to export")
    x903.add_argument(
        "--out", required=True, help="output folder: OUT/<year>/{header,episodes,uasc}.csv"
    )
    x903.add_argument(
        "--validate",
        action="store_true",
        help="run the DfE validation rules (csc-validator-be-903, in its own cached venv)",
    )
    x903.set_defaults(func=cmd_export_903)

    ini = sub.add_parser(
        "init-council",
        help="build a council's scenario from its SSDA903 return, or from the DfE 2019 tables",
    )
    ini.add_argument("--903", dest="ssda903", help="folder of SSDA903 returns, one per year")
    ini.add_argument("--la", help="a council in the bundled DfE 2019 tables, e.g. 'Essex'")
    ini.add_argument("--fostering", help="TOML of the council's Ofsted fostering figures")
    ini.add_argument(
        "--areas", help="CSV of postcode_district,area: the council's areas from the postcodes"
    )
    ini.add_argument("--name", help="the council's name (default with --la: its DfE name)")
    ini.add_argument("--out", help="scenario file to write (default scenarios/<name>.toml)")
    ini.add_argument("--report", help="fit report folder (default results/init-council-<name>)")
    ini.add_argument("--no-report", action="store_true", help="write the scenario only")
    ini.add_argument(
        "--reps", type=_positive(int), default=10, help="fit report replications (default 10)"
    )
    ini.add_argument("--seed", type=int, default=2019, help="fit report master seed (default 2019)")
    ini.set_defaults(func=cmd_init_council)
    return p


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once a process: building it is most of a quick command's time."""
    return build_parser()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad goal, lever or option values; a results folder refused
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a folder that cannot be written
        where = f": {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
