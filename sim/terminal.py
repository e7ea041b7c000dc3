"""Tables for a terminal 80 columns wide, as ``run`` and ``compare`` print them.

A block per figure, its title on a line of its own and a line per year below it, each value
with its interval and its unit: ``2027  460 (434–481) households``. Titles and units come from
the output catalogue (:mod:`sim.outputs`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

import pandas as pd

from sim.outputs import output, title

WIDTH = 80
INDENT = "  "


def interval(name: str, mid: float, low: float, high: float, signed: bool = False) -> str:
    """``mid (low–high) unit`` for column ``name``; ``signed`` for differences, whose
    interval reads ``(-3 to +5)`` so that a minus sign is not taken for a dash."""
    o = output(name)
    values = [o.format(v, signed) for v in (mid, low, high)]
    unit = o.unit
    if o.kind == "share":
        unit = unit.removeprefix("% ").removeprefix("%").strip()
        if signed:
            values = [v.removesuffix(" points") for v in values]
            unit = f"points {unit}".strip()
    elif o.kind == "money":
        unit = unit.removeprefix("£").strip()
    between = f"{values[1]} to {values[2]}" if signed else f"{values[1]}–{values[2]}"
    return f"{values[0]} ({between}) {unit}".rstrip()


def blocks(sections: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """Blocks of a heading and ``label  value`` lines, every line at most :data:`WIDTH`."""
    lines: list[str] = []
    for heading, rows in sections:
        lines += textwrap.wrap(heading, WIDTH) or [""]
        width = max((len(label) for label, _ in rows), default=0)
        for label, value in rows:
            first = f"{INDENT}{label:<{width}}  "
            lines += textwrap.wrap(
                value, WIDTH, initial_indent=first, subsequent_indent=" " * len(first)
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def summary_table(summary: pd.DataFrame) -> str:
    """:func:`sim.analysis.yearly_summary` as blocks: a figure each, a line per 31 March with
    its mean and the range of 90% of replications."""
    measures = list(dict.fromkeys(summary.columns.get_level_values(0)))
    return blocks(
        (
            title(m),
            [
                (str(year), interval(m, r[(m, "mean")], r[(m, "p05")], r[(m, "p95")]))
                for year, r in summary.iterrows()
            ],
        )
        for m in measures
    )


def differences_table(diff: pd.DataFrame) -> str:
    """Paired differences (:func:`sim.compare.paired_differences`, with a ``policy`` column)
    as blocks under each policy's name: an outcome each, a line per 31 March with the mean
    difference, its 95% confidence interval and the share of replications in which the
    policy does better."""
    parts = []
    for policy, d in diff.groupby("policy", sort=False):
        sections = [
            (
                title(str(outcome)),
                [
                    (
                        str(r["year"]),
                        interval(str(outcome), r["difference"], r["ci_low"], r["ci_high"], True)
                        + f"; better in {r['prob_better']:.0%} of runs",
                    )
                    for _, r in g.iterrows()
                ],
            )
            for outcome, g in d.groupby("outcome", sort=False)
        ]
        name = textwrap.shorten(str(policy), WIDTH)
        parts.append(f"{name}\n{'=' * len(name)}\n\n{blocks(sections)}")
    return "\n\n".join(parts)


def spend_blocks(summary: pd.DataFrame, scenario: str | None = None) -> str:
    """:func:`sim.analysis.spend_summary` of one scenario as blocks: a category each, a line
    per financial year (and the horizon's total) with its mean and the range of 90% of runs;
    categories that are zero throughout are left out."""
    from sim.outputs import format_money

    s = summary[summary["scenario"] == (scenario or summary["scenario"].iloc[0])]
    s = s[s.groupby("category")["p95"].transform("max") > 0]
    return blocks(
        (
            str(name),
            [
                (str(fy), f"{format_money(m)} ({format_money(lo)}–{format_money(hi)})")
                for fy, m, lo, hi in zip(
                    g["financial_year"].tolist(),
                    g["mean"].tolist(),
                    g["p05"].tolist(),
                    g["p95"].tolist(),
                    strict=True,
                )
            ],
        )
        for name, g in s.groupby("title", sort=False)
    )


def spend_difference_blocks(diff: pd.DataFrame) -> str:
    """Spend differences (:func:`sim.compare.money`) as blocks: a policy and category each, a
    line per financial year with the mean difference and its 90% confidence interval."""
    from sim.outputs import format_money

    d = diff[
        diff.groupby(["policy", "outcome"])["difference"].transform(lambda x: x.abs().max()) > 0
    ]
    return blocks(
        (
            f"{policy}: {label}",
            [
                (
                    str(fy),
                    f"{format_money(m, True)} ({format_money(lo, True)} to "
                    f"{format_money(hi, True)})",
                )
                for fy, m, lo, hi in zip(
                    g["financial_year"].tolist(),
                    g["difference"].tolist(),
                    g["ci_low"].tolist(),
                    g["ci_high"].tolist(),
                    strict=True,
                )
            ],
        )
        for (policy, label), g in d.groupby(["policy", "label"], sort=False)
    )
