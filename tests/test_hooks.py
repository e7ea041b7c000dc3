"""Mechanism hooks (``sim.model.hooks``).

- Each moment fires when it should, with the right payload: an observer subscribed to a
  one-year Kent run is checked against the tables the run writes and against the households'
  own child lists.
- Each consequence that placements used to carry out, and that now subscribes to a moment,
  still happens: exits redrawn on a change of placement, connected-person approvals ending
  with the last child, resignation after a breakdown before the place is offered, and
  step-across for children placed in residential care. Each test fails if its subscription
  is removed.
- The modules of ``sim.model`` import one another without a cycle.
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import KENT, YEAR, binomial_near, horizon, near, small, total

from sim.config import PLACEMENT_TYPES, load_scenario
from sim.model.entities import PLACED, Child, Household
from sim.model.hooks import MOMENTS, Hooks, Observer
from sim.model.world import World
from sim.rng import make_streams


class TrackedChildren(list):
    """A household's child list that reports each time it becomes empty."""

    def __init__(self, items: list[int], hid: int, log: list[tuple[str, int]]) -> None:
        super().__init__(items)
        self.hid = hid
        self.log = log

    def remove(self, value: int) -> None:
        super().remove(value)
        if not self:
            self.log.append(("emptied", self.hid))


class Spy(Observer):
    """Records every moment and checks each payload against the world at that moment."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.started: list[tuple[int, str]] = []
        self.ended: list[tuple[int, str, str]] = []
        self.left: list[tuple[int, str]] = []
        self.approved: list[int] = []
        self.deregistered: list[tuple[int, str]] = []
        self.log: list[tuple[str, int]] = []  # list emptyings and hook calls, in order

    def placement_started(self, child: Child, h: Household | None) -> None:
        assert child.state == PLACED and child.placement in PLACEMENT_TYPES
        assert child.placed_at == self.world.now
        if h is None:
            assert child.household == -1
        else:
            assert child.household == h.id and child.id in h.children
            if not isinstance(h.children, TrackedChildren):
                h.children = TrackedChildren(h.children, h.id, self.log)
        self.started.append((child.id, child.placement))

    def placement_ended(self, child: Child, h: Household | None, reason: str) -> None:
        assert child.state == PLACED and child.placement in PLACEMENT_TYPES
        assert (h is None) == (child.household == -1)
        if h is not None:
            assert child.id not in h.children
        self.ended.append((child.id, child.placement, reason))

    def household_emptied(self, h: Household) -> None:
        assert not h.children
        self.log.append(("hook", h.id))

    def child_left_care(self, child: Child, reason: str) -> None:
        assert child.exit_reason == reason and child.exit_day == self.world.now
        assert child.id not in self.world.children
        self.left.append((child.id, reason))

    def carer_approved(self, h: Household) -> None:
        assert h.kind != "connected" and h.approved == self.world.now
        assert self.world.households[h.id] is h and h.active
        self.approved.append(h.id)

    def carer_deregistered(self, h: Household, reason: str) -> None:
        assert not h.active and not h.children
        self.deregistered.append((h.id, reason))


@pytest.fixture(scope="module")
def kent_run():
    """A one-year Kent run with a spy subscribed after the model's own observers."""
    world = World(load_scenario(KENT, {"years": 1}), make_streams(3, 0))
    spy = Spy(world)
    world.hooks.subscribe(spy)
    res = world.run()
    return world, spy, res


def test_placement_started_fires_once_per_episode(kent_run):
    _, spy, res = kent_run
    ep = res.episodes
    assert len(spy.started) == len(ep) > 1000
    assert Counter(spy.started) == Counter(zip(ep["child"], ep["placement"], strict=True))


def test_placement_ended_fires_once_per_closed_episode_with_its_reason(kent_run):
    _, spy, res = kent_run
    closed = res.episodes[res.episodes["reason_end"] != "open"]
    assert {"breakdown", "planned", "carer_deregistered"} <= set(closed["reason_end"])
    assert Counter(spy.ended) == Counter(
        zip(closed["child"], closed["placement"], closed["reason_end"], strict=True)
    )


def test_household_emptied_fires_exactly_when_a_household_loses_its_last_child(kent_run):
    _, spy, _ = kent_run
    emptied = [hid for what, hid in spy.log if what == "emptied"]
    assert len(emptied) > 50
    # Each emptying of a child list is followed by the hook for that household, before the
    # list empties again, and the hook fires at no other time.
    pending: dict[int, bool] = {}
    for what, hid in spy.log:
        if what == "emptied":
            assert not pending.get(hid), f"household {hid} emptied twice before its hook"
            pending[hid] = True
        else:
            assert pending.get(hid), f"hook for household {hid}, which had not emptied"
            pending[hid] = False
    assert not any(pending.values())


def test_child_left_care_fires_once_per_exit(kent_run):
    _, spy, res = kent_run
    gone = res.children[res.children["exit_reason"] != ""]
    assert len(spy.left) == len(gone) == total(res.flows, "exits") > 100
    assert Counter(spy.left) == Counter(zip(gone["child"], gone["exit_reason"], strict=True))


def test_carer_moments_match_approvals_and_deregistrations(kent_run):
    _, spy, res = kent_run
    assert len(spy.approved) == total(res.flows, "approvals") > 20
    reasons = Counter(r for _, r in spy.deregistered)
    connected = reasons["connected_ended"] + reasons["not_approved"]  # kinship assessment
    assert connected == total(res.flows, "deregistrations_connected") > 0
    for reason in ("carer_initiated", "after_breakdown", "service"):
        assert reasons[reason] == total(res.flows, f"deregistrations_{reason}")
    assert sum(reasons.values()) - connected == total(res.flows, "deregistrations")


def test_only_overridden_methods_are_subscribed():
    class OnlyEmptied(Observer):
        def household_emptied(self, h: Household) -> None:
            pass

    hooks = Hooks()
    observer = OnlyEmptied()
    hooks.subscribe(observer)
    assert hooks.household_emptied == [observer.household_emptied]
    assert all(getattr(hooks, m) == [] for m in MOMENTS if m != "household_emptied")


# ------------------------------------------------------------------ the moved subscribers


def stock(kind: str, n: int, **overrides) -> object:
    placements = dict.fromkeys(PLACEMENT_TYPES, 0)
    placements[kind] = n
    initial = {"placements": placements, "age_weights": [0, 1, 1, 0, 0]}
    return small(initial={**initial, **overrides.pop("initial", {})}, **overrides)


def test_exits_are_redrawn_when_a_child_is_placed_for_adoption():
    """1,000 children aged 1-10 in in-house care are placed for adoption at rate a; the
    adoption order follows after an exponential time of mean m, drawn when the placement for
    adoption starts. Share adopted within T: the two-stage (hypoexponential) distribution."""
    a, m = 1.0, 90.0
    sc = stock(
        "in_house",
        1000,
        initial={"households": 1000},
        children={"exits": {"adoption_per_year": [a] * 5, "adoption_placement_days": m}},
    )
    world = World(sc, make_streams(5, 0))
    res = world.run()
    t = horizon(sc) / YEAR
    b = YEAR / m
    p = 1 - (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a)
    binomial_near(total(res.flows, "exits_adoption"), 1000, p)
    binomial_near(total(res.flows, "placed_for_adoption"), 1000, 1 - math.exp(-a * t))


def test_a_connected_approval_ends_when_the_last_child_leaves():
    """Children arrive in pairs to connected carers and go home at 2 a year each."""
    sc = small(
        children={
            "arrivals_per_year": 400.0,
            "sibling_group_weights": [0.0, 1.0],
            "kinship_prob": 1.0,
            "exits": {"return_home_per_year": [2.0] * 5},
        }
    )
    world = World(sc, make_streams(7, 0))
    emptied: list[Household] = []

    class Watch(Observer):
        def household_emptied(self, h: Household) -> None:
            emptied.append(h)

    world.hooks.subscribe(Watch())
    res = world.run()
    assert len(emptied) > 50
    assert all(not h.active and h.id not in world.households for h in emptied)
    assert total(res.flows, "deregistrations_connected") == len(emptied)
    still = [h for h in world.households.values() if h.kind == "connected"]
    assert all(h.active and h.children for h in still)


def resigning(deregisters: float):
    """50 full one-place households whose placements break down once a year, and children
    arriving who find no agency or residential place, so they wait for an in-house one."""
    blocked = {s: {"accept_prob": 0.0} for s in ("ifa_framework", "ifa_spot", "residential")}
    return stock(
        "in_house",
        50,
        initial={"households": 50},
        children={"arrivals_per_year": 100.0},
        matching={"cascade": {**blocked, "unregistered": {"accept_prob": 0.0}}},
        breakdown={"per_year": {"in_house": 1.0}, "carer_deregisters_prob": deregisters},
    )


@pytest.mark.parametrize("deregisters", [1.0, 0.0])
def test_a_resigning_carers_place_is_never_offered(deregisters):
    res = World(resigning(deregisters), make_streams(11, 0)).run()
    ep = res.episodes
    broke = ep[(ep["reason_end"] == "breakdown") & (ep["placement"] == "in_house")]
    assert len(broke) > 20
    assert total(res.flows, "deregistrations_after_breakdown") == deregisters * len(broke)
    # A waiting child takes the freed place at once, unless the carer resigned.
    refilled = ep.merge(broke[["household", "end_day"]], on="household")
    refilled = refilled[refilled["start_day"] >= refilled["end_day_y"]]
    if deregisters:
        assert refilled.empty
    else:
        assert (refilled["start_day"] == refilled["end_day_y"]).sum() > 20


def test_step_across_considers_children_placed_in_residential_care_after_it_starts():
    """Children needing a children's home arrive after the programme starts; each is moved
    on at the programme's rate r. Expected moves: the sum over residential episodes of
    1 - exp(-r x time left in the run)."""
    r = 4.0
    sc = small(
        children={
            "arrivals_per_year": 300.0,
            "entry_age_weights": [0, 1, 1, 0, 0],
            "complex_need_prob": [1.0] * 5,
            "solo_prob_complex": 0.0,
            "residential_need_prob": 1.0,
            "residential_need_from_age": 0.0,
        },
        initial={"households": 400},
        interventions={"step_across": [{"start": "2019-03-31", "per_year": r}]},
    )
    res = World(sc, make_streams(13, 0)).run()
    ep = res.episodes
    resi = ep[ep["placement"] == "residential"]
    assert (resi["start_day"] > 0).all() and len(resi) > 200
    p = 1 - np.exp(-r * (horizon(sc) - resi["start_day"].to_numpy()) / YEAR)
    moved = (resi["reason_end"] == "step_across").sum()
    assert moved == total(res.flows, "step_across")
    near(moved, p.sum(), math.sqrt((p * (1 - p)).sum()))


# ------------------------------------------------------------------------------- imports


def _runtime_imports(path: Path) -> set[str]:
    """``sim.model`` modules imported by ``path`` at run time (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skip = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "sim.model":
                out |= {a.name for a in node.names}
            elif node.module.startswith("sim.model."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.startswith("sim.model.")}
    return out


def test_the_model_modules_import_one_another_without_a_cycle():
    folder = Path(__file__).resolve().parents[1] / "sim" / "model"
    graph = {p.stem: _runtime_imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    # The matching core depends only on the entities, the hooks, time and the vacancy index.
    assert graph["placements"] <= {"entities", "hooks", "timing", "vacancies"}
    assert graph["vacancies"] <= {"entities", "timing"}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, "import cycle: " + " -> ".join((*path, module))
        if module in done:
            return
        for dep in graph.get(module, ()):
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())


def test_the_results_can_be_read_twice():
    """Open episodes and child rows are added to copies: a second read gives the same tables."""
    world = World(load_scenario(KENT, {"years": 0.5}), make_streams(17, 0))
    first = world.run().tables()
    second = world.recorder.results().tables()
    for name, table in first.items():
        pd.testing.assert_frame_equal(second[name], table)
