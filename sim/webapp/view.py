"""What the page shows for a finished run: interactive fan charts and the report's tables.

Charts are Plotly figures built here as plain JSON (the page draws them with the Plotly.js
file bundled in the ``plotly`` package, so nothing is fetched from the internet). The tables
are the same HTML as in the report, so the page and the report always agree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.analysis import COLOURS, quantiles, year_end
from sim.config import PLACEMENT_TYPES, Scenario
from sim.outputs import Output, format_money, output, title
from sim.plots import OBSERVED_COLOUR
from sim.report import (
    CHART_GROUPS,
    KPI_TARGETS,
    ScenarioResult,
    describes_published_council,
    differences_html,
    kpi_table_html,
    load_results,
    money_html,
    observed_figures,
    panel_observed,
    summary_table_html,
)
from sim.results import Filter, in_care, load
from sim.summary import summary_html
from sim.target import ALIASES
from sim.webapp.levers import long_date, policy_starts

if TYPE_CHECKING:
    from sim.webapp.jobs import Job

#: At most this many options share a chart; more are drawn as small multiples, each with
#: the base option, so that lines and bands stay apart.
PER_CHART = 3


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _round(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = float(v)
        out.append(None if math.isnan(f) else float(f"{f:.5g}"))
    return out


def _format(measure: Output, field: str) -> str:
    """A Plotly hover format of ``field`` in the measure's units."""
    if measure.kind == "share":
        return f"%{{{field}:.1%}}"
    if measure.kind == "money":
        return f"£%{{{field}:,.0f}}"
    return f"%{{{field}:,.0f}}"


def _hover(measure: Output, label: str) -> str:
    return (
        f"<b>{html.escape(label)}</b><br>%{{x|%d %b %Y}}: {_format(measure, 'y')}<br>"
        f"90% of runs: {_format(measure, 'customdata[0]')} to "
        f"{_format(measure, 'customdata[1]')}<extra></extra>"
    )


def money_ticks(top: float, count: int = 5) -> dict[str, Any]:
    """Tick values from 0 to about ``top`` at a round step, labelled by :func:`format_money`
    (£1.2m, as in the tables and the report, where Plotly's own format writes £1.2M)."""
    if not math.isfinite(top) or top <= 0:
        return {}
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    values = [k * step for k in range(math.ceil(top / step) + 1)]
    return {"tickvals": values, "ticktext": [format_money(v) for v in values]}


def observed_traces(points: pd.DataFrame, measure: Output) -> list[dict[str, Any]]:
    """The council's published figures as markers with their tolerance; the figures held
    back from fitting (``use == "validate"``) hollow."""
    traces = []
    for held_out, g in points.groupby(points["use"].eq("validate")):
        label = "Published figure, held out" if held_out else "Published figure"
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": label,
                "x": [d.strftime("%Y-%m-%d") for d in pd.to_datetime(g["date"])],
                "y": _round(g["value"]),
                "error_y": {
                    "type": "data",
                    "array": _round(g["tolerance"]),
                    "color": OBSERVED_COLOUR,
                    "thickness": 1,
                    "width": 2,
                },
                "marker": {
                    "symbol": "circle-open" if held_out else "circle",
                    "color": OBSERVED_COLOUR,
                    "size": 7,
                },
                "hovertemplate": f"<b>{html.escape(label)}</b><br>%{{x|%d %b %Y}}: "
                f"{_format(measure, 'y')}<extra></extra>",
                "showlegend": True,
            }
        )
    return traces


def panel_figure(
    column: str,
    results: Sequence[ScenarioResult],
    indices: Sequence[int] | None = None,
    observed: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """A Plotly figure (data and layout) of ``column``: a fan per option, target if any, and
    the published figures in ``observed`` as points with a line where the forecast starts.

    ``indices`` are the options' places in the run (for their colours). One option gets
    both bands (half and 90% of runs); several get only the half band, lighter, so that
    their fans stay apart.
    """
    measure = output(column)
    data: list[dict[str, Any]] = []
    several = len(results) > 1
    bands = (("p25", "p75", 0.16),) if several else (("p05", "p95", 0.15), ("p25", "p75", 0.3))
    for i, r in zip(indices or range(len(results)), results, strict=True):
        if column not in r.snapshots:
            continue
        q = quantiles(r.snapshots, ["date"], [column])
        x = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(q["date"])]
        colour = COLOURS[i % len(COLOURS)]
        common = {"type": "scatter", "x": x, "mode": "lines", "legendgroup": r.label}
        quiet = {"line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
        for lo, hi, alpha in bands:
            data.append({**common, **quiet, "y": _round(q[lo])})
            data.append(
                {
                    **common,
                    **quiet,
                    "y": _round(q[hi]),
                    "fill": "tonexty",
                    "fillcolor": _rgba(colour, alpha),
                }
            )
        data.append(
            {
                **common,
                "y": _round(q["mean"]),
                "name": r.label,
                "line": {"color": colour, "width": 2},
                "customdata": [
                    list(p) for p in zip(_round(q["p05"]), _round(q["p95"]), strict=True)
                ],
                "hovertemplate": _hover(measure, r.label),
                "showlegend": several,
            }
        )
    dates = pd.to_datetime(results[0].snapshots["date"])
    start, end = dates.min(), dates.max()
    points = panel_observed(observed, column, start, end)
    data += observed_traces(points, measure)
    yaxis: dict[str, Any] = {"title": {"text": measure.unit}, "rangemode": "tozero"}
    if measure.kind == "share":
        yaxis["tickformat"] = ".0%"
    elif measure.kind == "money":
        ys = [y for t in data for y in t["y"] if y is not None]
        yaxis.update(money_ticks(max(ys, default=0.0)))
    layout: dict[str, Any] = {
        "height": 260,
        "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
        "xaxis": {"type": "date", "tickformat": "%b %Y", "hoverformat": "%d %b %Y"},
        "yaxis": yaxis,
        "hovermode": "closest",
        "showlegend": several,
        "legend": {"orientation": "h", "y": -0.25},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
    }
    if len(points):
        layout["showlegend"] = True
    shapes: list[dict[str, Any]] = []
    if len(points) and pd.to_datetime(points["date"]).min() < start:
        day = start.strftime("%Y-%m-%d")
        shapes.append(
            {
                "type": "line",
                "yref": "paper",
                "x0": day,
                "x1": day,
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "color": "#555", "width": 1},
            }
        )
        layout["annotations"] = [
            {
                "x": day,
                "yref": "paper",
                "y": 1,
                "xanchor": "right",
                "yanchor": "top",
                "text": "forecast starts",
                "textangle": -90,
                "showarrow": False,
                "font": {"size": 10, "color": "#555"},
            }
        ]
    layout["shapes"] = shapes
    target = next((t for t in KPI_TARGETS if t.column == column), None)
    if target is not None:
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": target.target,
                "y1": target.target,
                "line": {"dash": "dash", "color": "#333", "width": 1.5},
            }
        )
        layout.setdefault("annotations", []).append(
            {
                "xref": "paper",
                "x": 1,
                "y": target.target,
                "xanchor": "right",
                "yanchor": "bottom",
                "text": f"Target {target.target:.0%}",
                "showarrow": False,
                "font": {"size": 11},
            }
        )
    return {"data": data, "layout": layout}


def chart_sets(n: int) -> list[list[int]]:
    """The options drawn together: all of them if at most :data:`PER_CHART`, else the base
    with each next pair (small multiples)."""
    if n <= PER_CHART:
        return [list(range(n))]
    rest = list(range(1, n))
    step = PER_CHART - 1
    return [[0, *rest[k : k + step]] for k in range(0, len(rest), step)]


def policies(result: ScenarioResult) -> list[str]:
    """When each policy of the option starts, in plain words."""
    params = result.manifest["parameters"]
    if "shared" in params:  # a region's totals: each member's policies, by council
        return [
            f"{council}, {name}: from {long_date(day)}"
            for council, member in params.items()
            if council != "shared"
            for name, day in policy_starts(Scenario.model_validate(member))
        ]
    scenario = Scenario.model_validate(params)
    return [f"{name}: from {long_date(day)}" for name, day in policy_starts(scenario)]


def build_view(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """Everything the page shows for a finished run."""
    several = len(results) > 1
    sets = chart_sets(len(results))
    # The council's published figures, only where every option is of that council.
    observed = observed_figures() if describes_published_council(results) else None
    return {
        "kind": "compare",
        # A few plain-English sentences about the results (sim.summary), shown first.
        "summary": summary_html(results),
        "options": [
            {
                "label": r.label,
                "colour": COLOURS[i % len(COLOURS)],
                "start": long_date(pd.Timestamp(r.snapshots["date"].min()).date()),
                "policies": policies(r),
            }
            for i, r in enumerate(results)
        ],
        "kpis": kpi_table_html(results),
        "differences": differences_html(results) if several else "",
        # Spend per financial year, the differences from the base and what the cost covers.
        "money": money_html(results),
        "figures": "".join(
            (f"<h3>{html.escape(r.label)}</h3>" if several else "") + summary_table_html(r)
            for r in results
        ),
        "charts": [
            {
                "key": g.key,
                "title": g.title,
                "note": g.note,
                "panels": [
                    {
                        "column": c if len(sets) == 1 else f"{c}-{k}",
                        "title": title(c)
                        if len(sets) == 1
                        else f"{title(c)}: {', '.join(results[i].label for i in idx)}",
                        "figure": panel_figure(c, [results[i] for i in idx], idx, observed),
                    }
                    for c in g.columns
                    if any(c in r.snapshots for r in results)
                    for k, idx in enumerate(sets)
                ],
            }
            for g in CHART_GROUPS
        ],
    }


_LEVER_NAMES = {"approvals": "approvals a year", "enquiries": "enquiries a year"}
_OP_WORDS = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_FUNNEL = (
    ("enquiries", "Enquiries"),
    ("applications", "Applications"),
    ("assessments", "Assessments started"),
    ("approvals", "Approvals"),
)


def indicator(name: str) -> Output:
    """The catalogue entry of a goal-seek indicator (an alias of ``sim.target``)."""
    table, column = ALIASES.get(name, ("", name))
    return output(column, table or None)


def seek_view(job: Job) -> dict[str, Any]:
    """What the page shows for a finished goal-seek: the answer, its interval, how often it
    met the goal, and the funnel it implies."""
    answer, scenario = job.answer, job.options[0].scenario
    assert answer is not None and job.seek is not None and isinstance(scenario, Scenario)
    g = answer.goal
    measure = output(g.column, g.table or None)
    lever = _LEVER_NAMES.get(answer.lever, answer.lever)
    first = job.options[0].scenario.start
    start = job.seek.start or first
    raised = f"{long_date(start)}" + (" (the scenario's start)" if start == first else "")
    question = (
        f"The smallest number of {lever} so that “{measure.title}” is "
        f"{_OP_WORDS.get(g.op, g.op)} "
        f"{measure.format(g.value)} on 31 March {g.year}, in at least {answer.confidence:.0%} "
        f"of runs, with recruitment raised from {raised}"
    )
    found = math.isfinite(answer.answer)
    lo, hi = answer.interval
    reached = sum(math.isfinite(t) for t in answer.thresholds)
    funnel: list[dict[str, Any]] = [
        {"stage": label, "per_year": round(answer.funnel[key], 1)}
        for key, label in _FUNNEL
        if key in answer.funnel
    ]
    if found:
        headline = f"{answer.answer:,.0f} {lever}"
        interval = (
            f"90% interval {lo:,.0f} to {hi:,.0f}"
            if math.isfinite(hi)
            else (f"90% interval from {lo:,.0f}; the upper end is beyond {job.seek.high:,.0f}")
        )
        rows = "".join(
            f"<tr><th>{html.escape(str(f['stage']))}</th><td>{f['per_year']:,.0f}</td></tr>"
            for f in funnel
        )
        body = (
            f"<p class='answer'><b>{html.escape(headline)}</b> "
            f"<span class='interval'>({html.escape(interval)})</span></p>"
            f"<p>At that value the goal was met in {answer.achieved:.0%} of the "
            f"{len(answer.thresholds)} runs.</p>"
            "<h3>What that asks of the recruitment funnel each year</h3>"
            "<table class='funnel'><thead><tr><th>Stage</th><th>a year</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            "<p class='hint'>From the scenario's conversion rates at its start: enquiries to "
            "applications to assessments to approvals.</p>"
        )
    else:
        headline = "Not reached"
        interval = ""
        body = (
            f"<p class='answer'><b>Not reached</b> with up to {job.seek.high:,.0f} {lever}: "
            f"the goal was met in {reached} of {len(answer.thresholds)} runs at that value, "
            f"fewer than the {answer.confidence:.0%} asked for. Raise the upper end of the "
            "search, lower the confidence, or change the goal.</p>"
        )
    return {
        "kind": "seek",
        "summary": "",
        "option": job.options[0].label,
        "question": question,
        "start": start.isoformat(),
        "answer": answer.answer if found else None,
        "headline": headline,
        "interval": [lo if math.isfinite(lo) else None, hi if math.isfinite(hi) else None],
        "interval_text": interval,
        "achieved": answer.achieved,
        "runs": answer.runs,
        "thresholds": [t if math.isfinite(t) else None for t in answer.thresholds],
        "funnel": funnel,
        "policies": [
            f"{lever.capitalize()} (the lever searched): from {raised}",
            *(f"{name}: from {long_date(day)}" for name, day in policy_starts(scenario)),
        ],
        "html": f"<p class='question'>{html.escape(question)}.</p>{body}",
    }


def job_view(job: Job) -> dict[str, Any]:
    """The view of a finished job: a comparison's results or a goal-seek's answer."""
    return seek_view(job) if job.seek is not None else build_view(job.results)


def council_view(folder: Any, council: str) -> dict[str, Any]:
    """The view of one member ``council`` of a region's run, as :func:`build_view` shows the
    region's totals (from :func:`sim.results.load` with that council)."""
    return build_view(load_results(folder, council).results)


def children_view(folder: Any, where: Filter) -> dict[str, Any]:
    """Children in care matching ``where`` at each 31 March of each option: the mean over
    runs, its 90% range, and the mean by placement type (types no such child was in are
    left out)."""
    res = load(folder)
    dates = sorted(year_end(res.snapshots)["date"].unique())
    counts = in_care(res, where, dates)
    counts["scenario"] = counts["scenario"].astype(str)
    q = quantiles(counts, ["scenario", "date"], ["children_in_care", *PLACEMENT_TYPES])
    types = [t for t in PLACEMENT_TYPES if counts[t].sum() > 0]
    stats = {
        (str(r["scenario"]), pd.Timestamp(r["date"]), str(r["measure"])): r
        for r in q.to_dict("records")
    }
    rows: list[dict[str, Any]] = []
    for label in res.scenarios:
        for date in map(pd.Timestamp, dates):
            cic = stats.get((label, date, "children_in_care"))
            if cic is None:
                continue
            rows.append(
                {
                    "option": label,
                    "date": date.strftime("%Y-%m-%d"),
                    "mean": float(cic["mean"]),
                    "p05": float(cic["p05"]),
                    "p95": float(cic["p95"]),
                    "by_type": {t: float(stats[(label, date, t)]["mean"]) for t in types},
                }
            )
    head = "".join(f"<th>{html.escape(title(t))}</th>" for t in types)
    body = "".join(
        f"<tr><td>{html.escape(r['option'])}</td><td>{long_date(pd.Timestamp(r['date']).date())}"
        f"</td><td>{r['mean']:,.0f} ({r['p05']:,.0f} to {r['p95']:,.0f})</td>"
        + "".join(f"<td>{r['by_type'][t]:,.0f}</td>" for t in types)
        + "</tr>"
        for r in rows
    )
    table = (
        "<table class='children'><thead><tr><th>Option</th><th>31 March</th>"
        f"<th>Children in care (90% of runs)</th>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    return {"filter": where.label(), "types": types, "rows": rows, "html": table}
