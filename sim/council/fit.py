"""The fit report: the first simulated year of a council's scenario against its last observed
year (flows in the year, and children in care at its end by SSDA903 placement group)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis import year_end
from sim.config import Scenario, with_overrides
from sim.experiment import run
from sim.ssda903 import DFE_GROUPS

FLOWS = {  # fit-report row -> the model's flow column
    "arrivals (not UASC)": "arrivals_children",
    "arrivals (UASC)": "arrivals_uasc",
    "exits (all)": "exits",
    "exits: return home": "exits_return_home",
    "exits: special guardianship": "exits_sgo",
    "exits: adoption": "exits_adoption",
    "exits: at 18": "exits_age_18",
    "exits: National Transfer Scheme": "exits_nts_transfer",
    "breakdowns": "breakdowns",
}


def simulate_first_year(scenario: Scenario, reps: int, seed: int) -> pd.DataFrame:
    """Per replication: the first year's flows and the children in care at its end."""
    tables = run(with_overrides(scenario, {"years": 1}), reps=reps, seed=seed, workers=1)
    flows = tables["flows"].groupby("replication").sum(numeric_only=True)
    flows["arrivals_children"] = flows["arrivals"] - flows.get("arrivals_uasc", 0)
    out = pd.DataFrame(index=flows.index)
    for row, col in FLOWS.items():
        out[row] = flows[col] if col in flows else 0.0
    ends = year_end(tables["snapshots"]).groupby("replication").last()
    for group, kinds in DFE_GROUPS.items():
        out[f"in care at end: {group}"] = sum(ends[k] for k in kinds if k in ends)
    return out


def fit_table(
    observed: dict[str, float], simulated: pd.DataFrame, defaults: set[str]
) -> pd.DataFrame:
    """Observed against the simulated median and 90% range, row by row; ``defaults`` names the
    rows whose parameters came from national or schema defaults rather than the council."""
    rows = []
    for name in simulated.columns:
        sim = simulated[name].to_numpy(dtype=float)
        lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95])
        obs = observed.get(name, float("nan"))
        rows.append(
            {
                "measure": name,
                "observed": round(obs, 1),
                "simulated_median": round(float(med), 1),
                "simulated_5%": round(float(lo), 1),
                "simulated_95%": round(float(hi), 1),
                "inside_90%": bool(lo <= obs <= hi) if not np.isnan(obs) else None,
                "parameters_from": "default" if name in defaults else "council",
            }
        )
    return pd.DataFrame(rows)


def write_report(
    folder: Path,
    title: str,
    fit: pd.DataFrame,
    sections: dict[str, pd.DataFrame],
    notes: list[str],
) -> list[Path]:
    """Write ``fit.csv``, one CSV per section and a self-contained ``fit.html``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "fit.csv"]
    fit.to_csv(written[0], index=False)
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        "<h2>First simulated year against the last observed year</h2>",
        fit.to_html(index=False, na_rep="", border=0),
    ]
    if notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{html.escape(n)}</li>" for n in notes]
        parts.append("</ul>")
    for name, table in sections.items():
        path = folder / f"{name}.csv"
        table.to_csv(path, index=False)
        written.append(path)
        parts += [
            f"<h2>{html.escape(name.replace('_', ' '))}</h2>",
            table.to_html(index=False, na_rep="", border=0),
        ]
    style = (
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;"
        "text-align:right}</style>"
    )
    page = folder / "fit.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"{style}</head><body>{''.join(parts)}</body></html>\n",
        encoding="utf-8",
    )
    written.append(page)
    return written
