"""The schema's defaults are neutral and Kent's figures live in its scenario file.

Each Kent figure that was once a default of ``sim/config.py`` is listed here: its default must
differ from it, and ``scenarios/kent_baseline.toml`` (or the fitted values it links to) must
state it. The England-wide defaults are checked against the figures they cite.
"""

from __future__ import annotations

import math
import tomllib
from typing import Any

import pytest
from conftest import KENT, ROOT

from sim.config import PLACEMENT_TYPES, Scenario, UascRingFence, load_scenario
from sim.model.world import World
from sim.rng import make_streams

FITTED = object()  # a figure the calibration fits (calibration/fitted.toml)
#: Kent's figures, as they stood when they were the schema's defaults.
KENT_FIGURES: dict[str, Any] = {
    "children.arrivals_per_year": FITTED,
    "children.area_weights": {"North": 0.27, "South": 0.22, "East": 0.28, "West": 0.23},
    "children.kinship_prob": 0.06,
    "children.staying_put_prob": 0.57,
    "uasc.arrivals_per_year": FITTED,
    "uasc.area_weights": {"North": 0.15, "South": 0.35, "East": 0.35, "West": 0.15},
    "uasc.nts.child_population": 348_000,
    "providers.ifa_framework_places": 190,
    "providers.residential_places": 140,
    "providers.supported_places": 330,
    "providers.unregistered_places": 40,
    "recruitment.enquiries_per_year": 590,
    "recruitment.seasonality": [1.0, 0.9, 0.9, 0.8, 0.9, 1.2, 0.9, 0.8, 1.3, 1.1, 1.0, 1.2],
    # Of the enquiries the team follows up: 34% of all at Kent's 2018-19 volume (A33).
    "recruitment.application_prob": 0.41,
    "recruitment.follow_up.slots": 45,
    "recruitment.assessment.fast_share": 0.91,
    "recruitment.assessment.fast_median_months": 5.2,
    "recruitment.assessment.fast_sigma": 0.06,
    "recruitment.household.places_weights": [0.28, 0.43, 0.28, 0.01],
    "recruitment.household.type_weights": {
        "mainstream": 0.912,
        "short_breaks": 0.04,
        "parent_and_child": 0.04,
        "emergency": 0.008,
    },
    "recruitment.household.area_weights": {"North": 0.25, "South": 0.25, "East": 0.3, "West": 0.2},
    "initial.placements": {
        "in_house": 898,
        "connected": 47,
        "ifa_framework": 150,
        "ifa_spot": 73,
        "residential": 108,
        "supported": 251,
        "unregistered": 7,
        "placed_for_adoption": 38,
        "with_parents": 18,
    },
    "initial.uasc": 255,
    "initial.households": 638,
    "initial.places_weights": [0.28, 0.43, 0.28, 0.01],
    "initial.on_hold_share": 0.08,
}


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            if part not in data:
                raise KeyError(path)
            data = data[part]
        else:
            data = getattr(data, part)
    return data


def _file(path: Any) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", KENT_FIGURES)
def test_the_default_is_not_kents_figure(path):
    default = _get(Scenario().model_dump(), path)
    kent = KENT_FIGURES[path]
    assert kent is FITTED or default != kent, f"{path}: the default is Kent's figure {kent}"


@pytest.mark.parametrize("path", KENT_FIGURES)
def test_kent_states_its_figure(path):
    """The Kent file states the figure itself, so Kent's results do not rest on a default."""
    own = _file(KENT)
    assert "extends" not in own  # every Kent figure is in this one file (or the fitted ones)
    if KENT_FIGURES[path] is FITTED:
        fitted = _file(KENT.parent / own["calibration"])["scenario"]
        assert isinstance(_get(fitted, path), float)
    else:
        assert _get(own, path) == KENT_FIGURES[path]
        assert _get(load_scenario(KENT).model_dump(), path) == KENT_FIGURES[path]


def test_the_england_defaults_match_the_figures_they_cite():
    """evidence.md 3.3, England 2018-19 and the 2013/14 benchmark."""
    sc = Scenario()
    r = sc.recruitment
    assert r.application_prob == pytest.approx(9_740 / 127_850, abs=5e-4)
    for weights in (r.household.places_weights, sc.initial.places_weights):
        mean = sum((i + 1) * w for i, w in enumerate(weights)) / sum(weights)
        assert mean == pytest.approx(88_370 / 44_450, abs=0.01)  # places per household
    a = r.assessment
    assert a.fast_share == 1.0
    # 273 days from enquiry to approval, less the application and assessment-start stages.
    months = (273 - r.application_days - r.assessment_start_days) / (365.25 / 12)
    assert a.fast_median_months * math.exp(a.fast_sigma**2 / 2) == pytest.approx(months, abs=0.05)


def test_the_default_council_is_empty_and_runs():
    """With neutral defaults nothing arrives or is there unless a scenario states it."""
    sc = Scenario(years=1.0)
    assert sum(sc.initial.placements.values()) == 0
    assert set(sc.initial.placements) == set(PLACEMENT_TYPES)
    assert UascRingFence(start=sc.start).model_dump(exclude={"start", "end"}) == dict.fromkeys(
        ("in_house", "ifa_framework", "supported"), 0
    )
    res = World(sc, make_streams(1, 0)).run()
    assert (res.snapshots["children_in_care"] == 0).all()
    assert (res.snapshots["households"] == 0).all()


def test_kents_ring_fence_scenarios_state_their_beds():
    for name in ("policy_uasc_ring_fence.toml", "policy_combined.toml"):
        fences = _file(ROOT / "scenarios" / name)["interventions"]["uasc_ring_fence"]
        assert [(f["in_house"], f["ifa_framework"], f["supported"]) for f in fences] == [
            (39, 21, 9)
        ]
