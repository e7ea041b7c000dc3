"""The self-contained HTML report: its sections, embedded images, KPI targets, comparisons,
and `sufficiency report` rebuilding it from a results folder. A screenshot of the report is
saved to tests/artifacts/report.png."""

from __future__ import annotations

import html
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from _browser import ARTIFACTS, browser

from sim.cli import main
from sim.config import load_scenario, with_overrides
from sim.experiment import provenance, run
from sim.outputs import CATALOGUE, fmt, format_money, title
from sim.report import (
    CHART_GROUPS,
    KPI_TARGETS,
    ScenarioResult,
    accuracy_html,
    assumptions_html,
    chart_group_figure,
    describes_published_council,
    differences_html,
    headline_table,
    load_accuracy,
    load_results,
    observed_figures,
    option_differences,
    option_sets,
    paired_differences,
    panel_observed,
    write_report,
)
from sim.wording import describe, source_title
from sim.wording import label as setting_label

ROOT = Path(__file__).resolve().parents[1]
REPS, SEED = 3, 11


@pytest.fixture(scope="module")
def runs():
    """A small base run and a policy run with the same seed (common random numbers)."""
    base = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 2})
    policy = with_overrides(
        base, {"name": "More enquiries", "recruitment": {"enquiries_per_year": 1500}}
    )
    out = []
    for sc in (base, policy):
        tables = run(sc, REPS, SEED)
        out.append((sc, tables, provenance(sc, SEED, REPS, scenario_file="test")))
    return out


@pytest.fixture(scope="module")
def single_html(runs, tmp_path_factory):
    _, tables, manifest = runs[0]
    path = write_report(tables, manifest, tmp_path_factory.mktemp("rep") / "report.html")
    return path.read_text(encoding="utf-8")


def _section_ids(text: str) -> set[str]:
    return set(re.findall(r"<section id='([a-z_]+)'", text))


@pytest.mark.slow
def test_report_has_every_section_and_embedded_images(single_html):
    assert {"scenario", "kpis", "charts", "summary"} <= _section_ids(single_html)
    images = re.findall(r"<img [^>]*src='([^']+)'", single_html)
    assert len(images) == len(CHART_GROUPS)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert all(len(src) > 10_000 for src in images)  # real pictures, not placeholders
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=['"]?(https?:)?//""", single_html)
    assert "<script" not in single_html
    # Every chart has alternative text in words.
    assert all(alt.strip() for alt in re.findall(r"<img alt='([^']*)'", single_html))


@pytest.mark.slow
def test_report_shows_scenario_assumptions_and_kpi_targets(single_html):
    assert "Kent baseline" in single_html
    assert "Fostering enquiries each year" in single_html
    assert "590" in single_html
    for target in KPI_TARGETS:
        assert target.name in single_html
        assert "E11" in target.source and html.escape(target.quote) in single_html
        # Sources by document title, never by file name.
        assert target.source.split()[0] not in single_html
    assert "Corporate Parenting Annual Report 2024" in single_html
    assert "at most 10%" in single_html
    assert "at least 70%" in single_html
    assert "at least 80%" in single_html
    # Headline figures at each 31 March, in plain words.
    for year in (2019, 2020, 2021):
        assert f"31 Mar {year}" in single_html
    for col in ("in_house", "ifa_spot", "residential", "unregistered", "waiting", "households"):
        assert html.escape(title(col)) in single_html
    # Single scenario: no comparison section.
    assert "differences" not in _section_ids(single_html)


def test_kpi_targets_are_data_with_sources():
    by_column = {t.column: t for t in KPI_TARGETS}
    assert by_column["kpi_3plus_placements"].target == 0.10
    assert by_column["kpi_3plus_placements"].better == "lower"
    assert by_column["kpi_same_placement_2y"].target == 0.70
    assert by_column["kpi_within_20_miles"].target == 0.80
    assert all(t.better == "higher" for t in KPI_TARGETS if t.column != "kpi_3plus_placements")
    assert all(t.column in CATALOGUE["snapshots"] and ".txt E" in t.source for t in KPI_TARGETS)
    assert by_column["kpi_3plus_placements"].met(0.09)
    assert not by_column["kpi_within_20_miles"].met(0.79)


@pytest.mark.slow
def test_comparison_report_shows_paired_differences_with_intervals(runs, tmp_path):
    (_, base, mb), (_, policy, mp) = runs
    path = write_report(base, mb, tmp_path / "cmp.html", compare=[(policy, mp)])
    text = path.read_text(encoding="utf-8")
    assert "differences" in _section_ids(text)
    assert "More enquiries compared with Kent baseline" in text
    assert "90% confidence interval" in text
    assert "1,500" in text  # the policy's assumption is shown beside the base's
    # Money: spend by year and its paired difference, with what the cost leaves out.
    money = text[text.index("<section id='money'>") :]
    money = money[: money.index("</section>")]
    assert "More enquiries minus Kent baseline" in money
    assert "Spend: fostering enquiries handled" in money
    assert "What it leaves out" in money and "no inflation index" in money


def test_paired_differences_of_a_run_with_itself_are_zero(runs):
    _, tables, _ = runs[0]
    d = paired_differences(tables["snapshots"], tables["snapshots"], ["in_house", "waiting"])
    assert set(d["year"]) == {2019, 2020, 2021}
    assert (d["difference"] == 0).all()
    assert (d["replications"] == REPS).all()


def test_paired_differences_need_the_same_seed(runs, tmp_path):
    (_, base, mb), (_, policy, mp) = runs
    other = dict(mp, seed=SEED + 1)
    text = differences_html([ScenarioResult(base, mb), ScenarioResult(policy, other)])
    assert "Not compared" in text and "same seed" in text


@pytest.mark.slow
@pytest.mark.parametrize("fmt_name", ["parquet", "csv"])
def test_cli_report_rebuilds_from_a_run_folder(tmp_path, fmt_name, capsys):
    folder = tmp_path / "run"
    scenario = str(ROOT / "scenarios" / "kent_baseline.toml")
    args = ["--reps", "2", "--years", "1", "--workers", "1", "--quiet", "--format", fmt_name]
    assert main(["run", scenario, *args, "--out", str(folder)]) == 0
    assert len(list((folder / "snapshots").glob(f"part-*.{fmt_name}"))) == 2  # one a replication
    pd.DataFrame(
        {"target": ["households_2019"], "observed": [638.0], "simulated": [640.0], "ok": [True]}
    ).to_csv(folder / "fit_table.csv", index=False)
    pd.DataFrame({"target": ["households_2024"], "observed": [617.0]}).to_csv(
        folder / "validation_table.csv", index=False
    )
    out = tmp_path / "my report.html"
    assert main(["report", str(folder), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert {"scenario", "kpis", "charts", "summary", "calibration", "validation"} <= (
        _section_ids(text)
    )
    assert "households_2019" in text and "households_2024" in text
    assert str(out) in capsys.readouterr().out


@pytest.mark.slow
def test_options_added_one_by_one_are_read_in_their_order(runs, tmp_path):
    """The web app adds each option's in-memory tables to one results folder."""
    from sim.batch import add_results

    folder = tmp_path / "cmp"
    for sc, tables, _ in runs:
        add_results(folder, sc.name, sc, tables, SEED, file="test")
    data = load_results(folder)
    assert [r.label for r in data.results] == ["Kent baseline", "More enquiries"]
    for r, (_, tables, _) in zip(data.results, runs, strict=True):
        pd.testing.assert_series_equal(
            r.snapshots["in_house"], tables["snapshots"]["in_house"], check_dtype=False
        )
    assert main(["report", str(folder)]) == 0
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "More enquiries compared with Kent baseline" in text


@pytest.mark.slow
def test_cli_compare_writes_a_folder_the_report_rebuilds(tmp_path, capsys):
    from sim.results import load

    folder = tmp_path / "cmp"
    args = ["--reps", "2", "--years", "1", "--workers", "1", "--out", str(folder), "--quiet"]
    base, policy = (
        str(ROOT / "scenarios" / f) for f in ("kent_baseline.toml", "policy_hub_families.toml")
    )
    assert main(["compare", base, policy, *args]) == 0
    res = load(folder)
    assert len(res.scenarios) == 2 and res.scenarios[0] == "Kent baseline"
    assert res.manifest["seed"] == 2019
    assert res.snapshots.groupby("scenario", observed=True)["replication"].nunique().tolist() == [
        2,
        2,
    ]
    text = (folder / "report.html").read_text(encoding="utf-8")
    assert "differences" in _section_ids(text)
    (folder / "report.html").unlink()
    assert main(["report", str(folder)]) == 0
    assert (folder / "report.html").read_text(encoding="utf-8").count("<img") >= 1
    assert "report.html" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_report_reads_a_batch_folder_and_tables_given_elsewhere(runs, tmp_path):
    from sim.batch import run_batch

    (base, _, _), (policy, _, _) = runs
    folder = tmp_path / "batch"
    run_batch([base, policy], 2, folder, seed=SEED, workers=1, progress=False)
    fit = tmp_path / "fit.csv"
    pd.DataFrame({"target": ["approvals_fy2018_19"], "observed": [78]}).to_csv(fit, index=False)
    out = tmp_path / "batch.html"
    assert main(["report", str(folder), "--out", str(out), "--calibration", str(fit)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "More enquiries compared with Kent baseline" in text
    assert "calibration" in _section_ids(text) and "approvals_fy2018_19" in text


def test_cli_report_explains_a_folder_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_values_are_formatted_for_readers():
    assert fmt("kpi_3plus_placements", 0.106) == "10.6%"
    assert fmt("kpi_3plus_placements", -0.02, signed=True) == "-2.0 points"
    assert fmt("weekly_cost", 2_850_000) == "£2.85m"
    assert fmt("weekly_cost", -47_000, signed=True) == "-£47k"
    assert fmt("weekly_cost", 1_234_567, signed=True) == "+£1.23m"
    assert fmt("in_house", 1234.4) == "1,234"
    assert fmt("in_house", 12, signed=True) == "+12"
    assert fmt("in_house", float("nan")) == "–"


@pytest.mark.slow
def test_report_screenshot(single_html, tmp_path):
    """Render the report in a real browser and keep a screenshot as a test artefact."""
    path = tmp_path / "report.html"
    path.write_text(single_html, encoding="utf-8")
    with browser() as b:
        page = b.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        # Every embedded image decoded and drawn.
        widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
        assert len(widths) == len(CHART_GROUPS) and all(w > 500 for w in widths)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        page.locator("#chart-placements").screenshot(path=str(ARTIFACTS / "report_charts.png"))
    assert (ARTIFACTS / "report.png").stat().st_size > 50_000


# ----------------------------------------------------------------------------- for a committee


def _visible_text(page: str) -> str:
    """What a reader sees: the page without its style sheet, images and tags."""
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def _assumptions_of(path: Path) -> str:
    scenario = load_scenario(path)
    result = ScenarioResult({"snapshots": pd.DataFrame()}, provenance(scenario, SEED, REPS))
    return _visible_text(assumptions_html([result]))


@pytest.mark.slow
def test_assumptions_are_in_plain_words_without_dotted_names_or_json(single_html):
    combined = _assumptions_of(ROOT / "scenarios" / "policy_combined.toml")
    for text in (_visible_text(single_html), combined):
        assert not re.search(r"\b[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\b", text)  # costs.weekly...
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", text)  # enquiries_per_year, in_house
        assert not re.search(r"[{}\[\]]|\"\w+\":", text)  # JSON
        assert not re.search(r"\d\.\d{4,}", text)  # 141.88511: rounded numbers only
    # Dated policies and campaigns in words, with units.
    assert "from 1 April 2020 to 1 April 2021, ×1.3" in combined
    assert "Policy: Mockingbird" in combined and "from 1 November 2024" in combined
    assert "£1,000 a week" in combined and "41%" in combined
    assert "Enquiries the recruitment team can follow up at once  45" in combined


def test_settings_are_described_with_their_units():
    assert describe("recruitment.application_prob", 0.34) == "34%"
    assert describe("costs.weekly.ifa_spot.central", 1000.0) == "£1,000 a week"
    assert describe("breakdown.per_year.residential", 0.111) == "11.1% a year"
    assert describe("recruitment.enquiries_per_year", 590.0) == "590 a year"
    assert describe("interventions.hub_families.x.deregistration_multiplier", [0.6, 1.0]) == (
        "×0.6 to ×1"
    )
    assert describe("recruitment.seasonality", [1.0, 0.9] * 6) == "12 values from 0.9 to 1"
    assert describe("matching.emergency_stay_days", 1.0) == "1 day"
    assert setting_label("recruitment.enquiries_per_year") == "Fostering enquiries each year"
    assert setting_label("uasc.nts.delay_days") == (
        "Unaccompanied asylum-seeking children: National Transfer Scheme, delay days"
    )


def test_sources_are_named_by_document_title():
    assert source_title("004_7ff32ea817a1971a.txt E55") == (
        "Kent County Council, Corporate Parenting Annual Report 2024"
    )
    assert source_title("evidence.md 4.2").startswith("Ofsted, Fostering in England")
    assert source_title("evidence.md 4.1.3").startswith("Department for Education")  # 4.1
    assert source_title("a report we do not know") == "a report we do not know"
    # Every source the calibration files cite has a title.
    for row in observed_figures().itertuples():
        assert ".txt" not in source_title(row.source) and ".md" not in source_title(row.source)


def test_money_is_written_one_way():
    assert format_money(550) == "£550"
    assert format_money(9_999.4) == "£9,999"
    assert format_money(47_300) == "£47.3k"
    assert format_money(340_000) == "£340k"
    assert format_money(999_950) == "£1m"  # rounded before the unit is chosen
    assert format_money(1_234_567) == "£1.23m"
    assert format_money(-1_200_000) == "-£1.2m"
    assert format_money(2.5e9) == "£2.5bn"
    assert format_money(float("nan")) == "–"
    assert fmt("weekly_cost", 2_850_000) == format_money(2_850_000)


def _axes_titled(fig, words: str):
    return next(ax for ax in fig.axes if ax.get_title(loc="left").startswith(words))


def test_charts_show_published_figures_and_where_the_forecast_starts(runs):
    from matplotlib.ticker import FuncFormatter

    (_, base, mb), (_, policy, mp) = runs
    results = [ScenarioResult(base, mb), ScenarioResult(policy, mp)]
    observed = observed_figures()
    assert describes_published_council(results)
    start = pd.Timestamp("2019-03-31")
    # Kent's figures up to the start (the history) and the held-out 2023-24 ones are there.
    shown = panel_observed(observed, "children_in_care", start, pd.Timestamp("2025-03-31"))
    assert {1590.0, 1645.0, 1950.0} <= set(shown["value"])
    group = next(g for g in CHART_GROUPS if g.key == "placements")
    fig = chart_group_figure(group, results, observed)
    ax = _axes_titled(fig, "All children in care")
    points = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert points and 1590.0 in set(points[0].get_ydata())
    assert "forecast starts" in [t.get_text() for t in ax.texts]
    # Money axes read £1.2m, never 1e6.
    cost = chart_group_figure(next(g for g in CHART_GROUPS if g.key == "pressure"), results)
    money = _axes_titled(cost, "Weekly cost of placements")
    formatter = money.yaxis.get_major_formatter()
    assert isinstance(formatter, FuncFormatter) and formatter(1_500_000, 0) == "£1.5m"
    plt.close("all")


def test_other_councils_charts_carry_no_kent_figures(runs):
    _, tables, manifest = runs[0]
    params = dict(manifest["parameters"], council="Anytown")
    other = ScenarioResult(tables, dict(manifest, parameters=params), label="Kent lookalike")
    assert not describes_published_council([other])


def test_at_most_three_options_share_a_chart():
    results = [ScenarioResult({"snapshots": pd.DataFrame()}, {}, label=str(i)) for i in range(6)]
    sets = option_sets(results)
    assert sets == [[0, 1, 2], [0, 3, 4], [0, 5]]
    assert option_sets(results[:3]) == [[0, 1, 2]]


def test_headline_table_shows_a_start_that_is_not_31_march():
    dates = pd.date_range("2024-09-30", "2025-09-30", freq="ME")
    snaps = pd.DataFrame(
        [
            {"date": d, "replication": r, "ifa_spot": 100 + i + r}
            for r in (0, 1)
            for i, d in enumerate(dates)
        ]
    )
    q = headline_table(snaps, ["ifa_spot"])
    assert [d.strftime("%Y-%m-%d") for d in q.index] == ["2024-09-30", "2025-03-31", "2025-09-30"]
    assert q.loc[pd.Timestamp("2025-09-30"), ("ifa_spot", "mean")] == 112.5


def test_accuracy_section_reads_the_committed_validation(tmp_path):
    scores = pd.read_csv(ROOT / "calibration" / "validation_scores.csv")
    held = scores[(scores["exercise"] == "held out") & (scores["forecast"] == "model")].iloc[0]
    acc = load_accuracy()
    assert acc is not None
    text = _visible_text(accuracy_html(acc))
    assert f"{held['inside_90']} of {held['figures']} figures fell inside" in text
    persistence = scores[(scores["exercise"] == "held out") & (scores["forecast"] == "persistence")]
    skill = float(persistence["skill"].iloc[0])
    assert f"{abs(skill):.0%} {'smaller' if skill > 0 else 'larger'}" in text
    assert str(held["commit"])[:7] in text
    table = pd.read_csv(ROOT / "calibration" / "validation_table.csv")
    scored = table[table["scored"]]
    low = (scored["observed"] > scored["simulated_p95"]).sum()
    assert f"too low for {low} and" in text
    assert (
        low + (scored["observed"] < scored["simulated_p05"]).sum() + held["inside_90"]
        == (held["figures"])
    )
    # Another result gives other words: nothing is written in by hand.
    for name in ("validation_scores.csv", "validation_table.csv"):
        (tmp_path / name).write_bytes((ROOT / "calibration" / name).read_bytes())
    changed = scores.assign(inside_90=scores["inside_90"] + 1)
    changed.to_csv(tmp_path / "validation_scores.csv", index=False)
    other = _visible_text(accuracy_html(load_accuracy(tmp_path)))
    assert f"{held['inside_90'] + 1} of {held['figures']} figures fell inside" in other
    assert load_accuracy(tmp_path / "missing") is None


@pytest.mark.slow
def test_report_has_a_summary_accuracy_and_folded_tables(single_html):
    assert "accuracy" in _section_ids(single_html)
    assert "How accurate has this been?" in single_html
    assert single_html.index("plain-summary") < single_html.index("<main>")
    assert "<details><summary>The table of headline figures</summary>" in single_html


def test_differences_start_at_the_first_31_march_after_the_start():
    dates = pd.date_range("2024-09-30", "2026-03-31", freq="ME")
    snaps = pd.DataFrame(
        [{"date": d, "replication": r, "ifa_spot": 100 + r} for r in (0, 1) for d in dates]
    )
    base, other = (ScenarioResult({"snapshots": snaps}, {"seed": 1}, label=x) for x in "ab")
    assert set(option_differences(base, other, ["ifa_spot"])["year"]) == {2025, 2026}
    from_march = snaps[pd.to_datetime(snaps["date"]) >= "2025-03-31"]
    base, other = (ScenarioResult({"snapshots": from_march}, {"seed": 1}, label=x) for x in "ab")
    assert set(option_differences(base, other, ["ifa_spot"])["year"]) == {2026}
