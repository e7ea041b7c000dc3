"""A run protects its results: output folders checked before any simulation, workers capped,
one writer per folder, write errors reported in one line with a resumable folder, one run's
tables per folder, and clear one-line errors for the misuses found by trying the commands."""

from __future__ import annotations

import errno
import json
import os
import socket
from pathlib import Path

import pandas as pd
import pytest

import sim.batch
from sim import load_scenario
from sim.batch import run_batch
from sim.cli import main
from sim.results import LOCK, Lock, ResultsError, load, read_table

ROOT = Path(__file__).resolve().parents[1]
KENT = str(ROOT / "scenarios" / "kent_baseline.toml")
SHORT = ["--years", "0.25", "--workers", "1", "--quiet"]


@pytest.fixture(scope="module")
def kent():
    return load_scenario(KENT, {"years": 0.25})


def _no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the simulation ran before the output folder was checked")

    monkeypatch.setattr(sim.batch, "simulate", refuse)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ----------------------------------------------------------------------------- the output folder


@pytest.mark.parametrize("command", ["run", "batch"])
@pytest.mark.parametrize("under", [False, True])
def test_out_at_or_under_a_file_is_refused_before_the_simulation(
    tmp_path, monkeypatch, capsys, command, under
):
    _no_simulation(monkeypatch)
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    out = afile / "results" if under else afile
    args = [command, KENT, "--reps", "2", *SHORT, "--out", str(out)]
    assert main(args) == 2
    assert "is a file" in _one_line_error(capsys)
    assert afile.read_text() == "keep me"


def test_compare_out_a_file_is_refused_before_the_simulation(tmp_path, monkeypatch, capsys):
    _no_simulation(monkeypatch)
    afile = tmp_path / "x"
    afile.write_text("")
    policy = str(ROOT / "scenarios" / "policy_hub_families.toml")
    assert main(["compare", KENT, policy, "--reps", "2", *SHORT, "--out", str(afile)]) == 2
    assert "is a file" in _one_line_error(capsys)


@pytest.mark.slow
def test_workers_are_capped_at_the_pending_work_and_the_cores(tmp_path, kent, monkeypatch):
    # Run the chunks in this process; the manifest records the processes the batch chose.
    monkeypatch.setattr(sim.batch, "_run_pool", lambda tasks, *_: sim.batch._run_inline(tasks))
    summary = run_batch([kent], 2, tmp_path / "b", seed=1, workers=1000, progress=False)
    assert summary.complete
    used = load(tmp_path / "b").manifest["runs"][-1]["workers"]
    assert used <= min(os.cpu_count() or 1, 2)


# ----------------------------------------------------------------------------- one writer


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path, kent, capsys):
    folder = tmp_path / "b"
    folder.mkdir()
    with Lock(folder):
        info = json.loads((folder / LOCK).read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        with pytest.raises(
            ResultsError, match=f"being written by another command .pid {os.getpid()}"
        ):
            run_batch([kent], 2, folder, seed=1, workers=1, progress=False)
    assert not (folder / LOCK).exists()
    assert not (folder / "kpis").exists()  # nothing was written by the refused writer


def test_a_stale_lock_of_a_dead_process_is_broken(tmp_path, kent):
    folder = tmp_path / "b"
    folder.mkdir()
    # A writer killed with SIGKILL leaves its lock file; no process holds it any more.
    (folder / LOCK).write_text(json.dumps({"pid": 2**22 + 7, "host": "x", "started": "then"}))
    summary = run_batch([kent], 2, folder, seed=1, workers=1, progress=False)
    assert summary.complete and not (folder / LOCK).exists()
    assert read_table(folder, "kpis")["replication"].tolist() == [0, 1]


# ----------------------------------------------------------------------------- write errors


@pytest.mark.slow
def test_a_full_disk_is_reported_in_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "b"
    real = sim.batch.write_part
    calls = {"n": 0}

    def full_disk(folder, table, stem, df, fmt):
        calls["n"] += 1
        if "r0000002" in stem:  # the third replication's chunk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / table / stem))
        real(folder, table, stem, df, fmt)

    monkeypatch.setattr(sim.batch, "write_part", full_disk)
    args = ["batch", KENT, "--reps", "4", *SHORT, "--chunk", "1", "--out", str(folder)]
    assert main(args) != 0
    err = _one_line_error(capsys)
    assert "No space left on device" in err and "rerun the same command" in err
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] != "running" and manifest["replications_done"] == {"Kent baseline": 2}
    assert not (folder / LOCK).exists()
    assert not list(folder.rglob("*.tmp"))

    monkeypatch.setattr(sim.batch, "write_part", real)
    assert main(args) == 0
    resumed = read_table(folder, "snapshots")
    assert sorted(resumed["replication"].unique()) == [0, 1, 2, 3]
    ref = tmp_path / "ref"
    assert main([*args[:-1], str(ref)]) == 0
    pd.testing.assert_frame_equal(resumed, read_table(ref, "snapshots"), check_exact=True)


# ----------------------------------------------------------------------------- one run per folder


@pytest.mark.slow
def test_run_reusing_out_with_another_format_replaces_never_mixes(tmp_path, capsys):
    folder = tmp_path / "r"
    assert main(["run", KENT, "--reps", "2", *SHORT, "--out", str(folder)]) == 0
    assert main(["run", KENT, "--reps", "1", *SHORT, "--format", "csv", "--out", str(folder)]) == 0
    assert not list(folder.rglob("*.parquet"))
    res = load(folder)
    assert res.manifest["table_format"] == "csv"
    assert res.snapshots["replication"].unique().tolist() == [0]
    # a run of another scenario replaces it too, and the report names the new scenario
    policy = tmp_path / "more_enquiries.toml"
    policy.write_text(
        f'extends = "{KENT}"\nname = "More enquiries"\n[recruitment]\nenquiries_per_year = 900\n'
    )
    assert main(["run", str(policy), "--reps", "1", *SHORT, "--out", str(folder)]) == 0
    assert load(folder).scenarios == ["More enquiries"]
    assert load(folder).snapshots["scenario"].nunique() == 1


def test_batch_reusing_out_with_another_format_is_refused(tmp_path, capsys):
    folder = tmp_path / "b"
    assert main(["batch", KENT, "--reps", "1", *SHORT, "--out", str(folder)]) == 0
    args = ["batch", KENT, "--reps", "2", *SHORT, "--format", "csv", "--out", str(folder)]
    assert main(args) == 2
    assert "parquet tables there, csv now" in _one_line_error(capsys)


def test_reading_refuses_rows_of_a_run_the_manifest_does_not_list(tmp_path, kent):
    folder = tmp_path / "b"
    run_batch([kent], 1, folder, seed=1, workers=1, progress=False)
    part = next((folder / "snapshots").glob("part-*.parquet"))
    df = pd.read_parquet(part)
    df.assign(scenario="Another run").to_parquet(
        part.with_name("part-s0009-r0000000-0000000.parquet")
    )
    (folder / "kpis" / "part-s0009-r0000000-0000000.parquet").write_bytes(
        next((folder / "kpis").glob("part-*")).read_bytes()
    )
    with pytest.raises(ResultsError, match="mixes runs"):
        load(folder).table("snapshots")


# ----------------------------------------------------------------------------- export-903


def test_export_903_explains_a_missing_or_empty_folder(tmp_path, capsys):
    out = tmp_path / "x903"
    assert main(["export-903", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "no such results folder" in _one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["export-903", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "no manifest.json" in _one_line_error(capsys)


@pytest.mark.slow
def test_export_903_explains_a_manifest_without_parameters(tmp_path, capsys):
    folder = tmp_path / "r"
    assert main(["run", KENT, "--reps", "1", *SHORT, "--out", str(folder)]) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["scenarios"]:
        del entry["parameters"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert main(["export-903", str(folder), "--out", str(tmp_path / "x")]) == 2
    assert "has no parameters" in _one_line_error(capsys)


def test_export_903_out_a_file_is_refused(tmp_path, capsys):
    afile = tmp_path / "x903.csv"
    afile.write_text("")
    assert main(["export-903", str(tmp_path), "--out", str(afile)]) == 2
    assert "is a file" in _one_line_error(capsys)


# ----------------------------------------------------------------------------- other options


def test_serve_refuses_a_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code != 0
    assert "between 1 and 65535" in capsys.readouterr().err


def test_target_refuses_low_above_high(monkeypatch, capsys):
    import sim.target

    monkeypatch.setattr(sim.target, "simulate", lambda *a, **k: pytest.fail("simulated"))
    goal = ["--goal", "in_house_share >= 0.9", "--by", "2021", "--quiet"]
    assert main(["target", KENT, *goal, "--low", "300", "--high", "10"]) == 2
    assert "--low (300) must be below --high (10)" in _one_line_error(capsys)


def test_the_report_describes_observed_campaign_levels():
    """The bundled 2019-2024 scenario's campaigns give enquiries a year, not a multiplier."""
    from sim.report import ScenarioResult, assumptions_html

    sc = load_scenario(ROOT / "scenarios" / "kent_2019_2024_observed.toml")
    params = json.loads(sc.model_dump_json())
    text = assumptions_html([ScenarioResult({}, {"scenario": sc.name, "parameters": params})])
    assert "from 1 April 2020 to 1 April 2022, 450 a year" in text


def test_a_batch_folder_from_before_table_formats_resumes_as_parquet(tmp_path, kent):
    folder = tmp_path / "b"
    run_batch([kent], 1, folder, seed=1, workers=1, progress=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["table_format"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert run_batch([kent], 2, folder, seed=1, workers=1, progress=False).ran == 1
    assert load(folder).manifest["table_format"] == "parquet"


@pytest.mark.slow
def test_two_batches_into_one_folder_at_once_never_duplicate_replications(tmp_path):
    import subprocess
    import sys
    import time

    folder = tmp_path / "b"
    args = ["batch", KENT, "--reps", "4", "--years", "1", "--workers", "1", "--quiet"]
    first = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", *args, "--out", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        manifest = folder / "manifest.json"
        # The manifest says "running" only once the first batch holds the lock.
        while first.poll() is None and not (
            manifest.is_file() and '"running"' in manifest.read_text()
        ):
            assert time.monotonic() < deadline, "the first batch never started"
            time.sleep(0.05)
        assert first.poll() is None, "the first batch ended before the test could race it"
        with pytest.raises(ResultsError, match=f"another command .pid {first.pid} on"):
            Lock(folder).acquire()
        with pytest.raises(ResultsError, match=f"pid {first.pid}"):
            run_batch([load_scenario(KENT, {"years": 1})], 4, folder, seed=2019, progress=False)
    finally:
        assert first.wait(timeout=120) == 0, first.stderr.read() if first.stderr else ""
    kpis = read_table(folder, "kpis")
    assert kpis["replication"].tolist() == [0, 1, 2, 3]
