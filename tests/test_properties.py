"""Property-based tests: the schema accepts every valid rate and probability and rejects
invalid ones by name; matching through the vacancy index is sound and complete."""

from __future__ import annotations

import math
from typing import Any

import annotated_types as at
import pytest
from conftest import YEAR, new_child, small
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim.config import Scenario, ScenarioError, with_overrides
from sim.model.entities import Child, Household
from sim.model.vacancies import VacancyIndex, fits
from sim.model.world import World
from sim.rng import make_streams

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- schema


def _numeric_fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, float]]:
    """Every scalar float field bounded below by 0, as (dotted path, upper bound); not those
    of a (low, central, high) range, which must also stay in order (test_config checks it)."""
    out = []
    for name, f in model.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            if {"low", "central", "high"} <= set(ann.model_fields):
                continue
            out += _numeric_fields(ann, f"{prefix}{name}.")
        elif ann is float and any(isinstance(m, at.Ge) and m.ge == 0 for m in f.metadata):
            le = [m.le for m in f.metadata if isinstance(m, at.Le)]
            out.append((f"{prefix}{name}", le[0] if le else math.inf))
    return out


FIELDS = _numeric_fields(Scenario)
RATES = [p for p, le in FIELDS if le != 1]
PROBS = [p for p, le in FIELDS if le == 1]
# Valid values: half the bound (a stream's peak, with seasonality, must stay under it), and
# multipliers small enough that together they keep a child's breakdown hazard under its bound.
UPPER = {p: min(5.0 if p.endswith("_multiplier") else le / 2, 1e5) for p, le in FIELDS}
LOWER: dict[str, float] = {}
# A pair the schema keeps in order (the late part of an episode starts after the early part
# ends): each is drawn on its own side of a day between the two defaults, alone or together.
UPPER["children.exits.early_return_days"] = 364.0
LOWER["children.exits.late_return_days"] = 365.0
BASE = Scenario()


def test_the_field_lists_cover_the_schema():
    assert len(RATES) >= 30 and len(PROBS) >= 30
    assert "children.exits.adoption_placement_days" in RATES
    assert "uasc.nts.transfer_prob" in PROBS
    assert "recruitment.assessment.fast_share" in PROBS


def nested(path: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out


def merge(items: list[tuple[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in items:
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def lookup(scenario: Scenario, path: str) -> Any:
    obj: Any = scenario
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


finite = {"allow_nan": False, "allow_infinity": False}
valid_rate = st.sampled_from(RATES).flatmap(
    lambda p: st.tuples(st.just(p), st.floats(LOWER.get(p, 0.0), UPPER[p], **finite))
)
valid_prob = st.tuples(st.sampled_from(PROBS), st.floats(0, 1, **finite))


@SETTINGS
@given(
    st.lists(st.one_of(valid_rate, valid_prob), min_size=1, max_size=6, unique_by=lambda x: x[0])
)
def test_valid_rates_and_probabilities_are_accepted(items):
    sc = with_overrides(BASE, merge(items))
    for path, value in items:
        assert lookup(sc, path) == value


@SETTINGS
@given(st.sampled_from(RATES + PROBS), st.floats(max_value=-1e-9, min_value=-1e9, **finite))
def test_negative_values_are_rejected_by_name(path, value):
    try:
        with_overrides(BASE, nested(path, value))
    except ScenarioError as exc:
        assert f"field '{path}'" in str(exc) and "greater than or equal to 0" in str(exc)
    else:
        raise AssertionError(f"{path} = {value} was accepted")


@SETTINGS
@given(
    st.sampled_from(PROBS),
    st.one_of(st.floats(min_value=1 + 1e-9, max_value=1e9, **finite), st.just(math.inf)),
)
def test_probabilities_above_one_are_rejected_by_name(path, value):
    try:
        with_overrides(BASE, nested(path, value))
    except ScenarioError as exc:
        assert f"field '{path}'" in str(exc)
    else:
        raise AssertionError(f"{path} = {value} was accepted")


@SETTINGS
@given(st.sampled_from(RATES + PROBS), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_non_finite_values_are_rejected_by_name(path, value):
    try:
        with_overrides(BASE, nested(path, value))
    except ScenarioError as exc:
        assert f"field '{path}'" in str(exc)
    else:
        raise AssertionError(f"{path} = {value} was accepted")


# ----------------------------------------------------------------------------- matching

AREAS = ["North", "South", "East", "West"]
KINDS = ["mainstream", "parent_and_child", "emergency"]
WORLD_SCENARIO = small()


RESTRICTIONS = [
    "ages",
    "complex",
    "hold",
    "inactive",
    "filled",
    "held_back",
    "reserved",
    "uasc_only",
    "solo",
    "small",
    "kind",
]


def restrict(draw, h: dict[str, Any], what: str) -> None:
    """Apply one restriction to a household spec that otherwise takes almost anyone."""
    places = h["places"]
    if what == "ages":
        h["min_age"] = draw(st.integers(0, 17))
        h["max_age"] = draw(st.integers(h["min_age"], 17))
    elif what == "complex":
        h["accepts_complex"] = False
    elif what == "hold":
        h["on_hold"] = True
    elif what == "inactive":
        h["active"] = False
    elif what == "filled":
        h["staying_put"] = draw(st.integers(1, places))
    elif what == "held_back":
        h["held_back"] = draw(st.integers(0, places - 1))
    elif what == "reserved":
        h["reserved"] = 1
    elif what == "uasc_only":
        h["uasc_only"] = True
    elif what == "solo":
        h["solo"] = 1
    elif what == "small":
        h.update(places=1, staying_put=min(h["staying_put"], 1), held_back=0)
    elif what == "kind":
        h["kind"] = draw(st.sampled_from([*KINDS, "short_breaks", "connected"]))


def generous(draw, kind: str) -> dict[str, Any]:
    return {
        "area": draw(st.sampled_from(AREAS)),
        "kind": kind,
        "places": draw(st.integers(1, 8)),
        "min_age": 0,
        "max_age": 17,
        "accepts_complex": True,
        "on_hold": False,
        "active": True,
        "staying_put": 0,
        "held_back": 0,
        "reserved": 0,
        "uasc_only": False,
        "solo": 0,
    }


@st.composite
def households(draw) -> dict[str, Any]:
    """A household that takes almost anyone, with up to two restrictions: near misses are
    common, so every matching rule is exercised."""
    h = generous(draw, draw(st.sampled_from([*KINDS, "short_breaks", "connected"])))
    for what in draw(st.lists(st.sampled_from(RESTRICTIONS), max_size=2, unique=True)):
        restrict(draw, h, what)
    return h


@st.composite
def groups(draw) -> list[dict[str, Any]]:
    size = draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4, 7]))
    baby_pc = size == 1 and draw(st.integers(0, 3)) == 0
    uasc = draw(st.integers(0, 3)) == 0
    return [
        {
            "age": draw(st.floats(0, 17.99, **finite)),
            "complex_needs": draw(st.booleans()),
            "solo": draw(st.integers(0, 7)) == 0,
            "parent_and_child": baby_pc,
            "uasc": uasc,
            "avoid_index": draw(st.integers(-1, 8)),
        }
        for _ in range(size)
    ]


def oracle(h: Household, group: list[Child], ages: list[float]) -> bool:
    """The matching rules written out independently of the model's code."""
    if not h.active:
        return False
    room = h.places - len(h.children) - h.staying_put
    if h.on_hold or h.kind == "short_breaks" or h.solo:
        free = 0
    else:
        free = room - min(h.held_back + h.reserved, room)
    if free < len(group):
        return False
    if any(c.solo for c in group) and (len(group) > 1 or h.staying_put + len(h.children) > 0):
        return False
    for c, age in zip(group, ages, strict=True):
        if not h.min_age <= int(age) <= h.max_age:
            return False
        if c.complex_needs and not h.accepts_complex:
            return False
        if c.parent_and_child != (h.kind == "parent_and_child"):
            return False
        if c.avoid == h.id or (h.uasc_only and not c.uasc):
            return False
    return True


_WORLD = World(WORLD_SCENARIO, make_streams(0, 0))


def build(hs: list[dict[str, Any]], group_spec: list[dict[str, Any]]):
    """A world with the households registered in a fresh vacancy index, and the group."""
    world = _WORLD
    world.households = {}
    world.index = VacancyIndex(world)
    made = []
    for spec in hs:
        h = Household(id=world.new_id(), rng=world.own_stream(1), approved=0.0, **spec)
        world.households[h.id] = h
        world.index.update(h)
        made.append(h)
    group, ages = [], []
    for spec in group_spec:
        cid = world.new_id()
        i = spec["avoid_index"]
        child = new_child(
            cid,
            -spec["age"] * YEAR,
            complex_needs=spec["complex_needs"],
            uasc=spec["uasc"],
            group=group[0].id if group else cid,
            parent_and_child=spec["parent_and_child"],
            solo=spec["solo"],
            avoid=made[i].id if 0 <= i < len(made) else -1,
        )
        group.append(child)
        ages.append(spec["age"])
    return world, made, group, ages


def check_find(world, made, group, ages, kind, search) -> None:
    home, where = search
    found = world.index.find(kind, group, home, where)
    areas = {"home": [home], "elsewhere": [a for a in AREAS if a != home]}.get(where, AREAS)
    fitting = [h for h in made if h.kind == kind and h.area in areas and oracle(h, group, ages)]
    for h in made:
        assert fits(world, h, group) == oracle(h, group, ages), h
    if found is None:
        assert not fitting, f"find missed {fitting[0]} for {group}"
        return
    assert found.kind == kind and found.area in areas
    assert oracle(found, group, ages), f"find returned {found}, which does not take {group}"
    # Searching anywhere, the home area comes first.
    if any(h.area == home for h in fitting):
        assert found.area == home


searches = st.tuples(st.sampled_from(AREAS), st.sampled_from(["home", "elsewhere", "anywhere"]))


@SETTINGS
@given(st.lists(households(), max_size=30), groups(), st.sampled_from(KINDS), searches)
def test_find_returns_only_households_that_fit_and_misses_none(hs, group_spec, kind, search):
    world, made, group, ages = build(hs, group_spec)
    check_find(world, made, group, ages, kind, search)


@SETTINGS
@given(
    st.lists(households(), min_size=1, max_size=30),
    groups(),
    st.sampled_from(KINDS),
    searches,
    st.data(),
)
def test_index_stays_right_after_households_change(hs, group_spec, kind, search, data):
    """Re-filing after places fill, free up, go on hold or are deregistered."""
    world, made, group, ages = build(hs, group_spec)
    for h in data.draw(st.lists(st.sampled_from(made), max_size=10)):
        change = data.draw(st.sampled_from(["fill", "free", "hold", "release", "deregister"]))
        if change == "fill" and h.staying_put < h.places:
            h.staying_put += 1
        elif change == "free" and h.staying_put > 0:
            h.staying_put -= 1
        elif change == "hold":
            h.on_hold = True
        elif change == "release":
            h.on_hold = False
        elif change == "deregister":
            h.active = False
        world.index.update(h)
    check_find(world, made, group, ages, kind, search)


@SETTINGS
@given(st.integers(1, 12), st.data())
def test_a_household_with_room_is_found_whatever_its_size(places, data):
    """However many places a household has (scenarios may give more than four), a group it
    can take finds it: the index has no blind spot for large households or groups."""
    size = data.draw(st.integers(1, places))
    spec = {
        "area": "East",
        "kind": "mainstream",
        "places": places,
        "min_age": 0,
        "max_age": 17,
        "accepts_complex": True,
    }
    group_spec = [
        {
            "age": data.draw(st.floats(0, 17.99, **finite)),
            "complex_needs": False,
            "solo": False,
            "parent_and_child": False,
            "uasc": False,
            "avoid_index": -1,
        }
        for _ in range(size)
    ]
    world, made, group, _ = build([spec], group_spec)
    assert world.index.find("mainstream", group, "North") is made[0]


@pytest.mark.parametrize("restriction", RESTRICTIONS)
@settings(max_examples=40, deadline=None)
@given(group_spec=groups(), data=st.data())
def test_each_matching_rule_is_applied(restriction, group_spec, data):
    """One household that would take the group but for one restriction: ``find`` returns it
    exactly when the rules (written out in ``oracle``) allow."""
    kind = "parent_and_child" if group_spec[0]["parent_and_child"] else "mainstream"
    spec = generous(data.draw, kind)
    restrict(data.draw, spec, restriction)
    for c in group_spec:
        c["avoid_index"] = -1
    world, made, group, ages = build([spec], group_spec)
    h = made[0]
    expected = oracle(h, group, ages)
    assert fits(world, h, group) == expected
    assert (world.index.find(kind, group, "North") is h) == (expected and h.kind == kind)
