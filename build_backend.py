"""The build backend: setuptools, with mypy added to the build's requirements when
``SUFFICIENCY_COMPILE=1`` asks for the compiled modules (``setup.py``)."""

import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 (the backend's other hooks, unchanged)

_FLAG = "SUFFICIENCY_COMPILE"


def _requires(hook, config_settings):  # type: ignore[no-untyped-def]
    # setuptools runs setup.py to list its requirements: without the flag, as mypyc, which
    # setup.py imports for a compiled build, is what is being asked for.
    flag = os.environ.pop(_FLAG, "")
    try:
        requires = hook(config_settings)
    finally:
        if flag:
            os.environ[_FLAG] = flag
    return [*requires, "mypy>=2.0"] if flag not in ("", "0") else requires


def get_requires_for_build_wheel(config_settings=None):  # type: ignore[no-untyped-def]
    return _requires(_setuptools.get_requires_for_build_wheel, config_settings)


def get_requires_for_build_editable(config_settings=None):  # type: ignore[no-untyped-def]
    return _requires(_setuptools.get_requires_for_build_editable, config_settings)
