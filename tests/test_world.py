"""The world's scheduler on the installed SimPy.

``World.schedule`` puts a light ``_Call`` of its own on SimPy's queue rather than a
``Timeout`` with a callback, and ``World.now`` reads ``Environment._now``. Both rely on SimPy
4's internals: ``Environment.schedule`` queues any object, ``Environment.step`` processes
anything with ``callbacks`` and ``_ok`` like an event, and the clock lives in ``_now``.
pyproject.toml pins ``simpy`` below 5 for that; these tests fail if a SimPy release changes it.
"""

from __future__ import annotations

import gc
import tomllib
from collections.abc import Generator

import pytest
import simpy
from conftest import ROOT, small
from packaging.requirements import Requirement
from packaging.version import Version

from sim.config import load_scenario
from sim.model.world import World, run_until
from sim.rng import make_streams

# SimPy's own loop and the world's (which calls a _Call's function straight from the queue)
# must process the same events in the same order and stop at the same time.
RUNNERS = {
    "simpy": lambda env, until: env.run(until=until),
    "world": run_until,
}


def world() -> World:
    return World(small(), make_streams(0, 0))


@pytest.mark.parametrize("runner", RUNNERS)
def test_calls_run_like_simpy_events_in_time_then_scheduling_order(runner):
    w = world()
    env = w.env
    log: list[tuple[str, float, float]] = []

    def note(label: str) -> None:
        log.append((label, env.now, w.now))

    def process() -> Generator[simpy.Event, None, None]:
        yield env.timeout(1.5)
        note("process")
        w.schedule(0.5, note, "call from the process")

    w.schedule(2.0, note, "call 2a")
    env.timeout(2.0).callbacks.append(lambda _: note("timeout"))
    w.schedule(1.0, note, "call 1")
    w.schedule(2.0, note, "call 2b")
    w.schedule(0.0, note, "call 0")
    w.schedule(-1.0, note, "call at a negative delay")
    env.process(process())
    w.schedule(9.0, note, "call at the end of the run, not processed")
    RUNNERS[runner](env, 9.0)
    assert log == [
        ("call 0", 0.0, 0.0),
        ("call at a negative delay", 0.0, 0.0),
        ("call 1", 1.0, 1.0),
        ("process", 1.5, 1.5),
        ("call 2a", 2.0, 2.0),
        ("timeout", 2.0, 2.0),
        ("call 2b", 2.0, 2.0),
        ("call from the process", 2.0, 2.0),
    ]
    assert w.events == 6
    assert env.now == 9.0
    # Each call processed once; the one at the end of the run is left on the queue.
    assert [type(item[3]).__name__ for item in env._queue].count("_Call") == 1


def test_calls_past_the_horizon_are_not_queued():
    w = world()
    w.schedule(w.horizon - 1.0, print)
    w.schedule(w.horizon + 1.0, print)
    w.schedule(float("inf"), print)
    assert len(w.env._queue) == 1


@pytest.mark.parametrize("runner", RUNNERS)
def test_an_error_in_a_call_stops_the_run_at_its_time(runner):
    w = world()

    def fail() -> None:
        raise RuntimeError("the model failed")

    w.schedule(3.0, fail)
    with pytest.raises(RuntimeError, match="the model failed"):
        RUNNERS[runner](w.env, 10.0)
    assert w.now == 3.0


@pytest.mark.parametrize("runner", RUNNERS)
def test_a_failed_simpy_event_stops_the_run(runner):
    env = world().env
    env.timeout(2.0).callbacks.append(lambda _: env.event().fail(ValueError("no carer")))
    with pytest.raises(ValueError, match="no carer"):
        RUNNERS[runner](env, 10.0)
    assert env.now == 2.0


def test_a_run_makes_no_cyclic_garbage_so_the_collector_is_paused():
    """run_until pauses the cyclic collector: the model must then make no reference cycles
    (any it made would stay in memory until the run ends)."""
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 1.0})
    w = World(sc, make_streams(2019, 0))
    w.start()
    seen: list[tuple[bool, int]] = []
    w.schedule(1.0, lambda: seen.append((gc.isenabled(), gc.collect())))  # the build's garbage
    w.schedule(w.horizon - 1.0, lambda: seen.append((gc.isenabled(), gc.collect())))
    assert gc.isenabled()
    run_until(w.env, w.horizon + 1e-9)
    assert gc.isenabled()
    assert [enabled for enabled, _ in seen] == [False, False]
    assert seen[1][1] == 0, f"{seen[1][1]} objects in reference cycles made during the run"


def test_building_the_stock_makes_no_cyclic_garbage_and_runs_with_the_collector_paused(
    monkeypatch,
):
    sc = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 0.5})
    gc.collect()
    gc.disable()
    try:
        built = World(sc, make_streams(2019, 0))  # held: the world itself holds cycles
        built.start()
        assert gc.collect() == 0, "the build made reference cycles"
    finally:
        gc.enable()
    w = World(sc, make_streams(2019, 0))
    seen: list[bool] = []
    start = w.start

    def recorded_start() -> None:
        seen.append(gc.isenabled())
        start()

    monkeypatch.setattr(w, "start", recorded_start)
    w.run()
    assert seen == [False], "World.run built the stock with the collector running"
    assert gc.isenabled()


def test_the_collector_is_resumed_after_a_failed_run():
    w = world()

    def fail() -> None:
        raise RuntimeError("the model failed")

    w.schedule(3.0, fail)
    with pytest.raises(RuntimeError):
        run_until(w.env, 10.0)
    assert gc.isenabled()


def test_installed_simpy_is_the_major_version_pinned():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pin = next(r for r in map(Requirement, deps) if r.name == "simpy")
    assert pin.specifier.contains("4.99") and not pin.specifier.contains("5.0")
    assert pin.specifier.contains(simpy.__version__)
    assert Version(simpy.__version__).major == 4
