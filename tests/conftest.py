"""Shared helpers: small, quiet scenarios in which a test switches on one mechanism at a time,
and checks of counts against their sampling error."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sim.config import CASCADE_STEPS, PLACEMENT_TYPES, Scenario, with_overrides
from sim.model.entities import Child
from sim.model.world import World
from sim.rng import make_streams

ROOT = Path(__file__).resolve().parent.parent
KENT = ROOT / "scenarios" / "kent_baseline.toml"
YEAR = 365.25
ZERO5 = [0.0] * 5
K = 4.0  # standard errors allowed either side

# Nothing happens: no stock, no arrivals, no recruitment, no hazards; every cascade step is
# instant and always accepts; external capacity is ample. Tests switch mechanisms back on.
QUIET: dict[str, Any] = {
    "name": "quiet",
    "years": 1.0,
    "children": {
        "arrivals_per_year": 0.0,
        "seasonality": [1.0] * 12,
        "sibling_group_weights": [1.0],
        "complex_need_prob": ZERO5,
        "placed_with_parents_prob": 0.0,
        "kinship_prob": 0.0,
        "parent_and_child_prob": 0.0,
        "staying_put_prob": 0.0,
        "exits": {
            "return_home_per_year": ZERO5,
            "sgo_per_year": ZERO5,
            "adoption_per_year": ZERO5,
        },
    },
    "uasc": {"arrivals_per_year": 0.0, "return_per_year": 0.0, "nts": {"transfer_prob": 0.0}},
    "matching": {
        "cascade": {s: {"delay_days": 0.0, "accept_prob": 1.0} for s in CASCADE_STEPS},
        "step_down_prob": 0.0,
    },
    "providers": {
        "ifa_framework_places": 100_000,
        "residential_places": 100_000,
        "supported_places": 100_000,
        "unregistered_places": 100_000,
    },
    "breakdown": {
        "per_year": dict.fromkeys(PLACEMENT_TYPES, 0.0),
        "planned_move_per_year": 0.0,
        "high_risk_share": 0.0,
        "carer_deregisters_prob": 0.0,
    },
    "recruitment": {
        "enquiries_per_year": 0.0,
        "seasonality": [1.0] * 12,
        "household": {
            "type_weights": {"mainstream": 1.0},
            "places_weights": [1.0],
            "age_ranges": [{"min_age": 0, "max_age": 17, "weight": 1.0}],
            "accepts_complex_prob": 1.0,
            "held_back_prob": 0.0,
        },
    },
    "attrition": {
        "deregistration_per_year": [0.0, 0.0, 0.0],
        "to_ifa_per_year": 0.0,
        "on_hold_per_year": 0.0,
        "service_deregistration_prob": 0.0,
    },
    "initial": {
        "placements": dict.fromkeys(PLACEMENT_TYPES, 0),
        "uasc": 0,
        "households": 0,
        "places_weights": [1.0],
        "on_hold_share": 0.0,
    },
}

_QUIET = Scenario.model_validate(QUIET)


def new_child(cid: int, dob: float, entry: float = 0.0, **fields: Any) -> Child:
    """A child built by hand, the one place tests do it: a boy in the North, alone, not UASC,
    no complex needs, not section 20, not high risk; ``fields`` set any field of ``Child``."""
    plain: dict[str, Any] = {
        "area": "North",
        "complex_needs": False,
        "uasc": False,
        "male": True,
        "section20": False,
        "high_risk": False,
        "group": cid,
    }
    return Child(id=cid, dob=dob, entry=entry, **{**plain, **fields})


def small(**overrides: Any) -> Scenario:
    """A quiet scenario with nested ``overrides`` merged in, e.g. ``small(years=2,
    children={"arrivals_per_year": 100})``."""
    return with_overrides(_QUIET, overrides) if overrides else _QUIET


def run_world(
    scenario: Scenario, seed: int = 1, monitor: Callable[[World], Any] | None = None
) -> World:
    """Run one replication and keep the world (and its recorder) for inspection."""
    world = World(scenario, make_streams(seed, 0))
    if monitor is not None:
        world.env.process(monitor(world))
    world.run()
    return world


def horizon(scenario: Scenario) -> float:
    return float((scenario.end - scenario.start).days)


def total(flows, name: str) -> float:
    """A flow summed over financial years (0 if it never happened)."""
    return float(flows[name].sum()) if name in flows else 0.0


def near(observed: float, expected: float, se: float, k: float = K) -> None:
    assert abs(observed - expected) <= k * se, (
        f"observed {observed:.4g}, expected {expected:.4g} ± {k * se:.3g} ({k:g} s.e.)"
    )


def poisson_near(count: float, mean: float) -> None:
    near(count, mean, math.sqrt(mean))


def binomial_near(successes: float, n: int, p: float) -> None:
    near(successes, n * p, math.sqrt(n * p * (1 - p)))


def first_episodes(episodes):
    """Each child's first episode."""
    return episodes.sort_values(["child", "start_day"]).groupby("child").first().reset_index()


def transfer_chances(referred, end: float, delay_days: float):
    """The chance that each referred UASC is transferred: the exponential delay from arrival
    must end before ``end`` (the horizon) and before the child turns 18."""
    window = np.minimum(end, referred["dob_day"] + 18 * YEAR) - referred["entry_day"]
    return 1.0 - np.exp(-np.clip(window, 0.0, None) / delay_days)


def bernoulli_sum_near(count: float, chances) -> None:
    """``count`` is a sum of independent trials with these chances (Poisson binomial)."""
    near(count, float(np.sum(chances)), math.sqrt(float(np.sum(chances * (1 - chances)))))
