"""Out-of-sample validation: forecast from the calibration date with observed drivers as
inputs, and score the forecast against held-out figures without refitting anything.

Each held-out figure is reported with the 90% predictive interval over replications and
whether it falls inside. Figures that are themselves driver inputs (for example the enquiry
levels given to the scenario) are reported but not scored.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from sim.calibrate import Target, fit_table, simulate_targets
from sim.config import Scenario

# Measures whose held-out value is given to the validation scenario as a driver.
INPUT_MEASURES = {"enquiries"}


def validation_table(
    scenario: Scenario,
    holdouts: Sequence[Target],
    reps: int,
    seed: int = 0,
    workers: int = 1,
) -> pd.DataFrame:
    """Forecast ``scenario`` and compare each held-out figure with the predictive interval."""
    sims = simulate_targets(scenario, holdouts, reps, seed, workers)
    table = fit_table(holdouts, sims, scenario)
    inside = (table["observed"] >= table["simulated_p05"]) & (
        table["observed"] <= table["simulated_p95"]
    )
    table["inside_90_interval"] = inside & (table["status"] == "compared")
    scored = (table["status"] == "compared") & ~table["measure"].isin(INPUT_MEASURES)
    table.loc[table["measure"].isin(INPUT_MEASURES), "status"] = "input (not scored)"
    table["scored"] = scored
    return table


def format_table(table: pd.DataFrame, interval: str = "90% interval") -> str:
    """A readable validation or fit table."""
    rows = []
    for _, r in table.iterrows():
        if r["status"] != "compared" and not r["status"].startswith("input"):
            sim = r["status"]
        else:
            fmt = "{:.3f}" if abs(r["observed"]) < 2 else "{:,.0f}"
            sim = (
                f"{fmt.format(r['simulated_median'])} "
                f"[{fmt.format(r['simulated_p05'])}, {fmt.format(r['simulated_p95'])}]"
            )
        flag = ""
        if "inside_90_interval" in r and r.get("scored", True):
            flag = "inside" if r["inside_90_interval"] else "OUTSIDE"
        elif r["status"] == "compared":
            flag = "ok" if r["within_tolerance"] else "MISS"
        rows.append(
            {
                "target": r["id"],
                "date": r["date"],
                "observed": f"{r['observed']:g} ± {r['tolerance']:g}",
                f"simulated median [{interval}]": sim,
                "result": flag,
            }
        )
    return pd.DataFrame(rows).to_string(index=False)
