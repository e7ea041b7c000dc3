"""The web app's planning questions: levers with start dates, goal-seek with the target solver,
runs at their own address, every input problem at once, and the page at 390 px, in a real
headless Chromium (screenshots go to tests/artifacts/).

A small council (Kent at a tenth of its size, three years) keeps each run to a fraction of a
second, so the end-to-end tests take seconds.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import time
from pathlib import Path

import pytest
from _browser import ARTIFACTS, browser, running_server
from fastapi.testclient import TestClient

from sim.analysis import spend_summary
from sim.config import load_scenario, with_overrides
from sim.experiment import run
from sim.model import simulate
from sim.outputs import COST_EXCLUDES, COST_INCLUDES, format_money, output
from sim.report import ScenarioResult, observed_figures
from sim.scaling import scaled
from sim.target import ALIASES, Goal, solve
from sim.webapp import create_app
from sim.webapp.app import TOKEN_HEADER
from sim.webapp.jobs import Limits
from sim.webapp.levers import (
    LEVERS,
    LeverError,
    apply_levers,
    levers_for,
    policy_starts,
    starts_after_horizon,
)
from sim.webapp.scenarios import scenario_to_toml
from sim.webapp.view import PER_CHART, build_view, chart_sets, money_ticks, observed_traces

ROOT = Path(__file__).resolve().parents[1]
BASE = load_scenario(ROOT / "scenarios" / "kent_baseline.toml")
SMALL = with_overrides(
    scaled(BASE, 0.1, split=1),
    {"years": 3, "name": "Small council", "description": "Kent at a tenth of its size"},
)
OWN_START = "2020-11-01"  # the small Mockingbird scenario's own constellation


@pytest.fixture(scope="module")
def scenario_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "small_council.toml").write_text(scenario_to_toml(SMALL), encoding="utf-8")
    (folder / "small_mockingbird.toml").write_text(
        'extends = "small_council.toml"\nname = "Small council with Mockingbird"\n'
        f'[[interventions.mockingbird]]\nstart = {OWN_START}\narea = "North"\n',
        encoding="utf-8",
    )
    return folder


def _client(app) -> TestClient:
    return TestClient(app, base_url="http://127.0.0.1", headers={TOKEN_HEADER: app.state.token})


@pytest.fixture
def client(scenario_folder, tmp_path):
    with _client(create_app(scenario_folder, tmp_path / "work", workers=1)) as c:
        yield c


def _wait(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/runs/{job_id}").json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.1)
    raise AssertionError("run did not finish")


def _values(scenario):
    return {item["id"]: item["value"] for item in levers_for(scenario)}


# ----------------------------------------------------------------------------- dated levers


def test_every_lever_shows_its_start_and_the_start_reaches_the_policy():
    shown = {item["id"]: item for item in levers_for(BASE)}
    assert {i for i, item in shown.items() if item["dated"]} == {
        lever.id for lever in LEVERS if lever.id != "campaign_months"
    }
    assert all(item["start"] == "2019-03-31" for item in shown.values() if item["dated"])
    starts = {
        "enquiries_per_year": "2020-04-01",
        "campaign_size": "2020-09-01",
        "approvals_target": "2021-04-01",
        "hub_families": "2020-06-01",
        "mockingbird_constellations": "2024-11-01",
        "uasc_arrivals_per_year": "2022-01-01",
        "uasc_ring_fenced_beds": "2024-04-01",
        "ifa_framework_places": "2021-01-01",
    }
    values = {
        **_values(BASE),
        "enquiries_per_year": 800,
        "campaign_size": 2,
        "campaign_months": 3,
        "approvals_target": 120,
        "hub_families": 2,
        "mockingbird_constellations": 2,
        "uasc_arrivals_per_year": 400,
        "uasc_ring_fenced_beds": 69,
        "ifa_framework_places": 250,
    }
    sc = apply_levers(BASE, values, {"years": 8}, starts)
    day = {k: dt.date.fromisoformat(v) for k, v in starts.items()}
    (enquiries, campaign) = sorted(sc.recruitment.campaigns, key=lambda w: w.start)
    assert (enquiries.start, enquiries.per_year, enquiries.end) == (
        day["enquiries_per_year"],
        800,
        sc.end,
    )
    assert (campaign.start, campaign.multiplier) == (day["campaign_size"], 2)
    assert (campaign.end.year, campaign.end.month) == (2020, 12)
    assert sc.recruitment.enquiries_per_year == BASE.recruitment.enquiries_per_year
    iv = sc.interventions
    assert iv.recruitment_targets[0].start == day["approvals_target"]
    assert iv.hub_families[0].start == day["hub_families"]
    assert [m.start for m in iv.mockingbird] == [day["mockingbird_constellations"]] * 2
    assert [(w.start, w.per_year) for w in sc.uasc.surges] == [(day["uasc_arrivals_per_year"], 400)]
    assert iv.uasc_ring_fence[0].start == day["uasc_ring_fenced_beds"]
    (change,) = iv.provider_changes
    assert (change.start, change.kind, change.places) == (
        day["ifa_framework_places"],
        "ifa_framework",
        250,
    )
    assert sc.providers.ifa_framework_places == BASE.providers.ifa_framework_places
    # The results name each policy with its start.
    named = dict(policy_starts(sc))
    assert named["Mockingbird constellation in North"] == day["mockingbird_constellations"]
    assert named["Fostering enquiries of 800 a year"] == day["enquiries_per_year"]


def test_a_policy_scenarios_own_start_is_shown_and_kept(scenario_folder):
    own = load_scenario(scenario_folder / "small_mockingbird.toml")
    shown = {item["id"]: item for item in levers_for(own)}
    assert shown["mockingbird_constellations"]["start"] == OWN_START
    # One more constellation: the scenario's own keeps its date, the new one gets the start
    # shown (the scenario's own, as the page sends it back).
    more = apply_levers(own, {"mockingbird_constellations": 2}, {"years": 3})
    assert [str(m.start) for m in more.interventions.mockingbird] == [OWN_START, OWN_START]
    moved = apply_levers(
        own, {"mockingbird_constellations": 1}, None, {"mockingbird_constellations": "2021-02-01"}
    )
    assert [str(m.start) for m in moved.interventions.mockingbird] == ["2021-02-01"]


def test_a_policy_starting_after_the_horizon_is_refused_in_plain_words(scenario_folder):
    with pytest.raises(LeverError) as err:
        apply_levers(
            BASE,
            {"mockingbird_constellations": 1},
            {"years": 2},
            {"mockingbird_constellations": "2024-11-01"},
        )
    assert err.value.problems == [
        "Mockingbird constellations: the policy starts on 1 November 2024, but the horizon "
        "ends on 31 March 2021, so nothing of it would be simulated: run for at least 5.6 "
        "years, or start it earlier"
    ]
    # The scenario's own policy too: never silently zero.
    own = load_scenario(scenario_folder / "small_mockingbird.toml")
    with pytest.raises(LeverError) as err:
        apply_levers(own, {}, {"years": 1})
    assert "starts on 1 November 2020, but the horizon ends on 31 March 2020" in str(err.value)
    assert starts_after_horizon(own, own.years) == []


def test_the_app_refuses_a_late_start_and_lists_every_problem_at_once(client):
    options = [
        {
            "name": "Base",
            "scenario": "small_council",
            "levers": {"enquiries_per_year": -1},
            "starts": {"hub_families": "2001-01-01"},
        },
        {
            "name": "Late",
            "scenario": "small_mockingbird",
            "levers": {"mockingbird_constellations": 1},
        },
        {"name": "Lost", "scenario": "no_such_scenario", "levers": {}},
    ]
    body = {"options": options, "years": 1, "replications": 0, "seed": "x"}
    r = client.post("/api/runs", json=body)
    assert r.status_code == 400
    assert r.json()["problems"] == [
        "Runs (replications): must be between 1 and 200 (you entered 0)",
        "Random seed: 'x' is not a number",
        "Base, Fostering enquiries per year: must be between 0 and 5,000 (you entered -1)",
        "Base, Hub families per area, starts on: must be between 31 March 2019 (the "
        "scenario's start) and 31 March 2059 (you entered 1 January 2001)",
        "Late, Mockingbird constellation in North: the policy starts on 1 November 2020, but "
        "the horizon ends on 31 March 2020, so nothing of it would be simulated: run for at "
        "least 1.6 years, or start it earlier",
        "Lost: choose a scenario from the list",
    ]


@pytest.mark.slow
def test_a_dated_lever_reaches_the_run_and_its_results(client):
    option = {
        "name": "Hubs later",
        "scenario": "small_council",
        "levers": {"hub_families": 1},
        "starts": {"hub_families": "2020-06-01"},
    }
    r = client.post("/api/runs", json={"options": [option], "years": 2, "replications": 1})
    assert r.status_code == 200, r.text
    job = r.json()
    assert _wait(client, job["id"])["status"] == "done"
    view = client.get(f"/api/runs/{job['id']}/result").json()
    assert view["options"][0]["policies"] == ["Hub families (1 per area): from 1 June 2020"]
    assert "plain-summary" in view["summary"]  # the plain-English summary comes first
    toml = client.get(f"/api/runs/{job['id']}/download/scenario-1.toml").text
    assert "2020-06-01" in toml


# ----------------------------------------------------------------------------- charts


@pytest.mark.slow
def test_at_most_three_options_share_a_chart():
    assert chart_sets(1) == [[0]] and chart_sets(3) == [[0, 1, 2]]
    assert chart_sets(4) == [[0, 1, 2], [0, 3]]
    tables = run(with_overrides(SMALL, {"years": 1}), reps=1, seed=1)
    manifest = {"parameters": json.loads(SMALL.model_dump_json())}
    results = [ScenarioResult(tables, manifest, label) for label in "ABCD"]
    panels = [p for g in build_view(results)["charts"] for p in g["panels"]]
    assert panels
    for panel in panels:
        lines = [t for t in panel["figure"]["data"] if "name" in t and t["mode"] == "lines"]
        assert 1 <= len(lines) <= PER_CHART
        assert lines[0]["name"] == "A"  # the base is in every small multiple
        colours = [t["line"]["color"] for t in lines]
        assert len(set(colours)) == len(colours)
        bands = [t for t in panel["figure"]["data"] if "fill" in t]
        assert len(bands) == len(lines)  # one (the middle half) band per option


# ----------------------------------------------------------------------------- money, observed


def _results(scenario, labels="AB", years=2):
    sc = with_overrides(scenario, {"years": years})
    manifest = {"parameters": json.loads(sc.model_dump_json())}
    tables = run(sc, reps=2, seed=3)
    return [ScenarioResult(tables, manifest, label) for label in labels]


@pytest.mark.slow
def test_the_results_show_spend_per_year_its_difference_and_what_it_covers():
    results = _results(SMALL)
    money = build_view(results)["money"]
    q = spend_summary(results[0].tables["flows"].assign(scenario="A"))
    total = q[q["category"] == "total"].set_index("financial_year")
    assert len(total) == 3  # two financial years and the whole horizon
    for year, row in total.iterrows():
        assert row["mean"] > 0
        assert format_money(row["mean"]) in money, year
    assert "B minus A" in money and "Whole horizon" in money
    assert all(html.escape(x) in money for x in (*COST_INCLUDES, *COST_EXCLUDES))


def _markers(view):
    return [
        (panel, t)
        for g in view["charts"]
        for panel in g["panels"]
        for t in panel["figure"]["data"]
        if t.get("mode") == "markers"
    ]


@pytest.mark.slow
def test_the_charts_show_the_councils_published_figures_only_for_that_council():
    kent = build_view(_results(BASE, "A", years=1))
    markers = _markers(kent)
    assert {p["column"] for p, _ in markers} >= {"children_in_care"}
    before = [p for p, t in markers if min(t["x"]) < "2019-03-31"]
    assert before
    for panel in before:  # history beside the forecast: a dotted line where it starts
        (line,) = [s for s in panel["figure"]["layout"]["shapes"] if s.get("yref") == "paper"]
        assert line["x0"] == "2019-03-31" and line["line"]["dash"] == "dot"
    other = build_view(_results(with_overrides(SMALL, {"council": ""}), "A", years=1))
    assert _markers(other) == []
    # Figures held back from fitting (2023-24, beyond this run) are drawn hollow.
    published = observed_figures()
    points = published[published["column"] == "children_in_care"]
    traces = observed_traces(points, output("children_in_care"))
    shown = {t["marker"]["symbol"]: len(t["x"]) for t in traces}
    assert shown == {
        "circle": (points["use"] != "validate").sum(),
        "circle-open": (points["use"] == "validate").sum(),
    }
    assert shown["circle-open"] > 0


def test_money_axes_read_as_the_tables_do():
    ticks = money_ticks(2_345_000)
    assert ticks["tickvals"][0] == 0 and ticks["tickvals"][-1] >= 2_345_000
    assert ticks["ticktext"][1:3] == ["£500k", "£1m"]
    panels = [p for g in build_view(_results(SMALL, "A", 1))["charts"] for p in g["panels"]]
    money = [p for p in panels if p["column"].startswith("weekly_cost")]
    assert money
    for p in money:
        axis = p["figure"]["layout"]["yaxis"]
        assert axis["ticktext"] == [format_money(v) for v in axis["tickvals"]]
        assert "tickformat" not in axis


# ----------------------------------------------------------------------------- goal-seek


def _seek_body(**changes):
    body = {
        "option": {"name": "Small", "scenario": "small_council", "levers": {}},
        "lever": "approvals",
        "indicator": "approvals",
        "op": ">=",
        "value": 6,
        "year": 2021,
        "confidence": 80,
        "high": 60,
        "replications": 3,
        "seed": 7,
    }
    return {**body, **changes}


def test_new_indicators_read_the_tables_they_name():
    assert ALIASES["in_house_fostered_share"] == ("snapshots", "kpi_in_house_share")
    tables = simulate(with_overrides(SMALL, {"years": 2}), seed=1, replication=0).tables()
    flows = tables["flows"].set_index("financial_year")
    for name in ("approvals", "deregistrations", "enquiries"):
        value = flows.loc["2020-21", name]
        assert Goal.parse(f"{name} >= {value}", 2021).holds(tables)
        assert not Goal.parse(f"{name} >= {value + 1}", 2021).holds(tables)


@pytest.mark.slow
def test_goal_seek_gives_the_target_solvers_answer_and_funnel(client):
    # The app must give what the solver gives for the same inputs, whatever their size: two
    # replications are the fewest with an interval between two thresholds.
    r = client.post("/api/targets", json=_seek_body(replications=2))
    assert r.status_code == 200, r.text
    job = r.json()
    state = _wait(client, job["id"])
    assert state["status"] == "done", state
    view = client.get(f"/api/runs/{job['id']}/result").json()
    scenario = with_overrides(SMALL, {"years": 2})
    expected = solve(
        scenario, Goal("flows", "approvals", ">=", 6, 2021), 0.8, "approvals", 0, 60, 2, 7, 5
    )
    assert view["kind"] == "seek"
    assert view["answer"] == expected.answer and 0 < expected.answer <= 60
    assert view["thresholds"] == expected.thresholds
    assert view["interval"] == list(expected.interval)
    assert state["done"] == expected.runs
    funnel = {f["stage"]: f["per_year"] for f in view["funnel"]}
    per_enquiry = scenario.approvals_per_enquiry(scenario.start)
    assert funnel["Approvals"] == expected.answer
    assert math.isclose(funnel["Enquiries"], expected.answer / per_enquiry, abs_tol=0.05)
    assert funnel["Enquiries"] > funnel["Applications"] > funnel["Assessments started"]
    assert f"{expected.answer:,.0f} approvals a year" in view["html"]
    record = client.get(f"/api/runs/{job['id']}/download/target.json").json()
    assert record["answer"] == expected.answer and record["seed"] == 7
    assert {"version", "commit", "parameters", "goal"} <= set(record)


@pytest.mark.slow
def test_goal_seek_lever_starts_on_the_day_chosen(client):
    # One replication carries the start date through as well as three.
    job = client.post("/api/targets", json=_seek_body(start="2020-04-01", replications=1)).json()
    assert _wait(client, job["id"])["status"] == "done"
    view = client.get(f"/api/runs/{job['id']}/result").json()
    expected = solve(
        with_overrides(SMALL, {"years": 2}),
        Goal("flows", "approvals", ">=", 6, 2021),
        0.8,
        "approvals",
        0,
        60,
        1,
        7,
        5,
        start=dt.date(2020, 4, 1),
    )
    assert view["start"] == "2020-04-01"
    assert view["thresholds"] == expected.thresholds
    assert "with recruitment raised from 1 April 2020" in view["question"]
    assert view["policies"][0] == "Approvals a year (the lever searched): from 1 April 2020"
    record = client.get(f"/api/runs/{job['id']}/download/target.json").json()
    assert record["starts"] == "2020-04-01"
    default = client.post("/api/targets", json=_seek_body(replications=1)).json()
    assert _wait(client, default["id"])["status"] == "done"
    view = client.get(f"/api/runs/{default['id']}/result").json()
    assert view["start"] == "2019-03-31" and "(the scenario's start)" in view["question"]


def test_goal_seek_refuses_a_lever_starting_on_or_after_the_goal(client):
    r = client.post("/api/targets", json=_seek_body(start="2021-03-31", value="x"))
    assert r.status_code == 400
    assert r.json()["problems"] == ["Goal value: 'x' is not a number"]  # no goal, no date check
    r = client.post("/api/targets", json=_seek_body(start="2021-03-31"))
    assert r.status_code == 400
    assert r.json()["problems"] == [
        "Recruitment, starts on: the lever starts on 31 March 2021, on or after the goal's "
        "date (31 March 2021), so it cannot help to meet it"
    ]
    r = client.post("/api/targets", json=_seek_body(start="2018-01-01"))
    assert r.status_code == 400
    assert "must be between 31 March 2019 (the scenario's start)" in r.json()["problems"][0]


def test_goal_seek_inputs_are_checked_together_and_its_size_is_bounded(scenario_folder, tmp_path):
    app = create_app(scenario_folder, tmp_path / "w", workers=1, limits=Limits(run_years=100))
    with _client(app) as c:
        bad = _seek_body(indicator="nonsense", op="=", year=2060, confidence=20, high=-5)
        r = c.post("/api/targets", json=bad)
        assert r.status_code == 400
        assert r.json()["problems"] == [
            "Approvals a year: search up to: must be between 10 and 500 (you entered -5)",
            "Indicator: choose one from the list",
            "Goal: choose 'at least' (>=) or 'at most' (<=)",
            "Confidence: must be between 50 and 99 (you entered 20)",
            "By 31 March of: must be a year from 2020 to 2040 (you entered 2060)",
        ]
        r = c.post("/api/targets", json=_seek_body(replications=20, high=500))
        assert r.status_code == 413
        assert (
            "sufficiency target scenario-1.toml --goal 'approvals >= 6' --by 2021"
            in (r.json()["error"])
        )


def test_goal_seek_can_be_cancelled(client):
    job = client.post("/api/targets", json=_seek_body(replications=20, year=2025)).json()
    client.post(f"/api/runs/{job['id']}/cancel")
    state = _wait(client, job["id"])
    assert state["status"] == "cancelled" and state["done"] < state["total"]


# ----------------------------------------------------------------------------- its own address


def test_a_run_has_its_own_address(client):
    page = client.get(f"/runs/{'a' * 32}")
    assert page.status_code == 200 and 'id="run-button"' in page.text
    assert 'name="sufficiency-token"' in page.text
    r = client.get(f"/runs/{'a' * 32}", headers={"host": "evil.example"})
    assert r.status_code == 421
    # The page then asks for the run, which this app does not know: it says why.
    r = client.get(f"/api/runs/{'a' * 32}")
    assert r.status_code == 404 and "it was deleted" in r.json()["error"]


# ----------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def app_url(scenario_folder, tmp_path_factory):
    app = create_app(scenario_folder, tmp_path_factory.mktemp("work"), workers=1)
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def _page(chromium, width=1400, height=1000):
    page = chromium.new_page(viewport={"width": width, "height": height}, locale="en-GB")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def _ready(page, url):
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")


def _result(page, previous=""):
    page.wait_for_function(
        f"document.querySelector('#results').dataset.run !== '{previous}'", timeout=90_000
    )
    return page.locator("#results").get_attribute("data-run")


@pytest.mark.slow
def test_browser_commissioner_compares_dated_levers(app_url, chromium):
    page, errors = _page(chromium)
    _ready(page, app_url)
    page.select_option("#scenario-select", "small_council")
    page.wait_for_function("document.querySelector('#start-hub_families').value === '2019-03-31'")
    page.fill("#setting-years", "3")
    page.fill("#setting-replications", "2")
    page.click("#add-option")
    page.fill("#option-name", "Mockingbird from Nov 2020")
    page.fill("#lever-mockingbird_constellations", "2")
    page.fill("#start-mockingbird_constellations", "2020-11-01")
    page.fill("#lever-hub_families", "2")
    page.fill("#start-hub_families", "2020-04-01")
    page.click("#run-button")
    run = _result(page)
    assert page.url.endswith(f"/runs/{run}")
    policies = page.inner_text("#policies")
    assert "Mockingbird constellation in North: from 1 November 2020" in policies
    assert "Hub families (2 per area): from 1 April 2020" in policies
    assert (
        "Mockingbird from Nov 2020 compared with Option A"
        in page.locator("#differences").text_content()
    )
    assert page.locator("#figures-card details").get_attribute("open") is None  # folded
    assert page.locator("#money-card").is_visible()
    assert "Mockingbird from Nov 2020 minus Option A" in page.locator("#money").text_content()
    # The page scrolls (smoothly) to the results.
    page.wait_for_function(
        "Math.abs(document.querySelector('#results').getBoundingClientRect().top) < 50"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "app_dated_levers.png"))

    # Reload, and open the address in a new page: the same run is shown.
    for again in (page, chromium.new_page(viewport={"width": 1400, "height": 1000})):
        again.goto(f"{app_url}/runs/{run}") if again is not page else again.reload()
        again.wait_for_function(f"document.querySelector('#results').dataset.run === '{run}'")
        assert "from 1 November 2020" in again.inner_text("#policies")
    assert run in page.locator("#my-runs a").first.get_attribute("href")

    # The inputs came back with the run: edit the second option again.
    page.click("#option-tabs button[data-index='1']")
    assert page.locator("#option-name").input_value() == "Mockingbird from Nov 2020"
    assert page.locator("#start-mockingbird_constellations").input_value() == "2020-11-01"
    # A start after the horizon and a bad value are listed together, in plain words.
    page.fill("#start-mockingbird_constellations", "2023-01-01")
    page.fill("#lever-enquiries_per_year", "-5")
    page.click("#run-button")
    error = page.locator("#error")
    error.wait_for(state="visible")
    text = error.inner_text()
    assert "Fostering enquiries per year: must be between 0 and 5,000" in text
    assert "starts on 1 January 2023, but the horizon ends on 31 March 2022" in text
    assert page.locator("#results").get_attribute("data-run") == run  # results kept
    assert errors == []


@pytest.mark.slow
def test_browser_planner_goal_seek(app_url, chromium):
    page, errors = _page(chromium)
    _ready(page, app_url)
    page.select_option("#scenario-select", "small_council")
    page.wait_for_function("document.querySelector('#start-hub_families').value === '2019-03-31'")
    page.fill("#setting-replications", "3")
    page.select_option("#seek-lever", "approvals")
    page.select_option("#seek-indicator", "approvals")
    assert page.locator("#seek-op").input_value() == ">="
    page.fill("#seek-value", "6")
    page.fill("#seek-year", "2021")
    page.fill("#seek-high", "60")
    assert page.locator("#seek-start").input_value() == "2019-03-31"  # the scenario's start
    page.fill("#seek-start", "2020-04-01")
    page.click("#seek-button")
    page.wait_for_selector("#cancel-button:not([hidden])")
    run = _result(page)
    assert page.locator("#results").get_attribute("data-kind") == "seek"
    view = page.request.get(f"{app_url}/api/runs/{run}/result").json()
    shown = page.inner_text("#seek-result")
    assert f"{view['answer']:,.0f} approvals a year" in shown
    assert view["interval_text"] in shown
    assert "with recruitment raised from 1 April 2020" in shown
    for stage in view["funnel"]:
        assert f"{stage['stage']}\t{stage['per_year']:,.0f}" in shown
    assert page.locator("#kpi-card").is_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "app_goal_seek.png"))

    # A longer search can be cancelled.
    page.fill("#seek-year", "2027")
    page.fill("#setting-replications", "20")
    page.click("#seek-button")
    page.wait_for_function("/^Searching/.test(document.querySelector('#progress-text').innerText)")
    page.click("#cancel-button")
    page.wait_for_function("document.querySelector('#progress-text').innerText === 'Cancelled'")
    assert page.locator("#seek-button").is_enabled()
    assert errors == []


@pytest.mark.slow
def test_browser_page_fits_a_phone(app_url, chromium):
    page, errors = _page(chromium, 390, 844)
    _ready(page, app_url)

    def width() -> int:
        return page.evaluate("document.documentElement.scrollWidth")

    assert width() <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    # The Run button stays in view while the levers scroll past.
    page.locator("#lever-uasc_ring_fenced_beds").scroll_into_view_if_needed()
    box = page.locator("#run-button").bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844
    page.select_option("#scenario-select", "small_council")
    page.wait_for_function("document.querySelector('#start-hub_families').value === '2019-03-31'")
    page.fill("#setting-years", "2")
    page.fill("#setting-replications", "2")
    page.click("#add-option")
    page.fill("#lever-hub_families", "2")
    page.click("#run-button")
    _result(page)
    page.wait_for_selector("#charts .plot .main-svg")
    page.wait_for_function(
        "Math.abs(document.querySelector('#results').getBoundingClientRect().top) < 50"
    )
    page.screenshot(path=str(ARTIFACTS / "app_mobile.png"))
    for details in page.locator("details").all():
        details.evaluate("d => d.open = true")  # the widest tables, unfolded
    assert width() <= 390
    assert errors == []


@pytest.mark.slow
def test_finished_runs_come_back_after_a_restart_until_deleted(scenario_folder, tmp_path):
    work = tmp_path / "work"
    option = {"name": "Hubs", "scenario": "small_council", "levers": {"hub_families": 1}}
    with _client(create_app(scenario_folder, work, workers=1)) as c:
        run = c.post("/api/runs", json={"options": [option], "years": 1, "replications": 1})
        seek = c.post("/api/targets", json=_seek_body(replications=1, high=20, start="2020-04-01"))
        ids = [run.json()["id"], seek.json()["id"]]
        assert all(_wait(c, i)["status"] == "done" for i in ids)
        before = [c.get(f"/api/runs/{i}/result").json() for i in ids]
    with _client(create_app(scenario_folder, work, workers=1)) as c:
        after = [c.get(f"/api/runs/{i}/result").json() for i in ids]
        for old, new in zip(before, after, strict=True):
            assert new == old
        assert c.get(f"/api/runs/{ids[0]}/download/report.html").status_code == 200
        assert c.delete(f"/api/runs/{ids[0]}").status_code == 200
        assert not (work / "runs" / ids[0]).exists()
    with _client(create_app(scenario_folder, work, workers=1)) as c:
        assert c.get(f"/api/runs/{ids[0]}").status_code == 404
        assert c.get(f"/api/runs/{ids[1]}").json()["status"] == "done"


@pytest.mark.slow
def test_an_upload_kept_from_before_a_restart_goes_with_its_last_run(scenario_folder, tmp_path):
    work = tmp_path / "work"
    plan = b'extends = "small_council.toml"\nname = "Plan"\nyears = 1\n'
    with _client(create_app(scenario_folder, work, workers=1)) as c:
        upload = c.post("/api/scenarios/upload", files={"file": ("plan.toml", plan)}).json()
        option = {"name": "Plan", "scenario": upload["id"], "levers": {}}
        job = c.post("/api/runs", json={"options": [option], "years": 1, "replications": 1})
        assert _wait(c, job.json()["id"])["status"] == "done"
    with _client(create_app(scenario_folder, work, workers=1)) as c:
        r = c.delete(f"/api/runs/{job.json()['id']}")
        assert r.json()["removed_uploads"] == [upload["id"]]
    assert list((work / "uploads").iterdir()) == []
