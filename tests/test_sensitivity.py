"""Sensitivity analysis: the parameters file, the SALib designs, the indices and a tiny run.

Unit tests of the file's checks (each error names the file and the field), design sizes, and
indices on functions whose answer is known; one end-to-end run through the command line on
the batch engine, which resumes without rerunning anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import ScenarioError, load_scenario
from sim.cli import main
from sim.sensitivity import design, indices, load_params, make_spec, point_scenario

ROOT = Path(__file__).resolve().parents[1]
KENT = ROOT / "scenarios" / "kent_baseline.toml"


@pytest.fixture(scope="module")
def kent():
    return load_scenario(KENT, {"years": 1})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.toml"
    path.write_text(text)
    return path


def test_shipped_params_file_is_valid(kent):
    spec = load_params(ROOT / "scenarios" / "sensitivity_kent.toml", kent)
    assert "recruitment.enquiries_per_year" in spec.problem["names"]
    assert spec.replications >= 2
    assert spec.outputs == ["places_vacant_y5", "ifa_spot_y5", "unregistered_mean", "cost_total_m"]


def test_point_scenario_sets_values_and_scales_lists(kent):
    spec = make_spec(
        {
            "recruitment.enquiries_per_year": [400, 800],
            "initial.households": [500, 700],
            "attrition.deregistration_per_year": {"scale": [0.5, 2.0]},
            "matching.cascade.ifa_spot.accept_prob": [0.5, 0.9],
        },
        kent,
    )
    sc = point_scenario(kent, spec, [500.0, 612.6, 2.0, 0.6])
    assert sc.recruitment.enquiries_per_year == 500.0
    assert sc.initial.households == 613  # a whole-number field is rounded
    base = kent.attrition.deregistration_per_year
    assert sc.attrition.deregistration_per_year == pytest.approx([2 * v for v in base])
    assert sc.matching.cascade["ifa_spot"].accept_prob == 0.6
    assert sc.matching.cascade["ifa_framework"] == kent.matching.cascade["ifa_framework"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "recruitment.enquires_per_year = [400, 800]",
            "field 'recruitment.enquires_per_year': not a scenario parameter "
            "(did you mean 'recruitment.enquiries_per_year'?)",
        ),
        ("recruitment.enquiries_per_year = [800, 400]", "low (800) must be below high (400)"),
        ("recruitment.enquiries_per_year = 600", "expected a range [low, high]"),
        ("name = [1, 2]", "field 'name': must be a number"),
        ("recruitment.application_prob = [0.2, 1.5]", "recruitment.application_prob"),
        (
            "recruitment.enquiries_per_year = [1, 2]\n[options]\nreplications = 0",
            "options.replications",
        ),
        (
            "recruitment.enquiries_per_year = [1, 2]\n[options]\noutputs = ['nope']",
            "unknown output(s) ['nope']",
        ),
        ("recruitment.enquiries_per_year = [1, 2]\n[options]\nrepetitions = 2", "repetitions"),
        ("", "no parameter ranges given"),
    ],
)
def test_bad_params_file_names_the_file_and_field(tmp_path, kent, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_params(path, kent)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_design_sizes(kent):
    spec = make_spec(
        {
            "children.arrivals_per_year": [400, 600],
            "uasc.arrivals_per_year": [100, 300],
            "recruitment.enquiries_per_year": [400, 800],
        },
        kent,
    )
    morris = design(spec, "morris", 5, seed=1)
    assert morris.shape == (5 * 4, 3)
    sobol = design(spec, "sobol", 16, seed=1)
    assert sobol.shape == (16 * 5, 3)
    for x in (morris, sobol):
        assert (x >= [400, 100, 400]).all() and (x <= [600, 300, 800]).all()
    np.testing.assert_array_equal(design(spec, "sobol", 16, seed=1), sobol)  # reproducible
    with pytest.raises(ValueError, match="power of 2"):
        design(spec, "sobol", 12)


def test_indices_rank_a_known_function(kent):
    """y = 10 a + 1 b + 0 c: a dominates, c does nothing (Sobol' and Morris agree)."""
    spec = make_spec(
        {
            "children.arrivals_per_year": [0, 1],
            "uasc.arrivals_per_year": [0, 1],
            "recruitment.enquiries_per_year": [0, 1],
        },
        kent,
    )
    names = spec.problem["names"]
    for method, n, key in (("sobol", 256, "ST"), ("morris", 20, "mu_star")):
        x = design(spec, method, n, seed=3)
        y = pd.DataFrame({"cost_total_m": 10 * x[:, 0] + 1 * x[:, 1]})
        table = indices(spec, method, x, y, seed=3).set_index("parameter")
        assert table.loc[names[0], "rank"] == 1
        assert table.loc[names[0], key] > 5 * table.loc[names[1], key]
        assert table.loc[names[2], key] == pytest.approx(0, abs=0.02)
        if method == "sobol":
            assert table.loc[names[0], "S1"] == pytest.approx(100 / 101, abs=0.05)


@pytest.mark.slow
def test_sensitivity_end_to_end_and_resume(tmp_path, capsys):
    params = write(
        tmp_path,
        "recruitment.enquiries_per_year = [300, 900]\n"
        "children.arrivals_per_year = [400, 640]\n"
        "[options]\nreplications = 1\n",
    )
    out = tmp_path / "sens"
    args = [
        "sensitivity",
        str(KENT),
        "--params",
        str(params),
        "--method",
        "morris",
        "--n",
        "2",
        "--years",
        "1",
        "--workers",
        "2",
        "--seed",
        "4",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "morris sensitivity of 'Kent baseline': 6 design points x 1 replications" in printed
    table = pd.read_csv(out / "indices.csv")
    assert set(table["output"]) == {
        "places_vacant_y5",
        "ifa_spot_y5",
        "unregistered_mean",
        "cost_total_m",
    }
    assert set(table["parameter"]) == {
        "recruitment.enquiries_per_year",
        "children.arrivals_per_year",
    }
    des = pd.read_parquet(out / "design.parquet")
    assert len(des) == 6 and des["cost_total_m"].notna().all()
    assert (out / "sensitivity.png").stat().st_size > 10_000
    # More children coming into care costs more: the sign of Morris' mu says so.
    cost = table[(table["output"] == "cost_total_m")].set_index("parameter")
    assert cost.loc["children.arrivals_per_year", "mu"] > 0

    # Rerunning resumes: nothing is run again, the indices are the same.
    assert main(args) == 0
    runs = json.loads((out / "runs" / "manifest.json").read_text())["runs"]
    assert [r["replications_run"] for r in runs] == [6, 0]
    pd.testing.assert_frame_equal(pd.read_csv(out / "indices.csv"), table)
