"""A local web app for commissioners and planners: ``sufficiency serve``.

Pick or upload a scenario, move the policy levers, run in the background, and see fan charts,
KPIs against targets and paired differences between options; download the results, the
scenarios as TOML and the HTML report. Built on FastAPI with a plain HTML page and Plotly.js
(bundled in the ``plotly`` package, so the page needs no internet).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so a run's worker process (sim.webapp.worker) does not load the
    # server, the charts and the statistics.
    if name in __all__:
        from sim.webapp import app

        return getattr(app, name)
    raise AttributeError(name)
