"""History matching with Gaussian-process emulators, in waves (Vernon, Goldstein and Bower
2010; Andrianakis et al. 2015).

Each wave runs the simulator once at design points spread by a Latin hypercube over the part
of the prior box not yet ruled out, fits one emulator per target (a linear trend plus a
Gaussian process on its residuals, scikit-learn), and rules out every parameter set whose
implausibility

    I_i(x) = |E[f_i(x)] - z_i| / sqrt(Var_em,i(x) + tolerance_i^2 + discrepancy_i^2 + Var_sim,i)

is above the cut-off (3, after Pukelsheim's three-sigma rule) for more than ``allowed_misses``
targets. ``tolerance`` is the target's observation error, ``discrepancy`` the model's stated
structural error, ``Var_sim`` the run-to-run variance of the stochastic simulator (from
replications at one point). A parameter set is non-implausible when it passes the cut of every
wave so far. The simulator is any function from parameter sets to target values, so the same
code path fits a cheap analytic toy in the tests and the Kent history in ``calibrate
--posterior``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import qmc
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.linear_model import RidgeCV
from threadpoolctl import threadpool_limits

import sim
from sim.calibrate import (
    FreeParameter,
    Target,
    apply_parameters,
    at_origin,
    fit_table,
    in_window,
    load_parameters,
    load_targets,
    resolved_values,
    simulate_targets,
    year_by_year,
)
from sim.config import Scenario, load_scenario
from sim.experiment import git_commit
from sim.posterior import write_posterior

#: parameter sets (n x d, in the parameters' own units) -> target values (n rows, one column
#: per target; NaN where a run does not give the figure)
Simulator = Callable[[np.ndarray, int], pd.DataFrame]


@dataclass(frozen=True)
class Observation:
    """A target as history matching sees it: the figure and its error terms."""

    id: str
    value: float
    tolerance: float
    discrepancy: float


@dataclass(frozen=True)
class Settings:
    """The method's choices, each stated in docs/MODEL.md section 8.6."""

    cutoff: float = 3.0
    #: targets a parameter set may miss and stay non-implausible (2: the third-maximum rule of
    #: Vernon et al. for many outputs; 0: the maximum)
    allowed_misses: int = 2
    #: candidates per wave from which the non-implausible space is estimated and sampled
    candidates: int = 20_000
    #: share of a wave's runs held out to validate its emulators
    holdout_share: float = 0.2
    #: a target ruled out at all but this share of the first wave's candidates is implausible
    #: everywhere: reported as model discrepancy and left out of the cuts
    everywhere_share: float = 0.05
    #: candidates wanted in the space after each wave (for the next wave's runs and the draws),
    #: and at most this many batches of ``candidates`` searched for them
    enough: int = 1000
    candidate_batches: int = 10
    #: how far (a share of each range) the box of the candidates reaches beyond the last space
    margin: float = 0.05
    #: inputs of each target's Gaussian process: the ``active_inputs`` with the largest ridge
    #: trend coefficients (0: every input); the trend itself uses every input
    active_inputs: int = 8


class Emulator:
    """One target's emulator on the unit cube: ridge trend plus a Matern-5/2 GP with a nugget.

    With ``active`` > 0 the GP sees only the ``active`` inputs whose trend coefficients are
    largest (its "active variables", Vernon et al. 2010), and the nugget takes up what the
    others leave. In 42 dimensions and a few hundred runs the GP of every input is slower
    and no more accurate (docs/MODEL.md 8.6).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, seed: int = 0, active: int = 0) -> None:
        ok = ~np.isnan(y)
        X, y = X[ok], y[ok]
        self.n = len(y)
        self.trend = RidgeCV(alphas=np.logspace(-3, 2, 12)).fit(X, y)
        resid = y - self.trend.predict(X)
        d_all = X.shape[1]
        if 0 < active < d_all:
            # The coefficients compare because every input is on the unit cube.
            self.inputs = np.sort(np.argsort(-np.abs(self.trend.coef_), kind="stable")[:active])
        else:
            self.inputs = np.arange(d_all)
        X = X[:, self.inputs]
        scale = float(np.std(resid)) or 1.0
        self.scale = scale
        #: factor on the variance, from held-out errors (1: the GP's own variance)
        self.inflation = 1.0
        d = X.shape[1]
        kernel = ConstantKernel(1.0, (1e-3, 1e2)) * Matern(
            length_scale=np.full(d, 0.5), length_scale_bounds=(0.05, 20.0), nu=2.5
        ) + WhiteKernel(0.1, (1e-4, 2.0))
        self.gp = GaussianProcessRegressor(
            kernel, normalize_y=False, n_restarts_optimizer=0, random_state=seed
        )
        # A length scale at its bound (ConvergenceWarning) mostly means the output does not
        # depend on that parameter, an answer rather than a failure: each would flood the log,
        # so the fit counts them (the wave summary reports the fits that had any).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.gp.fit(X, resid / scale)
        self.convergence_warnings = 0
        for w in caught:
            if issubclass(w.category, ConvergenceWarning):
                self.convergence_warnings += 1
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance at ``X`` (the variance includes the fitted nugget)."""
        mean, sd = self.gp.predict(X[:, self.inputs], return_std=True)
        return self.trend.predict(X) + mean * self.scale, self.inflation * (sd * self.scale) ** 2


def _fit_emulators(
    X: np.ndarray,
    Y: pd.DataFrame,
    obs: Sequence[Observation],
    seed: int,
    workers: int,
    active: int = 0,
) -> dict[str, Emulator]:
    """An emulator for each target with at least 5 values among the runs ``X``, ``Y``, fitted in
    ``workers`` processes.

    Each fit is independent and deterministic, so the emulators are the same whatever the
    number of workers: the fits are a wave's main cost, and a second core halves it.
    """
    columns = {o.id: Y[o.id].to_numpy(float) for o in obs}
    columns = {k: y for k, y in columns.items() if np.isnan(y).sum() <= len(y) - 5}
    if workers <= 1 or len(columns) <= 1:
        ems = [Emulator(X, y, seed, active) for y in columns.values()]
    else:
        ems = Parallel(n_jobs=workers)(
            delayed(Emulator)(X, y, seed, active) for y in columns.values()
        )
    return dict(zip(columns, ems, strict=True))


@dataclass
class Wave:
    """One wave: its runs, emulators, and what it ruled out."""

    number: int
    X: np.ndarray  # unit-cube design points
    Y: pd.DataFrame  # simulated target values, one row per design point
    emulators: dict[str, Emulator] = field(default_factory=dict)
    validation: pd.DataFrame = field(default_factory=pd.DataFrame)


def implausibility(
    waves_emulators: dict[str, Emulator],
    X: np.ndarray,
    obs: Sequence[Observation],
    sim_var: dict[str, float],
) -> np.ndarray:
    """Implausibility of each point (rows) for each emulated target (columns)."""
    out = np.full((len(X), len(obs)), np.nan)
    for j, o in enumerate(obs):
        em = waves_emulators.get(o.id)
        if em is not None:
            out[:, j] = standardised(o, *em.predict(X), sim_var)
    return out


def standardised(
    o: Observation, value: np.ndarray, var: np.ndarray | float, sim_var: dict[str, float]
) -> np.ndarray:
    """``|value - z| / sqrt(var + tolerance^2 + discrepancy^2 + Var_run)`` for target ``o``:
    an emulator's implausibility (``var`` its variance) or a run's own (``var`` 0)."""
    denom = var + o.tolerance**2 + o.discrepancy**2 + sim_var.get(o.id, 0.0)
    return np.abs(value - o.value) / np.sqrt(denom)


def passes(imp: np.ndarray, settings: Settings) -> np.ndarray:
    """Whether each point has at most ``allowed_misses`` implausibilities above the cut."""
    misses = np.nansum(imp > settings.cutoff, axis=1)
    return misses <= settings.allowed_misses


def non_implausible(
    waves: Sequence[Wave],
    U: np.ndarray,
    obs: Sequence[Observation],
    sim_var: dict[str, float],
    settings: Settings,
) -> np.ndarray:
    """Whether each point passes every wave's cut (``passes`` on each wave's implausibilities).

    Target by target, a point is dropped as soon as it misses too many, so later emulators
    predict only at the points still in: most of a wave's candidate search when the space is
    small.
    """
    keep = np.ones(len(U), bool)
    for w in waves:
        misses = np.zeros(len(U), int)
        for o in obs:
            em = w.emulators.get(o.id)
            idx = np.flatnonzero(keep)
            if em is None or not len(idx):
                continue
            misses[idx] += standardised(o, *em.predict(U[idx]), sim_var) > settings.cutoff
            keep[idx] = misses[idx] <= settings.allowed_misses
    return keep


def ranked(imp: np.ndarray, rank: int) -> np.ndarray:
    """The ``rank``-th largest implausibility of each point (1: the maximum)."""
    filled = np.where(np.isnan(imp), -np.inf, imp)
    return -np.sort(-filled, axis=1)[:, rank - 1]


@dataclass
class Result:
    """Every wave, the targets left out as implausible everywhere, and the volume by wave."""

    lows: np.ndarray
    highs: np.ndarray
    names: list[str]
    observations: list[Observation]
    waves: list[Wave]
    excluded: list[str]
    summary: pd.DataFrame
    accepted: np.ndarray  # unit-cube points of the final non-implausible space
    settings: Settings
    sim_var: dict[str, float]

    def to_units(self, U: np.ndarray) -> np.ndarray:
        return self.lows + U * (self.highs - self.lows)

    def runs(self) -> pd.DataFrame:
        """Every simulator run: wave, parameter values and target values."""
        frames = []
        for w in self.waves:
            params = pd.DataFrame(self.to_units(w.X), columns=self.names)
            frames.append(
                pd.concat([params.assign(wave=w.number), w.Y.reset_index(drop=True)], axis=1)
            )
        return pd.concat(frames, ignore_index=True)

    def validation(self) -> pd.DataFrame:
        return pd.concat([w.validation for w in self.waves], ignore_index=True)


def _validate(
    X: np.ndarray,
    Y: pd.DataFrame,
    obs: Sequence[Observation],
    share: float,
    rng: np.random.Generator,
    number: int,
    workers: int = 1,
    active: int = 0,
) -> pd.DataFrame:
    """Standardised errors of emulators fitted without a random ``share`` of the runs."""
    n = len(X)
    held = rng.choice(n, size=max(2, round(share * n)), replace=False)
    train = np.setdiff1d(np.arange(n), held)
    rows = []
    ems = _fit_emulators(X[train], Y.iloc[train], obs, 0, workers, active)
    for o in obs:
        em = ems.get(o.id)
        if em is None:
            continue
        y = Y[o.id].to_numpy(float)
        mean, var = em.predict(X[held])
        ok = ~np.isnan(y[held])
        err = (y[held][ok] - mean[ok]) / np.sqrt(var[ok])
        if len(err):
            rows.append(
                {
                    "wave": number,
                    "target": o.id,
                    "held_out": int(ok.sum()),
                    "mean_abs_std_error": float(np.mean(np.abs(err))),
                    "mean_sq_std_error": float(np.mean(err**2)),
                    "share_within_2": float(np.mean(np.abs(err) <= 2)),
                    "share_within_3": float(np.mean(np.abs(err) <= 3)),
                }
            )
    return pd.DataFrame(rows)


def history_match(
    simulator: Simulator,
    lows: Sequence[float],
    highs: Sequence[float],
    names: Sequence[str],
    obs: Sequence[Observation],
    wave_sizes: Sequence[int],
    sim_var: dict[str, float],
    seed: int = 0,
    settings: Settings = Settings(),
    log: Callable[[str], None] = lambda s: None,
    workers: int = 1,
) -> Result:
    """Run the waves and return the final non-implausible space.

    Parameters
    ----------
    simulator : callable
        ``simulator(X, wave)``: target values for parameter sets ``X`` (the parameters' units).
    lows, highs : sequence of float
        The prior box.
    obs : sequence of Observation
        The targets, with observation error (tolerance) and model discrepancy.
    wave_sizes : sequence of int
        Runs per wave.
    sim_var : dict
        Run-to-run variance of each target at one parameter set.
    workers : int
        Processes for the emulator fits (the space found does not depend on it).
    """
    lo, hi = np.asarray(lows, float), np.asarray(highs, float)
    d = len(lo)
    rng = np.random.default_rng(seed)
    waves: list[Wave] = []
    excluded: list[str] = []
    summary = []
    accepted = qmc.LatinHypercube(d, seed=rng).random(settings.candidates)
    cut_obs: list[Observation] = list(obs)

    for number, size in enumerate(wave_sizes, start=1):
        if len(accepted) < size:
            log(f"wave {number}: only {len(accepted)} non-implausible candidates; stopping")
            break
        X = accepted[rng.choice(len(accepted), size=size, replace=False)]
        Y = simulator(lo + X * (hi - lo), number).reset_index(drop=True)
        # Emulators of this wave learn from every run so far: with a few hundred runs in 20-odd
        # dimensions, the runs outside the current space still fix the trend and length scales.
        Xtr = np.vstack([X, *[w.X for w in waves]])
        Ytr = pd.concat([Y, *[w.Y for w in waves]], ignore_index=True)
        wave = Wave(number, X, Y)
        wave.validation = _validate(
            Xtr, Ytr, obs, settings.holdout_share, rng, number, workers, settings.active_inputs
        )
        msq = dict(
            zip(
                wave.validation.get("target", []),
                wave.validation.get("mean_sq_std_error", []),
                strict=True,
            )
        )
        wave.emulators = _fit_emulators(Xtr, Ytr, obs, seed, workers, settings.active_inputs)
        if len(wave.validation):
            # Which parameters each target's GP was given: what the history says moves it.
            wave.validation["gp_inputs"] = [
                " ".join(names[i] for i in wave.emulators[t].inputs) if t in wave.emulators else ""
                for t in wave.validation["target"]
            ]
        for tid, em in wave.emulators.items():
            # An emulator whose held-out errors are wider than its variance says gets the
            # variance they show: it must not rule out what it cannot predict.
            em.inflation = max(1.0, float(msq.get(tid, 1.0)))
        if number == 1:
            prior = qmc.LatinHypercube(d, seed=rng).random(settings.candidates)
            imp = implausibility(wave.emulators, prior, obs, sim_var)
            share_ok = np.nanmean(imp <= settings.cutoff, axis=0)
            excluded = [
                o.id
                for o, s in zip(obs, share_ok, strict=True)
                if o.id in wave.emulators and s < settings.everywhere_share
            ]
            cut_obs[:] = [o for o in obs if o.id not in excluded]
            for tid in excluded:
                log(
                    f"wave 1: {tid} is implausible almost everywhere in the prior; "
                    "left out of the cuts"
                )
        waves.append(wave)
        # Candidates for the next wave: a Latin hypercube over the box of the space the last
        # wave left (which holds this one), widened by a margin; as many batches as a small
        # space needs. The volume is the box's share of the prior times the share accepted.
        lo_b = np.clip(accepted.min(axis=0) - settings.margin, 0, 1)
        hi_b = np.clip(accepted.max(axis=0) + settings.margin, 0, 1)
        found, tried = [], 0
        for _ in range(settings.candidate_batches):
            cand = lo_b + qmc.LatinHypercube(d, seed=rng).random(settings.candidates) * (
                hi_b - lo_b
            )
            tried += len(cand)
            found.append(cand[non_implausible(waves, cand, cut_obs, sim_var, settings)])
            if sum(len(f) for f in found) >= settings.enough:
                break
        accepted = np.vstack(found)
        share = float(np.prod(hi_b - lo_b)) * len(accepted) / tried
        runs_in = int(non_implausible(waves, X, cut_obs, sim_var, settings).sum())
        summary.append(
            {
                "wave": number,
                "runs": size,
                "runs_in_space_after": runs_in,
                "training_runs": len(Xtr),
                "emulated_targets": len(wave.emulators),
                "emulator_fits_at_a_bound": sum(
                    em.convergence_warnings > 0 for em in wave.emulators.values()
                ),
                "targets_in_cuts": len(cut_obs),
                "non_implausible_share_of_prior": share,
                "emulator_mean_abs_std_error": float(wave.validation["mean_abs_std_error"].mean())
                if len(wave.validation)
                else math.nan,
                "emulator_share_within_3": float(wave.validation["share_within_3"].mean())
                if len(wave.validation)
                else math.nan,
            }
        )
        log(
            f"wave {number}: {size} runs, non-implausible share of the prior {share:.4f}, "
            f"{len(accepted)} candidates left"
        )
    return Result(
        lo,
        hi,
        list(names),
        list(obs),
        waves,
        excluded,
        pd.DataFrame(summary),
        accepted,
        settings,
        sim_var,
    )


# ------------------------------------------------------------------ the Kent history match


def observations(
    targets: Sequence[Target], scenario: Scenario, discrepancy_share: float
) -> list[Observation]:
    """The fit targets a run of ``scenario`` covers, with discrepancy ``share`` x |value|."""
    return [
        Observation(t.id, t.value, t.tolerance, discrepancy_share * abs(t.value))
        for t in targets
        if t.use == "fit" and in_window(t, scenario) == "compared"
    ]


def _evaluate(
    job: tuple[Scenario, list[FreeParameter], list[Target], np.ndarray, int, int, int],
) -> list[dict]:
    """``reps`` replications from ``first`` of the scenario at ``x``, one dict each."""
    scenario, params, targets, x, seed, reps, first = job
    sc = apply_parameters(scenario, params, x)
    sims = simulate_targets(sc, targets, reps, seed, first=first)
    return [{str(k): v for k, v in row.items()} for row in sims.to_dict("records")]


#: the first replication of the fresh runs: no run of a match uses it (they use 0-3)
FRESH_STREAMS = 900_000


def _fresh_runs(
    scenario: Scenario,
    params: Sequence[FreeParameter],
    targets: Sequence[Target],
    X: np.ndarray,
    seed: int,
    workers: int,
) -> pd.DataFrame:
    """Set ``i`` of ``X`` run once on replication ``FRESH_STREAMS + i`` of ``seed``."""
    jobs = [
        (scenario, list(params), list(targets), x, seed, 1, FRESH_STREAMS + i)
        for i, x in enumerate(X)
    ]
    if workers <= 1 or len(jobs) <= 1:
        runs = [_evaluate(job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            runs = list(pool.map(_evaluate, jobs))
    return pd.DataFrame([rows[0] for rows in runs], columns=[t.id for t in targets])


class CachedRuns:
    """Simulator runs kept in a CSV, one row per run, so that a stopped match resumes.

    Each row records ``inputs``, a fingerprint of what else decides the run (the scenario, the
    parameters' paths, the targets and the seed): rows made with other inputs are dropped
    rather than reused. The model's code is not in it: after a change to the model, delete
    the file.
    """

    def __init__(
        self,
        path: Path,
        names: Sequence[str],
        inputs: str = "",
        log: Callable[[str], None] = lambda s: None,
    ) -> None:
        self.path = path
        self.names = list(names)
        self.inputs = inputs
        # A hash of digits alone would otherwise be read back as a number.
        rows = pd.read_csv(path, dtype={"inputs": str}) if path.exists() else pd.DataFrame()
        if not rows.empty:
            same = rows.get("inputs", pd.Series("", index=rows.index)).fillna("") == inputs
            if not set(self.names) <= set(rows.columns):
                same[:] = False
            if not same.all():
                log(f"{path}: {int((~same).sum())} runs made with other inputs are not reused")
            rows = rows[same].reset_index(drop=True)
        self.rows = rows

    def get(self, wave: int, point: int, x: np.ndarray) -> pd.DataFrame | None:
        if self.rows.empty:
            return None
        hit = self.rows[(self.rows["wave"] == wave) & (self.rows["point"] == point)]
        if hit.empty or not np.allclose(hit[self.names].iloc[0].to_numpy(float), x, rtol=1e-9):
            return None
        return hit

    def add(self, rows: pd.DataFrame) -> None:
        if not self.rows.empty:  # a run at another design point of the same wave and index
            key = (self.rows["wave"] == rows["wave"].iloc[0]) & (
                self.rows["point"] == rows["point"].iloc[0]
            )
            self.rows = self.rows[~key]
        self.rows = pd.concat([self.rows, rows.assign(inputs=self.inputs)], ignore_index=True)
        tmp = self.path.with_suffix(".tmp")
        self.rows.to_csv(tmp, index=False)
        tmp.replace(self.path)


def run_inputs(
    scenario: Scenario, params: Sequence[FreeParameter], targets: Sequence[Target], seed: int
) -> str:
    """A fingerprint of what decides a match's runs besides the parameters' values."""
    spec = {
        "scenario": scenario.model_dump(mode="json"),
        "parameters": [[p.name, p.path, p.mode] for p in params],
        "targets": [t.id for t in targets],
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def kent_simulator(
    scenario: Scenario,
    params: Sequence[FreeParameter],
    targets: Sequence[Target],
    seed: int,
    workers: int,
    cache: CachedRuns,
    log: Callable[[str], None] = lambda s: None,
) -> Callable[[np.ndarray, int, int], pd.DataFrame]:
    """Runs of ``scenario`` at parameter sets, one process per run, all with the same seed
    (common random numbers); ``reps`` replications of each (rows ``point x reps``)."""
    names = [p.name for p in params]
    ids = [t.id for t in targets]

    def run(X: np.ndarray, wave: int, reps: int) -> pd.DataFrame:
        out: dict[int, pd.DataFrame] = {}
        todo = []
        for i, x in enumerate(X):
            hit = cache.get(wave, i, x)
            if hit is not None and len(hit) == reps:
                out[i] = hit[ids].reset_index(drop=True)
            else:
                todo.append(i)
        jobs = [(scenario, list(params), list(targets), X[i], seed, reps, 0) for i in todo]
        started = time.perf_counter()

        def keep(i: int, records: list[dict]) -> None:
            df = pd.DataFrame(records, columns=ids)
            meta = pd.DataFrame([dict(zip(names, X[i], strict=True))] * len(df))
            cache.add(
                pd.concat([meta.assign(wave=wave, point=i, replication=range(len(df))), df], axis=1)
            )
            out[i] = df
            log(f"wave {wave}: run {len(out)} of {len(X)} ({time.perf_counter() - started:.0f} s)")

        if workers <= 1 or len(jobs) <= 1:
            for i, job in zip(todo, jobs, strict=True):
                keep(i, _evaluate(job))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(_evaluate, job): i for i, job in zip(todo, jobs, strict=True)
                }
                for fut in as_completed(futures):
                    keep(futures[fut], fut.result())
        return pd.concat([out[i] for i in range(len(X))], ignore_index=True)

    return run


def _json_value(value: Any) -> Any:
    # A parameter inside a dated list (a UASC surge) resolves to the whole list, dates and all.
    return value.isoformat() if isinstance(value, dt.date) else float(value)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def posterior_ranges(
    result: Result, draws: pd.DataFrame, params: Sequence[FreeParameter]
) -> pd.DataFrame:
    """Prior range against the posterior's median, 5th-95th percentiles and share of the prior."""
    rows = []
    for p in params:
        v = draws[p.name]
        lo, hi = v.quantile(0.05), v.quantile(0.95)
        rows.append(
            {
                "parameter": p.name,
                "path": p.path,
                "prior_low": p.low,
                "prior_high": p.high,
                "posterior_median": v.median(),
                "posterior_p05": lo,
                "posterior_p95": hi,
                "p05_p95_share_of_prior": (hi - lo) / (0.9 * (p.high - p.low)),
                "forecast": p.forecast,
            }
        )
    return pd.DataFrame(rows)


def plot_posterior(
    draws: pd.DataFrame,
    params: Sequence[FreeParameter],
    folder: Path,
    period: str = "2014-2019 history match",
) -> list[Path]:
    """Marginal histograms and pairwise scatter of the draws, against the prior ranges."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p.name for p in params]
    cols = 5
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.3 * rows), squeeze=False)
    for ax, p in zip(axes.flat, params, strict=False):
        ax.hist(draws[p.name], bins=15, range=(p.low, p.high), color="#4c72b0")
        ax.set_xlim(p.low, p.high)
        ax.set_title(p.name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(f"Posterior draws over each prior range ({period})", fontsize=10)
    fig.tight_layout()
    marg = folder / "posterior_marginals.png"
    fig.savefig(marg, dpi=90)
    plt.close(fig)
    # Pairs of the parameters the history narrows most (smallest posterior share of prior).
    spread = {
        p.name: (draws[p.name].quantile(0.95) - draws[p.name].quantile(0.05)) / (p.high - p.low)
        for p in params
    }
    top = sorted(spread, key=lambda n: spread[n])[:6]
    by_name = {p.name: p for p in params}
    n = len(top)
    fig, axes = plt.subplots(n, n, figsize=(2.0 * n, 2.0 * n), squeeze=False)
    for i, a in enumerate(top):
        for j, b in enumerate(top):
            ax = axes[i, j]
            if i == j:
                ax.hist(draws[a], bins=12, range=(by_name[a].low, by_name[a].high), color="#4c72b0")
                ax.set_xlim(by_name[a].low, by_name[a].high)
            else:
                ax.scatter(draws[b], draws[a], s=3, color="#4c72b0")
                ax.set_xlim(by_name[b].low, by_name[b].high)
                ax.set_ylim(by_name[a].low, by_name[a].high)
            ax.tick_params(labelsize=6)
            if i == n - 1:
                ax.set_xlabel(b, fontsize=6)
            if j == 0:
                ax.set_ylabel(a, fontsize=6)
    fig.suptitle("Pairs of the six parameters the history narrows most", fontsize=9)
    fig.tight_layout()
    pairs = folder / "posterior_pairs.png"
    fig.savefig(pairs, dpi=90)
    plt.close(fig)
    return [marg, pairs]


def _within(fit: pd.DataFrame) -> tuple[int, int]:
    """Fitted targets within tolerance, and how many were compared."""
    fitted = fit[(fit["use"] == "fit") & (fit["status"] == "compared")]
    return int(fitted["within_tolerance"].sum()), len(fitted)


def calibrate_posterior(
    scenario_path: Path,
    targets_path: Path,
    params_path: Path,
    folder: Path,
    wave_sizes: Sequence[int],
    draws: int = 200,
    confirm: int = 0,
    seed: int = 0,
    workers: int = 1,
    variance_reps: int = 4,
    min_draws: int = 0,
    discrepancy_share: float = 0.05,
    settings: Settings = Settings(),
    log: Callable[[str], None] = print,
    until: dt.date | None = None,
) -> dict[str, Any]:
    """History-match ``scenario_path`` to ``targets_path`` and write the posterior to ``folder``.

    With ``until``, only the targets dated up to that day are fitted (a rolling origin inside
    the history): the runs still cover the whole scenario, and every draw carries all its
    values, initial conditions included, so that the scenario run with the draws forecasts
    the figures after ``until`` from the same start (``sim.validate.refit_scenario``).

    ``draws`` parameter sets are sampled from the emulators' non-implausible space
    (``posterior_space.parquet``). With ``confirm``, the first ``confirm`` of them are each
    simulated once and the posterior (``posterior.parquet``) is the draws whose own run passes
    the same cut: the emulators' space still holds sets the simulator rules out, and a forecast
    must not run with them (history matching refocuses, a rejection step on the simulator
    decides; McKinley et al. 2018). Without ``confirm`` the posterior is the space's draws.
    With ``min_draws``, while fewer than that many pass, the next ``confirm`` draws of the space
    are simulated too, until the space's ``draws`` are all run.

    Also writes ``history_runs.csv`` (every run), ``history_waves.csv`` (the non-implausible
    share wave by wave), ``history_emulators.csv`` (held-out standardised errors),
    ``posterior_ranges.csv`` and the plots; with ``confirm``, ``fit_table_posterior.csv`` and
    ``fit_table_posterior_by_year.csv`` (and ``fit_table_posterior_fresh.csv``, the confirmed
    draws run again on other streams), every target over the whole history with the spread of
    the posterior's runs.
    """
    started = time.perf_counter()
    scenario = load_scenario(scenario_path, calibrated=False)
    targets = load_targets(targets_path).target
    if until is not None:
        targets = [t for t in targets if t.date <= until]
        if not targets:
            raise ValueError(f"no target in {targets_path} is dated on or before {until}")
    every = load_parameters(params_path)
    # At a rolling origin, a level dated after it carries a fitted one (its emulator inputs
    # are the free ones; every run and draw holds all the values).
    params, expand = at_origin(every, until)
    obs = observations(targets, scenario, discrepancy_share)
    used = [t for t in targets if t.id in {o.id for o in obs}]
    names = [p.name for p in params]
    folder.mkdir(parents=True, exist_ok=True)
    every_name = [p.name for p in every]
    cache = CachedRuns(
        folder / "history_runs.csv", every_name, run_inputs(scenario, every, used, seed), log
    )
    run_every = kent_simulator(scenario, every, used, seed, workers, cache, log)

    def run(X: np.ndarray, wave: int, reps: int) -> pd.DataFrame:
        return run_every(expand(X), wave, reps)

    # Run-to-run variance at the stated starting values: replications with different streams.
    x0 = np.array([[p.start for p in params]])
    spread = run(x0, 0, variance_reps)
    sim_var = {str(c): float(v) for c, v in spread.var(ddof=1).items() if not math.isnan(v)}
    lows, highs = [p.low for p in params], [p.high for p in params]
    # One BLAS thread: the emulators are small, and threads only fight the simulator's
    # processes (an emulator fit took 12 times longer with them on a loaded machine).
    with threadpool_limits(limits=1):
        result = history_match(
            lambda X, wave: run(X, wave, 1),
            lows,
            highs,
            names,
            obs,
            wave_sizes,
            sim_var,
            seed,
            settings,
            log,
            workers,
        )
    rng = np.random.default_rng(seed + 1)
    if len(result.accepted) == 0:
        raise ValueError("the waves left no non-implausible parameter set")
    pick = rng.choice(len(result.accepted), size=draws, replace=len(result.accepted) < draws)
    values = expand(result.to_units(result.accepted[pick]))
    table = pd.DataFrame(values, columns=every_name)
    # A forecast from the history's own start needs the initial conditions too.
    forecast = list(every) if until is not None else [p for p in every if p.forecast]
    cols = [every.index(p) for p in forecast]
    table["scenario_values"] = [
        json.dumps(resolved_values(scenario, forecast, row[cols]), default=_json_value)
        for row in values
    ]
    table.insert(0, "draw", range(len(table)))
    posterior = table
    confirmed = math.nan
    simulated = 0
    within: tuple[int, int] | None = None
    within_fresh: tuple[int, int] | None = None
    if confirm:
        simulated = min(confirm, len(values))
        while True:
            # The whole prefix each time: the runs already made come from the cache.
            sims = run_every(values[:simulated], len(wave_sizes) + 1, 1)
            imp = np.column_stack(
                [
                    standardised(o, sims[o.id].to_numpy(float), 0.0, sim_var)
                    for o in obs
                    if o.id not in result.excluded
                ]
            )
            ok = passes(imp, settings)
            log(f"confirmed by simulation: {ok.sum()} of {simulated} draws non-implausible")
            if ok.sum() >= min_draws or simulated == len(values):
                break
            simulated = min(simulated + confirm, len(values))
            log(f"fewer than {min_draws}: simulating the space's draws up to {simulated}")
        confirmed = float(ok.mean())
        if not ok.any():
            raise ValueError(
                f"none of the {simulated} draws simulated passes the cut: run more waves or "
                "confirm more draws"
            )
        if ok.sum() < min_draws:
            log(f"only {ok.sum()} draws confirmed of the {min_draws} asked for")
        posterior = table.iloc[:simulated][ok].reset_index(drop=True)
        posterior["draw"] = range(len(posterior))
        # The whole history's fit under the posterior: each target's spread over the
        # posterior's runs, so parameter uncertainty and run-to-run noise both count.
        fit = fit_table(targets, sims[ok].reset_index(drop=True), scenario)
        fit.to_csv(folder / "fit_table_posterior.csv", index=False)
        year_by_year(fit).to_csv(folder / "fit_table_posterior_by_year.csv")
        within = _within(fit)
        log(f"fit over the history: {within[0]} of {within[1]} fitted targets within tolerance")
        # The same draws once more, each on a stream no run of the match used: each draw's
        # own run passed the cut, noise and all, so its fit may flatter; a forecast inherits
        # the fit on other streams, and two matches compare on it.
        fresh_sims = _fresh_runs(scenario, every, used, values[:simulated][ok], seed, workers)
        fresh = fit_table(targets, fresh_sims, scenario)
        fresh.to_csv(folder / "fit_table_posterior_fresh.csv", index=False)
        within_fresh = _within(fresh)
        log(
            f"on fresh streams: {within_fresh[0]} of {within_fresh[1]} fitted targets "
            "within tolerance"
        )
    seconds = time.perf_counter() - started
    meta = {
        "method": "history matching, Gaussian-process emulators (scikit-learn), waves; "
        + ("draws confirmed by simulation" if confirm else "draws from the emulators' space"),
        "scenario": str(scenario_path),
        "targets": str(targets_path),
        "targets_sha256": _sha256(Path(targets_path)),
        "parameters": str(params_path),
        "parameters_sha256": _sha256(Path(params_path)),
        "waves": [int(s) for s in wave_sizes],
        "cutoff": settings.cutoff,
        "allowed_misses": settings.allowed_misses,
        "active_inputs": settings.active_inputs,
        "discrepancy": f"{discrepancy_share} x |observed| (sd)",
        "excluded_targets": result.excluded,
        "until": None if until is None else until.isoformat(),
        "seed": seed,
        "draws": len(posterior),
        "space_draws": draws,
        "simulated_draws": simulated,
        "min_draws": min_draws,
        "confirmed_share": confirmed,
        "fitted_within_tolerance": None if within is None else list(within),
        "fitted_within_tolerance_fresh_streams": None
        if within_fresh is None
        else list(within_fresh),
        "rule": "replication r runs with draw r mod N",
        "seconds": round(seconds, 1),
        "workers": workers,
        "version": sim.__version__,
        "commit": git_commit(),
    }
    write_posterior(table, folder / "posterior_space.parquet", {**meta, "draws": draws})
    write_posterior(posterior, folder / "posterior.parquet", meta)
    result.summary.to_csv(folder / "history_waves.csv", index=False)
    result.validation().to_csv(folder / "history_emulators.csv", index=False)
    posterior_ranges(result, posterior, params).to_csv(folder / "posterior_ranges.csv", index=False)
    period = "2014-2019 history match" if until is None else f"history fitted to {until}"
    plot_posterior(posterior, params, folder, period)
    return {"result": result, "draws": posterior, "meta": meta}
