"""The compiled build (``SUFFICIENCY_COMPILE=1``, ``setup.py``) gives the pure-Python results.

The slow test builds one hot module with mypyc in a copy of the package, as the compiled
install does (but without type-checking the rest of the package), and checks that a short
Kent run gives tables identical, value for value, to this interpreter's, and that the copy
says it runs compiled. One module keeps the build within the suite's budget;
``benchmarks/bench_mypyc.py`` compiles them all.
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

# The children and households: every event reads and writes them. The module imports only the
# standard library, so the build below, which follows no imports into the rest of the package,
# compiles it with every type known, exactly as the full build does.
COMPILED = "sim/model/entities.py"
RUN = """
import pickle, sys
from sim.compiled import compiled_modules, mode
from sim.config import load_scenario
from sim.model import simulate
tables = simulate(load_scenario(sys.argv[1], {"years": 1.0}), seed=7, replication=0).tables()
pickle.dump((mode(), compiled_modules(), tables), open(sys.argv[2], "wb"))
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
        "SUFFICIENCY_COMPILE_MODULES": COMPILED,
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
        [sys.executable, "-c", RUN, str(KENT), str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    mode, modules, compiled = pickle.loads(out.read_bytes())
    assert modules == ["sim.model.entities"]
    assert mode == f"compiled: 1 of {len(MODULES)} hot modules"
    pure = simulate(load_scenario(KENT, {"years": 1.0}), seed=7, replication=0).tables()
    assert set(compiled) == set(pure)
    for name, table in pure.items():
        assert len(table) > 0 or name in ("episodes", "children")
        pd.testing.assert_frame_equal(compiled[name], table, check_exact=True)
