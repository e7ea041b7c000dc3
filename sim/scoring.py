"""Proper scores for forecasts of published figures, and the reference forecasts to beat.

A forecast of a figure is either an ensemble (one value per replication, or per posterior
draw: any sample of the predictive distribution) or a Gaussian. Each is scored by its 90%
predictive interval (is the figure inside, how wide is it) and by the continuous ranked
probability score (CRPS, in the figure's own unit; lower is better), computed with
``scoringrules``: the fair ensemble estimator, unbiased whatever the number of replications,
and the closed form for a Gaussian.

The two reference forecasts are built from the figure's own observed series up to the forecast
origin (``calibration/validation_reference.csv``):

- persistence: the last observed value carried forward, Gaussian with a variance that grows
  linearly with the lead time (a random walk), its yearly scale from the series' relative
  year-on-year changes;
- trend: an ordinary least-squares line through the series, Gaussian with the regression's
  prediction variance, which grows with the square of the distance from the data.

Skill against a reference is ``1 - CRPS / CRPS_reference``: positive when the forecast beats it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scoringrules as sr
from scipy import stats

from sim.calibrate import MEASURES
from sim.config import ScenarioError

LEVEL = 0.9
REFERENCES = ("persistence", "trend")
# Fewer changes than this give no usable scale of their own: the pooled scale is used.
MIN_CHANGES = 3
# A residual standard deviation needs at least two degrees of freedom.
MIN_TREND_POINTS = 4
SERIES_COLUMNS = ("measure", "date", "value", "source", "note")


def interval(ensemble: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central predictive interval of an ensemble."""
    tail = (1 - level) / 2
    lo, hi = np.quantile(np.asarray(ensemble, dtype=float), [tail, 1 - tail])
    return float(lo), float(hi)


def crps_ensemble(observed: float, ensemble: np.ndarray) -> float:
    """CRPS of an ensemble forecast (fair estimator: unbiased for the ensemble's distribution)."""
    values = np.asarray(ensemble, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return math.nan
    return float(sr.crps_ensemble(observed, values, estimator="fair"))


@dataclass(frozen=True)
class Gaussian:
    """A Gaussian predictive distribution."""

    mean: float
    sd: float

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        z = stats.norm.ppf(0.5 + level / 2)
        return self.mean - z * self.sd, self.mean + z * self.sd

    def crps(self, observed: float) -> float:
        return float(sr.crps_normal(observed, self.mean, self.sd))


# ------------------------------------------------------------------- reference forecasts


def years_between(start: dt.date, end: dt.date) -> float:
    return (end - start).days / 365.25


def load_series(path: str | Path) -> pd.DataFrame:
    """Observed series for the reference forecasts: one row per measure and date."""
    try:
        table = pd.read_csv(path, comment="#")
    except (OSError, pd.errors.ParserError) as exc:
        raise ScenarioError(f"{path}: cannot read the reference series ({exc})") from exc
    missing = [c for c in SERIES_COLUMNS if c not in table]
    if missing:
        raise ScenarioError(f"{path}: missing column(s) {missing}; needed: {list(SERIES_COLUMNS)}")
    for column, parse in (("date", pd.to_datetime), ("value", pd.to_numeric)):
        try:
            table[column] = parse(table[column])
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{path}: field '{column}': {exc}") from exc
    table["date"] = table["date"].dt.date
    if table["value"].isna().any():
        raise ScenarioError(f"{path}: field 'value': a row has no value")
    unknown = sorted(set(table["measure"]) - set(MEASURES))
    if unknown:
        raise ScenarioError(
            f"{path}: field 'measure': unknown measure(s) {unknown}; allowed: {sorted(MEASURES)}"
        )
    if table[["measure", "date"]].duplicated().any():
        raise ScenarioError(f"{path}: a measure has two values for the same date")
    return table.sort_values(["measure", "date"]).reset_index(drop=True)


def _up_to(series: pd.DataFrame, measure: str, origin: dt.date) -> pd.Series:
    rows = series[(series["measure"] == measure) & (series["date"] <= origin)]
    return pd.Series(rows["value"].to_numpy(float), index=rows["date"].to_list())


def _relative_changes(points: pd.Series) -> np.ndarray:
    """Year-on-year changes as a share of the level, scaled to one year (random-walk scale)."""
    dates, values = list(points.index), points.to_numpy()
    gaps = np.array([years_between(a, b) for a, b in itertools.pairwise(dates)])
    return np.diff(values) / values[:-1] / np.sqrt(gaps)


def pooled_scale(series: pd.DataFrame, measures: set[str], origin: dt.date) -> float:
    """Root mean square relative yearly change over the series of ``measures``."""
    changes = np.concatenate(
        [_relative_changes(_up_to(series, m, origin)) for m in sorted(measures)] + [np.array([])]
    )
    return float(np.sqrt(np.mean(changes**2))) if len(changes) else math.nan


def _scale(points: pd.Series, pooled: float) -> float:
    own = _relative_changes(points)
    return float(np.sqrt(np.mean(own**2))) if len(own) >= MIN_CHANGES else pooled


def persistence(points: pd.Series, date: dt.date, pooled: float) -> Gaussian:
    """The last observed value, with a spread growing with the square root of the lead time."""
    last = float(points.iloc[-1])
    lead = years_between(points.index[-1], date)
    return Gaussian(last, abs(last) * _scale(points, pooled) * math.sqrt(lead))


def trend(points: pd.Series, date: dt.date, pooled: float) -> Gaussian:
    """An OLS line through the series, with its prediction interval.

    A single point has no trend: the forecast is persistence. With fewer than
    ``MIN_TREND_POINTS`` points the residual scale is the series' yearly change scale.
    """
    if len(points) < 2:
        return persistence(points, date, pooled)
    t = np.array([years_between(points.index[0], d) for d in points.index])
    y = points.to_numpy()
    slope, intercept = np.polyfit(t, y, 1)
    t_new = years_between(points.index[0], date)
    n = len(t)
    if n >= MIN_TREND_POINTS:
        s = math.sqrt(np.sum((y - (intercept + slope * t)) ** 2) / (n - 2))
    else:
        s = abs(float(y[-1])) * _scale(points, pooled)
    spread = s * math.sqrt(1 + 1 / n + (t_new - t.mean()) ** 2 / np.sum((t - t.mean()) ** 2))
    return Gaussian(float(intercept + slope * t_new), spread)


def reference_forecasts(
    series: pd.DataFrame, figures: pd.DataFrame, origin: dt.date
) -> dict[str, dict[str, Gaussian]]:
    """Persistence and trend forecasts of each figure (columns id, measure, date) from ``origin``.

    Figures whose measure has no observed value by ``origin`` get no reference forecast.
    """
    measures = {m for m in figures["measure"] if len(_up_to(series, m, origin))}
    pooled = pooled_scale(series, measures, origin)
    out: dict[str, dict[str, Gaussian]] = {name: {} for name in REFERENCES}
    for _, f in figures.iterrows():
        points = _up_to(series, f["measure"], origin)
        if f["measure"] in measures:
            out["persistence"][f["id"]] = persistence(points, f["date"], pooled)
            out["trend"][f["id"]] = trend(points, f["date"], pooled)
    return out


# ----------------------------------------------------------------------------- scoring


def score_figures(
    observed: Mapping[str, float],
    ensemble: pd.DataFrame,
    references: Mapping[str, Mapping[str, Gaussian]],
) -> pd.DataFrame:
    """Interval, coverage, width and CRPS of the ensemble and of each reference, per figure.

    ``ensemble`` has one column per figure id and one row per member (replication or posterior
    draw). Skill against a reference is ``1 - crps / <reference>_crps``.
    """
    rows = []
    for fid, obs in observed.items():
        values = ensemble[fid].dropna().to_numpy(float)
        lo, hi = interval(values) if len(values) else (math.nan, math.nan)
        row: dict[str, object] = {
            "id": fid,
            "observed": obs,
            "members": len(values),
            "p05": lo,
            "p95": hi,
            "inside": bool(lo <= obs <= hi),
            "width": hi - lo,
            "crps": crps_ensemble(obs, values),
        }
        for name, forecasts in references.items():
            g = forecasts.get(fid)
            if g is None:
                row.update({f"{name}_{k}": math.nan for k in ("mean", "p05", "p95", "crps")})
                row[f"{name}_inside"] = False
                row[f"skill_{name}"] = math.nan
                continue
            rlo, rhi = g.interval()
            crps = g.crps(obs)
            row.update(
                {
                    f"{name}_mean": g.mean,
                    f"{name}_p05": rlo,
                    f"{name}_p95": rhi,
                    f"{name}_inside": bool(rlo <= obs <= rhi),
                    f"{name}_crps": crps,
                    f"skill_{name}": 1 - row["crps"] / crps,  # type: ignore[operator]
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """Coverage, relative width and relative CRPS over all figures, for the forecast and each
    reference, and the forecast's overall skill against each reference.

    Figures differ in unit, so widths and CRPS are divided by the observed figure before they
    are added up. A reference row covers the figures that have that reference, and gives the
    forecast's own relative CRPS on them; overall skill is ``1 - model_relative_crps /
    relative_crps``.
    """
    scale = scores["observed"].abs()
    rel_crps = scores["crps"] / scale
    rows = [
        {
            "forecast": "model",
            "figures": len(scores),
            "inside_90": int(scores["inside"].sum()),
            "relative_width": float((scores["width"] / scale).mean()),
            "relative_crps": float(rel_crps.sum()),
            "model_relative_crps": float(rel_crps.sum()),
            "skill": math.nan,
        }
    ]
    for name in REFERENCES:
        if f"{name}_crps" not in scores:
            continue
        has = scores[f"{name}_crps"].notna()
        s = scores[has]
        ref = float((s[f"{name}_crps"] / scale[has]).sum())
        model = float(rel_crps[has].sum())
        width = (s[f"{name}_p95"] - s[f"{name}_p05"]) / scale[has]
        rows.append(
            {
                "forecast": name,
                "figures": int(has.sum()),
                "inside_90": int(s[f"{name}_inside"].sum()),
                "relative_width": float(width.mean()),
                "relative_crps": ref,
                "model_relative_crps": model,
                "skill": 1 - model / ref,
            }
        )
    return pd.DataFrame(rows)
