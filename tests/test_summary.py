"""The plain-English summary: every number in its sentences is the one the report's tables
show (parsed out of the sentence and compared), for one option and for a comparison."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from sim.config import load_scenario, with_overrides
from sim.experiment import provenance, run
from sim.outputs import fmt
from sim.report import (
    ScenarioResult,
    day_text,
    differences_html,
    headline_table,
    option_differences,
    summary_table_html,
)
from sim.summary import MEASURES, NINE_IN_TEN, summary_html, summary_sentences

ROOT = Path(__file__).resolve().parents[1]
REPS, SEED = 3, 5
NUMBER = r"(-?£?[\d.,]+(?:k|m|bn)?)"


@pytest.fixture(scope="module")
def results():
    """Kent over one year and a policy with many more enquiries, and the staff to follow them
    up and assess them (Kent's follow-up and assessing slots would otherwise hold the
    approvals near the base's), with the same seed."""
    base = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 1})
    staff = {"assessing": {"slots": 400}, "follow_up": {"slots": 400}}
    policy = with_overrides(
        base,
        {"name": "More enquiries", "recruitment": {"enquiries_per_year": 2000, **staff}},
    )
    return [
        ScenarioResult(run(sc, REPS, SEED), provenance(sc, SEED, REPS)) for sc in (base, policy)
    ]


def test_one_option_summary_numbers_are_the_headline_table(results):
    base = results[0]
    text = " ".join(summary_sentences([base]))
    q = headline_table(base.snapshots, list(MEASURES))
    start, end = q.index[0], q.index[-1]
    table = html.unescape(summary_table_html(base))
    first = re.search(
        rf"By {day_text(end)}, Kent baseline has {NUMBER} children in care, against {NUMBER} "
        rf"on {day_text(start)} when the simulation starts; {NINE_IN_TEN} the number lies "
        rf"between {NUMBER} and {NUMBER}\.",
        text,
    )
    assert first, text
    found = {"children_in_care": first.groups()}
    for col, (noun, _) in MEASURES.items():
        if col == "children_in_care":
            continue
        m = (
            re.search(
                rf"{NUMBER} {noun} \({NUMBER} at the start; between {NUMBER} and {NUMBER}", text
            )
            or re.search(
                rf"{NUMBER} {noun} \({NUMBER} at the start; exactly {NUMBER}() {NINE_IN_TEN}", text
            )
            or re.search(
                rf"{noun[0].upper()}{noun[1:]} is {NUMBER} \({NUMBER} at the start; between "
                rf"{NUMBER} and {NUMBER} {NINE_IN_TEN}\)",
                text,
            )
        )
        assert m, (col, text)
        found[col] = m.groups()
    for col, (now, was, lo, hi) in found.items():
        hi = hi or lo  # "exactly 11 in 9 of 10 simulated futures"
        assert now == fmt(col, q.loc[end, (col, "mean")])
        assert was == fmt(col, q.loc[start, (col, "mean")])
        assert (lo, hi) == (fmt(col, q.loc[end, (col, "p05")]), fmt(col, q.loc[end, (col, "p95")]))
        # ...and the reader finds them in the report's table of headline figures.
        assert f"<b>{now}</b><br><small>{lo} to {hi}</small>" in table
    assert f"mean (average) of {REPS} simulated futures" in text


def test_comparison_summary_numbers_are_the_paired_differences(results):
    base, policy = results
    text = " ".join(summary_sentences(results))
    d = option_differences(base, policy, list(MEASURES))
    year = d["year"].max()
    last = d[d["year"] == year].set_index("outcome")
    table = html.unescape(differences_html(results))
    assert text.startswith(f"By 31 March {year}, on average over {REPS} simulated futures, ")
    for col, (noun, short) in MEASURES.items():
        row = last.loc[col]
        if col == "total_weekly_cost":
            m = re.search(rf"{noun} is {NUMBER} a week (less|more) \(base {NUMBER} a week\)", text)
            assert m, text
            size, way, was = m.groups()
            assert size == fmt(col, abs(row["difference"]))
            assert way == ("less" if row["difference"] < 0 else "more")
            assert was == fmt(col, row["base_mean"])
            assert fmt(col, row["difference"], signed=True) in table
        else:
            m = re.search(rf"{NUMBER} {noun} \(base {NUMBER}\)", text)
            assert m, (col, text)
            now, was = m.groups()
            assert (now, was) == (fmt(col, row["policy_mean"]), fmt(col, row["base_mean"]))
        # The means are in the table of differences too.
        assert f"{fmt(col, row['policy_mean'])}, base {fmt(col, row['base_mean'])}" in table
        if short == "children in care":  # runs are counted where more or less is better
            continue
        if row["difference"] == 0 and row["ci_low"] == row["ci_high"]:
            assert re.search(rf"the same as the base in every run on [^.]*{short}", text)
        else:
            runs = re.search(rf"on {short} in (\d+) of (\d+) runs", text)
            assert runs, (short, text)
            assert int(runs.group(2)) == REPS
            assert int(runs.group(1)) == round(row["prob_better"] * REPS)
    # Many more enquiries: more of the council's own households than the base.
    assert last.loc["households", "difference"] > 0


def test_a_comparison_that_cannot_be_paired_says_so(results):
    base, policy = results
    other = ScenarioResult(policy.tables, dict(policy.manifest, seed=SEED + 1))
    (sentence,) = summary_sentences([base, other])
    assert "not compared" in sentence and "same seed" in sentence


@pytest.mark.slow
def test_summary_heads_the_report_and_the_web_app(results, tmp_path):
    from sim.report import ReportData, save_report
    from sim.webapp.view import build_view

    block = summary_html(results)
    assert "id='plain-summary'" in block
    view = build_view(results)
    assert view["summary"] == block
    text = save_report(ReportData(results), tmp_path / "r.html").read_text(encoding="utf-8")
    assert text.index("plain-summary") < text.index("<main>")
    assert block in text


def test_an_option_no_run_changes_is_the_same_not_better_in_half(results):
    base = results[0]
    again = ScenarioResult(base.tables, base.manifest, label="Base again")
    text = " ".join(summary_sentences([base, again]))
    assert "does better" not in text
    assert "the same as the base in every run on IFA spot placements" in text
    assert "the weekly cost of placements and programmes is the same" in text


def test_comparison_summary_spend_is_the_money_sections_difference(results):
    """The spend sentence's numbers are the paired spend differences of the Money section."""
    from sim.analysis import TOTAL, spend_differences
    from sim.outputs import format_money
    from sim.report import money_html

    base, policy = results
    text = " ".join(summary_sentences(results))
    d = spend_differences(base.tables["flows"], policy.tables["flows"])
    d = d[d["outcome"] == "spend_total"].set_index("financial_year")
    last = [y for y in d.index if y != TOTAL][-1]
    table = html.unescape(money_html(results))
    for when, key in ((f"in {last}", last), ("over the whole run", TOTAL)):
        row = d.loc[key]
        way = "more" if row["difference"] > 0 else "less"
        words = f"{format_money(abs(row['difference']))} {way}"
        interval = f"{format_money(row['ci_low'], True)} to {format_money(row['ci_high'], True)}"
        assert f"{words} (90% confidence interval {interval}) {when}" in text, text
        assert format_money(row["difference"], True) in table
