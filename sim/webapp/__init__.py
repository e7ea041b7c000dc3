"""A local web app for commissioners and planners: ``sufficiency serve``.

Pick or upload a scenario, move the policy levers, run in the background, and see fan charts,
KPIs against targets and paired differences between options; download the results, the
scenarios as TOML and the HTML report. Built on FastAPI with a plain HTML page and Plotly.js
(bundled in the ``plotly`` package, so the page needs no internet).
"""

from sim.webapp.app import create_app, serve

__all__ = ["create_app", "serve"]
