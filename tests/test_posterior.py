"""History matching on a toy with a known answer, and the posterior draws a scenario runs with."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from sim.config import ScenarioError, load_scenario
from sim.experiment import run
from sim.history_matching import (
    Emulator,
    Observation,
    Settings,
    history_match,
    implausibility,
    non_implausible,
    passes,
)
from sim.posterior import check, for_replication, point, read_posterior, write_posterior
from tests.conftest import KENT, ROOT

# ------------------------------------------------------------------------------ the toy

TRUE = np.array([0.3, 0.6])
NOISE = 0.01


def _f(X: np.ndarray) -> np.ndarray:
    return np.column_stack([np.sin(6 * X[:, 0]) + X[:, 1], np.cos(5 * X[:, 1]) * X[:, 0]])


def toy(X: np.ndarray, wave: int) -> pd.DataFrame:
    """Two non-linear figures of two parameters on [0, 1]^2, with run-to-run noise."""
    y = _f(X) + np.random.default_rng(wave).normal(0, NOISE, (len(X), 2))
    return pd.DataFrame(y, columns=["f1", "f2"])


Z = _f(TRUE[None, :])[0]
OBS = [Observation("f1", Z[0], 0.03, 0.0), Observation("f2", Z[1], 0.03, 0.0)]
SIM_VAR = {"f1": NOISE**2, "f2": NOISE**2}


def true_implausibility(U: np.ndarray) -> np.ndarray:
    return np.abs(_f(U) - Z) / np.sqrt(0.03**2 + NOISE**2)


@pytest.mark.slow
def test_history_match_recovers_the_known_non_implausible_region():
    settings = Settings(allowed_misses=0, candidates=3000, enough=300)
    res = history_match(toy, [0, 0], [1, 1], ["a", "b"], OBS, [20, 15, 15], SIM_VAR, 3, settings)
    # The true region: where the function itself is within 3 sigma of both figures (about 3%
    # of the square, in two curved pieces).
    grid = np.random.default_rng(9).random((40_000, 2))
    region = (true_implausibility(grid) <= 3).all(axis=1)
    shares = res.summary["non_implausible_share_of_prior"]
    assert shares.iloc[0] > shares.iloc[-1], "the waves narrow the space"
    share = shares.iloc[-1]
    assert 0.5 * region.mean() <= share <= 2 * region.mean(), (region.mean(), share)
    # What the emulators accept is inside the true region, and most of the region is kept.
    assert (true_implausibility(res.accepted) <= 3).all(axis=1).mean() > 0.85
    kept = np.ones(region.sum(), bool)
    for w in res.waves:
        kept &= passes(implausibility(w.emulators, grid[region], OBS, SIM_VAR), settings)
    assert kept.mean() > 0.7
    assert passes(implausibility(res.waves[-1].emulators, TRUE[None, :], OBS, SIM_VAR), settings)
    # Held-out standardised errors of the emulators are mostly within 3.
    assert res.validation()["share_within_3"].mean() > 0.8


@pytest.mark.slow
def test_the_space_does_not_depend_on_the_number_of_fitting_processes():
    """Two processes fit the emulators and prune the candidates target by target: the waves
    must find exactly the space one process finds, and that space must be the one the full
    implausibility matrix of every wave gives."""
    settings = Settings(allowed_misses=1, candidates=400, enough=50, candidate_batches=2)
    args = (toy, [0, 0], [1, 1], ["a", "b"], OBS, [10, 8], SIM_VAR, 5, settings)
    one = history_match(*args, workers=1)
    two = history_match(*args, workers=2)
    np.testing.assert_array_equal(one.accepted, two.accepted)
    pd.testing.assert_frame_equal(one.summary, two.summary)
    grid = np.random.default_rng(4).random((2000, 2))
    full = np.ones(len(grid), bool)
    for w in one.waves:
        full &= passes(implausibility(w.emulators, grid, OBS, SIM_VAR), settings)
    assert 0 < full.sum() < len(grid)
    np.testing.assert_array_equal(non_implausible(one.waves, grid, OBS, SIM_VAR, settings), full)


@pytest.mark.slow
def test_a_target_no_parameter_set_can_reach_is_reported_not_cut_on():
    unreachable = Observation("f2", 5.0, 0.03, 0.0)  # f2 is at most 1 on the box
    settings = Settings(allowed_misses=0, candidates=2000, enough=200)
    res = history_match(
        toy, [0, 0], [1, 1], ["a", "b"], [OBS[0], unreachable], [20, 15], SIM_VAR, 1, settings
    )
    assert res.excluded == ["f2"]
    assert res.summary["non_implausible_share_of_prior"].iloc[-1] > 0


def test_fits_with_a_length_scale_at_its_bound_are_counted_not_shown():
    """A figure that does not depend on a parameter puts that length scale at its bound: the
    fit's ConvergenceWarnings are counted on the emulator and in the wave summary, and none
    reaches the caller."""
    X = np.random.default_rng(0).random((25, 2))
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        flat = Emulator(X, np.sin(6 * X[:, 0]))  # nothing of X[:, 1]
    assert flat.convergence_warnings > 0
    assert not [w for w in shown if issubclass(w.category, ConvergenceWarning)]
    settings = Settings(allowed_misses=0, candidates=200, enough=20, candidate_batches=1)
    res = history_match(toy, [0, 0], [1, 1], ["a", "b"], OBS, [12], SIM_VAR, 1, settings)
    counted = sum(em.convergence_warnings > 0 for em in res.waves[0].emulators.values())
    assert res.summary["emulator_fits_at_a_bound"].tolist() == [counted]


def test_the_gp_sees_only_the_inputs_that_move_its_target():
    """In 12 dimensions, a figure of inputs 2 (curved) and 7 (linear) plus noise: with two
    active inputs the GP is given exactly those two, predicts new points within a few noise
    sds, and says so in its variance; with none, it is given every input."""
    rng = np.random.default_rng(3)

    def f(X):
        return np.sin(3 * X[:, 2]) + 2 * X[:, 7] + rng.normal(0, 0.05, len(X))

    X, new = rng.random((150, 12)), rng.random((200, 12))
    em = Emulator(X, f(X), active=2)
    assert em.inputs.tolist() == [2, 7]
    mean, var = em.predict(new)
    err = (np.sin(3 * new[:, 2]) + 2 * new[:, 7]) - mean
    assert np.sqrt(np.mean(err**2)) < 0.1
    # Standardised errors: the variance covers the noise it was fitted with (0.05).
    assert np.mean(err**2 / (var + 0.05**2)) < 3
    assert Emulator(X, f(X)).inputs.tolist() == list(range(12))
    assert Settings().active_inputs == 8


def test_history_match_gives_each_wave_emulator_the_active_inputs_and_reports_them():
    """``Settings.active_inputs`` reaches the fitted emulators and the wave's emulator table."""
    settings = Settings(allowed_misses=0, candidates=200, enough=20, candidate_batches=1)
    one = Settings(**{**settings.__dict__, "active_inputs": 1})
    res = history_match(toy, [0, 0], [1, 1], ["a", "b"], OBS, [12], SIM_VAR, 1, one)
    for em in res.waves[0].emulators.values():
        assert len(em.inputs) == 1
    shown = res.waves[0].validation["gp_inputs"].tolist()
    assert all(s in ("a", "b") for s in shown)
    res = history_match(toy, [0, 0], [1, 1], ["a", "b"], OBS, [12], SIM_VAR, 1, settings)
    assert set(res.waves[0].validation["gp_inputs"]) == {"a b"}


# ------------------------------------------------------------------- posterior draws


ENQUIRIES = [100.0, 3000.0, 9000.0]


def _posterior(path, values=None):
    values = values or [{"recruitment": {"enquiries_per_year": e}} for e in ENQUIRIES]
    draws = pd.DataFrame(
        {
            "draw": range(len(values)),
            "enquiries": [v.get("recruitment", {}).get("enquiries_per_year", 0.0) for v in values],
            "scenario_values": [json.dumps(v) for v in values],
        }
    )
    return write_posterior(draws, path, {"targets": "toy", "seed": 1})


def _kent_without_posterior(tmp_path):
    """A copy of the Kent baseline without its posterior (and the point fit it loads)."""
    lines = KENT.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.startswith("posterior ="))
    fitted = (KENT.parent / "../calibration/fitted.toml").resolve().as_posix()
    path = tmp_path / "kent_point.toml"
    path.write_text(text.replace('"../calibration/fitted.toml"', f'"{fitted}"'), encoding="utf-8")
    return path


def _scenario(tmp_path, posterior="post.parquet", extra=""):
    base = _kent_without_posterior(tmp_path)
    path = tmp_path / "kent_short.toml"
    path.write_text(
        f'extends = "{base.name}"\nposterior = "{posterior}"\nname = "short"\n'
        f"years = 0.25\n{extra}",
        encoding="utf-8",
    )
    return path


def _enquiries(tables):
    return tables["flows"].groupby("replication")["enquiries"].sum().to_numpy()


@pytest.mark.slow
def test_replication_r_runs_with_draw_r_and_the_same_seed_the_same_draws(tmp_path):
    _posterior(tmp_path / "post.parquet")
    sc = load_scenario(_scenario(tmp_path))
    assert sc.posterior is not None and len(sc.posterior.sha256) == 64
    draws = [for_replication(sc, r)[1] for r in range(4)]
    assert draws == [0, 1, 2, 0]
    assert for_replication(sc, 1)[0].recruitment.enquiries_per_year == 3000.0
    first, again = run(sc, reps=4, seed=5), run(sc, reps=4, seed=5)
    assert first["meta"]["posterior_draw"].tolist() == [0, 1, 2, 0]
    pd.testing.assert_frame_equal(first["flows"], again["flows"])
    e = _enquiries(first)
    # A quarter at 100, 3,000 and 9,000 a year: about 25, 750 and 2,250 enquiries.
    assert e[0] < e[1] < e[2]
    assert abs(e[2] - 2250) < 5 * np.sqrt(2250)


def test_point_parameters_run_exactly_the_scenario_without_its_posterior(tmp_path):
    _posterior(tmp_path / "post.parquet")
    with_draws = load_scenario(_scenario(tmp_path))
    plain = tmp_path / "plain.toml"
    plain.write_text('extends = "kent_point.toml"\nname = "short"\nyears = 0.25\n')
    a, b = run(point(with_draws), reps=2, seed=5), run(load_scenario(plain), reps=2, seed=5)
    assert "posterior_draw" not in a["meta"]
    for name in ("snapshots", "flows"):
        pd.testing.assert_frame_equal(a[name], b[name])


def test_a_file_extending_the_declaring_one_keeps_its_own_values(tmp_path):
    _posterior(tmp_path / "post.parquet")
    base = _scenario(tmp_path)
    child = tmp_path / "policy.toml"
    child.write_text(f'extends = "{base.name}"\n[recruitment]\nenquiries_per_year = 42\n')
    sc = load_scenario(child)
    assert for_replication(sc, 2)[0].recruitment.enquiries_per_year == 42
    overridden = load_scenario(base, {"recruitment": {"enquiries_per_year": 43}})
    assert for_replication(overridden, 2)[0].recruitment.enquiries_per_year == 43


def _check(path):
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", "check", str(path)], capture_output=True, text=True
    )


@pytest.mark.slow
def test_check_names_the_file_and_field_of_a_broken_posterior(tmp_path):
    missing = _check(_scenario(tmp_path, "nowhere.parquet"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "nowhere.parquet: posterior file not found" in missing.stderr

    (tmp_path / "text.parquet").write_text("not parquet")
    bad = _check(_scenario(tmp_path, "text.parquet"))
    assert bad.returncode == 2 and "not a readable parquet file" in bad.stderr

    _posterior(tmp_path / "wrong.parquet", [{"recruitment": {"enquiries_per_yr": 1.0}}])
    wrong = _check(_scenario(tmp_path, "wrong.parquet"))
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "field 'posterior'" in wrong.stderr and "enquiries_per_yr" in wrong.stderr

    _posterior(tmp_path / "post.parquet")
    ok = _check(_scenario(tmp_path))
    assert ok.returncode == 0 and "posterior draw r mod N" in ok.stdout


def test_read_posterior_keeps_the_metadata(tmp_path):
    _posterior(tmp_path / "post.parquet")
    draws, meta = read_posterior(tmp_path / "post.parquet")
    assert len(draws) == 3 and meta == {"targets": "toy", "seed": 1}
    sc = load_scenario(_scenario(tmp_path))
    check(sc, "x")
    with pytest.raises(ScenarioError, match="posterior file not found"):
        read_posterior(tmp_path / "none.parquet")


@pytest.mark.slow
def test_a_batch_records_each_replications_draw(tmp_path):
    from sim.batch import run_batch
    from sim.results import load

    _posterior(tmp_path / "post.parquet")
    sc = load_scenario(_scenario(tmp_path))
    run_batch([sc], 4, tmp_path / "out", seed=5, workers=1, progress=False)
    kpis = load(tmp_path / "out").kpis.sort_values("replication")
    assert kpis["posterior_draw"].tolist() == [0, 1, 2, 0]


@pytest.mark.slow
def test_the_committed_posterior_fits_the_kent_scenarios_and_keeps_their_own_drivers():
    observed = KENT.parent / "kent_2019_2024_observed.toml"
    for path in (KENT, observed, KENT.parent / "england.toml"):
        check(load_scenario(path), str(path))
    sc = load_scenario(observed)
    draws, meta = read_posterior(sc.posterior.file)
    assert len(draws) == meta["draws"] and meta["targets"] == "calibration/targets_history.toml"
    # The committed posterior is the draws the simulator confirmed, out of a larger space sample:
    # at least 30, so the 40 replications of `validate` use each draw at most twice.
    assert 30 <= len(draws) <= meta["simulated_draws"] <= meta["space_draws"]
    drawn, r = for_replication(sc, 7)
    assert r == 7
    assert drawn.breakdown.high_risk_share == pytest.approx(draws["high_risk_share"].iloc[7])
    assert drawn.uasc.surges == sc.uasc.surges  # the observed drivers, not the 2014 run's
    assert drawn.initial.households == sc.initial.households  # a 2014 initial condition


@pytest.mark.parametrize(
    "posterior", ["calibration/posterior.parquet", "calibration/hindcast_2017/posterior.parquet"]
)
def test_each_committed_posterior_was_fitted_on_the_committed_files(posterior):
    """The targets and free-parameter files a committed posterior records are the ones in the
    repository, byte for byte: a change to either (a range, a target, even an informs text)
    needs the match run again, or the posterior no longer says what it was fitted on."""
    import hashlib

    _, meta = read_posterior(ROOT / posterior)
    for key in ("targets", "parameters"):
        text = (ROOT / meta[key]).read_bytes()
        assert hashlib.sha256(text).hexdigest() == meta[f"{key}_sha256"], (
            f"{posterior} was fitted on another {meta[key]}: run the match again"
        )


def test_a_sensitivity_design_sets_its_parameters_without_draws(tmp_path):
    from sim.sensitivity import Parameter, ParamSpec, point_scenario

    _posterior(tmp_path / "post.parquet")
    sc = load_scenario(_scenario(tmp_path))
    spec = ParamSpec([Parameter("recruitment.enquiries_per_year", 10.0, 20.0)])
    design = point_scenario(sc, spec, [15.0])
    assert design.posterior is None
    assert for_replication(design, 1)[0].recruitment.enquiries_per_year == 15.0


# ------------------------------------------------- calibrate_posterior, end to end on a fake


def _history_targets(tmp_path):
    """The history file's own targets (2014-2017 and the 2019 additions), not those it
    extends: fewer emulators to fit. Returns the file and the observed value of each."""
    from sim.calibrate import load_targets

    text = (ROOT / "calibration" / "targets_history.toml").read_text(encoding="utf-8")
    targets_path = tmp_path / "targets.toml"
    targets_path.write_text(text.replace('extends = "targets.toml"', ""), encoding="utf-8")
    return targets_path, {t.id: t.value for t in load_targets(targets_path).target}


def _match(tmp_path, monkeypatch, targets_path, params, fake, **options):
    """``calibrate_posterior`` on the 2014 scenario with ``fake`` as the simulator."""
    import sim.history_matching as hm

    monkeypatch.setattr(hm, "kent_simulator", fake)

    # The fresh runs of the confirmed draws: the fake's figures, as a simulator at wave 0.
    def fresh(scenario, ps, used, X, seed, workers):
        return fake(scenario, ps, used, seed, workers, None, None)(X, 0, 1)

    monkeypatch.setattr(hm, "_fresh_runs", fresh)
    return hm.calibrate_posterior(
        ROOT / "scenarios" / "kent_2014.toml",
        targets_path,
        params,
        tmp_path,
        [10],
        seed=3,
        settings=Settings(candidates=1000, enough=100),
        log=lambda s: None,
        **options,
    )


def _two_parameters(tmp_path):
    """Targets, a file of two free parameters, a stand-in simulator and the sizes of its calls."""
    targets_path, observed = _history_targets(tmp_path)
    params = tmp_path / "params.toml"
    params.write_text(
        "\n".join(
            f'[[parameter]]\nname = "{n}"\npath = "{p}"\nmode = "{m}"\nlow = {lo}\n'
            f'high = {hi}\nstart = {st}\ninforms = "test"\nforecast = {fc}\n'
            for n, p, m, lo, hi, st, fc in [
                ("uasc_fy2016", "uasc.surges.1.per_year", "value", 600, 1300, 969, "false"),
                ("breakdown_scale", "breakdown.per_year", "scale", 0.3, 3.0, 1.0, "true"),
            ]
        ),
        encoding="utf-8",
    )
    # Every figure equals its observed value where the first parameter is 950, and drifts by
    # twice that value across the parameter's range.
    calls: list[int] = []

    def fake(scenario, ps, used, seed, workers, cache, log):
        def run(X, wave, reps):
            calls.append(len(X))
            u = (np.repeat(X, reps, axis=0)[:, 0] - 950.0) / 700.0
            if wave == 2:  # the confirmation runs: the simulator rules out every even draw
                u = u + np.where(np.arange(len(u)) % 2 == 0, 1.0, 0.0)
            return pd.DataFrame({t.id: observed[t.id] * (1 + 2 * u) for t in used})

        return run

    return targets_path, params, fake, calls


@pytest.mark.slow
def test_calibrate_posterior_writes_the_history_fit_of_its_draws(tmp_path, monkeypatch):
    """The whole command on a stand-in simulator whose figures are known functions of two
    parameters: the waves, the draws, and the fit table of the confirmed draws over the whole
    history (every target, each year), with the count of fitted targets within tolerance."""
    targets_path, params, fake, calls = _two_parameters(tmp_path)
    done = _match(tmp_path, monkeypatch, targets_path, params, fake, draws=30, confirm=8)
    fit = pd.read_csv(tmp_path / "fit_table_posterior.csv")
    compared = fit[(fit["use"] == "fit") & (fit["status"] == "compared")]
    assert len(compared) >= 12 and set(fit["year"]) >= {2015, 2016, 2017}
    # The draws spread around the truth, so every observed figure is inside the draws' range,
    # and "within tolerance" is the median's gap against the tolerance.
    assert (compared["simulated_p05"] <= compared["observed"]).all()
    assert (compared["observed"] <= compared["simulated_p95"]).all()
    gap = (compared["simulated_median"] - compared["observed"]).abs()
    assert (compared["within_tolerance"] == (gap <= compared["tolerance"])).all()
    within, total = done["meta"]["fitted_within_tolerance"]
    assert (within, total) == (int(compared["within_tolerance"].sum()), len(compared))
    by_year = pd.read_csv(tmp_path / "fit_table_posterior_by_year.csv")
    assert {"measure", "2015", "2016", "2017"} <= set(by_year.columns)
    assert calls[-2:] == [8, 4], "eight draws confirmed by a run each, the four kept run again"
    again = pd.read_csv(tmp_path / "fit_table_posterior_fresh.csv")
    fresh = again[(again["use"] == "fit") & (again["status"] == "compared")]
    assert done["meta"]["fitted_within_tolerance_fresh_streams"] == [
        int(fresh["within_tolerance"].sum()),
        len(fresh),
    ]
    # The posterior is the draws whose own run passes: the odd ones of the first eight.
    space, _ = read_posterior(tmp_path / "posterior_space.parquet")
    post, meta = read_posterior(tmp_path / "posterior.parquet")
    assert len(space) == 30 and len(post) == 4 and meta["draws"] == 4
    np.testing.assert_allclose(post["uasc_fy2016"], space["uasc_fy2016"].iloc[[1, 3, 5, 7]])
    assert list(post["draw"]) == [0, 1, 2, 3] and meta["confirmed_share"] == 0.5


@pytest.mark.slow
def test_too_few_confirmed_draws_simulate_the_next_ones_of_the_space(tmp_path, monkeypatch):
    """``min_draws``: four draws at a time until six pass (the odd ones), then no more."""
    targets_path, params, fake, calls = _two_parameters(tmp_path)
    done = _match(
        tmp_path, monkeypatch, targets_path, params, fake, draws=30, confirm=4, min_draws=6
    )
    assert calls[-4:] == [4, 8, 12, 6], "the prefix grows by four; the six kept run again"
    space, _ = read_posterior(tmp_path / "posterior_space.parquet")
    post, meta = read_posterior(tmp_path / "posterior.parquet")
    np.testing.assert_allclose(post["uasc_fy2016"], space["uasc_fy2016"].iloc[[1, 3, 5, 7, 9, 11]])
    assert meta["simulated_draws"] == 12 == done["meta"]["simulated_draws"]
    assert meta["min_draws"] == 6 and meta["confirmed_share"] == 0.5


@pytest.mark.slow
def test_a_rolling_origin_fit_uses_only_the_earlier_targets_and_draws_carry_every_value(
    tmp_path, monkeypatch
):
    """``until``: the targets after the origin are neither emulated nor in the fit table, and
    each draw resolves the initial conditions too (``forecast = false``), which a forecast from
    the history's own start needs."""
    from sim.validate import refit_scenario

    targets_path, observed = _history_targets(tmp_path)
    params = tmp_path / "params.toml"
    # The 2016-17 level starts after the origin: it carries the 2015-16 one.
    params.write_text(
        '[[parameter]]\nname = "uasc_fy2016"\npath = "uasc.surges.1.per_year"\nmode = "value"\n'
        'low = 600\nhigh = 1300\nstart = 969\ninforms = "test"\nforecast = false\n'
        '[[parameter]]\nname = "uasc_fy2017"\npath = "uasc.surges.2.per_year"\nmode = "value"\n'
        'low = 150\nhigh = 550\nstart = 351\ninforms = "test"\nforecast = false\n'
        'after = 2016-04-01\ncarries = "uasc_fy2016"\n',
        encoding="utf-8",
    )
    until = dt.date(2016, 3, 31)
    seen: list[dt.date] = []
    runs: list[np.ndarray] = []

    def fake(scenario, ps, used, seed, workers, cache, log):
        seen.extend(t.date for t in used)
        assert [p.name for p in ps] == ["uasc_fy2016", "uasc_fy2017"]

        def run(X, wave, reps):
            runs.append(X)
            u = (np.repeat(X, reps, axis=0)[:, 0] - 950.0) / 700.0
            return pd.DataFrame({t.id: observed[t.id] * (1 + 2 * u) for t in used})

        return run

    done = _match(
        tmp_path, monkeypatch, targets_path, params, fake, draws=20, confirm=6, until=until
    )
    assert seen and max(seen) <= until < max(_dates(targets_path))
    fit = pd.read_csv(tmp_path / "fit_table_posterior.csv")
    assert pd.to_datetime(fit["date"]).max().date() <= until
    post, meta = read_posterior(tmp_path / "posterior.parquet")
    assert meta["until"] == "2016-03-31" == done["meta"]["until"]
    values = [json.loads(v) for v in post["scenario_values"]]
    drawn_levels = [v["uasc"]["surges"][1]["per_year"] for v in values]
    assert drawn_levels == list(post["uasc_fy2016"])
    # Every run and draw holds the carried level, and the emulators never saw it as an input.
    assert all((X[:, 1] == X[:, 0]).all() for X in runs)
    assert [v["uasc"]["surges"][2]["per_year"] for v in values] == drawn_levels
    ranges = pd.read_csv(tmp_path / "posterior_ranges.csv")
    assert list(ranges["parameter"]) == ["uasc_fy2016"]
    # The refit hindcast runs the fit's own scenario with these draws from the origin on.
    monkeypatch.chdir(ROOT)
    refit = refit_scenario(tmp_path / "posterior.parquet")
    assert refit.origin == until and refit.scenario.start == dt.date(2014, 3, 31)
    drawn, draw = for_replication(refit.scenario, 1)
    assert draw == 1 and drawn.uasc.surges[1].per_year == post["uasc_fy2016"].iloc[1]
    assert drawn.uasc.surges[2].per_year == post["uasc_fy2016"].iloc[1]


def test_a_level_dated_after_the_origin_carries_the_named_one(tmp_path):
    """``at_origin``: free from its own start on, carried before it; a malformed pair is refused."""
    from sim.calibrate import at_origin, load_parameters

    def write(extra: str) -> Path:
        path = tmp_path / "p.toml"
        path.write_text(
            "".join(
                f'[[parameter]]\nname = "{n}"\npath = "uasc.surges.{i}.per_year"\n'
                f'mode = "value"\nlow = 0\nhigh = 900\nstart = 100\ninforms = "test"\n{e}'
                for i, (n, e) in enumerate(
                    [("a", ""), ("b", 'after = 2017-04-01\ncarries = "a"\n'), ("c", extra)]
                )
            ),
            encoding="utf-8",
        )
        return path

    params = load_parameters(write(""))
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    for until in (None, dt.date(2017, 4, 1), dt.date(2019, 3, 31)):
        free, expand = at_origin(params, until)
        assert [p.name for p in free] == ["a", "b", "c"]
        np.testing.assert_array_equal(expand(X), X)
    free, expand = at_origin(params, dt.date(2017, 3, 31))
    assert [p.name for p in free] == ["a", "c"]
    np.testing.assert_array_equal(expand(X[:, [0, 2]]), [[1.0, 1.0, 3.0], [4.0, 4.0, 6.0]])
    for extra, words in [
        ("after = 2018-04-01\n", "go together"),
        ('carries = "a"\n', "go together"),
        ('after = 2018-04-01\ncarries = "z"\n', "got 'z'"),
        ('after = 2018-04-01\ncarries = "c"\n', "got 'c'"),
    ]:
        with pytest.raises(ScenarioError, match=words):
            load_parameters(write(extra))
    # A level carrying one that is itself carried at that origin.
    chained = load_parameters(write('after = 2018-04-01\ncarries = "b"\n'))
    with pytest.raises(ScenarioError, match="not free at that origin"):
        at_origin(chained, dt.date(2017, 3, 31))
    assert [p.name for p in at_origin(chained, dt.date(2017, 4, 1))[0]] == ["a", "b"]


def _dates(targets_path):
    from sim.calibrate import load_targets

    return [t.date for t in load_targets(targets_path).target]


def test_the_refit_hindcast_refuses_a_posterior_fitted_to_the_whole_history():
    from sim.validate import refit_scenario

    with pytest.raises(ScenarioError, match="rolling origin"):
        refit_scenario(KENT.parent.parent / "calibration" / "posterior.parquet")


@pytest.mark.slow
def test_the_fresh_runs_give_each_draw_a_stream_no_match_run_used():
    """Two draws with the same values differ on their fresh runs (a stream each), and the
    runs are those of replications 900,000 and 900,001 of the seed, whatever the workers."""
    import sim.history_matching as hm
    from sim.calibrate import apply_parameters, load_parameters, load_targets, simulate_targets

    scenario = load_scenario(ROOT / "scenarios" / "kent_2014.toml", calibrated=False)
    params = load_parameters(ROOT / "calibration" / "free_parameters.toml")[:2]
    used = [
        t
        for t in load_targets(ROOT / "calibration" / "targets_history.toml").target
        if t.id in {"children_in_care_2015", "starts_fy2015", "ceasings_fy2015"}
    ]
    X = np.array([[p.start for p in params]] * 2)
    one = hm._fresh_runs(scenario, params, used, X, 7, 1)
    two = hm._fresh_runs(scenario, params, used, X, 7, 2)
    pd.testing.assert_frame_equal(one, two)
    assert not one.iloc[0].equals(one.iloc[1])
    second = simulate_targets(apply_parameters(scenario, params, X[1]), used, 1, 7, first=900_001)
    pd.testing.assert_frame_equal(one.iloc[[1]].reset_index(drop=True), second)


def test_cached_runs_are_reused_only_with_the_inputs_they_were_made_with(tmp_path):
    """A rerun of a match reuses its runs; a changed scenario, seed or parameter set does not."""
    from sim.calibrate import load_parameters, load_targets
    from sim.history_matching import CachedRuns, run_inputs

    path = tmp_path / "runs.csv"
    row = pd.DataFrame({"a": [1.0], "wave": [1], "point": [0], "replication": [0], "y": [5.0]})
    CachedRuns(path, ["a"], "one").add(row)
    hit = CachedRuns(path, ["a"], "one").get(1, 0, np.array([1.0]))
    assert hit is not None and hit["y"].tolist() == [5.0]
    said: list[str] = []
    assert CachedRuns(path, ["a"], "two", said.append).get(1, 0, np.array([1.0])) is None
    assert said == [f"{path}: 1 runs made with other inputs are not reused"]
    assert CachedRuns(path, ["a", "b"], "one").get(1, 0, np.array([1.0, 0.0])) is None
    digits = tmp_path / "digits.csv"  # a hash of digits alone is still a string when read back
    CachedRuns(digits, ["a"], "0123456789012345").add(row)
    assert CachedRuns(digits, ["a"], "0123456789012345").get(1, 0, np.array([1.0])) is not None

    sc = load_scenario(KENT)
    params = load_parameters(ROOT / "calibration" / "free_parameters.toml")
    targets = load_targets(ROOT / "calibration" / "targets.toml").target
    base = run_inputs(sc, params, targets, 1)
    assert base == run_inputs(load_scenario(KENT), params, targets, 1)
    other = load_scenario(KENT, {"children": {"arrivals_per_year": 600.0}})
    assert (
        len({base, run_inputs(sc, params, targets, 2), run_inputs(other, params, targets, 1)}) == 3
    )
    assert base != run_inputs(sc, params[1:], targets, 1)
    assert base != run_inputs(sc, params, targets[1:], 1)
