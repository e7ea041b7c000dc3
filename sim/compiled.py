"""Which modules an install may compile with mypyc, and whether this one did.

``SUFFICIENCY_COMPILE=1 pip install .`` (or ``make compiled``) builds ``MODULES`` as C
extensions (``setup.py``); the default install is pure Python. Both give identical results
(``tests/test_compiled.py``). This module imports nothing of the package, so that ``setup.py``
can read ``MODULES`` without the package's dependencies.
"""

from __future__ import annotations

import importlib
import importlib.machinery

#: The hot paths of a replication (benchmarks/README.md), as paths from the repository root.
MODULES = (
    "sim/rng.py",
    "sim/model/entities.py",
    "sim/model/vacancies.py",
    "sim/model/placements.py",
    "sim/model/children.py",
    "sim/model/carers.py",
    "sim/model/metrics.py",
    "sim/model/timing.py",
)


def compiled_modules() -> list[str]:
    """The modules of ``MODULES`` that this interpreter loads as compiled extensions."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names = [m.removesuffix(".py").replace("/", ".") for m in MODULES]
    return [n for n in names if str(importlib.import_module(n).__file__).endswith(suffixes)]


def mode() -> str:
    """``"compiled"``, ``"compiled: 1 of 8 hot modules"`` (some), or ``"pure Python"``."""
    done = compiled_modules()
    if not done:
        return "pure Python"
    if len(done) == len(MODULES):
        return "compiled"
    return f"compiled: {len(done)} of {len(MODULES)} hot modules"
