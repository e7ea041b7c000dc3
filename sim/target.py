"""The recruitment-target solver: the smallest lever value for which a sufficiency goal holds
by a year with a given probability.

Method (sample-path root finding with common random numbers): with the random numbers of
replication ``r`` held fixed, the goal's outcome is, to a good approximation, monotone in the
lever (more approvals never make placements scarcer). So for each replication the threshold
``N_r`` (the smallest lever value meeting the goal) is found by bisection, at a cost of about
log2(range) runs instead of a grid. The goal holds with probability P at ``N`` when at least a
share P of the thresholds are <= ``N``: the answer is the P-quantile of the thresholds, with a
bootstrap interval. The answer is then checked by running every replication at it.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.config import Scenario, long_date, policy_start_problems, with_overrides
from sim.model import simulate

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
# Friendly names for goals; any snapshot column (at 31 March of the year) or flow column
# (the financial year ending then) can be used as well.
ALIASES = {
    "in_house_share": ("flows", "foster_entries_in_house_share"),
    "unregistered": ("snapshots", "unregistered"),
    "ifa_spot": ("snapshots", "ifa_spot"),
    "waiting": ("snapshots", "waiting"),
    "within_20_miles": ("snapshots", "kpi_within_20_miles"),
    "in_house_fostered_share": ("snapshots", "kpi_in_house_share"),
    "approvals": ("flows", "approvals"),
    "deregistrations": ("flows", "deregistrations"),
    "enquiries": ("flows", "enquiries"),
}
LEVERS = ("approvals", "enquiries")


@dataclass(frozen=True)
class Goal:
    """A sufficiency goal such as ``in_house_share >= 0.9``, checked in one year."""

    table: str
    column: str
    op: str
    value: float
    year: int

    @classmethod
    def parse(cls, text: str, year: int) -> Goal:
        m = re.fullmatch(r"\s*([A-Za-z_][\w]*)\s*(>=|<=|==|>|<)\s*([-+0-9.eE%]+)\s*", text)
        if not m:
            raise ValueError(
                f"goal {text!r} not understood: write MEASURE OP VALUE, e.g. "
                "'in_house_share >= 0.9', 'unregistered == 0', 'ifa_spot < 50'"
            )
        name, op, raw = m.groups()
        value = float(raw.rstrip("%")) / (100 if raw.endswith("%") else 1)
        table, column = ALIASES.get(name, ("", name))
        return cls(table, column, op, value, year)

    def holds(self, tables: dict[str, pd.DataFrame]) -> bool:
        """Whether the goal holds in one replication's tables."""
        table = self.table or ("snapshots" if self.column in tables["snapshots"] else "flows")
        df = tables[table]
        if self.column not in df:
            raise ValueError(f"unknown measure {self.column!r} in the {table} table")
        if table == "snapshots":
            dates = pd.to_datetime(df["date"])
            row = df[(dates.dt.year == self.year) & (dates.dt.month == 3) & (dates.dt.day == 31)]
        else:
            row = df[df["financial_year"] == f"{self.year - 1}-{self.year % 100:02d}"]
        if row.empty:
            raise ValueError(f"the run does not reach 31 March {self.year}")
        value = float(row[self.column].iloc[0])
        return not math.isnan(value) and OPS[self.op](value, self.value)


def apply_lever(
    scenario: Scenario, lever: str, value: float, start: dt.date | None = None
) -> Scenario:
    """``scenario`` with the lever set to ``value`` from ``start`` (default: the scenario's).

    ``approvals``: a recruitment target of ``value`` new households a year; ``enquiries``:
    ``value`` enquiries a year (from a later ``start``, an observed level to the horizon); any
    other name is a dotted scenario field, which holds from the start.
    """
    if lever == "approvals":
        ivs = scenario.interventions.model_dump()
        ivs["recruitment_targets"] = [
            *ivs["recruitment_targets"],
            {"start": start or scenario.start, "approvals_per_year": value},
        ]
        return with_overrides(scenario, {"interventions": ivs})
    if lever == "enquiries":
        if start is None or start == scenario.start:
            return with_overrides(scenario, {"recruitment": {"enquiries_per_year": value}})
        window = {"start": start, "end": scenario.end, "per_year": value}
        campaigns = [*scenario.recruitment.model_dump()["campaigns"], window]
        return with_overrides(scenario, {"recruitment": {"campaigns": campaigns}})
    if start is not None:
        raise ValueError(
            f"--starts applies to the approvals and enquiries levers; {lever!r} is a scenario "
            "field, which holds from the start"
        )
    nested: dict[str, Any] = {}
    cur = nested
    parts = lever.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = int(value) if float(value).is_integer() else value
    return with_overrides(scenario, nested)


@dataclass
class TargetResult:
    """The answer and what it rests on."""

    lever: str
    goal: Goal
    confidence: float
    answer: float
    interval: tuple[float, float]
    thresholds: list[float]
    achieved: float  # share of replications meeting the goal at the answer
    runs: int
    funnel: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        g = self.goal
        lines = [
            f"Goal: {g.column} {g.op} {g.value:g} by 31 March {g.year}, "
            f"with probability {self.confidence:.0%}",
            f"Smallest {self.lever}: {self.answer:g} "
            f"(90% interval {self.interval[0]:g} to {self.interval[1]:g})",
            f"Replications meeting the goal at that value: {self.achieved:.0%} "
            f"({len(self.thresholds)} replications, {self.runs} runs in all)",
        ]
        if self.funnel:
            lines.append(
                "Implied each year: " + ", ".join(f"{k} {v:,.0f}" for k, v in self.funnel.items())
            )
        return "\n".join(lines)


def funnel_needs(scenario: Scenario, approvals: float) -> dict[str, float]:
    """Enquiries, applications and assessments a year that ``approvals`` imply at the start."""
    r = scenario.recruitment
    per_enquiry = scenario.approvals_per_enquiry(scenario.start)
    enquiries = approvals / per_enquiry if per_enquiry > 0 else math.inf
    applications = enquiries * r.application_prob
    assessments = applications * r.assessment_start_prob
    return {
        "enquiries": enquiries,
        "applications": applications,
        "assessments": assessments,
        "approvals": approvals,
    }


def solve(
    scenario: Scenario,
    goal: Goal,
    confidence: float,
    lever: str = "approvals",
    low: float = 0,
    high: float = 400,
    reps: int = 20,
    seed: int = 0,
    step: float = 1,
    progress: Callable[[int], object] | None = None,
    start: dt.date | None = None,
) -> TargetResult:
    """The smallest lever value (a multiple of ``step``) meeting ``goal`` w.p. ``confidence``,
    the lever applied from ``start`` (default: the scenario's start)."""
    if not 0 < confidence <= 1:
        raise ValueError("confidence must be in (0, 1]")
    if not low < high:
        raise ValueError(f"--low ({low:g}) must be below --high ({high:g})")
    years = max(scenario.years, goal.year - scenario.start.year + (scenario.start.month > 3))
    scenario = with_overrides(scenario, {"years": years})
    if start is not None:
        if lever not in LEVERS:
            apply_lever(scenario, lever, low, start)  # refuses a date for a scenario field
        problems = start_problems(scenario, goal, start)
        if problems:
            raise ValueError("; ".join(problems))
    runs = 0

    def holds(value: float, rep: int) -> bool:
        nonlocal runs
        runs += 1
        if progress:
            progress(runs)
        res = simulate(apply_lever(scenario, lever, value, start), seed=seed, replication=rep)
        return goal.holds(res.tables())

    thresholds = []
    lo_i, hi_i = 0, round((high - low) / step)
    for rep in range(reps):
        if not holds(high, rep):
            thresholds.append(math.inf)
            continue
        if holds(low, rep):
            thresholds.append(low)
            continue
        a, b = lo_i, hi_i  # the goal fails at a and holds at b
        while b - a > 1:
            mid = (a + b) // 2
            if holds(low + mid * step, rep):
                b = mid
            else:
                a = mid
        thresholds.append(low + b * step)
    t = np.asarray(thresholds, dtype=float)
    answer = _quantile(t, confidence)
    rng = np.random.default_rng(seed)
    boot = [_quantile(rng.choice(t, len(t)), confidence) for _ in range(1000)]
    interval = (float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95)))
    achieved = 0.0
    if math.isfinite(answer):  # check the answer directly: sample paths need not be monotone
        achieved = float(np.mean([holds(answer, r) for r in range(reps)]))
    funnel = {}
    if math.isfinite(answer) and lever in LEVERS:
        per_enquiry = (
            1.0 if lever == "approvals" else scenario.approvals_per_enquiry(scenario.start)
        )
        funnel = funnel_needs(scenario, answer * per_enquiry)
    return TargetResult(
        lever, goal, confidence, answer, interval, thresholds, achieved, runs, funnel
    )


def start_problems(
    scenario: Scenario, goal: Goal, start: dt.date, name: str = "--starts"
) -> list[str]:
    """Why a lever (called ``name``) from ``start`` cannot count toward ``goal``, in plain
    words; empty if it can."""
    goal_day = dt.date(goal.year, 3, 31)
    # The goal's date first: a horizon that ends there would otherwise ask for a longer run.
    problems = (
        [
            (
                name,
                f"the lever starts on {long_date(start)}, on or after the goal's date "
                f"({long_date(goal_day)}), so it cannot help to meet it",
            )
        ]
        if start >= goal_day
        else policy_start_problems(scenario.start, scenario.years, [(name, start)])
    )
    return [f"{field}: {message}" for field, message in problems]


def _quantile(t: np.ndarray, p: float) -> float:
    """The smallest value v with at least a share p of ``t`` at or below it."""
    s = np.sort(t)
    k = max(math.ceil(p * len(s) - 1e-9), 1)
    return float(s[k - 1])
