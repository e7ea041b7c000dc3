"""Summarise results across replications.

* :func:`load` opens a results folder (:mod:`sim.results`; written by ``sufficiency run``,
  ``compare``, ``batch`` or the web app);
* :func:`monthly_quantiles` and :func:`yearly_quantiles` give the median with 50% and 90%
  intervals over replications per month end and per financial year; :func:`yearly_summary`
  the figures at each 31 March, which :func:`format_summary` prints;
* :func:`fan_charts` draws the headline figures as fan charts;
* :func:`monte_carlo_error` gives the standard error of each mean and how many replications a
  chosen precision needs.

Only finished chunks are read: a folder from an interrupted batch loads as the replications it
holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from scipy import stats

from sim.batch import HEADLINE_KPIS
from sim.outputs import fmt, title
from sim.plots import fan_chart
from sim.results import Results as Results  # part of this module's API
from sim.results import load as load
from sim.results import read_table as read_table

#: Monthly figures drawn by default.
HEADLINE_MONTHLY = (
    "in_house",
    "ifa_spot",
    "unregistered",
    "places_vacant",
    "waiting",
    "weekly_cost",
)
#: Flows summarised by default per financial year.
HEADLINE_FLOWS = ("arrivals", "exits", "enquiries", "approvals", "deregistrations", "breakdowns")
#: The figures the command-line summary shows at each 31 March.
SUMMARY_COLUMNS = (
    "children_in_care",
    "in_house",
    "connected",
    "ifa_framework",
    "ifa_spot",
    "residential",
    "supported",
    "unregistered",
    "waiting",
    "households",
    "places_vacant",
    "weekly_cost",
    "kpi_within_20_miles",
    "kpi_3plus_placements",
)
STATS = ("mean", "p05", "p25", "median", "p75", "p95")
COLOURS = ("#1f5f99", "#c0504d", "#4f8a3c", "#8064a2", "#d08a1a", "#3b9ab2")


# ----------------------------------------------------------------------------- quantiles


def quantiles(df: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean, median, 50% and 90% intervals over replications, as a tidy table.

    Returns one row per group of ``by`` and measure, with columns ``mean, p05, p25, median,
    p75, p95, n``.
    """
    g = df.groupby(list(by), observed=True)[list(columns)]
    parts = {
        "mean": g.mean(),
        "p05": g.quantile(0.05),
        "p25": g.quantile(0.25),
        "median": g.median(),
        "p75": g.quantile(0.75),
        "p95": g.quantile(0.95),
        "n": g.count(),
    }
    # Stacking single-level columns gives a Series.
    long = {k: cast(pd.Series, v.stack(future_stack=True)).rename(k) for k, v in parts.items()}
    out = pd.concat(long, axis=1).reset_index()
    return out.rename(columns={out.columns[len(by)]: "measure"})


def year_end(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The snapshot rows at each 31 March (financial year ends), with a ``year`` column."""
    dates = pd.to_datetime(snapshots["date"])
    out = snapshots[(dates.dt.month == 3) & (dates.dt.day == 31)].copy()
    out["year"] = dates[out.index].dt.year
    return out


def yearly_summary(snapshots: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Figures at each 31 March: one row per year, columns ``(measure, p05|median|p95)``."""
    cols = [c for c in (columns or SUMMARY_COLUMNS) if c in snapshots]
    q = quantiles(year_end(snapshots), ["year"], cols)
    wide = q.pivot(index="year", columns="measure", values=["p05", "median", "p95"])
    wide = wide.swaplevel(axis=1)
    return wide.reindex(columns=[(c, s) for c in cols for s in ("p05", "median", "p95")])


def format_summary(summary: pd.DataFrame) -> str:
    """A readable text table of :func:`yearly_summary`: each cell ``median [p05, p95]``."""
    rows = []
    order = list(dict.fromkeys(summary.columns.get_level_values(0)))
    for year, r in summary.iterrows():
        cells = {"31 March": str(year)}
        for col in order:
            med, lo, hi = (fmt(col, r[(col, q)]) for q in ("median", "p05", "p95"))
            cells[title(col)] = f"{med} [{lo}, {hi}]"
        rows.append(cells)
    return pd.DataFrame(rows).set_index("31 March").T.to_string()


def monthly_quantiles(
    snapshots: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Quantiles over replications per scenario and month end (see :func:`quantiles`)."""
    return quantiles(snapshots, ["scenario", "date"], list(columns or HEADLINE_MONTHLY))


def yearly_quantiles(flows: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Quantiles over replications per scenario and financial year (see :func:`quantiles`)."""
    cols = [c for c in (columns or HEADLINE_FLOWS) if c in flows]
    return quantiles(flows, ["scenario", "financial_year"], cols)


# ----------------------------------------------------------------------------- charts


def fan_charts(
    snapshots: pd.DataFrame,
    columns: Sequence[str] | None = None,
    scenarios: Sequence[str] | None = None,
    ncols: int = 2,
) -> plt.Figure:
    """Fan charts (median, 50% and 90% of replications) of monthly figures, one panel each.

    Several scenarios are overlaid in different colours.
    """
    columns = list(columns or HEADLINE_MONTHLY)
    present = list(snapshots["scenario"].astype(str).unique())
    scenarios = list(scenarios or present)
    rows = math.ceil(len(columns) / ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(6 * ncols, 3.2 * rows), squeeze=False)
    for ax, col in zip(axes.flat, columns, strict=False):
        for k, name in enumerate(scenarios):
            sub = snapshots[snapshots["scenario"].astype(str) == name]
            fan_chart(sub, col, ax, colour=COLOURS[k % len(COLOURS)], label=name)
    for ax in axes.flat[len(columns) :]:
        ax.set_visible(False)
    if len(scenarios) > 1:
        handles = [
            Patch(color=COLOURS[k % len(COLOURS)], label=name) for k, name in enumerate(scenarios)
        ]
        note = "line: median; shading: 50% and 90% of replications"
        fig.legend(handles=handles, loc="upper right", ncol=len(scenarios), frameon=False)
        fig.suptitle(note, x=0.01, ha="left", fontsize=9)
    else:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


# ----------------------------------------------------------------------------- Monte Carlo error


def replications_needed(sd: float, half_width: float, confidence: float = 0.95) -> float:
    """Replications for a confidence interval of the mean of half-width ``half_width``.

    Solves ``t(n-1) * sd / sqrt(n) <= half_width`` for the smallest ``n >= 2``.
    """
    if not np.isfinite(sd) or not np.isfinite(half_width) or half_width <= 0:
        return math.nan
    if sd == 0:
        return 2.0
    q = 0.5 + confidence / 2
    n = max(2, math.ceil((stats.norm.ppf(q) * sd / half_width) ** 2))
    while stats.t.ppf(q, n - 1) * sd / math.sqrt(n) > half_width:
        n += 1
    return float(n)


def monte_carlo_error(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    by: Sequence[str] = ("scenario",),
    precision: float = 0.05,
    relative: bool = True,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Standard error of each mean over replications, and the replications a precision needs.

    Parameters
    ----------
    df : DataFrame
        One row per replication (and per group of ``by``), e.g. the ``kpis`` table or
        :func:`year_end` snapshots with ``by=("scenario", "year")``.
    columns : sequence of str, optional
        Measures (default: :data:`sim.batch.HEADLINE_KPIS`).
    precision : float
        Wanted half-width of the confidence interval: a share of the mean if ``relative``
        (0.05 is +/-5%), else in the measure's units.
    confidence : float
        Confidence level of the interval.

    Returns
    -------
    DataFrame
        Per group and measure: ``n, mean, sd, se, ci_low, ci_high, half_width,
        relative_half_width, target_half_width, replications_needed, enough``.
    """
    columns = [c for c in (columns or HEADLINE_KPIS) if c in df]
    q = 0.5 + confidence / 2
    rows = []
    for key, g in df.groupby(list(by), observed=True):
        key = key if isinstance(key, tuple) else (key,)
        for col in columns:
            x = g[col].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            n = len(x)
            mean = float(x.mean()) if n else math.nan
            sd = float(x.std(ddof=1)) if n > 1 else math.nan
            se = sd / math.sqrt(n) if n > 1 else math.nan
            half = float(stats.t.ppf(q, n - 1)) * se if n > 1 else math.nan
            target = precision * abs(mean) if relative else precision
            needed = replications_needed(sd, target, confidence)
            rows.append(
                {
                    **dict(zip(by, key, strict=True)),
                    "measure": col,
                    "label": title(col),
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "se": se,
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                    "half_width": half,
                    "relative_half_width": half / abs(mean) if mean else math.nan,
                    "target_half_width": target,
                    "replications_needed": needed,
                    "enough": bool(n >= needed) if np.isfinite(needed) else False,
                }
            )
    return pd.DataFrame(rows)


def format_mc_error(table: pd.DataFrame) -> str:
    """A readable text table of :func:`monte_carlo_error`."""
    lines = []
    for _, r in table.iterrows():
        need = r["replications_needed"]
        need_text = f"{need:.0f}" if np.isfinite(need) else "-"
        lines.append(
            {
                "scenario": r.get("scenario", ""),
                "measure": r["label"],
                "mean": f"{r['mean']:.4g}",
                "std. error": f"{r['se']:.3g}",
                "95% CI": f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]",
                "reps": int(r["n"]),
                "reps for +/-target": need_text,
            }
        )
    return pd.DataFrame(lines).to_string(index=False)
