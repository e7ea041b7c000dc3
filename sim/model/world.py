"""The world: one replication's environment, registries and mechanisms, run to the horizon."""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL, URGENT

from sim.config import Scenario
from sim.model import (
    carers,
    children,
    geography,
    initial,
    interventions,
    moving_on,
    offers,
    providers,
    review,
    vacancies,
)
from sim.model.entities import Child, Household
from sim.model.hooks import Hooks
from sim.model.metrics import Recorder, Results
from sim.model.timing import YEAR
from sim.posterior import for_replication
from sim.rng import Stream, cumulative, make_streams


class World:
    """Everything one replication needs; mechanisms live in their own modules.

    Parameters
    ----------
    scenario : Scenario
        Every parameter of the run.
    streams : dict of Stream
        One random stream per mechanism (see :func:`sim.rng.make_streams`).
    env : simpy.Environment, optional
        The clock and event queue; the councils of a region share one (:mod:`sim.region`).
    """

    def __init__(
        self,
        scenario: Scenario,
        streams: dict[str, Stream],
        env: simpy.Environment | None = None,
    ) -> None:
        self.scenario = scenario
        self.rng = streams
        self.env = simpy.Environment() if env is None else env
        # SimPy's queue and event counter, which World.schedule pushes to directly.
        self._queue: list[Any] = self.env._queue
        self._eid = self.env._eid
        self.horizon = float((scenario.end - scenario.start).days)
        self.children: dict[int, Child] = {}
        self.households: dict[int, Household] = {}
        self._next_id = 0
        self._own_streams = [0, 0, 0]  # made so far by origin (see own_stream)
        self.recorder = Recorder(self)
        self.hooks = Hooks()
        self.index = vacancies.VacancyIndex(self)
        self.step_down = vacancies.StepDownList(self)
        self.waiting: dict[int, None] = {}  # children who have exhausted the cascade
        self.events = 0
        edges = scenario.age_band_edges
        self._band_of_year = [
            max(i for i in range(len(edges) - 1) if edges[i] <= y) for y in range(edges[-1])
        ]
        self._cumulative: dict[int, list[float]] = {}
        self._month_of_day = [
            (scenario.start + dt.timedelta(days=d)).month for d in range(int(self.horizon) + 2)
        ]
        # The mechanisms and the state they own (policies change it during the run). Observers
        # are called in this order, which keeps the order of events scheduled at one time.
        self.providers = providers.Providers(self)
        districts = scenario.geography.districts
        self.geography = geography.Geography(self, districts) if districts else None
        self.arrivals = children.Arrivals(self)
        self.exits = children.Exits(self)
        self.recruitment = carers.Recruitment(self)
        self.attrition = carers.Attrition(self)
        self.usage = review.Usage(self)
        self.offers = offers.Offers(self)
        self.programmes = interventions.Programmes()
        self.step_across = interventions.StepAcross(self)
        for observer in (self.step_across, self.exits, self.attrition):
            self.hooks.subscribe(observer)
        if self.usage.on:
            self.hooks.subscribe(self.usage)
        if self.offers.on:
            self.hooks.subscribe(self.offers)
        self.moving_on = moving_on.MovingOn(self)
        if self.moving_on.on:
            self.hooks.subscribe(self.moving_on)

    # -- time ------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.env._now

    def date(self, day: float) -> dt.date:
        return self.scenario.start + dt.timedelta(days=math.floor(day))

    def month_of(self, day: float) -> int:
        """Calendar month (1-12) of simulation ``day``, by lookup rather than date arithmetic."""
        i = int(day)
        table = self._month_of_day
        return table[i] if 0 <= i < len(table) else self.date(day).month

    def day(self, date: dt.date) -> float:
        return float((date - self.scenario.start).days)

    def age(self, child: Child, at: float | None = None) -> float:
        return ((self.env._now if at is None else at) - child.dob) / YEAR

    def band(self, age: float) -> int:
        """The age band of ``age`` years (the last band beyond the top edge)."""
        year = int(age)
        if year < 0:
            return 0
        table = self._band_of_year
        return table[year] if year < len(table) else table[-1]

    def pick(self, rng: Stream, weights: Sequence[float] | Mapping[Any, float]) -> int:
        """Index drawn in proportion to scenario ``weights`` (cumulated once per run)."""
        cum = self._cumulative.get(id(weights))
        if cum is None:
            values = list(weights.values()) if isinstance(weights, Mapping) else weights
            cum = self._cumulative[id(weights)] = cumulative(values)
        return rng.choice(cum)

    def own_stream(self, origin: int) -> Stream:
        """The random stream of the next household of ``origin``: 0 the initial stock, 1 an
        approval, 2 a connected person.

        The n-th household of an origin draws the same numbers in every scenario of a
        replication, however many draws the others take: a policy that adds households or
        moves children leaves the other households' draws where they were.
        """
        n = self._own_streams[origin]
        self._own_streams[origin] = n + 1
        return self.rng["households"].substream(origin, n)

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def schedule(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` after ``delay`` days (never, if the delay is infinite)."""
        now = self.env._now
        if delay > self.horizon - now:
            return
        # SimPy 4's Environment.schedule, inlined: a _Call is processed like an Event by SimPy 4
        # (pinned in pyproject.toml for this; tests/test_world.py checks it), at a fraction of
        # a Timeout's cost.
        heappush(
            self._queue,
            (now + (delay if delay > 0 else 0.0), NORMAL, next(self._eid), _Call(self, fn, args)),
        )

    def schedule_at(
        self, day: float, fn: Callable[..., Any], *args: Any, first: bool = False
    ) -> None:
        """Call ``fn(*args)`` on ``day`` (not before now): the same day, to the last bit, as
        the delay that drew it, which ``now + (day - now)`` need not give. ``first`` calls it
        before the day's other events (as SimPy starts a process)."""
        if day > self.horizon:
            return
        # SimPy 4's Environment.schedule, with the day given rather than now plus a delay.
        item = (
            max(day, self.env._now),
            URGENT if first else NORMAL,
            next(self._eid),
            _Call(self, fn, args),
        )
        heappush(self._queue, item)

    # -- running ---------------------------------------------------------------------------
    def start(self) -> None:
        """Build the initial stock and start every mechanism."""
        initial.build(self)
        children.start(self)
        carers.start(self)
        interventions.start(self)
        self.recorder.start()

    def run(self) -> Results:
        """Start the world and run it to the horizon."""
        with collector_paused():  # the build makes no reference cycles either
            self.start()
            run_until(self.env, self.horizon + 1e-9)
        return self.recorder.results()


def run_until(env: simpy.Environment, until: float) -> None:
    """Process ``env``'s events up to (not including) ``until``, as ``env.run(until)`` does.

    SimPy's loop costs two Python calls an event (``step`` and the callback); this one calls a
    ``_Call``'s function straight from the queue and steps any other event as SimPy would.
    """
    if until <= env._now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    stop = object()
    queue: list[Any] = env._queue
    # Before any event at ``until`` itself, like SimPy's own end-of-run event.
    heappush(queue, (until, URGENT, next(env._eid), stop))
    with collector_paused():
        _process(env, stop)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, and resume it (if it ran) also after a failure.

    Building and running a world make no reference cycles (tests/test_world.py checks it), so
    the collector would only cost time: 3-5% of a Kent replication's CPU, measured.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _process(env: simpy.Environment, stop: object) -> None:
    """Process ``env``'s events until ``stop``."""
    queue: list[Any] = env._queue
    pop = heappop
    while True:
        now, _, _, event = pop(queue)
        env._now = now
        if type(event) is _Call:
            event.world.events += 1
            event.fn(*event.args)
            continue
        if event is stop:
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            raise event._value


class _Call:
    """A SimPy event that calls a function when processed.

    Lighter than a ``Timeout`` with an appended callback: the model schedules tens of
    thousands of these per replication, each one the next event of some hazard.
    """

    __slots__ = ("args", "callbacks", "fn", "world")
    _ok = True  # never fails: read by SimPy's step, never set

    def __init__(self, world: World, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.world = world
        self.fn = fn
        self.args = args
        # SimPy's own loop (env.run) sets it to None once processed: typed so, or a compiled
        # _Call refuses it.
        self.callbacks: tuple[Callable[[_Call], None], ...] | None = _FIRE


def _fire(call: _Call) -> None:
    call.world.events += 1
    call.fn(*call.args)


_FIRE = (_fire,)


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
    # A scenario with a posterior runs each replication with its own parameter draw.
    scenario, draw = for_replication(scenario, replication)
    results = World(scenario, make_streams(seed, replication)).run()
    if draw is not None:
        results.meta["posterior_draw"] = draw
    return results
