"""Out-of-sample validation: forecast from an origin with observed drivers as inputs, and score
the forecast against figures dated after the origin without refitting anything.

``sufficiency validate`` forecasts from 31 March 2019 and scores the held-out 2023-24 figures;
the rolling-origin hindcast forecasts from 31 March 2017 and scores the 2017-18 and 2018-19
calibration figures. Each figure gets its 90% predictive interval, whether it falls inside, the
interval's width and the CRPS, for the model's ensemble and for the persistence and trend
reference forecasts (``sim.scoring``), with the model's skill against each. The ensemble is any
sample of the predictive distribution, one row per member: replications of one parameter set
(``forecast_ensemble``) or one replication per posterior draw. Figures that are themselves
driver inputs (the enquiry levels given to the scenario) are reported but not scored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.calibrate import Target, fit_table, simulate_targets
from sim.config import (
    PosteriorLink,
    Scenario,
    ScenarioError,
    load_scenario,
    long_date,
    posterior_link,
)
from sim.posterior import read_posterior
from sim.scoring import REFERENCES, reference_forecasts, score_figures, summarise

# Measures whose value is given to the scenario as a driver.
INPUT_MEASURES = {"enquiries"}


def forecast_ensemble(
    scenario: Scenario, figures: Sequence[Target], reps: int, seed: int = 0, workers: int = 1
) -> pd.DataFrame:
    """The model's ensemble: one row per replication, one column per figure id."""
    return simulate_targets(scenario, figures, reps, seed, workers)


def validation_table(
    scenario: Scenario,
    figures: Sequence[Target],
    ensemble: pd.DataFrame,
    series: pd.DataFrame,
    origin: dt.date | None = None,
) -> pd.DataFrame:
    """Score ``ensemble`` (a forecast of ``scenario``) against ``figures``.

    ``series`` holds the observed series the reference forecasts are built from
    (``sim.scoring.load_series``); only values dated up to ``origin`` (default: the scenario's
    start) are used.
    """
    table = fit_table(figures, ensemble, scenario)
    table["scored"] = (table["status"] == "compared") & ~table["measure"].isin(INPUT_MEASURES)
    table.loc[table["measure"].isin(INPUT_MEASURES), "status"] = "input (not scored)"
    scored = table[table["scored"]]
    refs = reference_forecasts(series, scored, origin or scenario.start)
    scores = score_figures(dict(zip(scored["id"], scored["observed"], strict=True)), ensemble, refs)
    scores = scores.drop(columns=["observed", "p05", "p95"]).rename(
        columns={"inside": "inside_90_interval", "width": "interval_width"}
    )
    table = table.merge(scores, on="id", how="left")
    table["inside_90_interval"] = table["inside_90_interval"].eq(True)
    return table


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Coverage, width, CRPS and skill over the scored figures (``sim.scoring.summarise``)."""
    s = table[table["scored"]].rename(
        columns={
            "inside_90_interval": "inside",
            "interval_width": "width",
            "simulated_p05": "p05",
            "simulated_p95": "p95",
        }
    )
    return summarise(s)


def hindcast_figures(
    targets: Sequence[Target], scenario: Scenario, origin: dt.date | None = None
) -> list[Target]:
    """The calibration targets dated after ``origin`` (default: the scenario's start) that a
    run of the scenario reaches."""
    return [t for t in targets if (origin or scenario.start) < t.date <= scenario.end]


@dataclass(frozen=True)
class Refit:
    """A hindcast from a posterior fitted only to the figures up to a rolling origin."""

    scenario: Scenario
    origin: dt.date
    targets: Path


def refit_scenario(posterior_file: str | Path) -> Refit:
    """The history scenario that ``posterior_file`` (``calibrate --posterior --until``) was
    fitted on, as the fit ran it (no point calibration), running replication ``r`` with its
    draw ``r``; the origin and the targets file are the fit's own."""
    _, meta = read_posterior(posterior_file)
    if not meta.get("until"):
        raise ScenarioError(
            f"{posterior_file}: not fitted to a rolling origin (no 'until' in its metadata); "
            "write it with `sufficiency calibrate --posterior --until DATE`"
        )
    origin = dt.date.fromisoformat(meta["until"])
    base = load_scenario(meta["scenario"], calibrated=False)
    link = PosteriorLink(**posterior_link(Path(posterior_file)))
    name = f"{base.name}, fitted to {long_date(origin)}"
    return Refit(
        base.model_copy(update={"posterior": link, "name": name}), origin, Path(meta["targets"])
    )


def _forecast_text(mid: float, lo: float, hi: float, observed: float) -> str:
    """``median [low, high]`` in the figure's format; ``-`` if there is no forecast."""
    if pd.isna(mid):
        return "-"
    fmt = "{:.3f}" if abs(observed) < 2 else "{:,.0f}"
    return f"{fmt.format(mid)} [{fmt.format(lo)}, {fmt.format(hi)}]"


def format_table(table: pd.DataFrame, interval: str = "90% interval") -> str:
    """A readable validation or fit table."""
    rows = []
    for _, r in table.iterrows():
        if r["status"] != "compared" and not r["status"].startswith("input"):
            sim = r["status"]
        else:
            sim = _forecast_text(
                r["simulated_median"], r["simulated_p05"], r["simulated_p95"], r["observed"]
            )
        flag = ""
        if "inside_90_interval" in r and r.get("scored", True):
            flag = "inside" if r["inside_90_interval"] else "OUTSIDE"
        elif r["status"] == "compared":
            flag = "ok" if r["within_tolerance"] else "MISS"
        row = {
            "target": r["id"],
            "date": r["date"],
            "observed": f"{r['observed']:g} ± {r['tolerance']:g}",
            f"simulated median [{interval}]": sim,
            "result": flag,
        }
        if "crps" in r:
            for name in REFERENCES:
                row[name] = _forecast_text(
                    r[f"{name}_mean"], r[f"{name}_p05"], r[f"{name}_p95"], r["observed"]
                )
            row["CRPS"] = "-" if pd.isna(r["crps"]) else f"{r['crps']:.3g}"
            for name in REFERENCES:
                skill = r.get(f"skill_{name}")
                row[f"skill vs {name}"] = "-" if pd.isna(skill) else f"{skill:+.2f}"
        rows.append(row)
    return pd.DataFrame(rows).to_string(index=False)


def format_summary(summary: pd.DataFrame) -> str:
    """The summary as a few readable lines."""
    lines = []
    for _, r in summary.iterrows():
        skill = ""
        if not pd.isna(r["skill"]):
            skill = (
                f"; the model's is {r['model_relative_crps']:.3f} on the same figures: "
                f"skill {r['skill']:+.2f}"
            )
        lines.append(
            f"  {r['forecast']:12s} {r['inside_90']:>2d} of {r['figures']:>2d} figures inside "
            f"its 90% interval, mean width {r['relative_width']:.0%} of the figure, "
            f"CRPS {r['relative_crps']:.3f} (sum of CRPS / figure){skill}"
        )
    return "\n".join(lines)
