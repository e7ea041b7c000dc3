"""A self-contained HTML report: the scenario, its summary table and fan charts."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

from sim.experiment import HEADLINES, format_summary, yearly_summary
from sim.plots import headline_grid

CHART_COLUMNS = [
    "children_in_care",
    "in_house",
    "ifa_spot",
    "residential",
    "unregistered",
    "waiting",
    "households",
    "places_vacant",
    "weekly_cost",
    "kpi_within_20_miles",
]


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_report(tables: dict[str, pd.DataFrame], manifest: dict[str, Any], path: Path) -> Path:
    """Write one HTML file with images embedded; it needs no internet to open."""
    summary = yearly_summary(tables)
    img = _png(headline_grid(tables["snapshots"], CHART_COLUMNS))
    prov = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(manifest[k]))}</td></tr>"
        for k in ("scenario", "seed", "replications", "version", "commit", "written")
        if k in manifest
    )
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Placement sufficiency: {html.escape(str(manifest.get("scenario")))}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:0.85em}}td,th{{border:1px solid #ccc;padding:3px 6px}}
th{{text-align:left;background:#f3f3f3}}pre{{font-size:0.8em;overflow-x:auto}}</style></head><body>
<h1>Placement sufficiency: {html.escape(str(manifest.get("scenario")))}</h1>
<section id="provenance"><h2>Scenario and provenance</h2><table>{prov}</table></section>
<section id="summary"><h2>Headline figures at 31 March</h2>
<p>Each cell is the median over replications, with the range that 90% of runs fall in.</p>
<pre>{html.escape(format_summary(summary))}</pre></section>
<section id="charts"><h2>How the figures develop</h2>
<p>Solid line: median of all runs. Dark band: half of runs. Light band: 90% of runs.</p>
<img alt="Fan charts of {", ".join(HEADLINES[c] for c in CHART_COLUMNS)}"
 src="data:image/png;base64,{img}" style="width:100%"></section>
</body></html>"""
    path.write_text(body, encoding="utf-8")
    return path
