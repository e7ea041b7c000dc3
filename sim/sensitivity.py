"""Global sensitivity analysis: which uncertain parameters drive the headline outcomes.

Ranges come from a TOML file of dotted scenario paths (see ``scenarios/sensitivity_kent.toml``)::

    recruitment.enquiries_per_year = [400, 800]        # a value between 400 and 800
    attrition.deregistration_per_year = { scale = [0.7, 1.3] }   # every element x 0.7 .. 1.3

    [options]                                           # optional, after the ranges
    replications = 3
    outputs = ["places_vacant_y5", "ifa_spot_y5", "unregistered_mean", "cost_total_m"]

SALib draws the design (Morris elementary effects, or Sobol' indices from
``SALib.sample.sobol``); every design point is a scenario run on the batch engine
(:func:`sim.batch.run_batch`, local processes or Dask, resumable). Each point is averaged over
a few replications that use the same random numbers at every point (common random numbers), so
the differences between points come from the parameters, not from noise.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.analysis import read_table
from sim.batch import HEADLINE_KPIS, KPIS, BatchError, run_batch, write_json
from sim.config import Scenario, ScenarioError, read_toml, scenario_from_dict

METHODS = ("morris", "sobol")
MORRIS_LEVELS = 4


@dataclass(frozen=True)
class Parameter:
    """One uncertain input: a dotted scenario path and its range.

    With ``scale`` the sampled number multiplies the base value (every element of a list).
    """

    path: str
    low: float
    high: float
    scale: bool = False
    integer: bool = False


@dataclass
class ParamSpec:
    """The contents of a parameters file."""

    parameters: list[Parameter]
    replications: int = 3
    outputs: list[str] = field(default_factory=lambda: list(HEADLINE_KPIS))
    source: str = "<params>"

    @property
    def problem(self) -> dict[str, Any]:
        """The SALib problem definition."""
        return {
            "num_vars": len(self.parameters),
            "names": [p.path for p in self.parameters],
            "bounds": [[p.low, p.high] for p in self.parameters],
        }


# ----------------------------------------------------------------------------- parameters


def _get(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            raise KeyError(part)
    return data


def _set(data: Any, parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        data = data[int(part)] if isinstance(data, list) else data[part]
    last = parts[-1]
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and "scale" not in value:
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _close(path: str, base: dict[str, Any]) -> str:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            node = _get(base, parts[: i - 1])
        except KeyError:
            continue
        if isinstance(node, dict):
            near = difflib.get_close_matches(parts[i - 1], list(node), n=1)
            if near:
                return f" (did you mean '{'.'.join([*parts[: i - 1], near[0]])}'?)"
            return f"; allowed keys here: {', '.join(sorted(node))}"
    return ""


def load_params(path: str | Path, base: Scenario) -> ParamSpec:
    """Read and check a parameters file against ``base``.

    Raises
    ------
    ScenarioError
        Naming the file and the field when a path is not a numeric scenario parameter, a
        range is empty, or the scenario is invalid at either end of a range.
    """
    path = Path(path)
    raw = read_toml(path, "parameters file not found")
    options = raw.pop("options", {})
    return make_spec(_flatten(raw), base, options, str(path))


def make_spec(
    ranges: dict[str, Any],
    base: Scenario,
    options: dict[str, Any] | None = None,
    source: str = "<params>",
) -> ParamSpec:
    """A checked :class:`ParamSpec` from ``{"dotted.path": [low, high], ...}``."""
    options = dict(options or {})
    data = base.model_dump(mode="json")
    params = []
    for name, value in ranges.items():
        where = f"{source}: field '{name}'"
        scale = isinstance(value, dict)
        bounds = value.get("scale") if scale else value
        if scale and set(value) != {"scale"}:
            raise ScenarioError(f"{where}: give [low, high] or {{ scale = [low, high] }}")
        if not isinstance(bounds, list) or len(bounds) != 2 or not all(_number(b) for b in bounds):
            raise ScenarioError(f"{where}: expected a range [low, high], got {bounds!r}")
        low, high = float(bounds[0]), float(bounds[1])
        if not low < high:
            raise ScenarioError(f"{where}: low ({low:g}) must be below high ({high:g})")
        try:
            current = _get(data, name.split("."))
        except KeyError:
            raise ScenarioError(f"{where}: not a scenario parameter{_close(name, data)}") from None
        numeric = _number(current) or (
            scale and isinstance(current, list) and all(_number(c) for c in current)
        )
        if not numeric:
            kind = "a number or, with scale, a list of numbers"
            raise ScenarioError(f"{where}: must be {kind}; the scenario has {current!r}")
        integer = isinstance(current, int) and not scale
        params.append(Parameter(name, low, high, scale, integer))
    if not params:
        raise ScenarioError(f"{source}: no parameter ranges given")
    reps = options.pop("replications", 3)
    outputs = options.pop("outputs", list(HEADLINE_KPIS))
    if options:
        raise ScenarioError(
            f"{source}: unknown option(s) {sorted(options)} in [options]; "
            "allowed: replications, outputs"
        )
    if not isinstance(reps, int) or reps < 1:
        raise ScenarioError(f"{source}: field 'options.replications': must be a whole number >= 1")
    unknown = [o for o in outputs if o not in KPIS]
    if unknown:
        raise ScenarioError(
            f"{source}: field 'options.outputs': unknown output(s) {unknown}; "
            f"allowed: {', '.join(KPIS)}"
        )
    spec = ParamSpec(params, reps, list(outputs), source)
    for p in params:  # fail now, not after hours of runs, if an end of a range is invalid
        for x in (p.low, p.high):
            point_scenario(base, spec, [x if q is p else _mid(q) for q in params])
    return spec


def _mid(p: Parameter) -> float:
    return (p.low + p.high) / 2


def point_scenario(base: Scenario, spec: ParamSpec, values: Sequence[float]) -> Scenario:
    """``base`` with each parameter of ``spec`` set to (or, with scale, multiplied by) a value."""
    data = base.model_dump(mode="json")
    # The design sets the parameters itself: no posterior draws over its values.
    data.pop("posterior", None)
    for p, x in zip(spec.parameters, values, strict=True):
        parts = p.path.split(".")
        if p.scale:
            current = _get(data, parts)
            new: Any = (
                [float(c) * float(x) for c in current]
                if isinstance(current, list)
                else float(current) * float(x)
            )
            if isinstance(current, int):
                new = round(new)
        else:
            new = round(float(x)) if p.integer else float(x)
        _set(data, parts, new)
    try:
        return scenario_from_dict(data, spec.source)
    except ScenarioError as exc:
        shown = ", ".join(f"{p.path}={x:g}" for p, x in zip(spec.parameters, values, strict=True))
        raise ScenarioError(f"{exc}\n  at the design point {shown}") from None


# ----------------------------------------------------------------------------- design


def design(spec: ParamSpec, method: str, n: int, seed: int = 0) -> np.ndarray:
    """The SALib design: one row per point, one column per parameter.

    Morris gives ``n`` trajectories, ``n * (D + 1)`` points; Sobol' (first and total order)
    ``n * (D + 2)`` points, with ``n`` a power of two.
    """
    from SALib.sample import morris, sobol

    if method == "morris":
        return morris.sample(spec.problem, n, num_levels=MORRIS_LEVELS, seed=seed)
    if method == "sobol":
        if n < 2 or n & (n - 1):
            raise ValueError(f"--n must be a power of 2 for sobol (e.g. 64, 128), got {n}")
        return sobol.sample(spec.problem, n, calc_second_order=False, seed=seed)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def indices(
    spec: ParamSpec, method: str, x: np.ndarray, y: pd.DataFrame, seed: int = 0
) -> pd.DataFrame:
    """Sensitivity indices of each output, one row per output x parameter.

    Morris: ``mu`` (signed mean effect), ``mu_star`` (mean absolute effect, the ranking
    measure), ``sigma`` (interactions or non-linearity), ``mu_star_conf``. Sobol':
    ``S1`` (first order), ``ST`` (total), with 95% confidence half-widths.
    """
    from SALib.analyze import morris, sobol

    rows = []
    for out in y.columns:
        values = y[out].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise BatchError(f"output {out} is missing at some design points")
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            if method == "morris":
                res = morris.analyze(spec.problem, x, values, num_levels=MORRIS_LEVELS, seed=seed)
                keys = ("mu", "mu_star", "sigma", "mu_star_conf")
                rank_by = "mu_star"
            else:
                res = sobol.analyze(spec.problem, values, calc_second_order=False, seed=seed)
                keys = ("S1", "S1_conf", "ST", "ST_conf")
                rank_by = "ST"
        table = pd.DataFrame({k: np.asarray(res[k], dtype=float) for k in keys})
        table.insert(0, "parameter", spec.problem["names"])
        table.insert(0, "output", out)
        table["rank"] = table[rank_by].rank(ascending=False, method="min")
        rows.append(table)
    return pd.concat(rows, ignore_index=True)


def tornado(table: pd.DataFrame, method: str, ncols: int = 2) -> plt.Figure:
    """Bar charts, one per output, of which parameters matter most (largest at the top)."""
    outputs = list(dict.fromkeys(table["output"]))
    rows = math.ceil(len(outputs) / ncols)
    n_params = table["parameter"].nunique()
    height = max(3.2, 0.42 * n_params + 1.4)
    fig, axes = plt.subplots(rows, ncols, figsize=(6.5 * ncols, height * rows), squeeze=False)
    for ax, out in zip(axes.flat, outputs, strict=False):
        t = table[table["output"] == out]
        if method == "morris":
            t = t.sort_values("mu_star")
            colours = np.where(t["mu"] >= 0, "#1f5f99", "#c0504d")
            ax.barh(t["parameter"], t["mu_star"], xerr=t["mu_star_conf"], color=colours)
            ax.plot(t["sigma"], t["parameter"], "kD", ms=4, label="sigma (interactions)")
            ax.set_xlabel("mu*: mean absolute effect (blue raises the output, red lowers it)")
        else:
            t = t.sort_values("ST")
            ax.barh(t["parameter"], t["ST"], xerr=t["ST_conf"], color="#9fbcd9", label="total")
            ax.barh(t["parameter"], t["S1"].clip(lower=0), color="#1f5f99", label="first order")
            ax.set_xlabel("Sobol' index (share of output variance)")
            ax.set_xlim(left=0)
        ax.set_title(KPIS.get(out, out), loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="y", labelsize=8)
    for ax in axes.flat[len(outputs) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper right", frameon=False, ncol=2)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig


# ----------------------------------------------------------------------------- running


@dataclass
class SensitivityResult:
    """Indices, the design with each point's outputs, and where they were written."""

    indices: pd.DataFrame
    design: pd.DataFrame
    folder: Path
    figure: Path


def run_sensitivity(
    base: Scenario,
    spec: ParamSpec,
    method: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    workers: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    overrides: dict[str, Any] | None = None,
) -> SensitivityResult:
    """Sample, run every design point on the batch engine and compute indices.

    Writes to ``out``: ``runs/`` (the batch, resumable), ``design.parquet`` (each point's
    parameters and mean outputs), ``indices.parquet`` and ``indices.csv``,
    ``sensitivity.png`` and ``sensitivity.json``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    x = design(spec, method, n, seed)
    points = [point_scenario(base, spec, row) for row in x]
    labels = [f"point {i:05d}" for i in range(len(points))]
    settings = {
        "method": method,
        "n": n,
        "points": len(points),
        "replications_per_point": spec.replications,
        "seed": seed,
        "outputs": spec.outputs,
        "parameters": [vars(p) for p in spec.parameters],
        "params_file": spec.source,
        "base_scenario": base.model_dump(mode="json"),
    }
    write_json(folder / "sensitivity.json", settings)
    summary = run_batch(
        points,
        spec.replications,
        folder / "runs",
        seed=seed,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        labels=labels,
        store_parameters=False,
        overrides=overrides,
        extra={"sensitivity": {k: v for k, v in settings.items() if k != "base_scenario"}},
    )
    if not summary.complete:
        raise BatchError(
            summary.message() + "\nindices need every design point: rerun to finish the batch"
        )
    kpis = read_table(folder / "runs", "kpis", spec.outputs)
    y = kpis.groupby("scenario", observed=True)[spec.outputs].mean().reindex(labels)
    table = indices(spec, method, x, y, seed)
    des = pd.DataFrame(x, columns=[p.path for p in spec.parameters])
    des.insert(0, "point", labels)
    des = pd.concat([des, y.reset_index(drop=True)], axis=1)
    des.to_parquet(folder / "design.parquet", index=False)
    table.to_parquet(folder / "indices.parquet", index=False)
    table.to_csv(folder / "indices.csv", index=False)
    fig = tornado(table, method)
    figure = folder / "sensitivity.png"
    fig.savefig(figure, dpi=110)
    plt.close(fig)
    return SensitivityResult(table, des, folder, figure)


def format_indices(table: pd.DataFrame, method: str, top: int = 5) -> str:
    """The ``top`` parameters of each output, as text."""
    key = "mu_star" if method == "morris" else "ST"
    lines = []
    for out, t in table.groupby("output", sort=False):
        lines.append(f"{KPIS.get(str(out), out)}:")
        for _, r in t.sort_values(key, ascending=False).head(top).iterrows():
            if method == "morris":
                lines.append(
                    f"  {r['parameter']:<45} mu*={r['mu_star']:10.4g}  mu={r['mu']:10.4g}  "
                    f"sigma={r['sigma']:10.4g}"
                )
            else:
                lines.append(
                    f"  {r['parameter']:<45} ST={r['ST']:6.3f} (+/-{r['ST_conf']:.3f})  "
                    f"S1={r['S1']:6.3f} (+/-{r['S1_conf']:.3f})"
                )
    return "\n".join(lines)
