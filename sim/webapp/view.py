"""What the page shows for a finished run: interactive fan charts and the report's tables.

Charts are Plotly figures built here as plain JSON (the page draws them with the Plotly.js
file bundled in the ``plotly`` package, so nothing is fetched from the internet). The tables
are the same HTML as in the report, so the page and the report always agree.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from sim.analysis import COLOURS, quantiles
from sim.outputs import Output, output, title
from sim.report import (
    CHART_GROUPS,
    KPI_TARGETS,
    ScenarioResult,
    differences_html,
    kpi_table_html,
    summary_table_html,
)


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _round(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values:
        f = float(v)
        out.append(None if math.isnan(f) else float(f"{f:.5g}"))
    return out


def _hover(measure: Output, label: str) -> str:
    if measure.kind == "share":
        value, lo, hi = "%{y:.1%}", "%{customdata[0]:.1%}", "%{customdata[1]:.1%}"
    elif measure.kind == "money":
        value, lo, hi = "£%{y:,.0f}", "£%{customdata[0]:,.0f}", "£%{customdata[1]:,.0f}"
    else:
        value, lo, hi = "%{y:,.0f}", "%{customdata[0]:,.0f}", "%{customdata[1]:,.0f}"
    return (
        f"<b>{html.escape(label)}</b><br>%{{x|%d %b %Y}}: {value}<br>"
        f"90% of runs: {lo} to {hi}<extra></extra>"
    )


def panel_figure(column: str, results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """A Plotly figure (data and layout) of ``column``: a fan per option, target if any."""
    measure = output(column)
    data: list[dict[str, Any]] = []
    for i, r in enumerate(results):
        if column not in r.snapshots:
            continue
        q = quantiles(r.snapshots, ["date"], [column])
        x = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(q["date"])]
        colour = COLOURS[i % len(COLOURS)]
        common = {"type": "scatter", "x": x, "mode": "lines", "legendgroup": r.label}
        quiet = {"line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
        for lo, hi, alpha in (("p05", "p95", 0.15), ("p25", "p75", 0.3)):
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
                "showlegend": len(results) > 1,
            }
        )
    yaxis: dict[str, Any] = {"title": {"text": measure.unit}, "rangemode": "tozero"}
    if measure.kind == "share":
        yaxis["tickformat"] = ".0%"
    elif measure.kind == "money":
        yaxis["tickprefix"] = "£"
        yaxis["tickformat"] = "~s"
    layout: dict[str, Any] = {
        "height": 260,
        "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
        "xaxis": {"type": "date", "tickformat": "%b %Y", "hoverformat": "%d %b %Y"},
        "yaxis": yaxis,
        "hovermode": "closest",
        "showlegend": len(results) > 1,
        "legend": {"orientation": "h", "y": -0.25},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
    }
    target = next((t for t in KPI_TARGETS if t.column == column), None)
    if target is not None:
        layout["shapes"] = [
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": target.target,
                "y1": target.target,
                "line": {"dash": "dash", "color": "#333", "width": 1.5},
            }
        ]
        layout["annotations"] = [
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
        ]
    return {"data": data, "layout": layout}


def build_view(results: Sequence[ScenarioResult]) -> dict[str, Any]:
    """Everything the page shows for a finished run."""
    several = len(results) > 1
    return {
        "options": [
            {"label": r.label, "colour": COLOURS[i % len(COLOURS)]} for i, r in enumerate(results)
        ],
        "kpis": kpi_table_html(results),
        "differences": differences_html(results) if several else "",
        "summary": "".join(
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
                        "column": c,
                        "title": title(c),
                        "figure": panel_figure(c, results),
                    }
                    for c in g.columns
                    if any(c in r.snapshots for r in results)
                ],
            }
            for g in CHART_GROUPS
        ],
    }
