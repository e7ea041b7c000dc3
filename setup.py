"""The optional compiled build: ``SUFFICIENCY_COMPILE=1 pip install .`` compiles the hot
modules (``sim/compiled.py``) with mypyc; without it the package installs as pure Python.
Everything else about the package is in ``pyproject.toml``.

``SUFFICIENCY_COMPILE_MODULES`` (paths separated by commas) compiles only those modules.
"""

import os
import runpy
import sys

from setuptools import setup

ext_modules = []
# Listing the metadata (dist_info, egg_info) needs no compiling: mypyc then runs once a build.
metadata_only = any(command in sys.argv for command in ("dist_info", "egg_info"))
if os.environ.get("SUFFICIENCY_COMPILE", "") not in ("", "0") and not metadata_only:
    from mypyc.build import mypycify  # the build needs mypy: pyproject.toml, [build-system]

    modules = runpy.run_path("sim/compiled.py")["MODULES"]
    chosen = os.environ.get("SUFFICIENCY_COMPILE_MODULES", "")
    if chosen:
        modules = [m.strip() for m in chosen.split(",") if m.strip()]
    # opt_level 3 is mypyc's default; SUFFICIENCY_COMPILE_OPT=0 builds faster (tests)
    ext_modules = mypycify(list(modules), opt_level=os.environ.get("SUFFICIENCY_COMPILE_OPT", "3"))

setup(ext_modules=ext_modules)
