"""The external tools that read SSDA903 files, each in its own cached virtual environment.

Both pin pandas < 2, which the project cannot share: :func:`validate` runs the DfE validation
rules (``csc-validator-be-903``) and :func:`demand_model_predict` the Social Finance demand
model (``cs-demand-model``). The code that runs inside a tool's environment is in
``scripts/`` (it imports the tool, so it never runs in this interpreter); it prints its result
as one JSON line. Nothing here is imported by the model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.ssda903.codes import KENT_LA_CODE, SEX_LETTERS_FROM

SCRIPTS = Path(__file__).resolve().parent / "scripts"
RESULT_MARKER = "@@RESULT@@"  # the scripts print their result on a line starting with this


class ToolUnavailable(RuntimeError):
    """An external tool's virtual environment could not be created or used."""


@dataclass(frozen=True)
class Tool:
    name: str
    requirements: tuple[str, ...]
    check: str  # python code that must run in the environment once installed


VALIDATOR = Tool(
    "csc-validator-be-903",
    ("csc-validator-be-903==0.1.17", "pandas<2"),
    "import lac_validator.lac_validator",
)
DEMAND_MODEL = Tool(
    "cs-demand-model",
    ("cs-demand-model[cli]==0.5.1", "pandas<2"),
    "import cs_demand_model",
)


def cache_dir() -> Path:
    """Where the tools' environments live: ``$SUFFICIENCY_903_CACHE`` or ``.cache/ssda903-venv``
    in the repository (git-ignored)."""
    env = os.environ.get("SUFFICIENCY_903_CACHE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".cache" / "ssda903-venv"


def _base_python() -> str:
    """An interpreter for the tools: they pin pandas < 2, which has wheels up to Python 3.11."""
    env = os.environ.get("SUFFICIENCY_903_PYTHON")
    if env:
        return env
    if sys.version_info[:2] in ((3, 10), (3, 11)):
        return sys.executable
    for name in ("python3.11", "python3.10"):
        found = shutil.which(name)
        if found:
            return found
    raise ToolUnavailable(
        "no Python 3.10 or 3.11 found for the SSDA903 tools (they pin pandas < 2); set "
        "SUFFICIENCY_903_PYTHON to one"
    )


@contextlib.contextmanager
def _lock(path: Path):
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pip_version() -> tuple[int, ...]:
    """This interpreter's pip version, () without one."""
    try:
        return tuple(int(x) for x in importlib.metadata.version("pip").split(".")[:2])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return ()


def tool_python(tool: Tool, timeout: float = 900) -> Path:
    """The Python of ``tool``'s environment, created (and cached) on first use.

    Raises :class:`ToolUnavailable` with the reason when it cannot be created (no network to
    PyPI, no suitable interpreter...).
    """
    root = cache_dir() / tool.name
    python = root / "bin" / "python"
    stamp = root / ".installed"
    spec = "\n".join(tool.requirements)
    with _lock(cache_dir() / f"{tool.name}.lock"):
        if stamp.exists() and stamp.read_text() == spec and python.exists():
            return python
        shutil.rmtree(root, ignore_errors=True)
        # This interpreter's pip, when it can (``--python``, pip 22.3), installs into the new
        # environment, which then needs no pip of its own; nothing is byte-compiled ahead (the
        # check below compiles what the tool imports): a third of the time it took with its own.
        if _pip_version() >= (22, 3):
            venv, pip = ["--without-pip"], [sys.executable, "-m", "pip", "--python", str(python)]
        else:
            venv, pip = [], [str(python), "-m", "pip"]
        steps = [
            [_base_python(), "-m", "venv", *venv, str(root)],
            [
                *pip,
                "install",
                "--quiet",
                "--no-compile",
                "--disable-pip-version-check",
                *tool.requirements,
            ],
            [str(python), "-c", tool.check],
        ]
        for cmd in steps:
            try:
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=timeout, env=_tool_env()
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ToolUnavailable(f"{tool.name}: `{' '.join(cmd[:4])}` failed: {exc}") from exc
            if done.returncode != 0:
                tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
                raise ToolUnavailable(
                    f"{tool.name}: could not create its environment in {root}; "
                    f"`{' '.join(cmd[:5])}` exited {done.returncode}:\n{tail}"
                )
        stamp.write_text(spec)
    return python


def _tool_env() -> dict[str, str]:
    """The environment for a tool: none of this process's Python or plotting settings (a
    notebook's inline matplotlib backend, say, does not exist in the tool's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MPL"))}
    env["MPLBACKEND"] = "Agg"
    return env


def _run_script(tool: Tool, script: str, args: dict[str, Any], timeout: float = 1200) -> Any:
    """Run ``scripts/<script>`` in ``tool``'s environment with ``args`` (JSON); its result."""
    python = tool_python(tool)
    done = subprocess.run(
        [str(python), str(SCRIPTS / script), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_tool_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"{tool.name} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    marker = RESULT_MARKER
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    raise RuntimeError(f"{tool.name} printed no result:\n{done.stdout[-2000:]}")


# ------------------------------------------------------------------------------ validation


RULESET_YEARS = (2023, 2024, 2025, 2026, 2027)  # editions in csc-validator-be-903 0.1.17


def ruleset_for(year: int) -> str:
    """The validator's rule set for the collection ending in March ``year`` (clamped to the
    editions it ships: 2022-23 to 2026-27)."""
    y = min(max(year, RULESET_YEARS[0]), RULESET_YEARS[-1])
    return f"lac{y - 1}_{y % 100:02d}"


# Why rules do not run on the export. The validator skips a rule when a table it needs was not
# uploaded; these are the tables the model does not produce.
NOT_PRODUCED: dict[str, str] = {
    "AD1": "adoption details (matching dates, adopters): the model has no adopters",
    "PlacedAdoption": "decisions that a child should be placed for adoption: no decision dates",
    "OC2": "outcomes of children looked after for 12 months (health, SDQ, offending)",
    "OC3": "care leavers' activity and accommodation at 17 to 21: not followed after care",
    "Reviews": "review dates and participation",
    "Missing": "missing or away from placement episodes",
    "PrevPerm": "permanence orders before care",
    "SWEpisodes": "social worker episodes",
    "DoLo": "deprivation of liberty orders (new for 2026-27)",
    "Provider Info": "Ofsted's lists of homes and providers (a URN lookup): no real URNs",
}
TABLE_ALIASES = {"oc2s": "oc2", "dolo_last": "dolo"}
SKIP_REASONS: dict[str, str] = {
    "105": "checks the UASC flag of XML returns; from CSV the validator derives the flag itself",
    "1012": "concerns OC3 care leavers (its table list omits OC3)",
}
FIRST_YEAR = "compares with last year's return, which the first exported year does not have"
# Rules that raise an error inside the validator on any CSV upload (validator bugs); the tests
# check what they mean to check directly on the exported files.
CRASHING_RULES: dict[str, str] = {
    "231": "reads a UASC_STATUS column that the validator's CSV reader never creates",
    "233": "reads a DATE_EPISODE_CEASED column; the field is DEC",
}
# Rule failures that are validator bugs, with the only PLACE codes they may flag.
KNOWN_BUGS: dict[tuple[str, str], tuple[set[str], str]] = {
    ("lac2024_25", "146"): (
        {"K3"},
        "the 2024-25 code list spells the new supported accommodation code 'k3' while the "
        "reader upper-cases every value, so every K3 episode fails",
    ),
}


def _table_key(name: str) -> str:
    key = name.lower().removesuffix("_last")
    return TABLE_ALIASES.get(key, key)


_OURS = {"header", "episodes", "uasc"}
_NOT_PRODUCED = {_table_key(t): t for t in NOT_PRODUCED}


@dataclass
class Validation:
    """The DfE rules run over one exported collection year."""

    year: int
    ruleset: str
    rules: dict[str, dict[str, Any]]
    ran: list[str]
    skipped: list[str]
    crashed: list[str]
    failures: dict[str, int]
    examples: dict[str, list[str]]
    failing_places: dict[str, dict[str, int]]
    has_previous: bool
    rows: dict[str, int]

    def skip_reasons(self) -> dict[str, str]:
        """Why each skipped rule did not run ("" when unexplained)."""
        out = {}
        for rule in self.skipped:
            tables = {_table_key(t) for t in self.rules[rule]["tables"]}
            missing = sorted(_NOT_PRODUCED[t] for t in tables - _OURS if t in _NOT_PRODUCED)
            if missing:
                out[rule] = "needs " + ", ".join(missing)
            elif rule in SKIP_REASONS:
                out[rule] = SKIP_REASONS[rule]
            elif not self.has_previous:
                out[rule] = FIRST_YEAR
            else:
                out[rule] = ""
        return out

    def unexplained_skips(self) -> list[str]:
        return sorted(c for c, why in self.skip_reasons().items() if not why)

    def unexplained_crashes(self) -> list[str]:
        return sorted(c for c in self.crashed if c not in CRASHING_RULES)

    def known_bug(self, rule: str) -> bool:
        """Whether all of ``rule``'s failures are a known validator bug."""
        bug = KNOWN_BUGS.get((self.ruleset, rule))
        places = self.failing_places.get(rule, {})
        if bug is None or not places:
            return False
        return set(places) <= bug[0] and sum(places.values()) == self.failures[rule]

    def unexpected(self) -> dict[str, int]:
        """Failures that are not a known validator bug: none are expected."""
        return {r: n for r, n in self.failures.items() if not self.known_bug(r)}

    def summary(self) -> str:
        bad = self.unexpected()
        bugs = sorted(set(self.failures) - set(bad))
        text = (
            f"{self.year} ({self.ruleset}): {len(self.ran)} rules ran, {len(self.skipped)} "
            f"skipped, {len(self.crashed)} crashed in the validator "
            f"({', '.join(self.crashed) or 'none'}), {sum(bad.values())} failures"
        )
        if bad:
            text += f" {bad}"
        if bugs:
            text += "; known validator bug: " + ", ".join(
                f"{r} ({self.failures[r]} rows)" for r in bugs
            )
        return text


def validate(
    export_dir: Path | str, years: Iterable[int] | None = None, la_code: str = KENT_LA_CODE
) -> list[Validation]:
    """Run the DfE validation rules over exported years (each with the year before, if there).

    Uses the ``csc-validator-be-903`` rule set of each year (clamped to the editions it ships).
    Raises :class:`ToolUnavailable` when its environment cannot be created.
    """
    export_dir = Path(export_dir).resolve()
    available = sorted(int(p.name) for p in export_dir.iterdir() if p.name.isdigit())
    tables = ("header", "episodes", "uasc")
    jobs = []
    with tempfile.TemporaryDirectory() as tmp:
        for year in years or available:
            this = [str(export_dir / str(year) / f"{t}.csv") for t in tables]
            prev_dir = export_dir / str(year - 1)
            prev = []
            if prev_dir.exists():
                if year - 1 < SEX_LETTERS_FROM <= year:
                    # Last year's return used 1/2 for sex, this year's M/F: the validator's rule
                    # 202 compares the raw codes, so last year's files are recoded first.
                    prev_dir = _recode_sex(prev_dir, Path(tmp) / str(year - 1))
                prev = [str(prev_dir / f"{t}.csv") for t in tables]
            jobs.append(
                {
                    "year": year,
                    "ruleset": ruleset_for(year),
                    "this_year": this,
                    "prev_year": prev,
                    "la": la_code,
                }
            )
        results = _run_script(VALIDATOR, "validate_903.py", {"jobs": jobs})
    return [Validation(**r) for r in results]


def _recode_sex(folder: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for name in ("header", "episodes", "uasc"):
        df = pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        if "SEX" in df:
            df["SEX"] = df["SEX"].replace({"1": "M", "2": "F"})
        df.to_csv(to / f"{name}.csv", index=False)
    return to


# ---------------------------------------------------------------------------- demand model


def _unflat(d: dict[str, Any]) -> pd.DataFrame:
    df = pd.DataFrame(d["data"], index=pd.to_datetime(d["index"]), columns=d["columns"])
    df.columns = pd.MultiIndex.from_tuples(
        [tuple(c.split("|")) for c in df.columns], names=["age", "placement"]
    )
    return df


def demand_model_predict(
    export_dir: Path | str,
    days: int = 3 * 365,
    step_days: int = 30,
    reference_start: dt.date | None = None,
    reference_end: dt.date | None = None,
) -> dict[str, Any]:
    """Run the demand model's Markov projection over an exported history.

    Returns ``{"prediction": DataFrame, "history": DataFrame, "reference_start",
    "reference_end"}``: population by (age bracket, placement category), one row per date.
    The reference period defaults to the demand model's own (the last six months).
    """
    out = _run_script(
        DEMAND_MODEL,
        "demand_model.py",
        {
            "source": str(Path(export_dir).resolve()),
            "days": days,
            "step_days": step_days,
            "reference_start": str(reference_start) if reference_start else None,
            "reference_end": str(reference_end) if reference_end else None,
        },
    )
    return {
        "prediction": _unflat(out["prediction"]),
        "history": _unflat(out["history"]),
        "reference_start": dt.date.fromisoformat(out["reference_start"]),
        "reference_end": dt.date.fromisoformat(out["reference_end"]),
    }


def demand_model_cli(export_dir: Path | str, *args: str, timeout: float = 600) -> str:
    """Run ``demand-model predict EXPORT_DIR ARGS...`` (the tool's own command line)."""
    python = tool_python(DEMAND_MODEL)
    exe = python.parent / "demand-model"
    done = subprocess.run(
        [str(exe), "predict", str(export_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_tool_env(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"demand-model predict failed ({done.returncode}):\n{done.stderr}")
    return done.stdout
