"""Calibration by the simulated method of moments with common random numbers.

Targets (``calibration/targets.toml``) are published figures with a tolerance and a source.
Free parameters (``calibration/free_parameters.toml``) are those no single figure pins down.
For a candidate parameter vector the model runs ``reps`` replications with the same seeds
every time (common random numbers make the objective smooth enough for a simplex search); the
objective is the weighted sum of squared standardised gaps between the mean simulated value and
each target, the standard being the target's tolerance combined with the Monte Carlo error.
Nelder-Mead runs on a box-constrained transform of the parameters. Standard errors come from
the sandwich formula with a finite-difference Jacobian of the moments.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import optimize

from sim.config import Scenario, ScenarioError, read_toml, scenario_from_dict
from sim.experiment import iter_replications

# ----------------------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NonEmpty = Annotated[str, Field(min_length=1)]


class Target(_Strict):
    """One published figure the model is compared with."""

    id: NonEmpty
    description: NonEmpty
    value: float
    tolerance: Annotated[float, Field(gt=0)]
    tolerance_reason: NonEmpty
    statistic: Literal["stock", "flow", "ratio", "mean"]
    measure: NonEmpty
    date: dt.date
    source_file: NonEmpty
    source_section: NonEmpty
    quote: NonEmpty
    weight: Annotated[float, Field(ge=0)] = 1.0
    use: Literal["fit", "check", "validate"]


class TargetFile(_Strict):
    #: The council whose published figures these are (a scenario's ``council``).
    council: Annotated[str, Field(max_length=200)] = ""
    target: list[Target]
    holdout: list[Target] = []


class FreeParameter(_Strict):
    """A parameter fitted to the targets, with its plausible range."""

    name: NonEmpty
    path: NonEmpty
    mode: Literal["value", "scale"]
    low: float
    high: float
    start: float
    informs: NonEmpty
    #: whether a posterior draw carries the value into forecasts (false for the initial
    #: conditions and dated drivers of one calibration run)
    forecast: bool = True
    #: the first day of the period a dated level drives, and the parameter whose value it
    #: takes in a fit to an origin before that day (`calibrate --posterior --until`), where no
    #: figure bears on it: a rolling-origin hindcast carries the last fitted level forward
    after: dt.date | None = None
    carries: str | None = None


class ParameterFile(_Strict):
    parameter: list[FreeParameter]


def _validate(path: Path, data: dict[str, Any], model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: invalid"]
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            lines.append(f"  field '{where}': {err['msg']}")
        raise ScenarioError("\n".join(lines)) from None


def _read_extending(path: Path, tables: Sequence[str], seen: tuple[Path, ...] = ()) -> dict:
    """A file's ``tables`` (lists of tables), after those of the file it ``extends`` (a path
    relative to it) except the ones its ``without`` names (by ``id`` or ``name``)."""
    path = path.resolve()
    if path in seen:
        raise ScenarioError(f"{path}: 'extends' forms a cycle")
    data = read_toml(path, "file not found")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: field 'extends' must be a file path (a string)")
    base = _read_extending(path.parent / parent, tables, (*seen, path))
    without = set(data.pop("without", []))
    for table in tables:
        kept = [
            row for row in base.get(table, []) if (row.get("id") or row.get("name")) not in without
        ]
        without -= {row.get("id") or row.get("name") for row in base.get(table, [])}
        if kept or table in data:
            data[table] = [*kept, *data.get(table, [])]
    if without:
        raise ScenarioError(f"{path}: 'without' names {sorted(without)}, not in {parent}")
    for key, value in base.items():  # the file's own settings (a council) win
        if key not in tables:
            data.setdefault(key, value)
    return data


def load_targets(path: str | Path) -> TargetFile:
    """Read and check a targets file: every target needs a value, tolerance and source.

    A file may ``extends = "targets.toml"``: its targets are added to that file's.
    """
    path = Path(path)
    targets: TargetFile = _validate(path, _read_extending(path, ("target", "holdout")), TargetFile)
    ids = [t.id for t in (*targets.target, *targets.holdout)]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ScenarioError(f"{path}: duplicate target ids {dupes}")
    unknown = sorted({t.measure for t in (*targets.target, *targets.holdout)} - set(MEASURES))
    if unknown:
        raise ScenarioError(
            f"{path}: unknown measure(s) {unknown}; allowed: {', '.join(sorted(MEASURES))}"
        )
    return targets


def load_parameters(path: str | Path) -> list[FreeParameter]:
    """Read the free parameters and their ranges (after those of a file it ``extends``)."""
    path = Path(path)
    params: ParameterFile = _validate(path, _read_extending(path, ("parameter",)), ParameterFile)
    names = [p.name for p in params.parameter]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ScenarioError(f"{path}: duplicate parameter names {dupes}")
    for p in params.parameter:
        if not p.low <= p.start <= p.high:
            raise ScenarioError(f"{path}: parameter {p.name}: need low <= start <= high")
        if (p.after is None) != (p.carries is None):
            raise ScenarioError(
                f"{path}: parameter {p.name}: 'after' and 'carries' go together (the day its "
                "period starts, and the parameter it takes the value of before then)"
            )
        if p.carries is not None and (p.carries == p.name or p.carries not in names):
            raise ScenarioError(
                f"{path}: parameter {p.name}: 'carries' must name another parameter of the "
                f"file, got {p.carries!r}"
            )
    return list(params.parameter)


def at_origin(
    params: Sequence[FreeParameter], until: dt.date | None
) -> tuple[list[FreeParameter], Callable[[np.ndarray], np.ndarray]]:
    """The parameters a fit to the origin ``until`` leaves free, and a map from their values
    (rows of a matrix) to the values of all ``params``.

    A parameter whose period starts after ``until`` (its ``after``) has no figure to be fitted
    to, so it takes the value of the one it ``carries``; without ``until`` all are free.
    """
    if until is None:
        return list(params), lambda X: np.asarray(X, float)
    free = [p for p in params if p.after is None or p.after <= until]
    names = [p.name for p in free]
    source = []
    for p in params:
        if p.name in names:
            source.append(names.index(p.name))
        elif p.carries in names:
            source.append(names.index(p.carries))
        else:
            raise ScenarioError(
                f"parameter {p.name} starts on {p.after}, after the origin {until}, and carries "
                f"{p.carries!r}, which is not free at that origin either"
            )
    return free, lambda X: np.asarray(X, float)[..., source]


# ---------------------------------------------------------------------------- measures


def _snap(col: str | Sequence[str]) -> Callable[[pd.Series], float]:
    cols = [col] if isinstance(col, str) else list(col)
    return lambda row: float(sum(row[c] for c in cols))


def _ratio(num: Callable[[pd.Series], float], den: Callable[[pd.Series], float]):
    def f(row: pd.Series) -> float:
        d = den(row)
        return num(row) / d if d else math.nan

    return f


def _flow(col: str | Sequence[str]) -> Callable[[pd.Series], float]:
    cols = [col] if isinstance(col, str) else list(col)
    return lambda row: float(sum(row.get(c, 0.0) for c in cols))


FOSTER = ("in_house", "connected", "ifa_framework", "ifa_spot")
EXTERNAL = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")
# measure name -> (table, function of that table's row)
MEASURES: dict[str, tuple[str, Callable[[pd.Series], float]]] = {
    "children_in_care": ("snapshots", _snap("children_in_care")),
    "uasc_in_care": ("snapshots", _snap("uasc_in_care")),
    "households": ("snapshots", _snap("households")),
    "households_connected": ("snapshots", _snap("households_connected")),
    "households_all": ("snapshots", _snap(("households", "households_connected"))),
    "places_approved": ("snapshots", _snap("places_approved")),
    "places_filled": ("snapshots", _snap("places_filled")),
    "places_vacant": ("snapshots", _snap("places_vacant")),
    "places_unavailable": ("snapshots", _snap("places_unavailable")),
    "children_in_house": ("snapshots", _snap(("in_house", "connected"))),
    "children_connected": ("snapshots", _snap("connected")),
    # Kent's 2019 count (A08) is of interim and full care orders only, without section 20.
    "children_connected_care_order": (
        "snapshots",
        lambda r: float(r["connected"] - r["connected_section20"]),
    ),
    # Children with the council's mainstream carers, without the connected (E56's 680).
    "children_in_house_mainstream": ("snapshots", _snap("in_house")),
    "residential_and_supported": ("snapshots", _snap(("residential", "supported"))),
    "children_placed_for_adoption": ("snapshots", _snap("placed_for_adoption")),
    "children_with_parents": ("snapshots", _snap("with_parents")),
    # DfE placement providers: the council's own (its carers and adoption service) against
    # private and voluntary ones (agencies, homes, supported accommodation).
    "own_provision": ("snapshots", _snap(("in_house", "connected", "placed_for_adoption"))),
    "private_and_voluntary_provision": ("snapshots", _snap(EXTERNAL)),
    "vacancy_rate": ("snapshots", _ratio(_snap("places_vacant"), _snap("places_approved"))),
    "foster_share_of_cic": ("snapshots", _ratio(_snap(FOSTER), _snap("children_in_care"))),
    "utilisation": ("snapshots", _ratio(_snap("places_filled"), _snap("places_approved"))),
    "kpi_3plus_placements": ("snapshots", _snap("kpi_3plus_placements")),
    "kpi_same_placement_2y": ("snapshots", _snap("kpi_same_placement_2y")),
    "long_term_group": ("snapshots", _snap("long_term_group")),
    "kpi_within_20_miles": ("snapshots", _snap("kpi_within_20_miles")),
    "kpi_within_20_miles_all": ("snapshots", _snap("kpi_within_20_miles_all")),
    "starts": ("flows", _flow("arrivals")),
    "ceasings": ("flows", _flow("exits")),
    "started_age16_share": ("flows", _ratio(_flow("arrivals_age_16_plus"), _flow("arrivals"))),
    "ceased_age18_share": ("flows", _ratio(_flow("exits_age_18"), _flow("exits"))),
    "enquiries": ("flows", _flow("enquiries")),
    "applications": ("flows", _flow("applications")),
    "approvals": ("flows", _flow("approvals")),
    "approvals_connected": ("flows", _flow("approvals_connected")),
    "approvals_all": ("flows", _flow(("approvals", "approvals_connected"))),
    "assessment_to_approval_ratio": ("flows", _ratio(_flow("approvals"), _flow("assessments"))),
    "placement_changes": ("flows", _flow("moves")),
    "placement_changes_resignation": ("flows", _flow("moves_carer_resigned")),
    "approval_time_mean_months": ("flows", _flow("approval_time_mean_months")),
    "approval_within_6_months_share": ("flows", _flow("approval_within_6_months_share")),
    "enquiry_to_application_ratio": ("flows", _flow("enquiry_to_application_ratio")),
    "enquiry_to_approval_ratio": ("flows", _flow("enquiry_to_approval_ratio")),
    "deregistrations": ("flows", _flow("deregistrations")),
    "deregistrations_all": ("flows", _flow(("deregistrations", "deregistrations_connected"))),
    "deregistrations_carer_initiated": (
        "flows",
        _flow(("deregistrations_carer_initiated", "deregistrations_after_breakdown")),
    ),
    "deregistrations_service": ("flows", _flow("deregistrations_service")),
    "unplanned_endings": ("flows", _flow("unplanned_endings")),
    # Ofsted's count is the council's own fostering service's: in-house and connected carers.
    "turned_18_in_foster": ("flows", _flow("turned_18_in_house_foster")),
    "staying_put_starts": ("flows", _flow("staying_put_starts")),
    "nts_transfers": ("flows", _flow("exits_nts_transfer")),
    "attrition_rate": ("flows", _flow("deregistrations")),  # divided by households below
    "attrition_rate_all": ("flows", _flow(("deregistrations", "deregistrations_connected"))),
}
RATES_PER_HOUSEHOLD = {"attrition_rate": "households", "attrition_rate_all": "households_all"}


def observe(tables: dict[str, pd.DataFrame], target: Target) -> float:
    """The simulated value of ``target`` in one replication's tables (NaN if not covered)."""
    table, fn = MEASURES[target.measure]
    if table == "snapshots":
        snaps = tables["snapshots"]
        dates = pd.to_datetime(snaps["date"])
        rows = snaps[dates <= pd.Timestamp(target.date)]
        if rows.empty or (pd.Timestamp(target.date) - dates[rows.index[-1]]).days > 31:
            return math.nan
        return fn(rows.iloc[-1])
    fy = f"{target.date.year - 1}-{target.date.year % 100:02d}"
    flows = tables["flows"]
    row = flows[flows["financial_year"] == fy]
    if row.empty or row["days_simulated"].iloc[0] < 360:
        return math.nan
    value = fn(row.iloc[0])
    if target.measure in RATES_PER_HOUSEHOLD:
        stock = MEASURES[RATES_PER_HOUSEHOLD[target.measure]][1]
        snaps = tables["snapshots"]
        value /= stock(snaps.iloc[-1]) if len(snaps) else math.nan
    return value


def in_window(target: Target, scenario: Scenario) -> str:
    """Why a target can or cannot be compared with a run of ``scenario``."""
    if target.statistic == "stock" or target.measure.startswith("kpi_"):
        if target.date <= scenario.start:
            return "initial condition" if target.date == scenario.start else "before the run"
    else:
        fy_start = dt.date(target.date.year - 1, 4, 1)
        if fy_start < scenario.start:
            return "before the run"
    if target.date > scenario.end:
        return "after the run"
    return "compared"


# ------------------------------------------------------------------------ parameters


def _parts(path: str) -> list[str | int]:
    """A dotted parameter path; numbers index lists (``uasc.surges.1.per_year``)."""
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _get(data: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        data = data[part]
    return data


def apply_parameters(
    scenario: Scenario, params: Sequence[FreeParameter], values: Iterable[float]
) -> Scenario:
    """``scenario`` with each free parameter set (or its field scaled) to its value."""
    data = scenario.model_dump()
    for p, v in zip(params, values, strict=True):
        parts = _parts(p.path)
        parent = _get(data, parts[:-1])
        current = parent[parts[-1]]
        if p.mode == "scale":
            if isinstance(current, list):
                new: Any = [x * v for x in current]
            elif isinstance(current, dict):
                new = {k: x * v for k, x in current.items()}
            else:
                new = current * v
        else:
            # A count (households, places) takes the nearest whole number.
            new = round(v) if isinstance(current, int) else float(v)
        parent[parts[-1]] = new
    return scenario_from_dict(data, scenario.name)


def resolved_values(scenario: Scenario, params: Sequence[FreeParameter], values) -> dict:
    """The scenario fields the fitted values resolve to (for the ``[scenario]`` table); a
    parameter inside a list gives the whole list, since a scenario replaces lists whole."""
    fitted = apply_parameters(scenario, params, values).model_dump()
    out: dict[str, Any] = {}
    for p in params:
        parts = _parts(p.path)
        keys: list[str] = []
        for part in parts:
            if isinstance(part, int):
                break
            keys.append(part)
        node = out
        for part in keys[:-1]:
            node = node.setdefault(part, {})
        node[keys[-1]] = _get(fitted, keys)
    return out


# --------------------------------------------------------------------------- fitting


def simulate_targets(
    scenario: Scenario,
    targets: Sequence[Target],
    reps: int,
    seed: int,
    workers: int = 1,
    first: int = 0,
) -> pd.DataFrame:
    """One row per replication (``first`` to ``first + reps - 1``), one column per target id."""
    rows = []
    for tables in iter_replications(scenario, range(first, first + reps), seed, workers):
        rows.append({t.id: observe(tables, t) for t in targets})
    return pd.DataFrame(rows, columns=[t.id for t in targets])


def fit_table(targets: Sequence[Target], sims: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Target, observed, simulated median and 90% interval, and whether it is within tolerance."""
    rows = []
    for t in targets:
        status = in_window(t, scenario)
        values = sims[t.id].dropna() if t.id in sims else pd.Series(dtype=float)
        compared = status == "compared" and len(values) > 0
        med = values.median() if compared else math.nan
        rows.append(
            {
                "id": t.id,
                "measure": t.measure,
                "date": t.date,
                "year": t.date.year,
                "use": t.use,
                "observed": t.value,
                "tolerance": t.tolerance,
                "simulated_median": med,
                "simulated_p05": values.quantile(0.05) if compared else math.nan,
                "simulated_p95": values.quantile(0.95) if compared else math.nan,
                "simulated_mean": values.mean() if compared else math.nan,
                "mc_se": values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0,
                "within_tolerance": bool(compared and abs(med - t.value) <= t.tolerance),
                "status": status,
                "source": f"{t.source_file} {t.source_section}",
                "quote": t.quote,
            }
        )
    return pd.DataFrame(rows)


def year_by_year(table: pd.DataFrame) -> pd.DataFrame:
    """The fit table with one row per measure and one column per year (to 31 March): each
    cell the observed figure, the simulated median and whether it is within tolerance, or why
    it is not compared."""

    def cell(r: pd.Series) -> str:
        fmt = "{:.3f}" if abs(r["observed"]) < 2 else "{:,.0f}"
        obs = fmt.format(r["observed"])
        if r["status"] != "compared":
            return f"{obs} ({r['status']})"
        mark = "ok" if r["within_tolerance"] else "MISS"
        return f"{obs} | {fmt.format(r['simulated_median'])} {mark}"

    cells = table.assign(cell=table.apply(cell, axis=1))
    wide = cells.pivot_table(
        index=["measure", "use"], columns="year", values="cell", aggfunc=" / ".join
    )
    return wide.fillna("").sort_index()


def _to_unit(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    p = np.clip((x - lo) / (hi - lo), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _from_unit(z: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + (hi - lo) / (1 + np.exp(-z))


@dataclass
class FitResult:
    """Fitted values, their standard errors, the fit table and the search history."""

    parameters: list[FreeParameter]
    values: np.ndarray
    standard_errors: np.ndarray
    objective: float
    start_objective: float
    evaluations: int
    table: pd.DataFrame
    history: pd.DataFrame
    reps: int
    seed: int


def fit(
    scenario: Scenario,
    targets: Sequence[Target],
    params: Sequence[FreeParameter],
    reps: int = 8,
    seed: int = 0,
    workers: int = 1,
    max_evaluations: int = 200,
    progress: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit ``params`` to the ``use = "fit"`` targets that a run of ``scenario`` covers."""
    used = [t for t in targets if t.use == "fit" and in_window(t, scenario) == "compared"]
    if not used:
        raise ValueError("no fit target falls inside the calibration run")
    lo = np.array([p.low for p in params])
    hi = np.array([p.high for p in params])
    obs = np.array([t.value for t in used])
    tol = np.array([t.tolerance for t in used])
    w = np.array([t.weight for t in used])
    history: list[dict[str, Any]] = []

    def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = simulate_targets(apply_parameters(scenario, params, x), used, reps, seed, workers)
        return sims.mean().to_numpy(), (sims.std(ddof=1) / math.sqrt(reps)).to_numpy()

    def objective_x(x: np.ndarray) -> float:
        mean, se = moments(x)
        scale = np.sqrt(tol**2 + se**2)
        gaps = np.where(np.isnan(mean), 10.0, (mean - obs) / scale)
        value = float(np.sum(w * gaps**2))
        history.append({**{p.name: v for p, v in zip(params, x, strict=True)}, "objective": value})
        if progress:
            progress(len(history), value)
        return value

    x0 = np.array([p.start for p in params])
    start_value = objective_x(x0)
    z0 = _to_unit(x0, lo, hi)
    # A wide first simplex (0.8 on the logit scale, about a fifth of each range): the default
    # 5% steps crawl, and common random numbers make small steps look flat.
    simplex = np.vstack([z0, z0 + 0.8 * np.eye(len(z0))])

    def objective_z(z: np.ndarray) -> float:
        return objective_x(_from_unit(z, lo, hi))

    res = optimize.minimize(
        objective_z,
        z0,
        method="Nelder-Mead",
        options={
            "maxfev": max_evaluations,
            "xatol": 1e-3,
            "fatol": 1e-3,
            "adaptive": True,
            "initial_simplex": simplex,
        },
    )
    best = _from_unit(res.x, lo, hi)
    se = _sandwich_se(best, used, params, moments, lo, hi)
    sims = simulate_targets(apply_parameters(scenario, params, best), targets, reps, seed, workers)
    table = fit_table(targets, sims, scenario)
    return FitResult(
        list(params),
        best,
        se,
        float(res.fun),
        start_value,
        len(history),
        table,
        pd.DataFrame(history),
        reps,
        seed,
    )


def _sandwich_se(
    x: np.ndarray,
    used: Sequence[Target],
    params: Sequence[FreeParameter],
    moments: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """Standard errors: (G'WG)^-1 G'W S W G (G'WG)^-1, S from tolerances and MC error."""
    m0, se0 = moments(x)
    tol = np.array([t.tolerance for t in used])
    weight = np.array([t.weight for t in used]) / (tol**2 + se0**2)
    G = np.zeros((len(used), len(x)))
    for j in range(len(x)):
        h = 0.05 * (hi[j] - lo[j])
        up = x.copy()
        up[j] = min(x[j] + h, hi[j])
        down = x.copy()
        down[j] = max(x[j] - h, lo[j])
        G[:, j] = (moments(up)[0] - moments(down)[0]) / (up[j] - down[j])
    ok = ~np.isnan(G).any(axis=1) & ~np.isnan(m0)
    G, W = G[ok], np.diag(weight[ok])
    S = np.diag((tol**2 + se0**2)[ok])
    try:
        bread = np.linalg.pinv(G.T @ W @ G)
        cov = bread @ G.T @ W @ S @ W @ G @ bread
        return np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:  # pragma: no cover - degenerate Jacobian
        return np.full(len(x), math.nan)


# ---------------------------------------------------------------------------- writing


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return "nan" if math.isnan(v) else repr(round(float(v), 6))
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = [f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None]
        return "{ " + ", ".join(items) + " }"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dotted(prefix: str, data: dict[str, Any]) -> list[str]:
    """Nested values as dotted keys; a table of plain values becomes an inline table."""
    lines = []
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and any(isinstance(x, dict) for x in v.values()):
            lines += _dotted(key, v)
        else:
            lines.append(f"{key} = {_toml_value(v)}")
    return lines


def write_fitted(result: FitResult, scenario: Scenario, path: str | Path, meta: dict) -> Path:
    """Write the fitted values, their uncertainty, the fit table and the scenario overrides."""
    path = Path(path)
    lines = [
        "# Written by `sufficiency calibrate`: do not edit by hand; rerun it instead.",
        "# [scenario] holds the fitted values that scenarios/kent_baseline.toml loads through",
        "# its `calibration` link; [[parameter]] their standard errors; [[fit]] the fit table.",
        "",
        "[meta]",
        *[f"{k} = {_toml_value(v)}" for k, v in meta.items()],
        "method = "
        + _toml_value("simulated method of moments, common random numbers, Nelder-Mead"),
        f"replications = {result.reps}",
        f"seed = {result.seed}",
        f"evaluations = {result.evaluations}",
        f"objective_start = {_toml_value(result.start_objective)}",
        f"objective = {_toml_value(result.objective)}",
        "",
    ]
    for p, v, se in zip(result.parameters, result.values, result.standard_errors, strict=True):
        lines += [
            "[[parameter]]",
            f"name = {_toml_value(p.name)}",
            f"path = {_toml_value(p.path)}",
            f"mode = {_toml_value(p.mode)}",
            f"value = {_toml_value(float(v))}",
            f"standard_error = {_toml_value(float(se))}",
            f"low = {_toml_value(p.low)}",
            f"high = {_toml_value(p.high)}",
            f"start = {_toml_value(p.start)}",
            "",
        ]
    for _, r in result.table.iterrows():
        lines.append("[[fit]]")
        for col in (
            "id",
            "measure",
            "date",
            "use",
            "observed",
            "tolerance",
            "simulated_median",
            "simulated_p05",
            "simulated_p95",
            "within_tolerance",
            "status",
            "source",
        ):
            v = r[col]
            lines.append(f"{col} = {_toml_value(v)}")
        lines.append("")
    resolved = resolved_values(scenario, result.parameters, result.values)
    lines += ["[scenario]", *_dotted("", resolved)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))  # never leave an unreadable file behind
    return path
