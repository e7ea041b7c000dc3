"""Every notebook in ``notebooks/`` runs top to bottom without an error.

Each notebook is executed with nbclient in a fresh kernel running this interpreter (the
project's virtualenv), with ``notebooks/`` as the working directory, as an analyst would run
it. New notebooks are picked up automatically. Executed copies, outputs included, are saved to
``tests/artifacts/`` (git-ignored) for inspection.

The longest notebooks run shorter here: as papermill does, a cell of smaller values is put
after the cell tagged ``parameters``, and every cell still runs.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import nbclient
import nbformat
import pytest
from jupyter_client import kernelspec
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
KERNEL = "python3"
CELL_TIMEOUT = 600  # seconds, per cell

# Fewer replications (and years) than an analyst runs; each value still lets every cell work.
SHORT = {
    "01_quickstart.ipynb": "REPS = 2",  # ten years each: two show every table and chart
    "02_calibration_and_validation.ipynb": "REPS = 2",  # a 90% interval and a CRPS from two
    "03_monte_carlo_at_scale.ipynb": "YEARS, REPS = 1, 4",  # the Dask cell reads 4 replications
    # paired standard errors need two replications; six years reach the last policy's start
    "04_policy_comparison.ipynb": "YEARS, REPS = 6, 2",
    # one replication: the export, the rules and the demand model read replication 0 only
    "05_ssda903_and_demand_model.ipynb": "REPS, YEARS = 1, 8",
}

# jupyter_client replaces these launcher names with the interpreter that starts the kernel.
_THIS_PYTHON = {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}


def _runs_this_python(spec: kernelspec.KernelSpec) -> bool:
    """Whether a kernel spec starts this interpreter (so the kernel sees this virtualenv)."""
    exe = spec.argv[0] if spec.argv else ""
    if exe in _THIS_PYTHON:
        return True
    try:
        return Path(exe).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``python3`` kernel that runs this interpreter and imports this checkout's ``sim``.

    ipykernel installs a spec under ``<venv>/share/jupyter/kernels/python3``; if the spec that
    Jupyter resolves runs some other interpreter (or there is none), a temporary spec pointing
    at ``sys.executable`` is written and put first on ``JUPYTER_PATH`` for these tests only.
    """
    mp = pytest.MonkeyPatch()
    try:
        spec = kernelspec.KernelSpecManager().get_kernel_spec(KERNEL)
    except kernelspec.NoSuchKernel:
        spec = None
    if spec is None or not _runs_this_python(spec):
        data = tmp_path_factory.mktemp("jupyter")
        spec_dir = data / "kernels" / KERNEL
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Python 3 (tests)",
                    "language": "python",
                }
            )
        )
        mp.setenv(
            "JUPYTER_PATH",
            os.pathsep.join(filter(None, [str(data), os.environ.get("JUPYTER_PATH")])),
        )
    # The kernel inherits this environment: import `sim` from this checkout, not an install.
    mp.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    try:
        yield KERNEL
    finally:
        mp.undo()


def _assigned(source: str) -> set[str]:
    tree = ast.parse(source)
    targets = [t for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def shorten(nb: nbformat.NotebookNode, source: str) -> None:
    """Put ``source`` in a new cell after the one cell tagged ``parameters``; it may only
    reassign that cell's names (so a renamed parameter cannot be missed silently)."""
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{len(tagged)} cells tagged 'parameters' (one is needed)"
    unknown = _assigned(source) - _assigned(nb.cells[tagged[0]].source)
    assert not unknown, f"{sorted(unknown)} are not set in the parameters cell"
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(tagged[0] + 1, cell)


@pytest.mark.parametrize("path", sorted(SHORT), ids=str)
def test_short_parameters_replace_the_notebooks_own(path: str) -> None:
    nb = nbformat.read(NOTEBOOKS / path, as_version=4)
    shorten(nb, SHORT[path])
    with pytest.raises(AssertionError, match="not set in the parameters cell"):
        shorten(nb, "UNUSED = 1")


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_runs(path: Path, kernel_name: str) -> None:
    nb = nbformat.read(path, as_version=4)
    if path.name in SHORT:
        shorten(nb, SHORT[path.name])
    client = nbclient.NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = exc
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        nbformat.write(nb, ARTIFACTS / path.name)
    if error is not None:
        # The message holds the failing cell's source and its traceback.
        pytest.fail(
            f"{path.name} failed (executed copy in {ARTIFACTS / path.name}):\n"
            + re.sub(r"\x1b\[[0-9;]*m", "", str(error)),
            pytrace=False,
        )
