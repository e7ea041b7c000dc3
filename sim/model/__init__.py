"""The simulation: a thin world object and one module per mechanism."""

from sim.model.world import World, simulate

__all__ = ["World", "simulate"]
