"""Non-homogeneous Poisson arrivals: seasonal rates with dated multipliers, drawn by thinning."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from sim.config import Window, peak_factor
from sim.rng import Stream

if TYPE_CHECKING:
    from sim.model.world import World

YEAR: Final = 365.25


class RateCurve:
    """A rate per year: a base, twelve monthly factors and dated multipliers (windows)."""

    def __init__(
        self, world: World, per_year: float, seasonality: Sequence[float], windows: Sequence[Window]
    ) -> None:
        self.world = world
        self.base = per_year / YEAR
        self.seasonality = list(seasonality)
        self.windows = [
            (world.day(w.start), world.day(w.end), w.multiplier)
            for w in windows
            if w.multiplier is not None
        ]
        self.levels = [
            (world.day(w.start), world.day(w.end), w.per_year / YEAR)
            for w in windows
            if w.per_year is not None
        ]
        self.extra: list[tuple[float, float, float]] = []  # added by interventions
        self._multipliers = list(self.windows)  # windows, then extra: the order of the products
        self._month_of = world.month_of

    @property
    def levels(self) -> list[tuple[float, float, float]]:
        return self._levels

    @levels.setter
    def levels(self, value: list[tuple[float, float, float]]) -> None:
        self._levels = value
        self._bound: float | None = None
        self._scenario_bound: float | None = None

    def add_window(self, start: float, end: float, multiplier: float) -> None:
        self.extra.append((start, end, multiplier))
        self._multipliers = [*self.windows, *self.extra]
        self._bound = None

    def _rate(self, day: float, windows: list[tuple[float, float, float]]) -> float:
        rate = self.base_at(day) * self.seasonality[self._month_of(day) - 1]
        for start, end, m in windows:
            if start <= day < end:
                rate *= m
        return rate

    def _peak(self) -> float:
        return max([self.base, *(level for _, _, level in self._levels)]) * max(self.seasonality)

    def scenario_at(self, day: float) -> float:
        """The rate per day at ``day`` without the multipliers that interventions added."""
        return self._rate(day, self.windows)

    def scenario_bound(self) -> float:
        """An upper bound of :meth:`scenario_at` over the whole run."""
        if self._scenario_bound is None:  # asked for at each arrival of a "base" process
            self._scenario_bound = self._peak() * peak_factor(self.windows)
        return self._scenario_bound

    def base_at(self, day: float) -> float:
        """The base rate per day at ``day`` (an observed level where one is given)."""
        base = self.base
        for start, end, level in self._levels:
            if start <= day < end:
                base = level
        return base

    def at(self, day: float) -> float:
        """The rate per day at ``day``."""
        return self._rate(day, self._multipliers)

    def bound(self) -> float:
        """An upper bound of the rate per day over the whole run.

        Only multipliers in force at the same time compound: a product over every window
        would make ten yearly campaigns at 3x draw 3^10 candidates per arrival.
        """
        if self._bound is None:
            self._bound = self._peak() * peak_factor(self._multipliers)
        return self._bound


def poisson_process(
    world: World,
    curve: RateCurve,
    rng: Stream,
    on_arrival: Callable[[], Any],
    part: str = "all",
) -> None:
    """Call ``on_arrival`` at the events of a thinned Poisson process, from the start of the run.

    Rejected candidates cost no simulation event: only accepted arrivals are scheduled. The
    first is drawn when the run starts, before anything else then, so that it sees the curve
    every mechanism's start has set up. ``part``: ``"all"`` of the curve's rate, or two
    processes that add up to it: ``"base"``, the scenario's own rate (less, where an
    intervention lowers it), whose candidates do not depend on what interventions add, and
    ``"added"``, what interventions add above it (drawn from a stream of its own).
    """
    world.schedule_at(world.now, _next_arrival, world, curve, rng, on_arrival, part, first=True)


def _next_arrival(
    world: World, curve: RateCurve, rng: Stream, on_arrival: Callable[[], Any], part: str
) -> None:
    if part == "added" and not curve.extra:
        return
    bound = curve.scenario_bound() if part == "base" else curve.bound()
    if bound <= 0:
        return
    now = world.env._now
    t = now
    while True:
        t += rng.exponential(1.0 / bound)
        if t > world.horizon:
            return
        if part == "all":
            rate = curve.at(t)
        elif part == "base":
            rate = min(curve.at(t), curve.scenario_at(t))
        else:
            rate = curve.at(t) - curve.scenario_at(t)
        if rng.random() * bound < rate:
            break
    world.schedule(t - now, _arrival, world, curve, rng, on_arrival, part)


def _arrival(
    world: World, curve: RateCurve, rng: Stream, on_arrival: Callable[[], Any], part: str
) -> None:
    on_arrival()
    _next_arrival(world, curve, rng, on_arrival, part)
