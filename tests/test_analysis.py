"""Analysis of a results folder: loading, quantiles, fan charts and Monte Carlo error.

Unit tests on hand-made tables (quantiles and standard errors checked against numpy and
scipy), a statistical test (the confidence interval covers the true mean about as often as
it says), and functional tests on a small real batch.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim import load_scenario
from sim.analysis import (
    fan_charts,
    format_mc_error,
    load,
    monte_carlo_error,
    monthly_quantiles,
    quantiles,
    read_table,
    replications_needed,
    year_end,
    yearly_quantiles,
)
from sim.batch import HEADLINE_KPIS, KPIS, run_batch
from sim.results import ResultsError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Two scenarios (baseline and more enquiries), four replications, two years."""
    base = load_scenario(ROOT / "scenarios" / "kent_baseline.toml", {"years": 2})
    more = load_scenario(
        ROOT / "scenarios" / "kent_baseline.toml",
        {"years": 2, "name": "More enquiries", "recruitment": {"enquiries_per_year": 900}},
    )
    out = tmp_path_factory.mktemp("analysis") / "batch"
    run_batch([base, more], 4, out, seed=5, workers=2, progress=False)
    return out


# ----------------------------------------------------------------------------- unit


def test_quantiles_match_numpy():
    rng = np.random.default_rng(1)
    df = pd.DataFrame(
        {"g": np.repeat(["a", "b"], 50), "x": rng.normal(size=100), "y": rng.exponential(size=100)}
    )
    q = quantiles(df, ["g"], ["x", "y"])
    assert set(q.columns) == {"g", "measure", "mean", "p05", "p25", "median", "p75", "p95", "n"}
    row = q[(q["g"] == "b") & (q["measure"] == "y")].iloc[0]
    y = df.loc[df["g"] == "b", "y"].to_numpy()
    assert row["median"] == pytest.approx(np.median(y))
    assert row["p05"] == pytest.approx(np.quantile(y, 0.05))
    assert row["p75"] == pytest.approx(np.quantile(y, 0.75))
    assert row["n"] == 50
    assert (q["p05"] <= q["p25"]).all() and (q["p25"] <= q["median"]).all()
    assert (q["median"] <= q["p75"]).all() and (q["p75"] <= q["p95"]).all()


def test_standard_error_and_interval():
    x = np.array([10.0, 12.0, 9.0, 11.0, 13.0, 8.0])
    df = pd.DataFrame({"scenario": "s", "places_vacant_y5": x})
    row = monte_carlo_error(df, ["places_vacant_y5"]).iloc[0]
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert row["se"] == pytest.approx(se)
    assert row["half_width"] == pytest.approx(stats.t.ppf(0.975, 5) * se)
    assert row["ci_low"] < x.mean() < row["ci_high"]
    assert row["label"] == KPIS["places_vacant_y5"]


@pytest.mark.parametrize(("sd", "half"), [(10.0, 1.0), (3.0, 2.0), (50.0, 4.0)])
def test_replications_needed_is_the_smallest_enough(sd, half):
    n = int(replications_needed(sd, half))
    assert stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= half
    if n > 2:
        assert stats.t.ppf(0.975, n - 2) * sd / math.sqrt(n - 1) > half
    assert replications_needed(sd, half / 2) > n  # twice the precision costs more runs


def test_replications_needed_for_a_relative_precision():
    # sd 10 around a mean of 100: +/-1% needs about (1.96 * 10 / 1)^2 = 385 replications.
    rng = np.random.default_rng(0)
    x = rng.normal(100, 10, size=400)
    x = (x - x.mean()) / x.std(ddof=1) * 10 + 100  # exactly mean 100, sd 10
    df = pd.DataFrame({"scenario": "s", "cost_total_m": x})
    row = monte_carlo_error(df, ["cost_total_m"], precision=0.01).iloc[0]
    assert row["replications_needed"] == pytest.approx(387, abs=3)
    assert bool(row["enough"])  # 400 >= 387
    absolute = monte_carlo_error(df, ["cost_total_m"], precision=1.0, relative=False).iloc[0]
    assert absolute["replications_needed"] == row["replications_needed"]


@pytest.mark.slow
def test_interval_covers_the_true_mean_as_often_as_it_says():
    """Statistical: 2,000 batches of 20 skewed draws; a 95% interval covers the mean 93-97%."""
    rng = np.random.default_rng(42)
    draws = rng.gamma(4.0, 2.5, size=(2000, 20))  # true mean 10
    df = pd.DataFrame(
        {"scenario": np.repeat(np.arange(2000), 20), "unregistered_mean": draws.ravel()}
    )
    mc = monte_carlo_error(df, ["unregistered_mean"])
    coverage = ((mc["ci_low"] <= 10) & (10 <= mc["ci_high"])).mean()
    assert 0.93 <= coverage <= 0.97


# ----------------------------------------------------------------------------- a real batch


@pytest.mark.slow
def test_load_gives_the_tables_of_the_batch(batch):
    b = load(batch)
    assert b.scenarios == ["Kent baseline", "More enquiries"]
    assert len(b.kpis) == 8 and set(HEADLINE_KPIS) <= set(b.kpis.columns)
    snaps = b.snapshots
    assert list(snaps.columns[:3]) == ["scenario", "replication", "date"]
    assert snaps.groupby(["scenario", "replication"], observed=True).size().eq(25).all()
    assert b.flows.groupby(["scenario", "replication"], observed=True).size().eq(2).all()
    assert not b.failures
    only = b.table("snapshots", ["in_house"])
    assert list(only.columns) == ["scenario", "replication", "date", "in_house"]
    # flows absent from some chunks are zero there, never missing
    assert (
        not b.flows.drop(
            columns=[c for c in b.flows if "share" in c or "ratio" in c or "mean" in c]
        )
        .isna()
        .any()
        .any()
    )


@pytest.mark.slow
def test_monthly_and_yearly_quantiles(batch):
    b = load(batch)
    monthly = monthly_quantiles(b.snapshots, ["in_house", "ifa_spot"])
    assert len(monthly) == 2 * 25 * 2  # scenarios x month ends x measures
    assert (monthly["n"] == 4).all()
    yearly = yearly_quantiles(b.flows, ["approvals", "enquiries"])
    assert set(yearly["financial_year"]) == {"2019-20", "2020-21"}
    enq = yearly[yearly["measure"] == "enquiries"].groupby("scenario", observed=True)["mean"]
    assert enq.mean()["More enquiries"] > enq.mean()["Kent baseline"]
    ends = year_end(b.snapshots)
    assert sorted(ends["year"].unique()) == [2019, 2020, 2021]


@pytest.mark.slow
def test_fan_charts_draw_every_scenario(batch):
    b = load(batch)
    fig = fan_charts(b.snapshots, ["in_house", "unregistered", "weekly_cost"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3
    assert len(visible[0].lines) == 2  # one median line per scenario
    plt.close(fig)


@pytest.mark.slow
def test_monte_carlo_error_of_a_batch(batch):
    mc = monte_carlo_error(load(batch).kpis)
    assert len(mc) == 2 * len(HEADLINE_KPIS)
    assert (mc["n"] == 4).all()
    assert (mc["se"] >= 0).all()
    assert "Vacant in-house places, year 5" in format_mc_error(mc)


def test_a_folder_without_manifest_is_refused(tmp_path):
    with pytest.raises(ResultsError, match=r"no manifest\.json; give a folder written by"):
        load(tmp_path)
    with pytest.raises(ResultsError):
        read_table(tmp_path, "snapshots")
