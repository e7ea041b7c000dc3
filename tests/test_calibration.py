"""Calibration: the targets schema and parameter recovery on model-made data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.calibrate import (
    FreeParameter,
    Target,
    apply_parameters,
    fit,
    load_parameters,
    load_targets,
    simulate_targets,
)
from sim.config import ScenarioError, load_scenario, with_overrides

TARGETS = Path("calibration/targets.toml")


def test_every_target_has_a_source_and_a_known_measure():
    targets = load_targets(TARGETS)
    assert len([t for t in targets.target if t.use == "fit"]) >= 20
    for t in (*targets.target, *targets.holdout):
        assert t.source_file and t.source_section and t.quote
    # Calibration targets are dated up to March 2019; held-out figures come later.
    assert max(t.date for t in targets.target).isoformat() <= "2019-03-31"
    assert min(t.date for t in targets.holdout).isoformat() > "2019-03-31"


def test_a_target_without_a_source_is_rejected(tmp_path):
    text = re.sub(r"^quote = .*$", "", TARGETS.read_text(), count=1, flags=re.M)
    bad = tmp_path / "targets.toml"
    bad.write_text(text)
    with pytest.raises(ScenarioError, match="quote"):
        load_targets(bad)


def test_unknown_measure_is_rejected(tmp_path):
    text = TARGETS.read_text().replace('measure = "enquiries"', 'measure = "enquirys"', 1)
    bad = tmp_path / "targets.toml"
    bad.write_text(text)
    with pytest.raises(ScenarioError, match="unknown measure"):
        load_targets(bad)


def test_free_parameters_load_with_ranges():
    params = load_parameters("calibration/free_parameters.toml")
    assert {p.name for p in params} >= {"arrivals_non_uasc", "breakdown_scale", "approval_prob"}
    sc = load_scenario("calibration/kent_2018.toml", calibrated=False)
    scaled = apply_parameters(sc, [p for p in params if p.name == "breakdown_scale"], [2.0])
    assert scaled.breakdown.per_year["in_house"] == pytest.approx(
        2 * sc.breakdown.per_year["in_house"]
    )


def small_council():
    """Kent's calibration run at a quarter of the size (the funnel kept whole), for speed."""
    sc = load_scenario("calibration/kent_2018.toml", calibrated=False)
    quarter = {k: v // 4 for k, v in sc.initial.placements.items()}
    return with_overrides(
        sc,
        {
            "children": {"arrivals_per_year": sc.children.arrivals_per_year / 4},
            "uasc": {"arrivals_per_year": sc.uasc.arrivals_per_year / 4},
            "initial": {
                "placements": quarter,
                "uasc": sc.initial.uasc // 4,
                "households": sc.initial.households // 4,
            },
            "providers": {
                "ifa_framework_places": 50,
                "residential_places": 35,
                "supported_places": 80,
                "unregistered_places": 10,
            },
        },
    )


@pytest.mark.slow
def test_parameter_recovery_from_model_made_data():
    """Fit two parameters to figures the model itself produced with known values."""
    sc = small_council()
    params = [
        FreeParameter(
            name="arrivals",
            path="children.arrivals_per_year",
            mode="value",
            low=60,
            high=260,
            start=100,
            informs="starts",
        ),
        FreeParameter(
            name="approval",
            path="recruitment.approval_prob",
            mode="value",
            low=0.2,
            high=0.95,
            start=0.4,
            informs="approvals",
        ),
    ]
    truth = [170.0, 0.75]
    measures = [
        ("starts", "flow", 10.0),
        ("approvals", "flow", 6.0),
        ("children_in_care", "stock", 10.0),
    ]
    template = dict(
        description="x",
        tolerance_reason="x",
        source_file="model",
        source_section="synthetic",
        quote="made by the model",
        use="fit",
    )
    proto = [
        Target(
            id=m, value=0.0, tolerance=tol, statistic=s, measure=m, date="2019-03-31", **template
        )
        for m, s, tol in measures
    ]
    made = simulate_targets(apply_parameters(sc, params, truth), proto, reps=24, seed=99)
    targets = [t.model_copy(update={"value": float(made[t.id].mean())}) for t in proto]
    # 20 evaluations: of a run allowed 50 (it used them all), the best point after 20 was within
    # 0.11 and 0.26 standard errors of the final one (163.4 against 162.4 arrivals, standard
    # error 8.9; 0.730 against 0.720 approval, standard error 0.039; seed 1), so the search's
    # own error is small beside the bounds. (After 15 and 18 it was still 1.2 to 1.3 off.)
    result = fit(sc, targets, params, reps=8, seed=1, max_evaluations=20)
    # Within the stated error: three standard errors, and never more than 12% off.
    for value, true, se in zip(result.values, truth, result.standard_errors, strict=True):
        assert abs(value - true) <= max(3 * se, 0.02 * true), (value, true, se)
        assert abs(value - true) / true < 0.12, (value, true)
    assert result.objective < result.start_objective
