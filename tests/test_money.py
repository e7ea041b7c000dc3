"""Money: spend accrued exactly by category and financial year, programme and recruitment
costs, the price index, paired spend differences, and one estimator everywhere."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sim import analysis, compare, report
from sim.config import PLACEMENT_TYPES, load_scenario
from sim.model import simulate
from sim.outputs import SPEND_CATEGORIES, SPEND_COLUMNS, fmt, format_money

BASE = "scenarios/kent_baseline.toml"
YEARS = 2


def kent(**overrides: object) -> object:
    return load_scenario(BASE, {"years": YEARS, **overrides})


@pytest.fixture(scope="module")
def base_run():
    return simulate(kent(), seed=7, replication=0)


def _fy_bounds(scenario) -> list[tuple[str, float, float]]:
    """Each simulated financial year's label and [start, end) in days, as the recorder has
    them (a run starting on 31 March counts its first day in the new year)."""
    horizon = float((scenario.end - scenario.start).days)
    y = scenario.start.year if scenario.start.month >= 4 else scenario.start.year - 1
    starts = []
    while (day := float((dt.date(y, 4, 1) - scenario.start).days)) < horizon:
        starts.append((y, 0.0 if 0 < day <= 1 else day))
        y += 1
    ends = [d for _, d in starts[1:]] + [horizon]
    return [
        (f"{y}-{str(y + 1)[2:]}", max(a, 0.0), b)
        for (y, a), b in zip(starts, ends, strict=True)
        if b > max(a, 0.0)
    ]


def test_placement_spend_is_days_times_unit_cost_from_the_episode_log(base_run):
    sc = kent()
    ep = base_run.episodes
    start = ep["start_day"].clip(lower=0.0)
    end = ep["end_day"].fillna(float((sc.end - sc.start).days))
    flows = base_run.flows.set_index("financial_year")
    for fy, a, b in _fy_bounds(sc):
        days = (np.minimum(end, b) - np.maximum(start, a)).clip(lower=0.0)
        for kind in PLACEMENT_TYPES:
            unit = sc.costs.weekly[kind].central
            expected = float(days[ep["placement"] == kind].sum()) * unit / 7
            assert flows.at[fy, f"spend_{kind}"] == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_spend_matches_the_weekly_cost_integrated_over_time(base_run):
    # Snapshots are monthly, so the integral of the weekly cost is a step sum; the stock
    # moves by about 1% a month, so the two agree to well within 3% a year.
    s = base_run.snapshots
    day = s["day"].to_numpy(dtype=float)
    weekly = s["weekly_cost"].to_numpy(dtype=float)
    trapezoid = (weekly[1:] + weekly[:-1]) / 2 * (day[1:] - day[:-1]) / 7
    placements = [f"spend_{k}" for k in (*PLACEMENT_TYPES, "staying_put")]
    flows = base_run.flows
    for i, (fy, a, b) in enumerate(_fy_bounds(kent())):
        inside = (day[1:] > a) & (day[1:] <= b)
        assert flows.loc[i, "financial_year"] == fy
        spent = float(flows.loc[i, placements].sum())
        assert spent == pytest.approx(float(trapezoid[inside].sum()), rel=0.03)


def test_total_is_the_sum_of_the_categories(base_run):
    f = base_run.flows
    parts = f[[f"spend_{k}" for k in SPEND_CATEGORIES]].sum(axis=1)
    assert np.allclose(f["spend_total"], parts, rtol=1e-12)
    assert list(f.columns[-len(SPEND_COLUMNS) - 1 : -1]) == list(SPEND_COLUMNS)


def test_recruitment_is_counted_per_enquiry_assessment_and_approval(base_run):
    sc = kent()
    f = base_run.flows
    unit = sc.costs.recruitment
    assert (f["spend_enquiries"] == f["enquiries"] * unit.per_enquiry.central).all()
    assert (f["spend_assessments"] == f["assessments"] * unit.per_assessment.central).all()
    assert (f["spend_approvals"] == f["approvals"] * unit.per_approval.central).all()
    assert (f["spend_approvals"] > 0).all()


@pytest.mark.slow
def test_a_recruitment_target_raises_recruitment_spend_by_its_approvals():
    target = {"recruitment_targets": [{"start": "2019-04-01", "approvals_per_year": 300}]}
    # Teams large enough for the target's enquiries and assessments.
    teams = {"assessing": {"slots": 400}, "follow_up": {"slots": 400}}
    sc = kent(interventions=target, recruitment=teams)
    base = simulate(kent(recruitment=teams), seed=3).flows
    more = simulate(sc, seed=3).flows
    unit = sc.costs.recruitment.per_approval.central
    extra = more["approvals"] - base["approvals"]
    assert (extra > 0).all()
    assert np.allclose(more["spend_approvals"] - base["spend_approvals"], extra * unit)
    recruitment = ["spend_enquiries", "spend_assessments", "spend_approvals"]
    assert (more[recruitment].sum(axis=1) > base[recruitment].sum(axis=1)).all()
    # Recruitment is paid for now; the placements it saves come later: the first year costs more.
    assert more["spend_total"].iloc[0] > base["spend_total"].iloc[0]


def test_programme_costs_are_counted_from_their_start_date():
    start = dt.date(2019, 10, 1)
    sc = kent(
        interventions={
            "mockingbird": [{"start": start, "area": "South", "cost_per_year": 73_050}],
            "assessment_capacity": [
                {"start": start, "end": dt.date(2020, 10, 1), "cost_per_year": 36_525}
            ],
            "step_across": [{"start": start, "per_year": 1.0, "cost_per_move": 2_000}],
        }
    )
    f = simulate(sc, seed=1).flows.set_index("financial_year")
    assert (f["step_across"] > 0).all()
    assert (f["spend_step_across"] == f["step_across"] * 2_000).all()
    days_2019 = float((dt.date(2020, 4, 1) - start).days)
    (_, a, b) = _fy_bounds(sc)[1]
    # 73,050 a year is 200 a day (365.25 days a year), 36,525 is 100 a day.
    assert f.at["2019-20", "spend_mockingbird"] == pytest.approx(200 * days_2019)
    assert f.at["2020-21", "spend_mockingbird"] == pytest.approx(200 * (b - a))
    assert f.at["2019-20", "spend_assessment_capacity"] == pytest.approx(100 * days_2019)
    assert f.at["2020-21", "spend_assessment_capacity"] == pytest.approx(100 * 183)


@pytest.mark.slow
def test_a_campaign_and_a_retention_offer_are_paid_for():
    sc = kent(
        recruitment={
            "campaigns": [
                {"start": "2019-10-01", "end": "2020-10-01", "multiplier": 1.5, "cost": 36_600}
            ]
        },
        interventions={
            "retention_offers": [{"start": "2019-04-01", "weekly_cost_per_household": 7}]
        },
    )
    run = simulate(sc, seed=1)
    f = run.flows.set_index("financial_year")
    # 366 days: 183 in each financial year.
    assert f.at["2019-20", "spend_recruitment_campaigns"] == pytest.approx(18_300)
    assert f.at["2020-21", "spend_recruitment_campaigns"] == pytest.approx(18_300)
    # A pound a day for each fostering household: between the fewest and most households.
    s = run.snapshots
    for fy, a, b in _fy_bounds(sc)[1:]:
        days = b - a
        spent = f.at[fy, "spend_retention_offers"]
        assert s["households"].min() * days <= spent <= s["households"].max() * days


def test_the_price_index_uprates_each_financial_year(base_run):
    sc = kent(costs={"inflation_per_year": 0.05})
    inflated = simulate(sc, seed=7, replication=0).flows
    assert list(inflated["price_index"]) == pytest.approx([1.0, 1.05])
    for col in SPEND_COLUMNS:
        assert np.allclose(inflated[col], base_run.flows[col] * inflated["price_index"])
    assert (base_run.flows["price_index"] == 1.0).all()


@pytest.mark.slow
def test_household_costs_cover_empty_places():
    sc = kent(costs={"household_weekly": {"central": 70, "low": 0, "high": 150}})
    run = simulate(sc, seed=2)
    s, f = run.snapshots, run.flows
    for (_, a, b), spent in zip(_fy_bounds(sc), f["spend_fostering_households"], strict=True):
        weeks = (b - a) / 7
        assert s["households"].min() * 70 * weeks <= spent <= s["households"].max() * 70 * weeks


# ----------------------------------------------------------------------------- statistics


def _flows() -> dict[str, pd.DataFrame]:
    """Spend of 12 paired runs where the policy saves £1m in ten runs and costs £20m more in
    two: the medians say it saves, the means (and the paired mean difference) that it costs."""
    base = np.arange(1.0, 13.0)
    policy = base - 1.0
    policy[-2:] += 21.0
    flows = {}
    for name, x in (("base", base), ("policy", policy)):
        zeros = {c: 0.0 for c in SPEND_COLUMNS}
        flows[name] = pd.DataFrame(
            {"replication": np.arange(12), "financial_year": "2019-20", **zeros}
        ).assign(spend_in_house=x * 1e6, spend_total=x * 1e6)
    return flows


def test_a_paired_difference_has_the_sign_of_the_difference_in_means():
    flows = _flows()
    d = analysis.spend_differences(flows["base"], flows["policy"])
    row = d[(d["outcome"] == "spend_total") & (d["financial_year"] == "2019-20")].iloc[0]
    base, policy = flows["base"]["spend_total"], flows["policy"]["spend_total"]
    # The medians say the policy saves; the means (and so the difference shown) say it costs.
    assert policy.median() < base.median() and policy.mean() > base.mean()
    assert row["difference"] == pytest.approx(policy.mean() - base.mean())
    assert row["difference"] > 0
    summary = analysis.spend_summary(
        pd.concat(
            [flows["base"].assign(scenario="base"), flows["policy"].assign(scenario="policy")]
        )
    )
    total = summary[(summary["category"] == "total") & (summary["financial_year"] == "2019-20")]
    means = total.set_index("scenario")["mean"]
    assert means["policy"] - means["base"] == pytest.approx(row["difference"])


def test_the_interval_is_the_90_percent_t_interval():
    from scipy import stats

    d = np.array([1.0, 2.0, 4.0, 3.0, 0.0])
    mean, lo, hi = analysis.mean_difference(d)
    half = stats.t.ppf(0.95, 4) * d.std(ddof=1) / np.sqrt(5)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    assert np.isnan(analysis.mean_difference(np.array([1.0]))[1])


@pytest.mark.slow
def test_analysis_compare_and_the_report_use_the_one_estimator(base_run):
    one = base_run.snapshots
    base = pd.concat([one.assign(replication=r) for r in range(2)], ignore_index=True)
    other = base.assign(in_house=base["in_house"] + 9 * base["replication"] + 1)
    via_compare = compare.differences({"base": base, "other": other}, ["in_house"])
    via_analysis = analysis.paired_differences(base, other, ["in_house"])
    pd.testing.assert_frame_equal(via_compare.drop(columns="policy"), via_analysis)
    assert (via_analysis["difference"] == 5.5).all()
    summary = analysis.yearly_summary(other, ["in_house"])
    assert ("in_house", "median") not in summary
    means = analysis.year_end(other).groupby("year")["in_house"].mean()
    assert (summary[("in_house", "mean")] == means).all()
    assert (
        summary[("in_house", "mean")]
        - analysis.yearly_summary(base, ["in_house"])[("in_house", "mean")]
        == via_analysis.set_index("year")["difference"]
    ).all()
    html = report.summary_table_html(report.ScenarioResult({"snapshots": other}, {}), ["in_house"])
    assert f"<b>{fmt('in_house', means.iloc[-1])}</b>" in html
    assert analysis.ESTIMATOR in report.render_report(
        report.ReportData([report.ScenarioResult({"snapshots": other}, {"scenario": "x"})])
    ).replace("&#x27;", "'")


def test_target_chance_is_the_share_of_runs_meeting_it_each_year():
    snaps = pd.DataFrame(
        {
            "replication": [0, 1, 2, 3] * 2,
            "date": [pd.Timestamp("2020-03-31")] * 4 + [pd.Timestamp("2021-03-31")] * 4,
            "kpi": [0.05, 0.12, 0.2, 0.08, 0.05, 0.06, 0.07, 0.3],
        }
    )
    chance = analysis.target_chance(snaps, "kpi", 0.10, lower_is_better=True)
    assert list(chance["chance"]) == [0.5, 0.75]
    assert list(chance["mean"]) == pytest.approx([0.1125, 0.12])


def test_money_is_formatted_for_a_committee():
    assert format_money(1_234_567) == "£1.23m"
    assert format_money(340_200) == "£340k"
    assert format_money(-2_500) == "-£2,500"
    assert format_money(950) == "£950"
    assert format_money(12_000, signed=True) == "+£12k"
    assert format_money(float("nan")) == "–"


def test_fan_charts_draw_the_mean(base_run):
    from sim.plots import fan_chart

    one = base_run.snapshots
    snaps = pd.concat(
        [one.assign(replication=r, unregistered=one["unregistered"] * r**3) for r in range(3)],
        ignore_index=True,
    )
    line = fan_chart(snaps, "unregistered").lines[0]
    mean = snaps.groupby("date")["unregistered"].mean()
    assert np.allclose(line.get_ydata(), mean) and not np.allclose(
        line.get_ydata(), snaps.groupby("date")["unregistered"].median()
    )


@pytest.mark.parametrize("unit", ["per_enquiry", "per_assessment", "per_approval"])
def test_a_unit_cost_out_of_its_range_is_refused_by_field(unit):
    from sim.config import Scenario, ScenarioError, with_overrides

    bad = {"costs": {"recruitment": {unit: {"central": 900.0, "low": 1000.0, "high": 2000.0}}}}
    with pytest.raises(ScenarioError) as err:
        with_overrides(Scenario(), bad)
    assert f"costs.recruitment.{unit}" in str(err.value) and "low <= central <= high" in str(
        err.value
    )
