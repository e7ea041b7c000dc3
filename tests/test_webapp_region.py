"""The web app on a region: bundled region files are listed, a region runs through the same
engine as `sufficiency run`, its view shows the totals or one council's figures, the
children-in-care filters count what ``sim.results.in_care`` counts, the run-size limit counts
every member's simulated years, levers and the goal-seek are refused for a region, and an
uploaded region file is refused."""

from __future__ import annotations

import shutil
import time
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sim.analysis import year_end
from sim.config import load_any
from sim.report import load_results
from sim.results import Filter, in_care, load
from sim.webapp import create_app
from sim.webapp.app import TOKEN_HEADER
from sim.webapp.jobs import Limits
from sim.webapp.view import build_view

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
REGION = 'name = "Two councils"\nmembers = ["medway.toml", "east_sussex.toml"]\n'


def _client(app) -> TestClient:
    headers = {TOKEN_HEADER: app.state.token}
    return TestClient(app, base_url="http://127.0.0.1", headers=headers)


def _folder(tmp: Path) -> Path:
    """A scenario folder of two small councils and a region of both."""
    folder = tmp / "scenarios"
    folder.mkdir()
    for name in ("medway.toml", "east_sussex.toml"):
        shutil.copyfile(SCENARIOS / name, folder / name)
    (folder / "two.toml").write_text(REGION, encoding="utf-8")
    return folder


def _wait(client: TestClient, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/runs/{job_id}").json()
        if state["status"] not in ("queued", "running"):
            return state
        time.sleep(0.2)
    raise AssertionError("run did not finish")


def _body(sid: str = "two", years: float = 1, reps: int = 2, **option) -> dict:
    return {
        "options": [{"name": "A", "scenario": sid, "levers": {}, **option}],
        "years": years,
        "replications": reps,
        "seed": 7,
    }


@pytest.fixture(scope="module")
def region_run(tmp_path_factory: pytest.TempPathFactory):
    """One finished run of the two-council region: 2 replications of 1 year."""
    tmp = tmp_path_factory.mktemp("appregion")
    app = create_app(_folder(tmp), tmp / "work", workers=1)
    with _client(app) as client:
        r = client.post("/api/runs", json=_body())
        assert r.status_code == 200, r.text
        state = _wait(client, r.json()["id"])
        assert state["status"] == "done", state
        yield client, app.state.jobs.get(r.json()["id"])


def test_bundled_regions_are_listed_with_their_councils(tmp_path):
    with _client(create_app(SCENARIOS, tmp_path / "work")) as client:
        listed = {s["id"]: s for s in client.get("/api/scenarios").json()}
        assert listed["region_south_east"]["kind"] == "region"
        assert listed["kent_baseline"]["kind"] == "scenario"
        info = client.get("/api/scenarios/region_south_east/levers").json()
    assert info["councils"] == ["Kent baseline", "Medway", "East Sussex"]
    assert info["levers"] == [] and "levers apply to one council" in info["note"]


def test_a_region_whose_member_is_outside_the_folder_is_not_offered(tmp_path):
    folder = _folder(tmp_path)
    (folder / "east_sussex.toml").unlink()
    (folder / "east_sussex.toml").symlink_to(SCENARIOS / "east_sussex.toml")
    with _client(create_app(folder, tmp_path / "work")) as client:
        ids = [s["id"] for s in client.get("/api/scenarios").json()]
        assert "two" not in ids and "medway" in ids
        assert client.get("/api/scenarios/two/levers").status_code == 404


def test_a_region_run_writes_the_batch_layout_and_shows_its_totals(region_run):
    client, job = region_run
    res = load(job.folder)
    assert res.councils == ["Medway", "East Sussex"]
    assert sorted(res.by_council("snapshots")["council"].unique()) == ["East Sussex", "Medway"]
    view = client.get(f"/api/runs/{job.id}/result").json()
    assert view["councils"] == ["Medway", "East Sussex"] and view["council"] == ""
    assert view["kpis"] == build_view(load_results(job.folder).results)["kpis"]
    # The totals are the sum of the councils' figures.
    total = res.snapshots["children_in_care"].sum()
    assert total == res.by_council("snapshots")["children_in_care"].sum()


def test_the_view_of_one_council_is_what_results_load_gives(region_run):
    client, job = region_run
    r = client.get(f"/api/runs/{job.id}/result", params={"council": "Medway"})
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["council"] == "Medway"
    want = build_view(load_results(job.folder, "Medway").results)
    assert view["kpis"] == want["kpis"] and view["figures"] == want["figures"]
    total = client.get(f"/api/runs/{job.id}/result").json()
    assert view["figures"] != total["figures"]
    medway = load(job.folder, "Medway").snapshots["children_in_care"]
    everyone = load(job.folder).snapshots["children_in_care"]
    assert 0 < medway.sum() < everyone.sum()
    bad = client.get(f"/api/runs/{job.id}/result", params={"council": "Kent"})
    assert bad.status_code == 404 and "Medway, East Sussex" in bad.json()["error"]


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({}, Filter()),
        ({"council": "East Sussex"}, Filter(council="East Sussex")),
        ({"sex": "F", "uasc": "no"}, Filter(sex="F", uasc=False)),
        ({"council": "Medway", "age": "16-17"}, Filter(council="Medway", age=(16, 17))),
    ],
)
def test_filters_count_what_in_care_counts(region_run, params, where):
    client, job = region_run
    r = client.get(f"/api/runs/{job.id}/children", params=params)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["filter"] == where.label()
    res = load(job.folder)
    dates = sorted(year_end(res.snapshots)["date"].unique())
    want = in_care(res, where, dates).groupby("date")["children_in_care"].mean()
    assert [row["mean"] for row in got["rows"]] == pytest.approx(list(want))
    if not params:  # no filter: the region's own year-end totals
        snaps = year_end(res.snapshots).groupby("date")["children_in_care"].mean()
        assert [row["mean"] for row in got["rows"]] == pytest.approx(list(snaps))


def test_bad_filters_are_listed(region_run):
    client, job = region_run
    r = client.get(
        f"/api/runs/{job.id}/children",
        params={"council": "Kent", "sex": "X", "uasc": "maybe", "age": "old"},
    )
    assert r.status_code == 400
    problems = " ".join(r.json()["problems"])
    for word in ("no council 'Kent'", "Sex:", "UASC:", "Age:"):
        assert word in problems


@pytest.mark.slow
def test_a_region_run_keeps_its_files_and_comes_back_after_a_restart(region_run, tmp_path):
    client, job = region_run
    files = [f["name"] for f in client.get(f"/api/runs/{job.id}/result").json()["files"]]
    assert {"scenario-1.toml", "scenario-1-1.toml", "scenario-1-2.toml"} <= set(files)
    report = client.get(f"/api/runs/{job.id}/download/report.html").text
    assert "Each council of the region" in report and "<h3>East Sussex</h3>" in report
    region_file = client.get(f"/api/runs/{job.id}/download/scenario-1.toml").text
    data = tomllib.loads(region_file)
    assert data["members"] == ["scenario-1-1.toml", "scenario-1-2.toml"]
    # The downloaded files run from the command line as the same region.
    again = load_any(job.folder / "scenario-1.toml")
    assert again.councils == ["Medway", "East Sussex"] and again.years == 1
    restarted = create_app(client.app.state.library.folder, client.app.state.workdir)
    with _client(restarted) as other:
        view = other.get(f"/api/runs/{job.id}/result", params={"council": "Medway"})
        assert view.status_code == 200, view.text
        assert view.json()["councils"] == ["Medway", "East Sussex"]


@pytest.mark.slow
def test_a_region_compared_with_a_member_alone(tmp_path):
    """Medway alone beside the region: the totals view has both options, and Medway's view
    sets Medway in the region against Medway alone (like with like)."""
    app = create_app(_folder(tmp_path), tmp_path / "work", workers=1)
    with _client(app) as client:
        body = _body(reps=1)
        body["options"].append({"name": "Medway alone", "scenario": "medway", "levers": {}})
        r = client.post("/api/runs", json=body)
        assert r.status_code == 200, r.text
        assert _wait(client, r.json()["id"])["status"] == "done"
        folder = app.state.jobs.get(r.json()["id"]).folder
        total = client.get(f"/api/runs/{r.json()['id']}/result").json()
        medway = client.get(f"/api/runs/{r.json()['id']}/result?council=Medway").json()
    assert [o["label"] for o in total["options"]] == ["A", "Medway alone"]
    assert [o["label"] for o in medway["options"]] == ["A", "Medway alone"]
    assert (
        medway["differences"] == build_view(load_results(folder, "Medway").results)["differences"]
    )
    assert medway["differences"] != total["differences"]


def test_the_run_size_limit_counts_every_member(tmp_path):
    # 2 councils x 3 replications x 1 year = 6 simulated years; one council alone is 3.
    app = create_app(_folder(tmp_path), tmp_path / "work", limits=Limits(run_years=5))
    with _client(app) as client:
        r = client.post("/api/runs", json=_body(reps=3))
        assert r.status_code == 413
        assert "6 simulated years" in r.json()["error"] and "2 councils" in r.json()["error"]
        alone = client.post("/api/runs", json=_body("medway", reps=3))
        assert alone.status_code == 200, alone.text
        client.post(f"/api/runs/{alone.json()['id']}/cancel")


def test_levers_goal_seek_and_uploads_are_refused_for_a_region(tmp_path):
    app = create_app(_folder(tmp_path), tmp_path / "work")
    with _client(app) as client:
        r = client.post("/api/runs", json=_body(levers={"enquiries_per_year": 900}))
        assert r.status_code == 400 and "levers apply to one council" in r.json()["problems"][0]
        seek = {
            "option": {"name": "A", "scenario": "two", "levers": {}},
            "indicator": "in_house_share",
            "op": ">=",
            "value": 50,
            "year": 2021,
            "replications": 2,
        }
        r = client.post("/api/targets", json=seek)
        assert r.status_code == 400
        assert any("not a region" in p for p in r.json()["problems"])
        up = client.post("/api/scenarios/upload", files={"file": ("r.toml", REGION.encode())})
        assert up.status_code == 400 and "region file cannot be uploaded" in up.json()["error"]
        extends = b'extends = "two.toml"\nname = "Mine"\n'
        up = client.post("/api/scenarios/upload", files={"file": ("x.toml", extends)})
        assert up.status_code == 400 and "one council's scenario" in up.json()["error"]


@pytest.mark.slow
def test_browser_runs_a_region_and_shows_one_council_and_a_filter(tmp_path):
    from _browser import ARTIFACTS, browser, running_server

    app = create_app(_folder(tmp_path), tmp_path / "work", workers=1)
    with running_server(app) as url, browser() as chromium:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("body[data-ready=true]")
        page.select_option("#scenario-select", "two")
        page.wait_for_selector(".region-note")
        assert "(region)" in page.inner_text("#scenario-select")
        assert page.locator("#levers input").count() == 0
        page.fill("#setting-years", "1")
        page.fill("#setting-replications", "1")
        page.click("#run-button")
        page.wait_for_function(
            "document.querySelector('#results').dataset.run !== ''", timeout=120_000
        )
        page.wait_for_selector("#filter-table table")
        assert "total of the region's 2 councils" in page.inner_text("#council-note")
        total = page.inner_text("#kpi-table")
        page.select_option("#council-select", "Medway")
        page.wait_for_function(
            "document.querySelector('#council-note').textContent.includes('Medway')"
        )
        assert page.inner_text("#kpi-table") != total
        page.select_option("#filter-sex", "F")
        page.wait_for_function(
            "document.querySelector('#filter-label').textContent.includes('Medway, girls')"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.set_viewport_size({"width": 1400, "height": 1250})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "app_region.png"))
        assert errors == []
