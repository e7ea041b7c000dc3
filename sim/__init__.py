"""Placement sufficiency: a discrete-event simulation of children's care placements."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("placement-sufficiency")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from sim.compiled import mode as build_mode
from sim.config import Scenario, ScenarioError, load_scenario

__all__ = ["Scenario", "ScenarioError", "__version__", "build_mode", "load_scenario"]
