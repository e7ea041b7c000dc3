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
    spend_differences,
    spend_summary,
    target_chance,
    year_end,
    yearly_summary,
)
from sim.config import Scenario
from sim.outputs import (
    COST_EXCLUDES,
    COST_INCLUDES,
    fmt,
    format_money,
    output,
    prices_note,
    title,
)
from sim.plots import fan_chart

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
    """A council target for a KPI, with the document it comes from."""

    column: str
    target: float
    source: str

    @property
    def name(self) -> str:
        return title(self.column)

    @property
    def better(self) -> str:
        """ "lower" or "higher", as the output catalogue says."""
        return "lower" if output(self.column).better < 0 else "higher"

    def met(self, value: float) -> bool:
        return value <= self.target if self.better == "lower" else value >= self.target


_KCC_2024 = "Kent Corporate Parenting Annual Report 2024 (seed 004_7ff32ea817a1971a.txt)"

#: Kent's published KPI targets (figure ids from shared/reference/seed_figures.md).
KPI_TARGETS: tuple[KpiTarget, ...] = (
    KpiTarget(
        "kpi_3plus_placements",
        0.10,
        f"{_KCC_2024}, figure E113: 'The target is 10%.'",
    ),
    KpiTarget(
        "kpi_same_placement_2y",
        0.70,
        f"{_KCC_2024}, figure E116: 'Our target is 70%'",
    ),
    KpiTarget(
        "kpi_within_20_miles",
        0.80,
        f"{_KCC_2024}, figure E117: 'The target is 80%'",
    ),
)

#: Assumptions every reader should see, as (dotted parameter path, plain label).
KEY_ASSUMPTIONS: tuple[tuple[str, str], ...] = (
    ("start", "Start date"),
    ("years", "Years simulated"),
    ("children.arrivals_per_year", "Children coming into care each year (not UASC)"),
    ("uasc.arrivals_per_year", "Unaccompanied asylum-seeking children (UASC) arriving each year"),
    ("uasc.nts.transfer_prob", "Share of UASC transferred to other councils when over quota"),
    ("recruitment.enquiries_per_year", "Fostering enquiries each year"),
    ("recruitment.campaigns", "Recruitment campaigns (enquiries multiplied while they run)"),
    ("recruitment.application_prob", "Share of enquiries that become applications"),
    ("recruitment.approval_prob", "Share of assessments that end in approval"),
    ("initial.households", "The council's fostering households at the start"),
    ("providers.ifa_framework_places", "Places on the IFA framework"),
    ("providers.residential_places", "Residential places the council can use"),
    ("providers.supported_places", "Supported accommodation places"),
    ("costs.weekly.in_house.central", "Weekly cost of an in-house foster placement (£)"),
    ("costs.weekly.ifa_framework.central", "Weekly cost of an IFA framework placement (£)"),
    ("costs.weekly.ifa_spot.central", "Weekly cost of an IFA spot placement (£)"),
    ("costs.weekly.residential.central", "Weekly cost of a residential placement (£)"),
    ("costs.weekly.unregistered.central", "Weekly cost of an unregistered placement (£)"),
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


def load_results(folder: str | Path) -> ReportData:
    """Read a results folder (:mod:`sim.results`), each of its scenarios an option of the
    report, the first the base of the comparison.

    The calibration fit table (``fit_table``) and the validation table
    (``validation_table``), parquet or csv, are shown where present in ``folder``.
    """
    res = results_layout.load(folder)
    m = res.manifest
    options = []
    for label in res.scenarios:
        entry = res.entry(label)
        snaps = res.of(label, "snapshots")
        if snaps.empty:
            raise results_layout.ResultsError(
                f"{res.folder}: no finished replication of {label!r} yet"
            )
        manifest = {
            "scenario": entry.get("name", label),
            "label": label,
            "scenario_file": entry.get("file"),
            "parameters": entry.get("parameters") or {},
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
    for attr, names in _EXTRA_TABLES.items():
        for name in names:
            table = _read_table(res.folder, name)
            if table is not None:
                setattr(data, attr, table)
                break
    return data


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


def summary_table_html(result: ScenarioResult, columns: Sequence[str] = HEADLINE_COLUMNS) -> str:
    """Headline figures at each 31 March: the mean and the range 90% of runs fall in."""
    cols = [c for c in columns if c in result.snapshots]
    q = yearly_summary(result.snapshots, cols)
    years = list(q.index)
    rows = []
    for col in cols:
        cells = [_e(title(col))]
        for y in years:
            mean, lo, hi = q.loc[y, (col, "mean")], q.loc[y, (col, "p05")], q.loc[y, (col, "p95")]
            cells.append(
                f"<b>{_e(fmt(col, mean))}</b><br><small>{_e(fmt(col, lo))} to "
                f"{_e(fmt(col, hi))}</small>"
            )
        rows.append(cells)
    return _table(["31 March", *[str(y) for y in years]], rows, "summary")


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
    sources = "".join(f"<li>{_e(t.name)}: {_e(t.source)}</li>" for t in KPI_TARGETS)
    return (
        f"{table}<p class='note'>Each cell: the mean over runs (✓ meets the target, ✗ does "
        f"not) and the chance that the target is met on that 31 March (the share of runs that "
        f"meet it).</p>"
        f"<details><summary>Where the targets come from</summary><ul>{sources}</ul></details>"
    )


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
        cols = [c for c in columns if c in base.snapshots and c in other.snapshots]
        d = paired_differences(base.snapshots, other.snapshots, cols)
        # The start date is shared by every option: nothing to compare there.
        years = sorted(d["year"].unique())[1:] or sorted(d["year"].unique())
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
                if math.isnan(row["ci_low"]):
                    cells.append(val)
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
                    f"{_e(fmt(col, row['ci_high'], signed=True))}</small>{odds}"
                )
            rows.append(cells)
        table = _table(["31 March", *[str(y) for y in years]], rows, "differences")
        few = " With fewer than 2 runs there is no interval." if n < 2 else ""
        parts.append(
            f"{heading}{table}<p class='note'>Each cell: the mean difference over {n} paired "
            f"runs ({_e(other.label)} minus {_e(base.label)}) and its 90% confidence interval. "
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


def _describe_value(path: str, value: Any) -> str:
    if path == "recruitment.campaigns":
        if not value:
            return "none"
        return "; ".join(
            (
                f"×{c['multiplier']:g}"
                if c.get("multiplier") is not None
                else f"{c['per_year']:g} a year"
            )
            + f" from {c['start']} to {c['end']}"
            for c in value
        )
    if isinstance(value, float) and path.rsplit(".", 1)[-1].endswith(("_prob", "_share")):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _defaults() -> dict[str, Any]:
    return _flatten(json.loads(Scenario().model_dump_json()))


def assumptions_html(results: Sequence[ScenarioResult]) -> str:
    """The main assumptions of each option, then every other setting not at its default."""
    params = [_flatten(r.manifest.get("parameters") or {}) for r in results]
    labels = [r.label for r in results]
    rows = []
    shown = set()
    for path, label in KEY_ASSUMPTIONS:
        if not any(path in p for p in params):
            continue
        shown.add(path)
        rows.append([_e(label), *[_e(_describe_value(path, p.get(path, "–"))) for p in params]])
    main = _table(["Assumption", *labels], rows, "assumptions")
    defaults = _defaults()
    changed = sorted(
        {k for p in params for k, v in p.items() if k not in shown and defaults.get(k) != v}
        - {"name", "description"}
    )
    other = ""
    if changed:
        other_rows = [
            [f"<code>{_e(k)}</code>", *[_e(_describe_value(k, p.get(k, "–"))) for p in params]]
            for k in changed
        ]
        other = (
            "<h3>Other settings that differ from the model's defaults</h3>"
            + _table(["Setting", *labels], other_rows, "assumptions")
            + "<p class='note'>Every setting, with its source and range, is described in "
            "docs/MODEL.md in the model's repository.</p>"
        )
    return main + other


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


def chart_group_figure(group: ChartGroup, results: Sequence[ScenarioResult]) -> plt.Figure:
    """One figure of fan charts for ``group``: a panel per measure, a fan per option."""
    columns = [c for c in group.columns if any(c in r.snapshots for r in results)]
    ncols = 3 if len(columns) > 2 else len(columns)
    nrows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.1 * nrows + 0.6), squeeze=False)
    dates = pd.to_datetime(results[0].snapshots["date"])
    targets = {t.column: t for t in KPI_TARGETS}
    for ax, col in zip(axes.flat, columns, strict=False):
        for i, r in enumerate(results):
            if col in r.snapshots:
                ax.set_autoscaley_on(True)  # fan_chart fixes the limits; let each fan widen them
                fan_chart(r.snapshots, col, ax, colour=COLOURS[i % len(COLOURS)], label=r.label)
        ax.relim()
        ax.autoscale_view(scalex=False)
        ax.set_ylim(bottom=0)
        m = output(col)
        ax.set_title(m.title, loc="left", fontsize=10, wrap=True)
        ax.set_ylabel(m.unit, fontsize=9)
        ax.tick_params(labelsize=8)
        if col in targets:
            ax.axhline(targets[col].target, color="#333", ls="--", lw=1.2)
            ax.set_ylim(0, min(1.0, max(ax.get_ylim()[1], targets[col].target * 1.15)))
        _date_axis(ax, dates.min(), dates.max())
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    handles: list[Any] = [
        Line2D([], [], color=COLOURS[i % len(COLOURS)], lw=2, label=f"Mean: {r.label}")
        for i, r in enumerate(results)
    ]
    handles += [
        Patch(color="#777", alpha=0.45, label="Half of runs"),
        Patch(color="#777", alpha=0.2, label="90% of runs"),
    ]
    if any(c in targets for c in columns):
        handles.append(Line2D([], [], color="#333", ls="--", lw=1.2, label="Council target"))
    fig.legend(
        handles=handles, loc="upper center", ncol=min(len(handles), 4), frameon=False, fontsize=9
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / fig.get_figheight()))
    return fig


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chart_images(results: Sequence[ScenarioResult]) -> dict[str, str]:
    """Each chart group as a base64 PNG, keyed by the group's key."""
    with _PLOT_LOCK:
        return {g.key: _png(chart_group_figure(g, results)) for g in CHART_GROUPS}


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
"""


def render_report(data: ReportData) -> str:
    """The whole report as one HTML string with every image embedded."""
    results = data.results
    heading = (
        results[0].label
        if len(results) == 1
        else f"{results[0].label} compared with {', '.join(r.label for r in results[1:])}"
    )
    images = chart_images(results)
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
            + ". Fan charts by month: mean line, shaded half and 90% of runs."
        )
        charts.append(
            f"<figure id='chart-{g.key}'><h3>{_e(g.title)}</h3>"
            f"<img alt='{_e(alt)}' src='data:image/png;base64,{images[g.key]}'>"
            f"<figcaption class='note'>{_e(g.note)}</figcaption></figure>"
        )
    sections.append(
        (
            "charts",
            "How the figures develop",
            "<p>Each chart shows the month-end figure over the years simulated. The solid line "
            "is the mean of all runs; the darker band holds half of the runs and the lighter "
            "band 90% of them. Wide bands mean the future is uncertain, not that the model is "
            "wrong.</p>" + "".join(charts),
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
            f"in. {_e(ESTIMATOR)}</p>" + summary,
        )
    )
    if data.calibration is not None:
        sections.append(
            (
                "calibration",
                "Calibration: fit to the council's figures",
                "<p>How closely the model reproduces the figures it was fitted to.</p>"
                + frame_html(data.calibration),
            )
        )
    if data.validation is not None:
        sections.append(
            (
                "validation",
                "Validation: forecasts against later figures",
                "<p>Figures kept back from fitting, compared with the model's forecast.</p>"
                + frame_html(data.validation),
            )
        )
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
