"""The batch engine: determinism across engines, resume after a kill, flat memory, failures.

Functional tests on small batches (Kent, one-year horizon): the same master seed gives the
same tables, bit for bit, in this process, with local processes and on a Dask cluster; an
interrupted batch resumes to exactly the run it would have been; memory does not grow with
the number of replications; a failing replication is reported with its seed and loses nothing
else; a folder made from other inputs is refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

import sim.batch
from sim import load_scenario
from sim.analysis import load, read_table
from sim.batch import BatchError, run_batch
from sim.cli import main
from sim.scaling import SHIPPED, scaled, shipped_text

ROOT = Path(__file__).resolve().parents[1]
KENT = ROOT / "scenarios" / "kent_baseline.toml"
TABLES = ("snapshots", "flows", "kpis")


@pytest.fixture(scope="module")
def kent1():
    return load_scenario(KENT, {"years": 1})


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: read_table(folder, name) for name in TABLES}


def assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, kent1):
    """Six replications of Kent (one year) run in this process, seed 11."""
    out = tmp_path_factory.mktemp("ref") / "batch"
    summary = run_batch([kent1], 6, out, seed=11, workers=1, progress=False)
    assert summary.complete
    return tables(out)


# ----------------------------------------------------------------------------- determinism


@pytest.mark.slow
def test_folder_layout_and_manifest(reference, tmp_path, kent1):
    out = tmp_path / "b"
    run_batch([kent1], 2, out, seed=11, workers=1, progress=False, files=[str(KENT)])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 11
    assert manifest["replications"] == 2
    assert manifest["replications_done"] == {"Kent baseline": 2}
    assert manifest["status"] == "complete"
    entry = manifest["scenarios"][0]
    assert entry["file"] == str(KENT)
    assert entry["parameters"]["years"] == 1.0  # every resolved parameter is recorded
    for key in ("version", "commit", "started", "finished", "runs"):
        assert manifest[key]
    assert manifest["runs"][-1]["build"] == sim.build_mode()  # compiled or pure Python
    snaps = read_table(out, "snapshots")
    assert snaps.groupby("replication").size().tolist() == [13, 13]  # month ends, 1 year
    assert read_table(out, "kpis")["replication"].tolist() == [0, 1]
    # the first replications equal those of the six-replication reference: reps are independent
    pd.testing.assert_frame_equal(snaps, reference["snapshots"].query("replication < 2"))


@pytest.mark.slow
def test_processes_equal_in_process(reference, tmp_path, kent1):
    out = tmp_path / "b"
    summary = run_batch([kent1], 6, out, seed=11, workers=2, chunk_size=2, progress=False)
    assert summary.engine == "processes"
    assert_same(tables(out), reference)


@pytest.mark.slow
def test_dask_cluster_equals_in_process(reference, tmp_path, kent1):
    from dask.distributed import Client, LocalCluster

    # A real scheduler with two worker threads in this process (fast to start in a test).
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        summary = run_batch([kent1], 6, tmp_path / "b", seed=11, scheduler=client, progress=False)
    assert summary.engine.startswith("dask")
    assert_same(tables(tmp_path / "b"), reference)


@pytest.mark.slow
def test_common_random_numbers_across_scenarios(tmp_path, kent1):
    """Two scenarios with the same content and seed draw the same numbers, replication by
    replication; a changed scenario keeps the random numbers of what it does not change."""
    out = tmp_path / "b"
    renamed = kent1.model_copy(update={"name": "renamed copy"})
    run_batch([kent1, kent1, renamed], 2, out, seed=3, workers=1, progress=False)
    k = read_table(out, "kpis").drop(columns="scenario")
    labels = load(out).scenarios
    assert labels == ["Kent baseline", "Kent baseline (2)", "renamed copy"]
    a, b, c = (k.iloc[i : i + 2].reset_index(drop=True) for i in (0, 2, 4))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)  # only the name differs: same run


# ----------------------------------------------------------------------------- resume


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from sim.cli import main; sys.exit(main())", *args]


def _default_sigint() -> None:
    # A shell that started the test run in the background may have set SIGINT to ignored,
    # which a child would inherit; Ctrl-C must reach the batch as it would in a terminal.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _parts(folder: Path) -> int:
    return len(list((folder / "kpis").glob("part-*.parquet")))


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted(reference, tmp_path):
    out = tmp_path / "killed"
    args = _cli(
        "batch",
        str(KENT),
        "--years",
        "1",
        "--reps",
        "6",
        "--seed",
        "11",
        "--workers",
        "2",
        "--chunk",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Own process group: SIGKILL takes the pool's workers down with the parent, like a
    # scheduler killing the job.
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while _parts(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = _parts(out)
    assert 1 <= done_before < 6, "the batch should have been killed part way"
    assert json.loads((out / "manifest.json").read_text())["status"] == "running"
    # What a reader sees of the killed folder is the finished chunks only.
    partial = read_table(out, "snapshots")
    assert partial["replication"].nunique() == done_before

    rerun = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{6 - done_before} run now" in rerun.stdout
    resumed = tables(out)
    assert sorted(resumed["kpis"]["replication"]) == list(range(6))  # no duplicates, none lost
    assert_same(resumed, reference)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and len(manifest["runs"]) == 2


@pytest.mark.slow
def test_ctrl_c_stops_promptly_and_resumes(tmp_path):
    out = tmp_path / "interrupted"
    args = _cli(
        "batch",
        str(KENT),
        "--years",
        "1",
        "--reps",
        "40",
        "--seed",
        "2",
        "--workers",
        "2",
        "--chunk",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while _parts(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # to the parent only, as a terminal's Ctrl-C reaches it
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err  # what the batch said, should it ever finish instead
    assert "rerun the same command to resume" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert 1 <= _parts(out) < 40


def test_a_ctrl_c_swallowed_where_it_landed_still_stops_the_batch(tmp_path, kent1, monkeypatch):
    """The KeyboardInterrupt can land where something swallows it (a finaliser, an extension's
    own check for signals): the batch still stops after the chunk in hand, and keeps it."""
    real = sim.batch._write_chunk

    def write_then_swallow(*args, **kwargs):
        real(*args, **kwargs)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler runs here at the latest
        except KeyboardInterrupt:
            pass

    monkeypatch.setattr(sim.batch, "_write_chunk", write_then_swallow)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_batch([kent1], 4, tmp_path / "b", seed=11, workers=1, chunk_size=1, progress=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert sum(manifest["replications_done"].values()) == 1


@pytest.mark.slow
def test_orphan_parts_and_temporary_files_are_ignored_then_cleaned(tmp_path, kent1, reference):
    out = tmp_path / "b"
    run_batch([kent1], 3, out, seed=11, workers=1, chunk_size=1, progress=False)
    # A chunk killed between writing its snapshots and its kpis, and a half-written file.
    orphan = out / "snapshots" / "part-s0000-r0000003-0000003.parquet"
    read_table(out, "snapshots").query("replication == 0").to_parquet(orphan)
    (out / "flows" / ".part-s0000-r0000004-0000004.parquet.99.tmp").write_bytes(b"half")
    assert read_table(out, "snapshots")["replication"].nunique() == 3
    run_batch([kent1], 6, out, seed=11, workers=1, progress=False)
    assert not list(out.rglob("*.tmp"))
    assert_same(tables(out), reference)


@pytest.mark.slow
def test_refuses_a_folder_made_from_other_inputs(tmp_path, kent1, capsys):
    out = tmp_path / "b"
    run_batch([kent1], 2, out, seed=1, workers=1, progress=False)
    with pytest.raises(BatchError, match="master seed 1 there, 2 now"):
        run_batch([kent1], 1, out, seed=2, workers=1, progress=False)
    other = kent1.model_copy(update={"years": 2.0})
    with pytest.raises(BatchError, match=r"scenario content changed .*: years"):
        run_batch([other], 1, out, seed=1, workers=1, progress=False)
    with pytest.raises(BatchError, match=r"scenarios \['Kent baseline'\] there"):
        run_batch([kent1, other], 2, out, seed=1, workers=1, progress=False)
    with pytest.raises(BatchError, match="already holds replications up to 1"):
        run_batch([kent1], 1, out, seed=1, workers=1, progress=False)
    # Through the command line: exit 2 with the reason.
    code = main(
        [
            "batch",
            str(KENT),
            "--years",
            "3",
            "--reps",
            "1",
            "--seed",
            "1",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 2
    assert "cannot resume" in capsys.readouterr().err


def test_bad_scenario_and_scheduler_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(f'extends = "{KENT.as_posix()}"\n[recruitment]\nenquires_per_year = 3\n')
    assert main(["batch", str(bad), "--reps", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "recruitment.enquires_per_year" in err
    code = main(
        [
            "batch",
            str(KENT),
            "--years",
            "1",
            "--reps",
            "1",
            "--scheduler",
            "nowhere",
            "--out",
            str(tmp_path / "o2"),
            "--quiet",
        ]
    )
    assert code == 2
    assert "tcp://host:8786" in capsys.readouterr().err


# ----------------------------------------------------------------------------- failures


@pytest.mark.slow
def test_failing_replication_is_reported_with_its_seed(tmp_path, kent1, monkeypatch, capsys):
    real = sim.batch.simulate

    def flaky(scenario, seed=0, replication=0):
        if replication == 2:
            raise RuntimeError("boom in replication 2")
        return real(scenario, seed=seed, replication=replication)

    monkeypatch.setattr(sim.batch, "simulate", flaky)
    out = tmp_path / "b"
    code = main(
        [
            "batch",
            str(KENT),
            "--years",
            "1",
            "--reps",
            "4",
            "--seed",
            "9",
            "--workers",
            "1",
            "--chunk",
            "4",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAILED Kent baseline replication 2 (seed 9): RuntimeError: boom" in printed
    assert "replay('" in printed and "seed=9, replication=2, years=1.0" in printed
    failures = json.loads((out / "failures.json").read_text())
    assert [(f["replication"], f["seed"]) for f in failures] == [(2, 9)]
    assert "boom in replication 2" in failures[0]["traceback"]
    # the other replications of the same chunk are kept
    assert read_table(out, "kpis")["replication"].tolist() == [0, 1, 3]
    assert json.loads((out / "manifest.json").read_text())["status"] == "incomplete"

    # Fixed: rerunning runs only the missing replication, and the folder is complete.
    monkeypatch.setattr(sim.batch, "simulate", real)
    summary = run_batch(
        [load_scenario(KENT, {"years": 1})], 4, out, seed=9, workers=1, progress=False
    )
    assert summary.complete and summary.ran == 1
    assert read_table(out, "kpis")["replication"].tolist() == [0, 1, 2, 3]
    assert not (out / "failures.json").exists()
    # ... and the replication a failure names can be rerun alone
    alone = sim.batch.replay(KENT, seed=9, replication=2, years=1.0)
    assert alone.snapshots["in_house"].tolist() == (
        read_table(out, "snapshots").query("replication == 2")["in_house"].tolist()
    )


# ----------------------------------------------------------------------------- memory


def _peak(scenario, reps: int, out: Path) -> int:
    tracemalloc.start()
    try:
        run_batch([scenario], reps, out, seed=1, workers=1, chunk_size=2, progress=False)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat_as_replications_grow(tmp_path):
    # A quarter-size Kent over three months keeps tracemalloc's overhead affordable.
    scenario = scaled(load_scenario(KENT, {"years": 0.25}), 0.25, split=1)
    run_batch([scenario], 1, tmp_path / "warm", seed=1, workers=1, progress=False)
    small = _peak(scenario, 3, tmp_path / "three")
    large = _peak(scenario, 12, tmp_path / "twelve")
    # Results go to disk chunk by chunk: four times the replications, the same peak.
    assert large < small * 1.2 + 300_000, (small, large)


def test_a_process_freezes_its_objects_once_and_still_frees_each_replication(monkeypatch):
    """The first chunk a process runs puts what it held before out of the collector's reach;
    the replications' own objects (whose worlds hold reference cycles) are still freed."""
    frozen: list[int] = []
    monkeypatch.setattr(sim.batch, "_frozen", False)
    monkeypatch.setattr(sim.batch.gc, "freeze", lambda: frozen.append(1))
    scenario = load_scenario(KENT, {"years": 0.25})
    for reps in ([0, 1], [2]):
        out = sim.batch.run_chunk(scenario, "k", 7, reps)
        assert not out["failures"] and len(out["tables"]["kpis"]) == len(reps)
        assert sim.batch.gc.collect() == 0, "a replication's world was left to the collector"
    assert frozen == [1]


# ----------------------------------------------------------------------------- scale


@pytest.mark.slow
def test_large_council_runs(tmp_path):
    """The synthetic large council (Kent x 4) runs as a batch; its size is four Kents."""
    large = load_scenario(ROOT / "scenarios" / "large_council.toml", {"years": 1})
    kent = load_scenario(KENT, {"years": 1})
    summary = run_batch([kent, large], 1, tmp_path / "b", seed=4, workers=2, progress=False)
    assert summary.complete
    first = read_table(tmp_path / "b", "snapshots").groupby("scenario", observed=True).first()
    ratio = first["children_in_care"] / first.loc["Kent baseline", "children_in_care"]
    assert ratio.iloc[1] == pytest.approx(4, rel=0.01)
    assert len(large.areas) == 8


@pytest.mark.slow
def test_england_runs(tmp_path):
    """England (84,000 children, 36 areas) builds and runs: five weeks as a batch."""
    england = load_scenario(ROOT / "scenarios" / "england.toml", {"years": 0.1})
    summary = run_batch([england], 1, tmp_path / "e", seed=1, workers=1, progress=False)
    assert summary.complete
    snaps = read_table(tmp_path / "e", "snapshots")
    first, last = snaps.iloc[0], snaps.iloc[-1]
    assert 82_000 <= first["children_in_care"] <= 86_000
    assert first["households"] == 37_500
    # Every child who arrived or was there at the start has left or is still in care.
    assert (
        last["children_in_care"]
        == last["initial_children"] + last["arrivals_to_date"] - (last["exits_to_date"])
    )
    assert last["arrivals_to_date"] > 1_000


@pytest.mark.parametrize("file", sorted(SHIPPED))
def test_scale_scenarios_are_kent_scaled(file):
    """The shipped scale scenarios are what `python -m sim.scaling` writes from Kent today."""
    path = ROOT / "scenarios" / file
    assert path.read_text() == shipped_text(file), (
        f"{file} is out of date with kent_baseline.toml: run `python -m sim.scaling`"
    )
    factor, split, households, name, *_ = SHIPPED[file]
    kent = load_scenario(KENT)
    shipped = load_scenario(path).model_dump(mode="json")
    built = scaled(kent, factor, split, households, name=name).model_dump(mode="json")
    built["description"] = shipped["description"]
    for d in (built, shipped):  # the posterior link lists the fields the file sets itself
        if d.get("posterior"):
            d["posterior"].pop("kept")
    assert built == shipped  # the file's values win over Kent's calibration link
    if file == "england.toml":
        assert 82_000 <= sum(shipped["initial"]["placements"].values()) <= 86_000
        assert len(shipped["areas"]) == 36
