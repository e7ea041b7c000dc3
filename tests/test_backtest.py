"""Golden back-test: a short, fixed Kent run compared with committed tables.

Every refactoring must leave these four tables unchanged. When a change is meant to alter
the random draws or the results, regenerate them in a commit of its own that says why::

    .venv/bin/python tests/test_backtest.py --regenerate

and show in that commit that the headline figures are statistically unchanged
(``tests/test_statistics.py`` compares them over replications).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = Path(__file__).with_name("exp_results")
SCENARIO = ROOT / "scenarios" / "kent_baseline.toml"
YEARS = 2
SEED = 2019
REPLICATION = 0
TABLES = ("snapshots", "flows", "episodes", "children")


def _simulate() -> dict[str, pd.DataFrame]:
    from sim import load_scenario
    from sim.model import simulate
    from sim.posterior import point

    # The point parameters: the golden tables do not move when the posterior is refitted.
    scenario = point(load_scenario(SCENARIO, {"years": YEARS}))
    return simulate(scenario, seed=SEED, replication=REPLICATION).tables()


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """The table as it reads back from CSV: plain columns, dates and strings as text."""
    out = df.reset_index(drop=True).copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].astype("string").astype(object)
    return out


def _read(name: str) -> pd.DataFrame:
    df = pd.read_csv(EXPECTED / f"{name}.csv", keep_default_na=False, na_values=[""])
    return _normalise(df)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return _simulate()


@pytest.mark.parametrize("name", TABLES)
def test_table_matches_golden(tables: dict[str, pd.DataFrame], name: str) -> None:
    expected = _read(name)
    got = _normalise(pd.read_csv(_to_csv(tables[name]), keep_default_na=False, na_values=[""]))
    assert list(got.columns) == list(expected.columns), f"{name}: columns changed"
    assert len(got) == len(expected), f"{name}: {len(got)} rows, golden has {len(expected)}"
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9, atol=1e-9)


def _to_csv(df: pd.DataFrame) -> object:
    import io

    buf = io.StringIO()
    df.to_csv(buf, index=False)
    buf.seek(0)
    return buf


def regenerate() -> None:
    EXPECTED.mkdir(exist_ok=True)
    for name, df in _simulate().items():
        if name in TABLES:
            df.to_csv(EXPECTED / f"{name}.csv", index=False)
            print(f"wrote {EXPECTED / name}.csv ({len(df)} rows)")


if __name__ == "__main__":
    if "--regenerate" in sys.argv:
        sys.path.insert(0, str(ROOT))
        regenerate()
    else:
        print(__doc__)
