"""The compiled build (``SUFFICIENCY_COMPILE=1``, ``setup.py``) gives the pure-Python results.

The slow test builds every module the compiled install builds with mypyc in a copy of the
package, as the install does (but without type-checking the rest of the package, and at the
quickest optimisation level), and checks that a short Kent run gives tables identical, value
for value, to this interpreter's, and that the copy says it runs compiled. The build takes
about 35 s on an idle machine; ``benchmarks/bench_engine.py --compiled`` checks 10-year runs.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import pandas as pd
import pytest
import tomli_w
from conftest import KENT, ROOT

import sim
from sim.compiled import MODULES, compiled_modules
from sim.config import load_scenario
from sim.model import simulate

RUN = """
import pickle, sys
from sim.compiled import compiled_modules, mode
from sim.config import load_scenario
from sim.model import simulate
tables = simulate(load_scenario(sys.argv[1], {"years": 1.0}), seed=7, replication=0).tables()
started = placements_started(sys.argv[1])
seen = by_simpy(sys.argv[1])
pickle.dump((mode(), compiled_modules(), tables, started, seen), open(sys.argv[2], "wb"))
"""
# A mechanism written outside the package, in interpreted Python, subscribed to a world: the
# README's "Adding a mechanism" with a compiled install. Run here and in the compiled copy.
OBSERVER = """
from sim.config import load_scenario
from sim.model.hooks import Observer
from sim.model.world import World
from sim.rng import make_streams


class Count(Observer):
    def __init__(self) -> None:
        self.n = 0

    def placement_started(self, child, h) -> None:
        self.n += 1


def placements_started(path: str) -> int:
    world = World(load_scenario(path, {"years": 1.0}), make_streams(7, 0))
    count = Count()
    world.hooks.subscribe(count)
    world.run()
    return count.n


def by_simpy(path: str) -> list:  # the world's own events through SimPy's loop (env.run)
    world = World(load_scenario(path, {"years": 1.0}), make_streams(7, 0))
    seen: list = []
    world.schedule(2.0, seen.append, "second")
    world.schedule(1.0, seen.append, "first")
    world.env.run(until=3.0)
    return seen
"""


def test_the_version_says_how_the_package_runs(capsys):
    from sim.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert shown == f"sufficiency {sim.__version__} ({sim.build_mode()})\n"
    assert ("pure Python" in shown) == (not compiled_modules())
    assert {m.removesuffix(".py").replace("/", ".") for m in MODULES} >= {"sim.model.placements"}


def test_every_module_of_the_model_is_compiled():
    """A new mechanism's module joins the compiled build (and the check below) by default."""
    model = {
        str(p.relative_to(ROOT))
        for p in (ROOT / "sim" / "model").glob("*.py")
        if p.name != "__init__.py"
    }
    assert model <= set(MODULES)
    assert len(set(MODULES)) == len(MODULES)
    assert all((ROOT / m).is_file() for m in MODULES)


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc)


@pytest.mark.slow
def test_a_compiled_module_gives_identical_tables(tmp_path):
    if _compiler() is None:
        pytest.skip("no C compiler: the compiled build cannot be tested here")
    pytest.importorskip("mypyc", reason="mypyc (pip install mypy) is needed to compile")
    if compiled_modules():
        pytest.skip("this install is compiled: the pure-Python side of the comparison is missing")
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT / "sim", tree / "sim", ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd")
    )
    shutil.copy(ROOT / "setup.py", tree)
    # The build type-checks first: mypy's settings (and only those) from pyproject.toml. It
    # skips the modules the package's __init__ imports (pydantic, pandas: a minute of mypy);
    # `mypy sim` in `make test` checks those.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    mypy = {**settings["mypy"], "follow_imports": "skip"}
    (tree / "pyproject.toml").write_text(tomli_w.dumps({"tool": {"mypy": mypy}}))
    env = {
        **os.environ,
        "SUFFICIENCY_COMPILE": "1",
        "SUFFICIENCY_COMPILE_OPT": "0",  # the quickest build; the results do not depend on it
        "MYPY_CACHE_DIR": str(tmp_path / "mypy_cache"),
    }
    build = [sys.executable, "setup.py", "-q", "build_ext", "--inplace"]
    done = subprocess.run(build, cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "tables.pkl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUFFICIENCY_")}
    env["PYTHONPATH"] = str(tree)
    done = subprocess.run(
        [sys.executable, "-c", OBSERVER + RUN, str(KENT), str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    mode, modules, compiled, started, seen = pickle.loads(out.read_bytes())
    assert modules == [m.removesuffix(".py").replace("/", ".") for m in MODULES]
    assert mode == "compiled"
    pure = simulate(load_scenario(KENT, {"years": 1.0}), seed=7, replication=0).tables()
    assert set(compiled) == set(pure)
    for name, table in pure.items():
        assert len(table) > 0 or name in ("episodes", "children")
        pd.testing.assert_frame_equal(compiled[name], table, check_exact=True)
    here: dict = {}
    exec(OBSERVER, here)
    assert started == here["placements_started"](str(KENT)) > 0
    assert seen == here["by_simpy"](str(KENT)) == ["first", "second"]


def test_the_mode_names_a_partial_build(monkeypatch):
    """A build of some modules (``SUFFICIENCY_COMPILE_MODULES``) says how many it has."""
    import sim.compiled as compiled

    monkeypatch.setattr(compiled, "compiled_modules", lambda: ["sim.rng"])
    assert compiled.mode() == f"compiled: 1 of {len(MODULES)} modules"
    monkeypatch.setattr(compiled, "compiled_modules", lambda: [])
    assert compiled.mode() == "pure Python"
