"""A self-contained HTML report a commissioner can circulate.

One HTML file, images embedded, no internet needed to open it: the scenario and its
assumptions, fan charts of the headline figures, the KPIs against the council's targets, the
calibration and validation tables where present and, for comparisons, the paired differences
from the base option with 95% confidence intervals.

The pieces (measures, KPI targets, tables, paired differences) are shared with the web app in
:mod:`sim.webapp`, so the page and the report say the same thing.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import subprocess
import textwrap
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sim import compare
from sim import results as results_layout
from sim.analysis import (
    COLOURS,
    ESTIMATOR,
    TOTAL,
    quantiles,
    spend_differences,
    spend_summary,
    target_chance,
    year_end,
)
from sim.config import Scenario
from sim.outputs import (
    CATALOGUE,
    COST_EXCLUDES,
    COST_INCLUDES,
    fmt,
    format_money,
    output,
    prices_note,
    title,
)
from sim.plots import OBSERVED_COLOUR, fan_chart, forecast_start, observed_points
from sim.wording import LABELS, describe, source_title
from sim.wording import label as setting_label

# ----------------------------------------------------------------------------- what is shown


@dataclass(frozen=True)
class ChartGroup:
    """A figure of small panels, one measure each."""

    key: str
    title: str
    columns: tuple[str, ...]
    note: str = ""


CHART_GROUPS: tuple[ChartGroup, ...] = (
    ChartGroup(
        "placements",
        "Children in care, by where they live",
        (
            "children_in_care",
            "in_house",
            "connected",
            "ifa_framework",
            "ifa_spot",
            "residential",
            "supported",
            "unregistered",
        ),
        "IFA: independent fostering agency. Framework places are contracted in advance; spot "
        "places are bought one child at a time, usually at a higher price and further away.",
    ),
    ChartGroup(
        "fostering",
        "The council's own foster carers",
        ("households", "places_vacant"),
        "Households approved by the council (not counting family and friends carers) and the "
        "places they have free on the day.",
    ),
    ChartGroup(
        "pressure",
        "Waiting and cost",
        ("waiting", "weekly_cost", "total_weekly_cost"),
        "Children waiting are those still searching for a placement on the day. Programme "
        "costs are those of the scenario's policies, on top of the placements.",
    ),
    ChartGroup(
        "kpis",
        "Key performance indicators against the council's targets",
        ("kpi_3plus_placements", "kpi_same_placement_2y", "kpi_within_20_miles"),
        "The dashed line is the council's target.",
    ),
)

#: The measures shown in the yearly summary and the paired differences, in order.
HEADLINE_COLUMNS: tuple[str, ...] = tuple(c for g in CHART_GROUPS for c in g.columns)


@dataclass(frozen=True)
class KpiTarget:
    """A council target for a KPI, with the document it comes from (a reference as the
    calibration files write it, file and figure id) and the document's words."""

    column: str
    target: float
    source: str
    quote: str

    @property
    def name(self) -> str:
        return title(self.column)

    @property
    def better(self) -> str:
        """ "lower" or "higher", as the output catalogue says."""
        return "lower" if output(self.column).better < 0 else "higher"

    def met(self, value: float) -> bool:
        return value <= self.target if self.better == "lower" else value >= self.target


#: Kent's published KPI targets (figure ids from shared/reference/seed_figures.md).
KPI_TARGETS: tuple[KpiTarget, ...] = (
    KpiTarget("kpi_3plus_placements", 0.10, "004_7ff32ea817a1971a.txt E113", "The target is 10%."),
    KpiTarget("kpi_same_placement_2y", 0.70, "004_7ff32ea817a1971a.txt E116", "Our target is 70%"),
    KpiTarget("kpi_within_20_miles", 0.80, "004_7ff32ea817a1971a.txt E117", "The target is 80%"),
)


# ----------------------------------------------------------------------------- results


@dataclass
class ScenarioResult:
    """One scenario's (or option's) tables and the manifest that says how they were made."""

    tables: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            self.label = str(self.manifest.get("label") or self.manifest.get("scenario", "?"))

    @property
    def snapshots(self) -> pd.DataFrame:
        return self.tables["snapshots"]

    @property
    def flows(self) -> pd.DataFrame | None:
        """The flows and spend per financial year, if the result has them."""
        return self.tables.get("flows")


@dataclass
class ReportData:
    """Everything a report shows: one or more scenario results and optional extra tables."""

    results: list[ScenarioResult]
    calibration: pd.DataFrame | None = None
    validation: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    #: Published figures drawn on the charts (:func:`observed_figures`) and the validation
    #: result (:func:`load_accuracy`); by default the repository's own for Kent's options.
    observed: pd.DataFrame | None = None
    accuracy: Accuracy | None = None
    #: Of a region (its totals are ``results``): each member council's results, by name.
    councils: dict[str, list[ScenarioResult]] = field(default_factory=dict)


# File names (parquet or csv) of the tables `sufficiency calibrate` and `validate` write.
_EXTRA_TABLES = {
    "calibration": ("fit_table", "calibration_fit"),
    "validation": ("validation_table", "validation"),
}


def read_any_table(path: Path) -> pd.DataFrame:
    """A parquet or csv table."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _read_table(folder: Path, name: str) -> pd.DataFrame | None:
    for ext in (".parquet", ".csv"):
        path = folder / f"{name}{ext}"
        if path.is_file():
            return read_any_table(path)
    return None


def load_results(folder: str | Path, council: str | None = None) -> ReportData:
    """Read a results folder (:mod:`sim.results`), each of its scenarios an option of the
    report, the first the base of the comparison (of a region: its totals, or ``council``'s).

    The calibration fit table (``fit_table``) and the validation table
    (``validation_table``), parquet or csv, are shown where present in ``folder``.
    """
    res = results_layout.load(folder, council)
    m = res.manifest
    options = []
    for label in res.scenarios:
        entry = res.entry(label)
        snaps = res.of(label, "snapshots")
        if snaps.empty and council is not None and not entry.get("councils"):
            continue  # a single council's run, compared with a region, is not this council
        if snaps.empty:
            raise results_layout.ResultsError(
                f"{res.folder}: no finished replication of {label!r} yet"
            )
        manifest = {
            "scenario": entry.get("name", label),
            "label": label,
            "scenario_file": entry.get("file"),
            "parameters": _parameters(entry, council),
            "seed": m.get("seed"),
            "replications": int(snaps["replication"].nunique()),
            "version": m.get("version"),
            "commit": m.get("commit"),
            "written": m.get("updated") or m.get("started"),
        }
        options.append(
            ScenarioResult(
                {"snapshots": snaps, "flows": res.of(label, "flows")},
                {k: v for k, v in manifest.items() if v},
            )
        )
    data = ReportData(options)
    if council is None:
        for name in res.councils:
            data.councils[name] = load_results(folder, name).results
    for attr, names in _EXTRA_TABLES.items():
        for name in names:
            table = _read_table(res.folder, name)
            if table is not None:
                setattr(data, attr, table)
                break
    return data


# ----------------------------------------------------------------------------- observed figures

#: The repository's calibration folder: targets, and the committed validation result.
CALIBRATION = Path(__file__).resolve().parents[1] / "calibration"
#: Calibration measures drawn on the monthly charts, by the snapshot column they compare with.
_MEASURE_COLUMNS = {"children_connected": "connected", "children_in_house_mainstream": "in_house"}


def _targets(folder: Path) -> list[Any]:
    from sim.calibrate import load_targets

    path = folder / "targets_history.toml"  # extends targets.toml: every Kent figure
    if not path.is_file():
        return []
    targets = load_targets(path)
    return [*targets.target, *targets.holdout]


def observed_figures(folder: Path = CALIBRATION) -> pd.DataFrame:
    """The council's published figures that a monthly chart can show: one row per figure with
    the snapshot ``column`` it compares with, ``date``, ``value``, ``tolerance``, ``use``
    ("fit", "check" or "validate", the held-out figures) and ``source``."""
    snapshot_columns = set(CATALOGUE["snapshots"])
    rows = [
        {
            "column": _MEASURE_COLUMNS.get(t.measure, t.measure),
            "date": pd.Timestamp(t.date),
            "value": t.value,
            "tolerance": t.tolerance,
            "use": t.use,
            "source": f"{t.source_file} {t.source_section}",
        }
        for t in _targets(folder)
        if t.statistic in ("stock", "ratio")
        and _MEASURE_COLUMNS.get(t.measure, t.measure) in snapshot_columns
    ]
    cols = ["column", "date", "value", "tolerance", "use", "source"]
    return pd.DataFrame(rows, columns=cols).drop_duplicates(["column", "date"])


def published_council(folder: Path = CALIBRATION) -> str:
    """The council whose published figures the calibration folder holds ("" if none)."""
    from sim.calibrate import load_targets

    path = folder / "targets.toml"
    return load_targets(path).council if path.is_file() else ""


def describes_published_council(
    results: Sequence[ScenarioResult], folder: Path = CALIBRATION
) -> bool:
    """Whether every option is of the council whose published figures the calibration folder
    holds (each scenario's ``council``, as its run recorded it)."""
    council = published_council(folder)
    return bool(council) and all(
        (r.manifest.get("parameters") or {}).get("council") == council for r in results
    )


# ----------------------------------------------------------------------------- accuracy


@dataclass
class Accuracy:
    """The committed validation result: scores per forecast and exercise, the scored figures,
    and the date of the commit the validation ran on (None when unknown)."""

    scores: pd.DataFrame
    table: pd.DataFrame
    date: str | None = None


def _commit_date(commit: str, folder: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(folder), "show", "-s", "--format=%cs", commit],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def load_accuracy(folder: Path = CALIBRATION) -> Accuracy | None:
    """``validation_scores.csv`` and ``validation_table.csv`` of ``folder``, as written by
    ``sufficiency validate``; None if either is missing."""
    scores_path, table_path = folder / "validation_scores.csv", folder / "validation_table.csv"
    if not (scores_path.is_file() and table_path.is_file()):
        return None
    scores, table = pd.read_csv(scores_path), pd.read_csv(table_path)
    commits = scores["commit"].dropna().astype(str)
    date = _commit_date(commits.iloc[0].removesuffix("-dirty"), folder) if len(commits) else None
    return Accuracy(scores, table, date)


def _skill_words(skill: float, reference: str) -> str:
    size = f"{abs(skill):.0%}"
    if abs(skill) < 0.005:
        return f"the same as that of {reference}"
    return f"{size} {'smaller' if skill > 0 else 'larger'} than that of {reference}"


_REFERENCE_WORDS = {
    "persistence": "assuming the last published figures stay as they were",
    "trend": "continuing the trend of the years before",
}


#: Titles of the validation measures that are not one column of the output catalogue.
_MEASURE_TITLES = {
    "children_in_house": "Children with the council's own carers, family and friends included",
    "children_connected": title("connected"),
    "children_connected_care_order": "With family or friends on interim or full care orders",
    "enquiry_to_application_ratio": "Share of fostering enquiries that become applications",
}


def _measure_title(measure: str) -> str:
    if measure in CATALOGUE["snapshots"] or measure in CATALOGUE["flows"]:
        return title(measure)
    return _MEASURE_TITLES.get(measure) or setting_label(measure)


def _figure_text(measure: str, value: float) -> str:
    if measure in CATALOGUE["snapshots"] or measure in CATALOGUE["flows"]:
        return fmt(measure, value)
    return f"{value:.1%}" if abs(value) <= 1 else f"{value:,.0f}"


def accuracy_html(acc: Accuracy) -> str:
    """How well past forecasts did, in words, with the scored figures folded away."""
    parts = []
    scored = acc.table[acc.table["scored"].astype(bool)]
    for exercise, g in acc.scores.groupby("exercise", sort=False):
        model = g[g["forecast"] == "model"].iloc[0]
        refs = g[g["forecast"] != "model"]
        if exercise == "held out":
            years = sorted(pd.to_datetime(scored["date"]).dt.year.unique())
            when = f"{years[0]}" if len(years) == 1 else f"{years[0]} to {years[-1]}"
            lead = (
                f"The model forecast from the last figures it was fitted to, without refitting, "
                f"and its forecast was compared with {int(model['figures'])} figures published "
                f"for {when} that were kept back from fitting"
            )
        else:
            lead = (
                f"A second test ({_e(exercise)}) forecast from an earlier date and scored "
                f"{int(model['figures'])} figures of the years that followed"
            )
        skill = "; ".join(
            "its average error (CRPS) was "
            + _skill_words(float(r["skill"]), _REFERENCE_WORDS.get(r["forecast"], r["forecast"]))
            for _, r in refs.iterrows()
            if not pd.isna(r["skill"])
        )
        parts.append(
            f"<p>{_e(lead)}: <b>{int(model['inside_90'])} of {int(model['figures'])} figures "
            f"fell inside the forecast's 90% range</b> (a forecast whose ranges are right "
            f"would hold about 9 in 10){'; ' + _e(skill) if skill else ''}.</p>"
        )
        if exercise == "held out":
            low = int((scored["observed"] > scored["simulated_p95"]).sum())
            high = int((scored["observed"] < scored["simulated_p05"]).sum())
            parts.append(
                f"<p>Of the figures outside the range, the forecast was too low for {low} and "
                f"too high for {high}.</p>"
            )
    first = acc.scores.iloc[0]
    commit = str(first.get("commit", ""))[:7]
    ran = f" on {day_text(acc.date)}" if acc.date else ""
    parts.append(
        f"<p class='note'>Validation of '{_e(first.get('scenario', ''))}' with "
        f"{int(first.get('replications', 0))} runs, model version {_e(first.get('version', ''))} "
        f"(commit {_e(commit)}){_e(ran)}. CRPS, the continuous ranked probability score, "
        "measures how far a forecast's whole range is from what happened: smaller is better. "
        "A forecast with wide ranges can hold more figures and still score worse.</p>"
    )
    rows = []
    for _, r in scored.iterrows():
        m = r["measure"]
        rows.append(
            [
                _e(_measure_title(m)),
                _e(day_text(r["date"])),
                _e(_figure_text(m, r["observed"])),
                _e(
                    f"{_figure_text(m, r['simulated_median'])} ("
                    f"{_figure_text(m, r['simulated_p05'])} to "
                    f"{_figure_text(m, r['simulated_p95'])})"
                ),
                "inside" if r["inside_90_interval"] else "<b>outside</b>",
                _e(source_title(r["source"])),
            ]
        )
    head = ["Figure", "Date", "Published", "Forecast (90% range)", "Result", "Source"]
    parts.append(
        "<details><summary>The figures scored</summary>"
        + _table(head, rows, "accuracy")
        + "</details>"
    )
    return "".join(parts)


def _parameters(entry: dict[str, Any], council: str | None) -> dict[str, Any]:
    """An option's parameters; of a region, each member's by council (or one council's)."""
    params = entry.get("parameters") or {}
    if not entry.get("councils"):
        return params
    members = {m["name"]: m for m in params.get("members", [])}
    if council is not None:
        return members.get(council, {})
    return {"shared": params.get("shared", {}), **members}


# ----------------------------------------------------------------------------- numbers


def paired_differences(
    base: pd.DataFrame, other: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """Mean difference ``other - base`` at each 31 March, paired by replication, with its 90%
    confidence interval and the share of runs in which ``other`` does better
    (see :func:`sim.compare.paired_differences`)."""
    return compare.paired_differences(base, other, columns)


def pairing_problem(base: ScenarioResult, other: ScenarioResult) -> str | None:
    """Why two results cannot be compared pair by pair, or None if they can."""
    mb, mo = base.manifest, other.manifest
    if mb.get("seed") != mo.get("seed"):
        return (
            f"'{other.label}' was run with seed {mo.get('seed')} and '{base.label}' with seed "
            f"{mb.get('seed')}: differences are only paired when both use the same seed"
        )
    reps_b = set(base.snapshots["replication"].unique())
    reps_o = set(other.snapshots["replication"].unique())
    if not reps_b & reps_o:
        return f"'{other.label}' and '{base.label}' share no replication numbers"
    start_b = (mb.get("parameters") or {}).get("start")
    start_o = (mo.get("parameters") or {}).get("start")
    if start_b != start_o:
        return f"'{other.label}' starts on {start_o} and '{base.label}' on {start_b}"
    return None


# ----------------------------------------------------------------------------- HTML pieces


def _e(value: Any) -> str:
    return html.escape(str(value))


def _table_of(head: Sequence[str], body: str, cls: str) -> str:
    th = "".join(f"<th scope='col'>{_e(h)}</th>" for h in head)
    return f"<table class='{cls}'><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """An HTML table whose first column names the rows; head cells are escaped here, row
    cells must be escaped already."""
    body = "".join(
        f"<tr><th scope='row'>{r[0]}</th>" + "".join(f"<td>{c}</td>" for c in r[1:]) + "</tr>"
        for r in rows
    )
    return _table_of(head, body, cls)


def day_text(date: Any) -> str:
    """A date as a reader writes it: 31 March 2027."""
    d = pd.Timestamp(date)
    return f"{d.day} {d:%B %Y}"


def headline_table(
    snapshots: pd.DataFrame, columns: Sequence[str] = HEADLINE_COLUMNS
) -> pd.DataFrame:
    """The figures at the start, at each 31 March and at the end of the run: the mean over
    runs and the range 90% of runs fall in.

    One row per date; columns ``(measure, p05|mean|p95)`` (:data:`sim.analysis.ESTIMATOR`).
    The start and the end are included whatever the day, so a run from 30 September shows
    where it began.
    """
    cols = [c for c in columns if c in snapshots]
    dates = pd.to_datetime(snapshots["date"])
    keep = (dates.dt.month.eq(3) & dates.dt.day.eq(31)) | dates.eq(dates.min())
    keep |= dates.eq(dates.max())
    q = quantiles(snapshots[keep].assign(date=dates[keep]), ["date"], cols)
    wide = q.pivot(index="date", columns="measure", values=["p05", "mean", "p95"])
    wide = wide.swaplevel(axis=1)
    return wide.reindex(columns=[(c, s) for c in cols for s in ("p05", "mean", "p95")])


def summary_table_html(result: ScenarioResult, columns: Sequence[str] = HEADLINE_COLUMNS) -> str:
    """Headline figures at the start, each 31 March and the end: mean and the range 90% of
    runs fall in (:func:`headline_table`)."""
    q = headline_table(result.snapshots, columns)
    cols = list(dict.fromkeys(q.columns.get_level_values(0)))
    rows = []
    for col in cols:
        cells = [_e(title(col))]
        for d in q.index:
            mean, lo, hi = q.loc[d, (col, "mean")], q.loc[d, (col, "p05")], q.loc[d, (col, "p95")]
            cells.append(
                f"<b>{_e(fmt(col, mean))}</b><br><small>{_e(fmt(col, lo))} to "
                f"{_e(fmt(col, hi))}</small>"
            )
        rows.append(cells)
    return _table(["", *[f"{d.day} {d:%b %Y}" for d in q.index]], rows, "summary")


def _kpi_cell(target: KpiTarget, row: pd.Series) -> str:
    ok = target.met(float(row["mean"]))
    return (
        f"<span class='{'meets' if ok else 'misses'}'>{_e(fmt(target.column, row['mean']))}"
        f" {'✓' if ok else '✗'}</span><br><small>{row['chance']:.0%} chance the target is "
        f"met</small>"
    )


def kpi_table_html(results: Sequence[ScenarioResult]) -> str:
    """Each KPI at each 31 March against its target, with the share of runs that meet it."""
    several = len(results) > 1
    march = [year_end(r.snapshots) for r in results]
    years = sorted(set().union(*(set(m["year"]) for m in march)))
    head = ["Indicator", "Target", *(["Option"] if several else [])]
    head += [f"31 Mar {y}" for y in years]
    body = []
    for t in KPI_TARGETS:
        present = [(r, m) for r, m in zip(results, march, strict=True) if t.column in m]
        for i, (r, m) in enumerate(present):
            chance = target_chance(m, t.column, t.target, t.better == "lower")
            by_year = {int(row["year"]): row for _, row in chance.iterrows()}
            cells = []
            if i == 0:
                span = f" rowspan='{len(present)}'" if len(present) > 1 else ""
                word = "at most" if t.better == "lower" else "at least"
                cells.append(f"<th scope='row'{span}>{_e(t.name)}</th>")
                cells.append(f"<td{span}>{word} {t.target:.0%}</td>")
            if several:
                cells.append(f"<td>{_e(r.label)}</td>")
            cells += [
                f"<td>{_kpi_cell(t, by_year[y]) if y in by_year else '–'}</td>" for y in years
            ]
            body.append("<tr>" + "".join(cells) + "</tr>")
    table = _table_of(head, "".join(body), "kpis")
    sources = "".join(
        f"<li>{_e(t.name)}: {_e(source_title(t.source))}: &lsquo;{_e(t.quote)}&rsquo;</li>"
        for t in KPI_TARGETS
    )
    return (
        f"{table}<p class='note'>Each cell: the mean over runs (✓ meets the target, ✗ does "
        f"not) and the chance that the target is met on that 31 March (the share of runs that "
        f"meet it).</p>"
        f"<details><summary>Where the targets come from</summary><ul>{sources}</ul></details>"
    )


def option_differences(
    base: ScenarioResult, other: ScenarioResult, columns: Sequence[str] = HEADLINE_COLUMNS
) -> pd.DataFrame:
    """The paired differences the report shows (:func:`paired_differences`) at each 31 March
    after the start: the options share the start, so there is nothing to compare there."""
    cols = [c for c in columns if c in base.snapshots and c in other.snapshots]
    d = paired_differences(base.snapshots, other.snapshots, cols)
    if d.empty:
        return d
    start = pd.to_datetime(base.snapshots["date"]).min()
    march = pd.to_datetime(pd.DataFrame({"year": d["year"], "month": 3, "day": 31}))
    # A run shorter than a year has only its start to show.
    return d[(march > start) | (d["year"] == d["year"].max())].reset_index(drop=True)


def differences_html(
    results: Sequence[ScenarioResult], columns: Sequence[str] = HEADLINE_COLUMNS
) -> str:
    """Paired differences of every option from the first (the base), per 31 March."""
    if len(results) < 2:
        return ""
    base = results[0]
    parts = []
    for other in results[1:]:
        heading = f"<h3>{_e(other.label)} compared with {_e(base.label)}</h3>"
        problem = pairing_problem(base, other)
        if problem:
            parts.append(f"{heading}<p class='warning'>Not compared: {_e(problem)}.</p>")
            continue
        d = option_differences(base, other, columns)
        years = sorted(d["year"].unique())
        cols = list(dict.fromkeys(d["outcome"]))
        n = int(d["replications"].max()) if len(d) else 0
        rows = []
        for col in cols:
            cells = [_e(title(col))]
            for y in years:
                match = d[(d["year"] == y) & (d["outcome"] == col)]
                if match.empty:
                    cells.append("–")
                    continue
                row = match.iloc[0]
                val = _e(fmt(col, row["difference"], signed=True))
                means = (
                    f"<br><small>{_e(fmt(col, row['policy_mean']))}, base "
                    f"{_e(fmt(col, row['base_mean']))}</small>"
                )
                if math.isnan(row["ci_low"]):
                    cells.append(val + means)
                    continue
                clear = row["ci_low"] > 0 or row["ci_high"] < 0
                better = output(col).better
                odds = (
                    f"<br><small>better in {row['prob_better']:.0%} of runs</small>"
                    if better
                    else ""
                )
                cells.append(
                    f"{'<b>' + val + '</b>' if clear else val}<br><small>"
                    f"{_e(fmt(col, row['ci_low'], signed=True))} to "
                    f"{_e(fmt(col, row['ci_high'], signed=True))}</small>{means}{odds}"
                )
            rows.append(cells)
        table = _table(["31 March", *[str(y) for y in years]], rows, "differences")
        few = " With fewer than 2 runs there is no interval." if n < 2 else ""
        parts.append(
            f"{heading}{table}<p class='note'>Each cell: the mean difference over {n} paired "
            f"runs ({_e(other.label)} minus {_e(base.label)}), its 90% confidence interval, "
            f"the mean of each option and the share of runs in which {_e(other.label)} does "
            f"better (a tie counts half). "
            f"Bold: the interval does not include zero, so the difference is unlikely to be "
            f"chance.{few}</p>"
        )
    return "".join(parts)


def _prices(result: ScenarioResult) -> str:
    costs = (result.manifest.get("parameters") or {}).get("costs") or {}
    return prices_note(costs.get("inflation_per_year"))


def _money_cell(mean: float, lo: float, hi: float, signed: bool = False) -> str:
    if math.isnan(lo):
        return _e(format_money(mean, signed))
    return (
        f"<b>{_e(format_money(mean, signed))}</b><br><small>{_e(format_money(lo, signed))} to "
        f"{_e(format_money(hi, signed))}</small>"
    )


def _year_head(years: Sequence[str]) -> list[str]:
    return [("Whole horizon" if y == TOTAL else str(y)) for y in years]


def money_html(results: Sequence[ScenarioResult]) -> str:
    """Spend per financial year and over the horizon by category, each option's difference
    from the base with its interval, and what the cost includes and leaves out."""
    have = [r for r in results if r.flows is not None and "spend_total" in r.flows]
    if not have:
        return "<p>These results hold no spend figures (written by an older version).</p>"
    parts = [
        f"<p>Spend by financial year (1 April to 31 March), {_e(_prices(have[0]))}. "
        f"{_e(ESTIMATOR)}</p>"
    ]
    for r in have:
        q = spend_summary(r.tables["flows"].assign(scenario=r.label))
        years = list(dict.fromkeys(q["financial_year"]))
        shown = q[(q.groupby("category")["p95"].transform("max") > 0) | (q["category"] == "total")]
        rows = []
        for cat in dict.fromkeys(shown["category"]):  # the catalogue's order, by group
            g = shown[shown["category"] == cat].set_index("financial_year")
            head = g["title"].iloc[0]
            cells = [f"<b>{_e(head)}</b>" if cat == "total" else _e(head)]
            cells += [_money_cell(g.at[y, "mean"], g.at[y, "p05"], g.at[y, "p95"]) for y in years]
            rows.append(cells)
        heading = f"<h3>{_e(r.label)}</h3>" if len(results) > 1 else ""
        parts.append(heading + _table(["Spend", *_year_head(years)], rows, "money"))
    base = have[0]
    for other in have[1:]:
        if pairing_problem(base, other):
            continue  # the differences section says why
        d = spend_differences(base.tables["flows"], other.tables["flows"])
        years = list(dict.fromkeys(d["financial_year"]))
        moved = d.groupby("outcome")["difference"].transform(lambda x: x.abs().max()) > 0
        d = d[moved | (d["outcome"] == "spend_total")]
        rows = []
        for col in dict.fromkeys(d["outcome"]):
            g = d[d["outcome"] == col].set_index("financial_year")
            cells = [f"<b>{_e(title(col))}</b>" if col == "spend_total" else _e(title(col))]
            for y in years:
                row = g.loc[y]
                cell = _money_cell(row["difference"], row["ci_low"], row["ci_high"], signed=True)
                if col == "spend_total":
                    cell += f"<br><small>costs less in {row['prob_better']:.0%} of runs</small>"
                cells.append(cell)
            rows.append(cells)
        parts.append(
            f"<h3>{_e(other.label)} minus {_e(base.label)}</h3>"
            + _table(["Difference in spend", *_year_head(years)], rows, "money")
            + "<p class='note'>Each cell: the mean difference over paired runs and its 90% "
            "confidence interval (bold figure: the mean). A negative figure is a saving.</p>"
        )
    includes = "".join(f"<li>{_e(x)}</li>" for x in COST_INCLUDES)
    excludes = "".join(f"<li>{_e(x)}</li>" for x in COST_EXCLUDES)
    parts.append(
        f"<h3>What the cost includes</h3><ul>{includes}</ul>"
        f"<h3>What it leaves out</h3><ul>{excludes}</ul>"
    )
    return "".join(parts)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def _defaults() -> dict[str, Any]:
    return _flatten(json.loads(Scenario().model_dump_json()))


def assumptions_html(results: Sequence[ScenarioResult]) -> str:
    """The main assumptions of each option, then every other setting not at its default, in
    plain words (:mod:`sim.wording`)."""
    params = [_flatten(r.manifest.get("parameters") or {}) for r in results]
    labels = [r.label for r in results]

    def row(path: str) -> list[str]:
        cells = [_e(describe(path, p[path]) if path in p else "–") for p in params]
        return [_e(setting_label(path)), *cells]

    shown = [path for path in LABELS if any(path in p for p in params)]
    main = _table(["Assumption", *labels], [row(path) for path in shown], "assumptions")
    if any(p.get("posterior.file") for p in params):
        main += (
            "<p class='note'>Each run uses its own draw of the parameter values that the "
            "council's published history leaves plausible, so the ranges shown include the "
            "uncertainty in those values, not only chance.</p>"
        )
    defaults = _defaults()
    changed = sorted(
        {
            k
            for p in params
            for k, v in p.items()
            if defaults.get(k) != v and not k.startswith("posterior.")
        }
        - set(shown)
        - {"name", "description", "council"}
    )
    if not changed:
        return main
    return (
        main + f"<details><summary>{len(changed)} other settings that differ from the model's "
        "defaults</summary>"
        + _table(["Setting", *labels], [row(path) for path in changed], "assumptions")
        + "<p class='note'>Every setting, with its source and range, is described in the "
        "model's documentation (docs/MODEL.md).</p></details>"
    )


def _run_facts(results: Sequence[ScenarioResult]) -> str:
    keys = (
        ("scenario", "Scenario"),
        ("scenario_file", "Scenario file"),
        ("replications", "Runs (replications)"),
        ("seed", "Random seed"),
        ("version", "Model version"),
        ("commit", "Model commit"),
        ("written", "Results written (UTC)"),
    )
    rows = []
    for key, label in keys:
        if any(key in r.manifest for r in results):
            rows.append([_e(label), *[_e(r.manifest.get(key, "–")) for r in results]])
    descriptions = "".join(
        f"<p><b>{_e(r.label)}</b>: {_e(text)}</p>"
        for r in results
        if (text := (r.manifest.get("parameters") or {}).get("description"))
    )
    return descriptions + _table(["", *[r.label for r in results]], rows, "facts")


def frame_html(df: pd.DataFrame) -> str:
    """Any table (calibration fit, validation) as escaped HTML."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return _e(f"{v:,.4g}")
        return _e(v)

    if "source" in df:
        df = df.assign(source=df["source"].map(source_title))
    rows = [[cell(v) for v in row] for row in df.itertuples(index=False)]
    return _table([str(c) for c in df.columns], rows, "frame")


# ----------------------------------------------------------------------------- charts

# pyplot keeps global state: the report and the web app may draw from several threads.
_PLOT_LOCK = threading.Lock()


def _date_axis(ax: plt.Axes, first: pd.Timestamp, last: pd.Timestamp) -> None:
    span_years = (last - first).days / 365.25
    if span_years <= 3.5:
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(4, 10)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    else:
        ax.xaxis.set_major_locator(
            mdates.YearLocator(base=1 if span_years <= 6 else 2, month=4, day=1)
        )
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    # Matplotlib converts dates through its unit registry; its stubs admit floats only.
    ax.set_xlim(first, last)  # type: ignore[arg-type]


#: The most options one chart shows; more are drawn as small multiples, each with the base.
MAX_OPTIONS_PER_CHART = 3
#: Published figures up to this many years before the start are drawn as history (at most
#: as many years as the run forecasts, so the forecast keeps most of the chart).
HISTORY_YEARS = 5


def option_sets(results: Sequence[ScenarioResult]) -> list[list[int]]:
    """The options (by position) each chart shows: all of them, or the base with one or two
    others per chart when there are more than :data:`MAX_OPTIONS_PER_CHART`."""
    n = len(results)
    if n <= MAX_OPTIONS_PER_CHART:
        return [list(range(n))]
    step = MAX_OPTIONS_PER_CHART - 1
    return [[0, *range(i, min(i + step, n))] for i in range(1, n, step)]


def panel_observed(
    observed: pd.DataFrame | None, column: str, first: pd.Timestamp, last: pd.Timestamp
) -> pd.DataFrame:
    """The published figures of ``column`` a chart from ``first`` to ``last`` shows, with
    those of up to :data:`HISTORY_YEARS` before it."""
    if observed is None or observed.empty:
        return pd.DataFrame(columns=["column", "date", "value", "tolerance", "use", "source"])
    dates = pd.to_datetime(observed["date"])
    since = first - min(pd.Timedelta(days=round(365.25 * HISTORY_YEARS)), last - first)
    return observed[observed["column"].eq(column) & dates.between(since, last)]


def chart_group_figure(
    group: ChartGroup,
    results: Sequence[ScenarioResult],
    observed: pd.DataFrame | None = None,
    shown: Sequence[int] | None = None,
) -> plt.Figure:
    """One figure of fan charts for ``group``: a panel per measure, a fan per option (those at
    positions ``shown``, all by default), the published figures in ``observed`` as points."""
    shown = list(range(len(results))) if shown is None else list(shown)
    options = [(i, results[i]) for i in shown]
    columns = [c for c in group.columns if any(c in r.snapshots for _, r in options)]
    ncols = 3 if len(columns) > 2 else len(columns)
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows + 0.6), squeeze=False)
    dates = pd.to_datetime(results[0].snapshots["date"])
    start, end = dates.min(), dates.max()
    targets = {t.column: t for t in KPI_TARGETS}
    thin = len(options) > 1
    points = {c: panel_observed(observed, c, start, end) for c in columns}
    history = False
    for ax, col in zip(axes.flat, columns, strict=False):
        for i, r in options:
            if col in r.snapshots:
                ax.set_autoscaley_on(True)  # fan_chart fixes the limits; let each fan widen them
                colour = COLOURS[i % len(COLOURS)]
                fan_chart(r.snapshots, col, ax, colour=colour, label=r.label, thin=thin)
        pts = points[col]
        if len(pts):
            observed_points(ax, pts)
        ax.relim()
        ax.autoscale_view(scalex=False)
        top = float((pts["value"] + pts["tolerance"]).max()) * 1.05 if len(pts) else 0
        ax.set_ylim(0, max(ax.get_ylim()[1], top))
        m = output(col)
        ax.set_title("\n".join(textwrap.wrap(m.title, 48)), loc="left", fontsize=10)
        ax.set_ylabel(m.unit, fontsize=9)
        ax.tick_params(labelsize=8)
        if col in targets:
            ax.axhline(targets[col].target, color="#333", ls="--", lw=1.2)
            ax.set_ylim(0, min(1.0, max(ax.get_ylim()[1], targets[col].target * 1.15)))
        first = start
        if len(pts):  # a margin, so that a point on the edge is not cut in half
            first = min(start, pd.to_datetime(pts["date"]).min()) - pd.Timedelta(days=45)
        if first < start:
            history = True
            forecast_start(ax, start)
        _date_axis(ax, first, end)
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    handles: list[Any] = [
        Line2D([], [], color=COLOURS[i % len(COLOURS)], lw=2, label=f"Mean: {r.label}")
        for i, r in options
    ]
    if thin:
        handles += [
            Patch(color="#777", alpha=0.3, label="Half of runs"),
            Line2D([], [], color="#777", lw=0.7, ls=(0, (3, 2)), label="90% of runs"),
        ]
    else:
        handles += [
            Patch(color="#777", alpha=0.45, label="Half of runs"),
            Patch(color="#777", alpha=0.2, label="90% of runs"),
        ]
    if any(len(p) for p in points.values()):
        handles.append(
            Line2D([], [], color=OBSERVED_COLOUR, marker="o", ls="", label="Published figure")
        )
        if history:
            handles.append(Line2D([], [], color="#555", lw=1, ls=":", label="Forecast starts"))
    if any(c in targets for c in columns):
        handles.append(Line2D([], [], color="#333", ls="--", lw=1.2, label="Council target"))
    fig.legend(
        handles=handles, loc="upper center", ncol=min(len(handles), 4), frameon=False, fontsize=9
    )
    legend = 0.25 + 0.3 * math.ceil(len(handles) / 4)
    fig.tight_layout(rect=(0, 0, 1, 1 - legend / fig.get_figheight()))
    return fig


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chart_images(
    results: Sequence[ScenarioResult], observed: pd.DataFrame | None = None
) -> dict[str, list[str]]:
    """Each chart group as base64 PNGs, keyed by the group's key: one image, or one per set
    of options (:func:`option_sets`)."""
    with _PLOT_LOCK:
        return {
            g.key: [
                _png(chart_group_figure(g, results, observed, shown))
                for shown in option_sets(results)
            ]
            for g in CHART_GROUPS
        }


# ----------------------------------------------------------------------------- the report

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1180px;margin:1.5em auto;
padding:0 1em;color:#1d1d1d;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:2px solid #1f5f99;
padding-bottom:.2em}h3{margin-top:1.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ccc;
padding:4px 7px;vertical-align:top}thead th{background:#eef2f7;text-align:left}
tbody th{text-align:left;font-weight:600;background:#fafafa;max-width:22em}
small{color:#555}.meets{color:#1d6b2f;font-weight:600}.misses{color:#a3321f;font-weight:600}
.note{font-size:.85em;color:#444}.warning{color:#a3321f}img{max-width:100%;height:auto}
nav ul{columns:2;font-size:.9em}code{font-size:.9em}
.plain-summary{background:#eef2f7;border-left:4px solid #1f5f99;padding:.2em 1em;margin:1em 0}
.plain-summary h2{border:0;margin:.4em 0 .2em}details summary{cursor:pointer;color:#1f5f99}
"""


def render_report(data: ReportData) -> str:
    """The whole report as one HTML string with every image embedded."""
    results = data.results
    heading = (
        results[0].label
        if len(results) == 1
        else f"{results[0].label} compared with {', '.join(r.label for r in results[1:])}"
    )
    kent = describes_published_council(results)
    observed = data.observed if data.observed is not None or not kent else observed_figures()
    accuracy = data.accuracy if data.accuracy is not None or not kent else load_accuracy()
    images = chart_images(results, observed)
    reps = ", ".join(str(r.manifest.get("replications", "?")) for r in results)
    sections: list[tuple[str, str, str]] = []
    sections.append(
        (
            "scenario",
            "The scenario and its assumptions",
            _run_facts(results) + "<h3>Main assumptions</h3>" + assumptions_html(results),
        )
    )
    sections.append(("kpis", "Key performance indicators against targets", kpi_table_html(results)))
    sections.append(("money", "Money", money_html(results)))
    if len(results) > 1:
        sections.append(
            (
                "differences",
                "Differences between the options",
                "<p>The same random events (children arriving, carers leaving, placements "
                "ending) happen in run <i>r</i> of every option, so each option is compared "
                "with the base run by run. This shows the effect of the policy rather than "
                "luck.</p>" + differences_html(results),
            )
        )
    charts = []
    for g in CHART_GROUPS:
        alt = (
            f"{g.title}: "
            + "; ".join(title(c) for c in g.columns)
            + ". Fan charts by month: mean line, shaded half and 90% of runs"
            + (", published figures as points." if observed is not None else ".")
        )
        imgs = "".join(
            f"<img alt='{_e(alt)}' src='data:image/png;base64,{png}'>" for png in images[g.key]
        )
        charts.append(
            f"<figure id='chart-{g.key}'><h3>{_e(g.title)}</h3>{imgs}"
            f"<figcaption class='note'>{_e(g.note)}</figcaption></figure>"
        )
    points = (
        " Dots are the council's published figures, with the margin each is known to; hollow "
        "dots were kept back from fitting the model, so they test its forecast. The dotted "
        "line marks where the history ends and the forecast starts."
        if observed is not None and len(observed)
        else ""
    )
    sections.append(
        (
            "charts",
            "How the figures develop",
            "<p>Each chart shows the month-end figure over the years simulated. The solid line "
            "is the mean of all runs; the darker band holds half of the runs and the lighter "
            "band 90% of them (with several options, the 90% range is drawn as fine dashed "
            "lines). Wide bands mean the future is uncertain, not that the model is "
            f"wrong.{points}</p>" + "".join(charts),
        )
    )
    summary = "".join(
        (f"<h3>{_e(r.label)}</h3>" if len(results) > 1 else "") + summary_table_html(r)
        for r in results
    )
    sections.append(
        (
            "summary",
            "Headline figures at each 31 March",
            "<p>Each cell: the mean over runs (bold) and the range that 90% of runs fall "
            f"in, at the start, at each 31 March and at the end of the run. {_e(ESTIMATOR)}</p>"
            f"<details><summary>The table of headline figures</summary>{summary}</details>",
        )
    )
    sections.append(
        (
            "accuracy",
            "How accurate has this been?",
            accuracy_html(accuracy)
            if accuracy is not None
            else "<p>The model's validation result is not included in this installation.</p>"
            if kent
            else "<p>No validation of forecasts for this council has been recorded: the "
            f"model's accuracy is tested against the published figures of "
            f"{_e(published_council() or 'one council')} only.</p>",
        )
    )
    if data.councils:
        sections.append(
            (
                "councils",
                "Each council of the region",
                "<p>The figures above are the region's totals; these are each council's own "
                "(mean and the range 90% of runs fall in).</p>"
                + "".join(
                    f"<h3>{_e(name)}{_e(f': {r.label}') if len(rs) > 1 else ''}</h3>"
                    + summary_table_html(r)
                    for name, rs in data.councils.items()
                    for r in rs
                ),
            )
        )
    if data.calibration is not None:
        sections.append(
            (
                "calibration",
                "Calibration: fit to the council's figures",
                "<p>How closely the model reproduces the figures it was fitted to.</p>"
                "<details><summary>The fit table</summary>"
                + frame_html(data.calibration)
                + "</details>",
            )
        )
    if data.validation is not None:
        sections.append(
            (
                "validation",
                "Validation: forecasts against later figures",
                "<p>Figures kept back from fitting, compared with the model's forecast.</p>"
                "<details><summary>The validation table</summary>"
                + frame_html(data.validation)
                + "</details>",
            )
        )
    from sim.summary import summary_html  # the summary reads this module's tables

    notes = "".join(f"<p class='note'>{_e(n)}</p>" for n in data.notes)
    nav = "".join(f"<li><a href='#{k}'>{_e(h)}</a></li>" for k, h, _ in sections)
    body = "".join(f"<section id='{k}'><h2>{_e(h)}</h2>{c}</section>" for k, h, c in sections)
    written = dt.datetime.now(dt.UTC).strftime("%d %B %Y %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Placement sufficiency: {_e(heading)}</title><style>{_STYLE}</style></head>
<body><header><h1>Placement sufficiency: {_e(heading)}</h1>
<p>Will there be enough placements for the children in our care? A simulation of children
coming into care, foster carers recruited and lost, and the placements bought when the council's
own carers are full. Runs: {_e(reps)}. Report written {_e(written)}.</p>{notes}
{summary_html(results)}
<nav><ul>{nav}</ul></nav></header>
<main>{body}</main>
<footer class="note"><p>Made by the placement-sufficiency model. Every figure is a simulation
under the assumptions above, not a prediction of what will happen.</p></footer>
</body></html>
"""


def write_report(
    tables: dict[str, pd.DataFrame],
    manifest: dict[str, Any],
    path: Path,
    *,
    compare: Sequence[tuple[dict[str, pd.DataFrame], dict[str, Any]]] = (),
    calibration: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
) -> Path:
    """Write one HTML file with images embedded; it needs no internet to open.

    ``tables`` and ``manifest`` are the base scenario's (as from :func:`sim.experiment.run`
    and :func:`sim.experiment.provenance`); ``compare`` holds other options' ``(tables,
    manifest)``, run with the same seed, to show their paired differences from the base.
    """
    results = [ScenarioResult(tables, manifest)] + [ScenarioResult(t, m) for t, m in compare]
    return save_report(ReportData(results, calibration, validation), path)


def save_report(data: ReportData, path: str | Path) -> Path:
    """Render ``data`` and write it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(data), encoding="utf-8")
    return path
