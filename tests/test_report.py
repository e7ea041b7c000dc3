"""The self-contained HTML report: its sections, embedded images, KPI targets, comparisons,
and `sufficiency report` rebuilding it from a results folder. A screenshot of the report is
saved to tests/artifacts/report.png."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest
from _browser import ARTIFACTS, browser

from sim.cli import main
from sim.config import load_scenario, with_overrides
from sim.experiment import provenance, run
from sim.outputs import CATALOGUE, fmt, title
from sim.report import (
    CHART_GROUPS,
    KPI_TARGETS,
    ScenarioResult,
    differences_html,
    load_results,
    paired_differences,
    write_report,
)

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


def test_report_shows_scenario_assumptions_and_kpi_targets(single_html):
    assert "Kent baseline" in single_html
    assert "Fostering enquiries each year" in single_html
    assert "590" in single_html
    for target in KPI_TARGETS:
        assert target.name in single_html
        assert "E11" in target.source and target.source.split(",")[0] in single_html
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
    assert all(t.column in CATALOGUE["snapshots"] and "seed" in t.source for t in KPI_TARGETS)
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
    assert fmt("weekly_cost", -47_000, signed=True) == "-£47,000"
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
