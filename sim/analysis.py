"""Summarise results across replications.

* :func:`load` opens a results folder (:mod:`sim.results`; written by ``sufficiency run``,
  ``compare``, ``batch`` or the web app);
* :func:`monthly_quantiles` and :func:`yearly_quantiles` give the mean and median with 50% and 90%
  intervals over replications per month end and per financial year; :func:`yearly_summary`
  the figures at each 31 March, which :func:`format_summary` prints;
* :func:`fan_charts` draws the headline figures as fan charts;
* :func:`paired_differences` and :func:`spend_differences` give each option's difference
  from the base, run by run (common random numbers), per 31 March or financial year;
* :func:`spend_summary` gives the spend per financial year and over the horizon by category;
* :func:`target_chance` gives the chance that a KPI target is met at each 31 March;
* :func:`monte_carlo_error` gives the standard error of each mean and how many replications a
  chosen precision needs.

Every figure shown to a reader uses one estimator (:data:`ESTIMATOR`): the mean over runs for
levels, with the range 90% of runs fall in, and the mean paired difference for differences,
with its 90% confidence interval. A difference is then always the difference of the levels.

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
from sim.outputs import SPEND_CATEGORIES, SPEND_COLUMNS, fmt, format_money, output, title
from sim.plots import fan_chart
from sim.results import Results as Results  # part of this module's API
from sim.results import load as load
from sim.results import read_table as read_table
from sim.results import spend_table

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
#: The interval level used everywhere: levels show the range this share of runs fall in,
#: differences their confidence interval at this level.
LEVEL = 0.9
#: The estimator, in words, for every table and page that shows a figure or a difference.
ESTIMATOR = (
    "Figures are the mean over runs, with the range 90% of runs fall in (5th to 95th "
    "percentile). Differences from the base are the mean of the run-by-run differences (run r "
    "of every option shares its random events), with a 90% confidence interval "
    "(t distribution); a difference is the difference of the two means."
)
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
    """Figures at each 31 March (:data:`ESTIMATOR`): one row per year, columns
    ``(measure, p05|mean|p95)``."""
    cols = [c for c in (columns or SUMMARY_COLUMNS) if c in snapshots]
    q = quantiles(year_end(snapshots), ["year"], cols)
    wide = q.pivot(index="year", columns="measure", values=["p05", "mean", "p95"])
    wide = wide.swaplevel(axis=1)
    return wide.reindex(columns=[(c, s) for c in cols for s in ("p05", "mean", "p95")])


def format_summary(summary: pd.DataFrame) -> str:
    """A readable text table of :func:`yearly_summary`: each cell ``mean [p05, p95]``."""
    rows = []
    order = list(dict.fromkeys(summary.columns.get_level_values(0)))
    for year, r in summary.iterrows():
        cells = {"31 March": str(year)}
        for col in order:
            mean, lo, hi = (fmt(col, r[(col, q)]) for q in ("mean", "p05", "p95"))
            cells[title(col)] = f"{mean} [{lo}, {hi}]"
        rows.append(cells)
    return pd.DataFrame(rows).set_index("31 March").T.to_string()


# ----------------------------------------------------------------------------- differences


def mean_difference(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """The mean of paired differences ``d`` and its confidence interval (t distribution);
    the interval is missing with fewer than two pairs."""
    d = d[~np.isnan(d)]
    if len(d) == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if len(d) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(d) - 1)) * float(d.std(ddof=1))
    half /= math.sqrt(len(d))
    return mean, mean - half, mean + half


def _paired(
    a: pd.DataFrame, b: pd.DataFrame, key: str, columns: Sequence[str], better: Sequence[int]
) -> pd.DataFrame:
    """Per value of ``key`` and column: both means, the mean paired difference ``b - a`` with
    its interval, and the share of runs in which ``b`` is better (ties count half)."""
    merged = a.merge(b, on=["replication", key], suffixes=("_base", "_policy"))
    rows = []
    for k, g in merged.groupby(key, sort=False):
        for col, sign in zip(columns, better, strict=True):
            if f"{col}_base" not in g:
                continue
            d = (g[f"{col}_policy"] - g[f"{col}_base"]).to_numpy(dtype=float)
            ok = ~np.isnan(d)
            if not ok.any():
                continue
            mean, lo, hi = mean_difference(d)
            d = d[ok]
            rows.append(
                {
                    key: k,
                    "outcome": col,
                    "label": title(col),
                    "base_mean": float(g[f"{col}_base"][ok].mean()),
                    "policy_mean": float(g[f"{col}_policy"][ok].mean()),
                    "difference": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "prob_better": float(np.mean(sign * d > 0) + 0.5 * np.mean(d == 0))
                    if sign
                    else math.nan,
                    "replications": len(d),
                }
            )
    return pd.DataFrame(rows)


def paired_differences(
    base: pd.DataFrame, policy: pd.DataFrame, outcomes: Sequence[str]
) -> pd.DataFrame:
    """Per 31 March and outcome: mean paired difference (policy - base), its 90% confidence
    interval and the share of runs in which the policy is better (:data:`ESTIMATOR`).

    ``base_mean`` and ``policy_mean`` are over the same runs, so ``difference`` is exactly
    ``policy_mean - base_mean``.

    Parameters
    ----------
    base, policy : DataFrame
        Snapshot tables with a ``replication`` column, from runs with the same seed.
    outcomes : sequence of str
        Snapshot columns to compare.
    """
    cols = [c for c in outcomes if c in base and c in policy]
    better = [output(c).better for c in cols]
    return _paired(year_end(base), year_end(policy), "year", cols, better)


# ----------------------------------------------------------------------------- money

#: The label of the whole horizon in the spend tables, beside the financial years.
TOTAL = "total"


def _with_total(flows: pd.DataFrame) -> pd.DataFrame:
    """Spend columns per replication and financial year, plus each replication's total over
    the horizon (``financial_year == "total"``)."""
    cols = [c for c in SPEND_COLUMNS if c in flows]
    keep = flows[["replication", "financial_year", *cols]]
    total = keep.groupby("replication", as_index=False)[cols].sum().assign(financial_year=TOTAL)
    return pd.concat([keep, total], ignore_index=True)


def spend_summary(flows: pd.DataFrame) -> pd.DataFrame:
    """Spend per scenario, financial year (and ``"total"``) and category (:data:`ESTIMATOR`).

    Returns one row per scenario, ``financial_year`` and ``category`` (``total`` for the sum
    of the categories), with ``group, title, mean, p05, p95, n``.
    """
    categories = {c.removeprefix("spend_"): i for i, c in enumerate(SPEND_COLUMNS)}
    parts = []
    for scenario, g in flows.groupby("scenario", observed=True, sort=False):
        long = spend_table(_with_total(g))
        q = quantiles(long, ["financial_year", "category"], ["spend"]).drop(columns="measure")
        # The years in order with the total last, and the catalogue's order of categories.
        years = {y: i for i, y in enumerate([*dict.fromkeys(g["financial_year"]), TOTAL])}
        order = q["financial_year"].map(years) * len(categories) + q["category"].map(categories)
        q = q.iloc[order.argsort(kind="stable")]
        parts.append(q.assign(scenario=str(scenario)))
    out = pd.concat(parts, ignore_index=True)
    groups = {k: grp for k, (grp, _) in SPEND_CATEGORIES.items()}
    out["group"] = out["category"].map(groups).fillna("total")
    out["title"] = [title(f"spend_{c}", "flows") for c in out["category"]]
    return out[
        ["scenario", "financial_year", "category", "group", "title", "mean", "p05", "p95", "n"]
    ]


def spend_differences(base: pd.DataFrame, policy: pd.DataFrame) -> pd.DataFrame:
    """Each financial year's (and the horizon's) spend of ``policy`` minus ``base``, paired by
    replication: mean difference, its 90% confidence interval and the share of runs in which
    the policy costs less, per spend column (see :func:`paired_differences`)."""
    cols = [c for c in SPEND_COLUMNS if c in base and c in policy]
    return _paired(_with_total(base), _with_total(policy), "financial_year", cols, [-1] * len(cols))


def format_spend(summary: pd.DataFrame, scenario: str | None = None) -> str:
    """A text table of :func:`spend_summary` for one scenario: each cell ``mean [p05, p95]``,
    categories that are zero throughout left out."""
    s = summary[summary["scenario"] == (scenario or summary["scenario"].iloc[0])]
    s = s[s.groupby("category")["p95"].transform("max") > 0]
    cells = s.assign(
        value=[
            f"{format_money(m)} [{format_money(lo)}, {format_money(hi)}]"
            for m, lo, hi in zip(s["mean"], s["p05"], s["p95"], strict=True)
        ]
    )
    table = cells.pivot_table(
        index="title", columns="financial_year", values="value", aggfunc="first", sort=False
    )
    table.index.name = table.columns.name = None
    return table.to_string()


def format_spend_differences(diff: pd.DataFrame) -> str:
    """A text table of spend differences (with a ``policy`` column): each cell the mean
    difference [90% confidence interval]; categories with no difference left out."""
    d = diff[
        diff.groupby(["policy", "outcome"])["difference"].transform(lambda x: x.abs().max()) > 0
    ]
    cells = d.assign(
        value=[
            f"{format_money(m, True)} [{format_money(lo, True)}, {format_money(hi, True)}]"
            for m, lo, hi in zip(d["difference"], d["ci_low"], d["ci_high"], strict=True)
        ]
    )
    table = cells.pivot_table(
        index=["policy", "label"],
        columns="financial_year",
        values="value",
        aggfunc="first",
        sort=False,
    )
    return table.to_string()


# ----------------------------------------------------------------------------- targets


def target_chance(
    snapshots: pd.DataFrame, column: str, target: float, lower_is_better: bool
) -> pd.DataFrame:
    """The chance that ``column`` meets ``target`` at each 31 March: the share of runs that
    meet it, with the mean value (:data:`ESTIMATOR`), per year (``year, mean, chance, n``)."""
    m = year_end(snapshots).dropna(subset=[column])
    met = m[column] <= target if lower_is_better else m[column] >= target
    g = m.assign(met=met).groupby("year")
    return pd.DataFrame(
        {"mean": g[column].mean(), "chance": g["met"].mean(), "n": g[column].count()}
    ).reset_index()


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
    """Fan charts (mean, 50% and 90% of replications) of monthly figures, one panel each.

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
        note = "line: mean; shading: 50% and 90% of replications"
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
