"""The web app: levers mapped to scenario fields, uploads, runs in the background, downloads,
plain error messages, and end-to-end tests in a real headless Chromium (screenshots of the app
go to tests/artifacts/)."""

from __future__ import annotations

import io
import json
import time
import tomllib
import zipfile
from pathlib import Path

import pytest
from _browser import ARTIFACTS, browser, running_server
from fastapi.testclient import TestClient
from pydantic import BaseModel

from sim.cli import main
from sim.config import Scenario, load_scenario, scenario_from_dict
from sim.report import load_results
from sim.webapp import create_app
from sim.webapp.app import TOKEN_HEADER
from sim.webapp.jobs import Limits
from sim.webapp.levers import (
    LEVERS,
    Lever,
    LeverError,
    apply_levers,
    lever_status,
    levers_for,
    schema_field,
)
from sim.webapp.scenarios import scenario_to_toml

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
BASE = load_scenario(SCENARIOS / "kent_baseline.toml")


# ----------------------------------------------------------------------------- levers


def test_every_lever_maps_to_a_scenario_field_that_exists_now():
    for lever in LEVERS:
        enabled, note = lever_status(lever)
        assert enabled, f"{lever.id}: {note}"
        assert lever.minimum <= lever.value(BASE) <= lever.maximum


def test_a_lever_for_a_field_not_in_the_schema_is_disabled_with_a_note():
    future = Lever("future", "Future policy", "", "interventions.not_yet_modelled", 0, 10, 1)
    enabled, note = lever_status(future)
    assert not enabled and "Not in the model yet" in note
    assert schema_field("interventions.not_yet_modelled") is None
    assert schema_field("recruitment.enquiries_per_year") is float


def test_schema_is_read_at_runtime(monkeypatch):
    """A lever becomes available as soon as its field appears in the schema."""

    class Extra(BaseModel):
        respite_beds: int = 0

    lever = Lever("respite", "Respite beds", "", "extra.respite_beds", 0, 10, 1)
    assert not lever_status(lever)[0]
    fields = dict(Scenario.model_fields)
    fields["extra"] = type("F", (), {"annotation": Extra})()
    monkeypatch.setattr(Scenario, "model_fields", fields)
    assert lever_status(lever) == (True, "")


def test_levers_left_alone_change_nothing():
    values = {item["id"]: item["value"] for item in levers_for(BASE)}
    assert apply_levers(BASE, values) == BASE


def test_levers_set_the_fields_they_name():
    values = {item["id"]: item["value"] for item in levers_for(BASE)}
    values.update(
        enquiries_per_year=800,
        campaign_size=2,
        campaign_months=6,
        approvals_target=120,
        hub_families=2,
        mockingbird_constellations=3,
        uasc_arrivals_per_year=400,
        uasc_ring_fenced_beds=69,
        ifa_framework_places=250,
    )
    sc = apply_levers(BASE, values, {"years": 5})
    assert sc.years == 5
    assert sc.recruitment.enquiries_per_year == 800
    (campaign,) = sc.recruitment.campaigns
    assert campaign.multiplier == 2 and campaign.start == sc.start
    assert (campaign.end.year, campaign.end.month) == (2019, 9)
    assert sc.interventions.recruitment_targets[0].approvals_per_year == 120
    assert sc.interventions.hub_families[0].hubs_per_area == 2
    assert [m.area for m in sc.interventions.mockingbird] == ["North", "South", "East"]
    assert sc.uasc.arrivals_per_year == 400
    fence = sc.interventions.uasc_ring_fence[0]
    assert (fence.in_house, fence.ifa_framework, fence.supported) == (39, 21, 9)
    assert sc.providers.ifa_framework_places == 250


def test_levers_keep_what_a_policy_scenario_already_has():
    combined = load_scenario(SCENARIOS / "policy_combined.toml")
    values = {item["id"]: item["value"] for item in levers_for(combined)}
    assert values["mockingbird_constellations"] == 2
    assert values["hub_families"] == combined.interventions.hub_families[0].hubs_per_area
    sc = apply_levers(combined, {**values, "mockingbird_constellations": 1, "campaign_size": 3})
    assert [m.area for m in sc.interventions.mockingbird] == ["South"]
    assert len(sc.recruitment.campaigns) == 2  # the scenario's campaign and the new one
    assert apply_levers(combined, {**values, "hub_families": 0}).interventions.hub_families == []


@pytest.mark.parametrize(
    ("lever", "value", "message"),
    [
        ("enquiries_per_year", -5, "must be between 0 and 5,000 (you entered -5)"),
        ("enquiries_per_year", "lots", "'lots' is not a number"),
        ("enquiries_per_year", "", "enter a number"),
        ("hub_families", 1.5, "must be a whole number"),
        ("nonsense", 1, "not a control this app knows"),
    ],
)
def test_bad_lever_values_get_plain_messages(lever, value, message):
    with pytest.raises(LeverError) as err:
        apply_levers(BASE, {lever: value})
    assert any(message in p for p in err.value.problems)


def test_scenario_as_toml_loads_back_to_the_same_scenario():
    for name in ("kent_baseline", "policy_combined"):
        sc = load_scenario(SCENARIOS / f"{name}.toml")
        text = scenario_to_toml(sc)
        assert text.startswith("# ")
        assert scenario_from_dict(tomllib.loads(text)) == sc


# ----------------------------------------------------------------------------- the API


def _client(app, **kwargs) -> TestClient:
    """A client at the app's own address that sends the page's token, as its page does."""
    headers = {TOKEN_HEADER: app.state.token}
    return TestClient(app, base_url="http://127.0.0.1", headers=headers, **kwargs)


@pytest.fixture
def client(tmp_path):
    app = create_app(SCENARIOS, tmp_path / "work", workers=1)
    with _client(app, raise_server_exceptions=False) as c:
        yield c


def _wait(client, job_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/runs/{job_id}").json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.1)
    raise AssertionError("run did not finish")


def _run_body(*options, years=1, reps=2, seed=5):
    return {"options": list(options), "years": years, "replications": reps, "seed": seed}


def test_page_and_bundled_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="run-button"' in page.text
    assert client.get("/static/app.js").status_code == 200
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000  # served locally, no CDN
    ids = [s["id"] for s in client.get("/api/scenarios").json()]
    assert "kent_baseline" in ids and "policy_combined" in ids
    assert client.get("/api/config").json()["max_run_years"] == Limits().run_years


def test_the_app_reads_no_path_it_was_not_given(client):
    for sid in ("..%2Fscenarios%2Fkent_baseline", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
        r = client.get(f"/api/scenarios/{sid}/levers")
        assert r.status_code == 404, sid
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/levers.py").status_code == 404
    body = _run_body({"name": "A", "scenario": "../../etc/passwd", "levers": {}})
    r = client.post("/api/runs", json=body)
    assert r.status_code == 400
    assert "choose a scenario from the list" in r.json()["problems"][0]


def test_upload_extends_only_bundled_scenarios_and_is_stored_in_the_workdir(client, tmp_path):
    good = b'extends = "kent_baseline.toml"\nname = "My plan"\n[uasc]\narrivals_per_year = 300\n'
    r = client.post("/api/scenarios/upload", files={"file": ("../../plan.toml", good)})
    assert r.status_code == 200, r.text
    entry = r.json()
    assert entry["name"] == "My plan" and entry["source"] == "uploaded"
    stored = list((tmp_path / "work" / "uploads").iterdir())
    assert [p.name for p in stored] == [f"{entry['id']}.toml"]
    assert not (tmp_path / "plan.toml").exists()
    levers = client.get(f"/api/scenarios/{entry['id']}/levers").json()["levers"]
    assert next(x for x in levers if x["id"] == "uasc_arrivals_per_year")["value"] == 300

    bom = b"\xef\xbb\xbf" + good.replace(b"My plan", b"Saved with a BOM")
    r = client.post("/api/scenarios/upload", files={"file": ("bom.toml", bom)})
    assert r.status_code == 200 and r.json()["name"] == "Saved with a BOM", r.text

    sneaky = b'extends = "/etc/passwd"\n'
    r = client.post("/api/scenarios/upload", files={"file": ("x.toml", sneaky)})
    assert r.status_code == 400 and "only a bundled scenario" in r.json()["error"]

    typo = b'extends = "kent_baseline.toml"\n[recruitment]\nenquires_per_year = 700\n'
    r = client.post("/api/scenarios/upload", files={"file": ("typo.toml", typo)})
    assert r.status_code == 400
    assert "typo.toml: invalid scenario" in r.json()["error"]
    assert "did you mean 'enquiries_per_year'" in " ".join(r.json()["problems"])

    r = client.post("/api/scenarios/upload", files={"file": ("bad.toml", b"years = = 3")})
    assert r.status_code == 400 and "not valid TOML" in r.json()["error"]


def test_invalid_run_inputs_get_messages(client):
    option = {"name": "A", "scenario": "kent_baseline", "levers": {"enquiries_per_year": -1}}
    r = client.post("/api/runs", json=_run_body(option))
    assert r.status_code == 400
    assert r.json()["problems"] == [
        "A, Fostering enquiries per year: must be between 0 and 5,000 (you entered -1)"
    ]
    option["levers"] = {}
    r = client.post("/api/runs", json=_run_body(option, reps=0))
    assert "Runs (replications): must be between 1 and 200" in r.json()["problems"][0]
    # A campaign that runs past the horizon is caught by the scenario schema.
    option["levers"] = {"campaign_size": 2, "campaign_months": 24}
    r = client.post("/api/runs", json=_run_body(option, years=1))
    assert r.status_code == 400
    assert "fall outside the horizon" in r.json()["problems"][0]
    r = client.post("/api/runs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "could not be read" in r.json()["error"]


def test_server_errors_never_show_a_traceback(client, monkeypatch):
    def broken():
        raise RuntimeError("secret internal detail /etc/shadow")

    monkeypatch.setattr(client.app.state.library, "bundled", broken)
    r = client.get("/api/scenarios")
    assert r.status_code == 500
    text = r.text
    assert "Traceback" not in text and "secret" not in text and "RuntimeError" not in text
    assert "Something went wrong on the server" in r.json()["error"]
    assert client.get("/api/nothing-here").json()["error"] == "Not found"


@pytest.mark.slow
def test_run_compare_and_download(client, tmp_path):
    base = {"name": "Base", "scenario": "kent_baseline", "levers": {}}
    same = {"name": "Same again", "scenario": "kent_baseline", "levers": {}}
    more = {"name": "Recruit", "scenario": "kent_baseline", "levers": {"enquiries_per_year": 2000}}
    r = client.post("/api/runs", json=_run_body(base, same, more))
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["total"] == 6
    state = _wait(client, job["id"])
    assert state["status"] == "done", state
    view = client.get(f"/api/runs/{job['id']}/result").json()
    assert [o["label"] for o in view["options"]] == ["Base", "Same again", "Recruit"]
    assert "Children placed within 20 miles of home" in view["kpis"]
    assert "Recruit compared with Base" in view["differences"]
    panels = {p["column"]: p for g in view["charts"] for p in g["panels"]}
    assert {"in_house", "ifa_spot", "unregistered", "waiting", "weekly_cost"} <= set(panels)
    fan = panels["in_house"]["figure"]
    assert len(fan["data"]) == 3 * 3  # per option: the middle-half band (two edges), a median
    assert fan["layout"]["xaxis"]["type"] == "date"
    assert panels["kpi_within_20_miles"]["figure"]["layout"]["shapes"][0]["y0"] == 0.8

    files = {f["name"]: f["url"] for f in view["files"]}
    report = client.get(files["report.html"])
    assert report.status_code == 200 and "data:image/png;base64," in report.text
    assert "Spend: total" in report.text  # the report's money section has the app's spend
    assert "attachment" in report.headers["content-disposition"]
    csv = client.get(files["snapshots.csv"]).text.splitlines()
    assert csv[0].startswith("option,") and len(csv) > 3
    summary = client.get(files["summary.csv"]).text
    assert summary.startswith("option,year,measure,mean,p05,p25,median,p75,p95,n")
    with zipfile.ZipFile(io.BytesIO(client.get(files["results.zip"]).content)) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path / "unzipped")
    # one results folder (sim/results.py) holding every option, and each option's scenario
    assert "manifest.json" in names and "scenario-3.toml" in names
    assert {n.split("-")[1] for n in names if n.startswith("kpis/part-")} == {
        "s0000",
        "s0001",
        "s0002",
    }
    assert main(["report", str(tmp_path / "unzipped")]) == 0  # the report rebuilds from it
    toml = tomllib.loads(client.get(files["scenario-3.toml"]).text)
    assert toml["recruitment"]["enquiries_per_year"] == 2000
    assert client.get(f"/api/runs/{job['id']}/download/..%2Fmanifest.json").status_code == 404


@pytest.mark.slow
def test_common_random_numbers_make_identical_options_identical(client):
    a = {"name": "A", "scenario": "kent_baseline", "levers": {}}
    b = {"name": "B", "scenario": "kent_baseline", "levers": {}}
    job = client.post("/api/runs", json=_run_body(a, b)).json()
    assert _wait(client, job["id"])["status"] == "done"
    results = client.app.state.jobs.get(job["id"]).results
    assert (
        results[0]
        .snapshots.drop(columns="scenario", errors="ignore")
        .equals(results[1].snapshots.drop(columns="scenario", errors="ignore"))
    )


@pytest.mark.slow
def test_a_runs_provenance_is_what_its_results_folder_says(client):
    """The app keeps each option's provenance (scenario, seed, runs, version, commit) as read
    from the results folder it wrote, so its page, its report and a later reader agree."""
    a = {"name": "A", "scenario": "kent_baseline", "levers": {"enquiries_per_year": 700}}
    job = client.post("/api/runs", json=_run_body(a)).json()
    assert _wait(client, job["id"])["status"] == "done"
    held = client.app.state.jobs.get(job["id"])
    manifest = held.results[0].manifest
    assert manifest == load_results(held.folder).results[0].manifest
    assert manifest["seed"] == 5 and manifest["replications"] == 2 and manifest["commit"]
    assert manifest["parameters"]["recruitment"]["enquiries_per_year"] == 700


@pytest.mark.slow
def test_several_users_runs_do_not_mix(client):
    def option(name, arrivals):
        levers = {"uasc_arrivals_per_year": arrivals}
        return {"name": name, "scenario": "kent_baseline", "levers": levers}

    one, two = option("Small UASC", 10), option("Big UASC", 900)
    j1 = client.post("/api/runs", json=_run_body(one, reps=1)).json()
    j2 = client.post("/api/runs", json=_run_body(two, reps=1)).json()
    assert j1["id"] != j2["id"]
    second = client.get(f"/api/runs/{j2['id']}").json()
    assert second["status"] in ("queued", "running", "done")
    for job, label in ((j1, "Small UASC"), (j2, "Big UASC")):
        assert _wait(client, job["id"])["status"] == "done"
        view = client.get(f"/api/runs/{job['id']}/result").json()
        assert [o["label"] for o in view["options"]] == [label]
    uasc1 = client.app.state.jobs.get(j1["id"]).results[0].snapshots["uasc_in_care"].iloc[-1]
    uasc2 = client.app.state.jobs.get(j2["id"]).results[0].snapshots["uasc_in_care"].iloc[-1]
    assert uasc2 > uasc1
    assert client.get(f"/api/runs/{'0' * 32}").status_code == 404


def test_a_run_can_be_cancelled(client):
    option = {"name": "Long", "scenario": "kent_baseline", "levers": {}}
    job = client.post("/api/runs", json=_run_body(option, years=10, reps=50)).json()
    client.post(f"/api/runs/{job['id']}/cancel")
    state = _wait(client, job["id"])
    assert state["status"] == "cancelled"
    assert state["done"] < 50


# ----------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    app = create_app(SCENARIOS, tmp_path_factory.mktemp("appwork"), workers=1)
    with running_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def _set(page, selector, value):
    page.fill(selector, str(value))


@pytest.mark.slow
def test_browser_run_compare_and_download_report(app_url, chromium, tmp_path):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#scenario-select").input_value() == "kent_2024"
    assert "up to 2,000 simulated years" in page.inner_text("#run-limit")
    # Every lever is on the page; those in the model are enabled.
    for lever in LEVERS:
        assert page.locator(f"#lever-{lever.id}").is_enabled()

    # A small run: 2 runs over 2 years, with more enquiries.
    _set(page, "#setting-years", 2)
    _set(page, "#setting-replications", 2)
    _set(page, "#lever-enquiries_per_year", 900)
    assert "changed" in page.locator("[data-lever=enquiries_per_year]").get_attribute("class")
    page.click("#run-button")
    page.wait_for_selector("#progress-box:not([hidden])")
    page.wait_for_function("document.querySelector('#results').dataset.run !== ''", timeout=90_000)
    first_run = page.locator("#results").get_attribute("data-run")
    assert page.locator("#kpi-table table").count() == 1
    assert "Children placed within 20 miles of home" in page.inner_text("#kpi-table")
    page.wait_for_selector("#plot-in_house .main-svg")
    assert page.locator("#charts .plot .main-svg").count() >= 10
    assert page.locator("#differences-card").is_hidden()
    assert "Finished" in page.inner_text("#progress-text")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app_single.png"), full_page=True)

    # Add an option with hub families and compare: paired differences appear.
    page.click("#add-option")
    page.fill("#option-name", "Hub families")
    _set(page, "#lever-hub_families", 3)
    page.click("#run-button")
    page.wait_for_function(
        f"document.querySelector('#results').dataset.run !== '{first_run}'", timeout=90_000
    )
    assert page.locator("#differences-card").is_visible()
    assert "Hub families compared with Option A" in page.locator("#differences").text_content()
    kpis = page.inner_text("#kpi-table")
    assert "Option A" in kpis and "Hub families" in kpis
    page.set_viewport_size({"width": 1400, "height": 1250})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "app.png"))
    page.screenshot(path=str(ARTIFACTS / "app_compare.png"), full_page=True)

    # Download the report and the scenario.
    with page.expect_download() as download:
        page.click("a[data-file='report.html']")
    report = tmp_path / "report.html"
    download.value.save_as(report)
    text = report.read_text(encoding="utf-8")
    assert "<section id='differences'>" in text and "data:image/png;base64," in text
    with page.expect_download() as download:
        page.click("a[data-file='scenario-2.toml']")
    scenario = tmp_path / "scenario.toml"
    download.value.save_as(scenario)
    data = tomllib.loads(scenario.read_text(encoding="utf-8"))
    assert data["interventions"]["hub_families"][0]["hubs_per_area"] == 3
    assert data["recruitment"]["enquiries_per_year"] == 900  # copied from Option A

    report_page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    report_page.goto(report.as_uri())
    report_page.screenshot(path=str(ARTIFACTS / "report_from_app.png"))

    # Delete the run: the page clears its results and the server no longer knows the run.
    run = page.locator("#results").get_attribute("data-run")
    page.click("#delete-button")
    page.wait_for_selector("#placeholder:not([hidden])")
    assert page.locator("#result-body").is_hidden()
    assert page.request.get(f"{app_url}/api/runs/{run}").status == 404
    assert page.request.get(f"{app_url}/api/runs/{first_run}").status == 200  # still kept
    assert errors == []


@pytest.mark.slow
def test_browser_invalid_inputs_show_a_message(app_url, chromium, tmp_path):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url)
    page.wait_for_selector("body[data-ready=true]")
    _set(page, "#lever-enquiries_per_year", -5)
    assert page.locator("#lever-enquiries_per_year").get_attribute("aria-invalid") == "true"
    page.click("#run-button")
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert (
        "Fostering enquiries per year: must be between 0 and 5,000 (you entered -5)"
        in error.inner_text()
    )
    assert page.locator("#run-button").is_enabled()  # the page is usable again
    page.screenshot(path=str(ARTIFACTS / "app_error.png"))

    # An upload with a mistake names the field.
    bad = tmp_path / "typo.toml"
    bad.write_text('extends = "kent_baseline.toml"\n[recruitment]\nenquires_per_year = 9\n')
    page.set_input_files("#scenario-upload", str(bad))
    page.wait_for_function("document.querySelector('#error').innerText.includes('typo.toml')")
    assert "enquires_per_year" in error.inner_text()

    # A good upload becomes the chosen scenario with its own lever values.
    good = tmp_path / "plan.toml"
    good.write_text(
        'extends = "kent_baseline.toml"\nname = "Plan with more UASC"\n'
        "[uasc]\narrivals_per_year = 450\n"
    )
    page.set_input_files("#scenario-upload", str(good))
    page.wait_for_function(
        "document.querySelector('#lever-uasc_arrivals_per_year').value === '450'"
    )
    assert "Plan with more UASC" in page.locator("#scenario-select option:checked").inner_text()
    assert json.loads(page.evaluate("JSON.stringify(document.body.dataset)"))["ready"] == "true"


@pytest.mark.slow
def test_runs_in_worker_processes_match_runs_in_the_app(tmp_path):
    """`sufficiency serve` runs replications in processes; the numbers do not change."""
    option = {"name": "A", "scenario": "kent_baseline", "levers": {"hub_families": 1}}
    snaps = []
    for workers in (1, 2):
        app = create_app(SCENARIOS, tmp_path / f"w{workers}", workers=workers)
        with _client(app) as c:
            job = c.post("/api/runs", json=_run_body(option, reps=2)).json()
            assert _wait(c, job["id"])["status"] == "done"
            snaps.append(app.state.jobs.get(job["id"]).results[0].snapshots)
    assert snaps[0].equals(snaps[1])


# ----------------------------------------------------------------------------- keeping results


@pytest.mark.slow
def test_runs_are_kept_until_deleted_and_uploads_go_with_their_run(client, tmp_path):
    work = tmp_path / "work"
    plan = b'extends = "kent_baseline.toml"\nname = "Plan"\n[uasc]\narrivals_per_year = 300\n'
    upload = client.post("/api/scenarios/upload", files={"file": ("plan.toml", plan)}).json()
    kept = client.post("/api/scenarios/upload", files={"file": ("kept.toml", plan)}).json()
    option = {"name": "Plan", "scenario": upload["id"], "levers": {}}
    jobs = [client.post("/api/runs", json=_run_body(option, reps=1)).json() for _ in range(2)]
    for job in jobs:
        assert _wait(client, job["id"])["status"] == "done"
        assert list((work / "runs" / job["id"] / "snapshots").glob("part-*.parquet"))

    # The upload stays while another run still uses it.
    r = client.delete(f"/api/runs/{jobs[0]['id']}")
    assert r.status_code == 200 and r.json()["removed_uploads"] == []
    assert not (work / "runs" / jobs[0]["id"]).exists()
    assert client.get(f"/api/runs/{jobs[0]['id']}").status_code == 404
    assert (work / "uploads" / f"{upload['id']}.toml").is_file()

    r = client.delete(f"/api/runs/{jobs[1]['id']}")
    assert r.json()["removed_uploads"] == [upload["id"]]
    assert sorted(p.name for p in (work / "uploads").iterdir()) == [f"{kept['id']}.toml"]
    assert client.get(f"/api/scenarios/{upload['id']}/levers").status_code == 404
    assert client.delete(f"/api/runs/{jobs[1]['id']}").status_code == 404


@pytest.mark.slow  # end-to-end: two Kent runs through the app
def test_a_full_disk_quota_refuses_new_runs_and_uploads_and_deletes_nothing(tmp_path):
    app = create_app(SCENARIOS, tmp_path / "work", workers=1, limits=Limits(disk_bytes=1))
    option = {"name": "A", "scenario": "kent_baseline", "levers": {}}
    with _client(app) as c:
        job = c.post("/api/runs", json=_run_body(option, reps=1)).json()  # the folder is empty
        assert _wait(c, job["id"])["status"] == "done"
        for r in (
            c.post("/api/runs", json=_run_body(option, reps=1)),
            c.post("/api/scenarios/upload", files={"file": ("x.toml", b"years = 1")}),
        ):
            assert r.status_code == 507
            assert "Delete runs you no longer need" in r.json()["error"]
        assert c.get(f"/api/runs/{job['id']}/result").status_code == 200
        assert c.delete(f"/api/runs/{job['id']}").status_code == 200
        assert c.post("/api/runs", json=_run_body(option, reps=1)).status_code == 200


@pytest.mark.slow
def test_report_download_for_a_campaign_given_as_a_level_per_year(client):
    plan = (
        b'extends = "kent_baseline.toml"\nname = "Observed enquiries"\n[recruitment]\n'
        b"campaigns = [{ start = 2019-04-01, end = 2019-10-01, per_year = 800 }]\n"
    )
    upload = client.post("/api/scenarios/upload", files={"file": ("obs.toml", plan)}).json()
    option = {"name": "Observed", "scenario": upload["id"], "levers": {}}
    job = client.post("/api/runs", json=_run_body(option, reps=1)).json()
    assert _wait(client, job["id"])["status"] == "done"
    report = client.get(f"/api/runs/{job['id']}/download/report.html")
    assert report.status_code == 200
    assert "from 1 April 2019 to 1 October 2019, 800 a year" in report.text
