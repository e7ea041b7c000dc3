"""Which modules an install may compile with mypyc, and whether this one did.

``SUFFICIENCY_COMPILE=1 pip install .`` (or ``make compiled``) builds ``MODULES`` as C
extensions (``setup.py``); the default install is pure Python. Both give identical results
(``tests/test_compiled.py``). This module imports nothing of the package, so that ``setup.py``
can read ``MODULES`` without the package's dependencies.
"""

from __future__ import annotations

import importlib
import importlib.machinery

#: Every module of the model, as paths from the repository root: the random draws and all of
#: ``sim/model``. Compiling only the hottest eight (the draws, entities, vacancy index,
#: placements, children, carers, recorder and timing) gave 1.25-1.28x against pure Python;
#: compiling them all 1.67-1.84x, as the calls between modules are then native too
#: (benchmarks/README.md).
MODULES = (
    "sim/rng.py",
    "sim/model/entities.py",
    "sim/model/vacancies.py",
    "sim/model/placements.py",
    "sim/model/children.py",
    "sim/model/carers.py",
    "sim/model/metrics.py",
    "sim/model/timing.py",
    "sim/model/world.py",
    "sim/model/hooks.py",
    "sim/model/review.py",
    "sim/model/offers.py",
    "sim/model/providers.py",
    "sim/model/geography.py",
    "sim/model/moving_on.py",
    "sim/model/interventions.py",
    "sim/model/initial.py",
)


def compiled_modules() -> list[str]:
    """The modules of ``MODULES`` that this interpreter loads as compiled extensions."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    names = [m.removesuffix(".py").replace("/", ".") for m in MODULES]
    return [n for n in names if str(importlib.import_module(n).__file__).endswith(suffixes)]


def mode() -> str:
    """``"compiled"``, ``"compiled: 1 of 17 modules"`` (some), or ``"pure Python"``."""
    done = compiled_modules()
    if not done:
        return "pure Python"
    if len(done) == len(MODULES):
        return "compiled"
    return f"compiled: {len(done)} of {len(MODULES)} modules"
