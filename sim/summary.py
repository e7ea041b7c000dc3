"""A few sentences in plain English that say what the results show, for a committee.

For one option: the headline position at the end of the run against the start, with the range
that 9 in 10 simulated futures fall in (:func:`sim.report.headline_table`, the report's table
of headline figures). For a comparison: each option against the base at the last 31 March, as
means over runs paired by replication, and in how many runs the option does better
(:func:`sim.report.option_differences`, the report's table of differences). Every number is
formatted as in those tables, so a reader finds it there.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd

from sim.analysis import TOTAL, spend_differences
from sim.outputs import fmt, format_money, output
from sim.report import (
    ScenarioResult,
    day_text,
    headline_table,
    option_differences,
    pairing_problem,
)

#: The figures the summary speaks of, in order: the words for what they count, and for them
#: in short.
MEASURES: dict[str, tuple[str, str]] = {
    "children_in_care": ("children in care", "children in care"),
    "ifa_spot": ("children in IFA spot placements", "IFA spot placements"),
    "unregistered": ("children in unregistered placements", "unregistered placements"),
    "households": ("council fostering households", "council fostering households"),
    "total_weekly_cost": ("the weekly cost of placements and programmes", "cost"),
}
#: The words for a range of 5% to 95% over runs.
NINE_IN_TEN = "in 9 of 10 simulated futures"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _single(result: ScenarioResult) -> list[str]:
    q = headline_table(result.snapshots, list(MEASURES))
    start, end = q.index[0], q.index[-1]
    first, counts, money = "", [], []
    for col in dict.fromkeys(q.columns.get_level_values(0)):
        now, lo, hi = (fmt(col, q.loc[end, (col, s)]) for s in ("mean", "p05", "p95"))
        was = fmt(col, q.loc[start, (col, "mean")])
        noun = MEASURES[col][0]
        if not first and output(col).kind != "money":
            first = (
                f"By {day_text(end)}, {result.label} has {now} {noun}, against {was} on "
                f"{day_text(start)} when the simulation starts; {NINE_IN_TEN} the number lies "
                f"between {lo} and {hi}."
            )
        elif output(col).kind == "money":
            money.append(
                f"{noun[0].upper()}{noun[1:]} is {now} ({was} at the start; between {lo} and "
                f"{hi} {NINE_IN_TEN})."
            )
        else:
            spread = f"exactly {lo} {NINE_IN_TEN}" if lo == hi else f"between {lo} and {hi}"
            counts.append(f"{now} {noun} ({was} at the start; {spread})")
    sentences = [first] if first else []
    if counts:
        sentences.append(f"It has {_and(counts)}.")
    n = int(result.snapshots["replication"].nunique())
    return [
        *sentences,
        *money,
        f"Each figure is the mean (average) of {n} simulated futures.",
    ]


def _change(col: str, difference: float) -> str:
    """'15 fewer', '£40k a week less', 'the same'."""
    if difference == 0 or fmt(col, abs(difference)) == fmt(col, 0):
        return "the same"
    more = difference > 0
    if output(col).kind == "money":
        return f"{fmt(col, abs(difference))} a week {'more' if more else 'less'}"
    return f"{fmt(col, abs(difference))} {'more' if more else 'fewer'}"


def _option(base: ScenarioResult, other: ScenarioResult) -> list[str]:
    problem = pairing_problem(base, other)
    if problem:
        return [f"{other.label} is not compared with {base.label}: {problem}."]
    d = option_differences(base, other, list(MEASURES))
    if d.empty:
        return []
    year = int(d["year"].max())
    last = d[d["year"] == year].set_index("outcome")
    n = int(last["replications"].max())
    cols = [c for c in MEASURES if c in last.index]

    def mean(col: str, stat: str) -> float:
        return float(last.loc[col, stat])  # type: ignore[arg-type]  # one cell of numbers

    counts = [
        f"{fmt(c, mean(c, 'policy_mean'))} {MEASURES[c][0]} (base {fmt(c, mean(c, 'base_mean'))})"
        for c in cols
        if output(c).kind != "money"
    ]
    money = [
        f"{MEASURES[c][0]} is {_change(c, mean(c, 'difference'))} "
        f"(base {fmt(c, mean(c, 'base_mean'))} a week)"
        for c in cols
        if output(c).kind == "money"
    ]
    when = day_text(pd.Timestamp(year=year, month=3, day=31))
    sentences = [
        f"By {when}, on average over {n} simulated futures, {other.label} has {_and(counts)}"
        + (f"; {'; '.join(money)}" if money else "")
        + "."
    ]

    def same(col: str) -> bool:  # no difference in any run
        return mean(col, "difference") == 0 and mean(col, "ci_low") == mean(col, "ci_high")

    better = [
        f"on {MEASURES[c][1]} in {round(mean(c, 'prob_better') * n)} of {n} runs"
        for c in cols
        if output(c).better and not same(c)
    ]
    if better and n > 1:
        sentences.append(f"It does better than the base, {base.label}, {_and(better)}.")
    unchanged = [MEASURES[c][1] for c in cols if output(c).better and same(c)]
    if unchanged:
        sentences.append(f"It is the same as the base in every run on {_and(unchanged)}.")
    spend = _spend(base, other)
    if spend:
        sentences.append(spend)
    return sentences


def _spend_change(row: pd.Series) -> str:
    """'£1.2m less (between £2m less and £0.4m less in 9 of 10 comparisons)'."""
    d, lo, hi = (float(row[k]) for k in ("difference", "ci_low", "ci_high"))
    if d == 0 and lo == hi:
        return "the same"
    words = f"{format_money(abs(d))} {'more' if d > 0 else 'less'}"
    if math.isfinite(lo) and math.isfinite(hi):
        words += f" (90% confidence interval {format_money(lo, True)} to {format_money(hi, True)})"
    return words


def _spend(base: ScenarioResult, other: ScenarioResult) -> str | None:
    """What the option spends against the base: in the last financial year and over the run,
    from the paired spend differences the report's Money section shows
    (:func:`sim.analysis.spend_differences`)."""
    flows = [r.tables.get("flows") for r in (base, other)]
    if any(f is None or f.empty or "spend_total" not in f for f in flows):
        return None
    d = spend_differences(*flows)  # type: ignore[arg-type]
    d = d[d["outcome"] == "spend_total"].set_index("financial_year")
    years = [y for y in d.index if y != TOTAL]
    if not years or TOTAL not in d.index:
        return None
    last = years[-1]
    return (
        f"It spends {_spend_change(d.loc[last])} in {last}, and "
        f"{_spend_change(d.loc[TOTAL])} over the whole run."  # type: ignore[arg-type]
    )


def summary_sentences(results: Sequence[ScenarioResult]) -> list[str]:
    """The summary as plain sentences: the position of one option, or each option against
    the first (the base)."""
    if len(results) == 1:
        return _single(results[0])
    return [s for other in results[1:] for s in _option(results[0], other)]


def summary_html(results: Sequence[ScenarioResult]) -> str:
    """The summary as an HTML block with its heading, for the report and the web app."""
    text = " ".join(html.escape(s) for s in summary_sentences(results))
    return f"<div class='plain-summary' id='plain-summary'><h2>In short</h2><p>{text}</p></div>"
