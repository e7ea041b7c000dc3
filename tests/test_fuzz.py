"""Fuzzing the scenario loader: hostile files fail ``check`` fast and clearly, valid ones run.

The corpus (``fuzz_scenarios.py``) is generated from the schema and from families of hostile
files. Every case that is not valid must make ``sufficiency check`` exit non-zero within two
seconds, without a traceback, naming the file and (for a field) the field; every valid case
must run a short replication within a time limit. A hypothesis strategy then perturbs the
numeric parameters of a small council within their bounds: each draw either fails validation
by name or runs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fuzz_scenarios import KENT, ROOT, Case, corpus, scalars
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import cli
from sim.config import Scenario, ScenarioError, load_scenario, with_overrides
from sim.model import simulate
from sim.scaling import scaled

CASES = corpus()
SUFFICIENCY = Path(sys.executable).with_name("sufficiency")
CHECK_SECONDS = 2.0
RUN_SECONDS = 30  # one two-month replication of a small council takes well under a second
SHORT = {"years": 2 / 12}


@contextmanager
def time_limit(seconds: float):
    """Fail (rather than hang) if the block takes longer than ``seconds``."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_the_corpus_is_large_and_covers_every_family():
    families = {c.name.split(":")[0] for c in CASES}
    assert len(CASES) >= 100
    assert families >= {"type", "range", "meaning", "size", "encoding", "extends", "entry"}
    assert sum(c.valid for c in CASES) >= 2  # and some of it is meant to pass
    assert len({c.name for c in CASES}) == len(CASES)


def _check(case: Case, folder: Path, capsys) -> tuple[int, str, float]:
    path = case.build(folder)
    # Processor time, so that a busy machine does not fail the case; the wall-clock limit
    # turns a hang into a failure.
    started = time.process_time()
    with time_limit(10 * CHECK_SECONDS):
        code = cli.main(["check", str(path)])
    elapsed = time.process_time() - started
    return code, capsys.readouterr().err, elapsed


def _problems(case: Case, path: Path, code: int, err: str, elapsed: float) -> list[str]:
    problems = []
    if code == 0:
        problems.append("accepted")
    if "Traceback" in err or "Error:" in err.split("\n")[0].removeprefix("error:"):
        problems.append("traceback or raw exception")
    if path.name not in err and case.entry not in err:
        problems.append("file not named")
    if case.field and f"field '{case.field}" not in err:
        problems.append(f"field {case.field!r} not named")
    if elapsed > CHECK_SECONDS:
        problems.append(f"took {elapsed:.2f} s")
    return problems


@pytest.mark.slow
def test_every_bad_scenario_fails_check_quickly_and_clearly(tmp_path, capsys):
    failures = []
    for i, case in enumerate(c for c in CASES if not c.valid):
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        try:
            code, err, elapsed = _check(case, folder, capsys)
        except BaseException as exc:  # any escape is a finding
            failures.append(f"{case.name}: raised {type(exc).__name__}: {exc}")
            continue
        problems = _problems(case, folder / case.entry, code, err, elapsed)
        if problems:
            failures.append(f"{case.name}: {', '.join(problems)}\n    {err.strip()[:300]}")
    assert not failures, f"{len(failures)} cases:\n" + "\n".join(failures)


@pytest.mark.parametrize("case", [c for c in CASES if c.valid], ids=lambda c: c.name)
def test_valid_cases_pass_check_and_run(case, tmp_path, capsys):
    code, err, _ = _check(case, tmp_path, capsys)
    assert code == 0, err
    scenario = load_scenario(tmp_path / case.entry, SHORT)
    with time_limit(RUN_SECONDS):
        simulate(scenario, seed=1)


@pytest.mark.slow  # end-to-end: the installed command, a process per case
@pytest.mark.parametrize(
    "name",
    ["range:initial.households=100001", "encoding:utf-16", "extends:loop of 2", "entry:fifo"],
)
def test_the_console_script_fails_cleanly(name, tmp_path):
    """The same through the installed ``sufficiency`` command, in its own process."""
    case = next(c for c in CASES if c.name == name)
    path = case.build(tmp_path)
    proc = subprocess.run(
        [str(SUFFICIENCY), "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and case.entry in proc.stderr
    if case.field:
        assert f"field '{case.field}" in proc.stderr


def test_check_reports_every_file_and_fails_if_any_is_bad(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[initial]\nhouseholds = true\n", encoding="utf-8")
    assert cli.main(["check", str(bad), str(KENT)]) == 2
    out, err = capsys.readouterr()
    assert "bad.toml" in err and "kent_baseline.toml: OK" in out


# ----------------------------------------------------------------- valid scenarios run

SMALL = scaled(load_scenario(KENT, SHORT), 0.1, split=1)
NUMERIC = [s for s in scalars() if s.kind in (int, float) and s.container is None]


def _value(s, default: float):
    """A value within the field's bounds, near its default (sizes stay small and runs short)."""
    lo = s.gt if s.gt is not None else (s.ge if s.ge is not None else 0.0)
    hi = s.le if s.le is not None else max(4 * default, 1.0)
    top = min(hi, max(4 * default, lo + 1.0))
    values = st.floats(lo, top, allow_nan=False, exclude_min=s.gt is not None)
    return values.map(round) if s.kind is int else values


@st.composite
def perturbed(draw) -> dict[str, Any]:
    """Changes to 1-8 numeric parameters of the small council, each within its bounds."""
    fields = draw(
        st.lists(st.sampled_from(NUMERIC), min_size=1, max_size=8, unique_by=lambda s: s.path)
    )
    out: dict[str, Any] = {}
    for s in fields:
        if s.path == "years":
            continue  # the horizon stays short
        node = out
        *parents, last = s.path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        default = _lookup(SMALL, s.path)  # None: an optional limit, off by default
        node[last] = draw(_value(s, 1.0 if default is None else float(default)))
    return out


def _lookup(obj: Any, path: str) -> Any:
    """The value at ``path``, or None inside an optional table that is off (a drive)."""
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(perturbed())
def test_perturbed_scenarios_fail_by_name_or_run(changes):
    try:
        scenario = with_overrides(SMALL, changes)
    except ScenarioError as exc:
        assert "field '" in str(exc), str(exc)  # refused by name (e.g. a combined bound)
        return
    assert isinstance(scenario, Scenario)
    with time_limit(RUN_SECONDS):
        simulate(scenario, seed=3)


@pytest.mark.slow
def test_the_bundled_scenarios_pass_check(capsys):
    bundled = [
        *sorted((ROOT / "scenarios").glob("*.toml")),
        ROOT / "calibration" / "kent_2018.toml",
    ]
    bundled = [p for p in bundled if not p.stem.startswith("sensitivity")]  # parameter ranges
    assert cli.main(["check", *map(str, bundled)]) == 0, capsys.readouterr().err
