"""Paired comparison of policies against a base scenario, with common random numbers.

Replication ``r`` of every scenario uses the random streams of ``(seed, r)``, so the difference
between a policy and the base in the same replication removes most of the noise that two
independent runs would carry. Differences are reported per 31 March, and the spend per
financial year and over the horizon, with the estimator of :data:`sim.analysis.ESTIMATOR`
(mean paired difference, 90% confidence interval) and the share of replications in which the
policy does better.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter

from sim import analysis
from sim.analysis import spend_differences, year_end
from sim.config import Region, Scenario, long_date, policy_starts
from sim.experiment import run
from sim.outputs import fmt, format_money, output, title

#: The outcomes compared by default (titles and better directions from the catalogue).
OUTCOMES: tuple[str, ...] = (
    "in_house",
    "ifa_spot",
    "residential",
    "unregistered",
    "waiting",
    "kpi_within_20_miles",
    "kpi_3plus_placements",
    "kpi_same_placement_2y",
    "households",
    "total_weekly_cost",
)


def paired_differences(
    base: pd.DataFrame, policy: pd.DataFrame, outcomes: Sequence[str] = OUTCOMES
) -> pd.DataFrame:
    """:func:`sim.analysis.paired_differences` of the outcomes compared by default."""
    return analysis.paired_differences(base, policy, outcomes)


def variance_reduction(base: pd.DataFrame, policy: pd.DataFrame, column: str) -> pd.DataFrame:
    """How many fewer replications the paired design needs than independent runs.

    For each 31 March: var(policy - base) within replications against
    var(policy) + var(base) (what independent runs would give); their ratio is the share of
    replications the paired design needs for the same precision.
    """
    a, b = year_end(base), year_end(policy)
    m = a.merge(b, on=["replication", "year"], suffixes=("_base", "_policy"))
    rows = []
    for year, g in m.groupby("year"):
        paired = (g[f"{column}_policy"] - g[f"{column}_base"]).var(ddof=1)
        independent = g[f"{column}_policy"].var(ddof=1) + g[f"{column}_base"].var(ddof=1)
        rows.append(
            {
                "year": year,
                "outcome": column,
                "var_paired": paired,
                "var_independent": independent,
                "replications_ratio": paired / independent if independent > 0 else math.nan,
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Comparison:
    """The result of :func:`compare`: tables per policy and their differences from the base."""

    base: Scenario
    policies: list[Scenario]
    tables: dict[str, dict[str, pd.DataFrame]]
    differences: pd.DataFrame
    spend: pd.DataFrame  # spend differences per financial year and in total


def compare(
    base: Scenario,
    policies: list[Scenario],
    reps: int,
    seed: int = 0,
    workers: int = 1,
    progress: bool = False,
) -> Comparison:
    """Run the base and each policy with common random numbers and pair their results."""
    names = [base.name] + [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must differ to be compared: {names}")
    tables = {sc.name: run(sc, reps, seed, workers, progress) for sc in [base, *policies]}
    snapshots = {name: t["snapshots"] for name, t in tables.items()}
    flows = {name: t["flows"] for name, t in tables.items()}
    return Comparison(base, policies, tables, differences(snapshots), money(flows))


def differences(
    snapshots: dict[str, pd.DataFrame], outcomes: Sequence[str] = OUTCOMES
) -> pd.DataFrame:
    """Paired differences of every scenario's snapshots from the first one's (the base),
    with a ``policy`` column naming the scenario."""
    (_, base_snaps), *others = snapshots.items()
    diffs = [paired_differences(base_snaps, s, outcomes).assign(policy=name) for name, s in others]
    out = pd.concat(diffs, ignore_index=True)
    return out[["policy", *[c for c in out.columns if c != "policy"]]]


def money(flows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spend differences of every scenario from the first one (the base), per financial year
    and in total, with a ``policy`` column (:func:`sim.analysis.spend_differences`)."""
    (_, base_flows), *others = flows.items()
    diffs = [spend_differences(base_flows, f).assign(policy=name) for name, f in others]
    out = pd.concat(diffs, ignore_index=True)
    return out[["policy", *[c for c in out.columns if c != "policy"]]]


def years_shown(
    base: Scenario | Region,
    policies: Sequence[Scenario | Region],
    asked: Sequence[int] | None = None,
) -> list[int]:
    """The years (31 March) a comparison reports: ``asked``, or every year from the first
    policy start to the horizon. A ValueError says why there is none to show."""
    available = [
        y
        for y in range(base.start.year, base.end.year + 1)
        if base.start < dt.date(y, 3, 31) <= base.end
    ]
    span = f"{long_date(base.start)} to {long_date(base.end)}"
    if asked:
        missing = [y for y in asked if y not in available]
        if missing:
            have = f"{available[0]}-{available[-1]}" if available else "none"
            raise ValueError(
                f"--years-shown {','.join(map(str, missing))}: the run ({span}) has figures at "
                f"31 March of {have} only"
            )
        return sorted(set(asked))
    starts = [day for p in policies for _, day in policy_starts(p, base)]
    first = min(starts, default=base.start)
    shown = [y for y in available if dt.date(y, 3, 31) > first]
    if not shown:
        raise ValueError(
            f"the first policy starts on {long_date(first)} and the run ({span}) has no "
            "31 March after it to compare: run for longer (--years)"
        )
    return shown


def format_differences(diff: pd.DataFrame, years: list[int] | None = None) -> str:
    """A readable table: difference [90% CI] and P(better), by outcome and year."""
    if years is not None:
        diff = diff[diff["year"].isin(years)]
    cells = []
    for _, r in diff.iterrows():
        col = r["outcome"]
        lo, hi = fmt(col, r["ci_low"], signed=True), fmt(col, r["ci_high"], signed=True)
        text = f"{fmt(col, r['difference'], signed=True)} [{lo}, {hi}]"
        cells.append(
            {
                "policy": r["policy"],
                "outcome": r["label"],
                "year": r["year"],
                "value": f"{text}  P(better)={r['prob_better']:.0%}",
            }
        )
    table = pd.DataFrame(cells).pivot_table(
        index=["policy", "outcome"], columns="year", values="value", aggfunc="first", sort=False
    )
    return table.to_string()


def difference_chart(
    diff: pd.DataFrame, policy: str, years: Sequence[int] | None = None
) -> plt.Figure:
    """Small multiples: each outcome's paired difference by year with its 90% interval, for
    ``years`` (default: every year after the first, which may be the shared start date)."""
    d = diff[diff["policy"] == policy]
    d = d[d["year"].isin(years)] if years is not None else d[d["year"] > d["year"].min()]
    outcomes = list(dict.fromkeys(d["outcome"]))
    cols = 2
    rows = math.ceil(len(outcomes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), squeeze=False)
    for ax, col in zip(axes.flat, outcomes, strict=False):
        g = d[d["outcome"] == col]
        label, sign, kind = title(col), output(col).better, output(col).kind
        better = (g["difference"] * sign) > 0
        colours = ["#2a7f3f" if b else "#b0413e" for b in better]
        ax.bar(g["year"], g["difference"], color=colours, alpha=0.8)
        ax.errorbar(
            g["year"],
            g["difference"],
            yerr=[g["difference"] - g["ci_low"], g["ci_high"] - g["difference"]],
            fmt="none",
            ecolor="#333",
            capsize=3,
        )
        ax.axhline(0, color="#333", lw=0.8)
        if kind == "share":
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v * 100:+.1f} pts"))
        elif kind == "money":
            ax.yaxis.set_major_formatter(
                FuncFormatter(lambda v, _: ("+" if v > 0 else "") + format_money(v))
            )
        ax.set_xticks(list(g["year"]))
        ax.set_title(f"{label}: change vs base", loc="left", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes.flat[len(outcomes) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"{policy}: difference from the base at 31 March (green = better, bars = 90% interval)",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig
