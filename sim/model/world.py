"""The world: one replication's environment, registries and mechanisms, run to the horizon."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import simpy

from sim.config import Scenario
from sim.model import carers, children, initial, placements, providers
from sim.model.entities import Child, Household
from sim.model.metrics import Recorder, Results
from sim.rng import Stream, make_streams

YEAR = 365.25


class World:
    """Everything one replication needs; mechanisms live in their own modules.

    Parameters
    ----------
    scenario : Scenario
        Every parameter of the run.
    streams : dict of Stream
        One random stream per mechanism (see :func:`sim.rng.make_streams`).
    """

    def __init__(self, scenario: Scenario, streams: dict[str, Stream]) -> None:
        self.scenario = scenario
        self.rng = streams
        self.env = simpy.Environment()
        self.horizon = float((scenario.end - scenario.start).days)
        self.children: dict[int, Child] = {}
        self.households: dict[int, Household] = {}
        self._next_id = 0
        self.recorder = Recorder(self)
        self.index = placements.VacancyIndex(self)
        self.providers = providers.Providers(self)
        self.step_down = placements.StepDownList(self)
        self.waiting: dict[int, None] = {}  # children who have exhausted the cascade
        self.uasc_in_care = 0
        self.events = 0

    # -- time ------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env.now

    def date(self, day: float) -> dt.date:
        return self.scenario.start + dt.timedelta(days=math.floor(day))

    def day(self, date: dt.date) -> float:
        return float((date - self.scenario.start).days)

    def age(self, child: Child, at: float | None = None) -> float:
        return ((self.now if at is None else at) - child.dob) / YEAR

    def band(self, age: float) -> int:
        edges = self.scenario.age_band_edges
        for i in range(len(edges) - 1, -1, -1):
            if age >= edges[i]:
                return min(i, len(edges) - 2)
        return 0

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def schedule(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` after ``delay`` days (never, if the delay is infinite)."""
        if delay == math.inf or self.now + delay > self.horizon:
            return
        ev = self.env.timeout(max(delay, 0.0))
        ev.callbacks.append(lambda _e: self._fire(fn, args))

    def _fire(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.events += 1
        fn(*args)

    # -- running ---------------------------------------------------------------------------
    def run(self) -> Results:
        """Build the initial stock, start every mechanism and run to the horizon."""
        initial.build(self)
        children.start(self)
        carers.start(self)
        self.recorder.start()
        self.env.run(until=self.horizon + 1e-9)
        return self.recorder.results()


def simulate(scenario: Scenario, seed: int = 0, replication: int = 0) -> Results:
    """Run one replication of ``scenario`` and return its tables.

    Parameters
    ----------
    scenario : Scenario
        The scenario to run.
    seed : int
        Master seed; replication ``r`` of any scenario with the same seed shares random numbers.
    replication : int
        Index of this replication.
    """
    world = World(scenario, make_streams(seed, replication))
    return world.run()
