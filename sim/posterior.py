"""A posterior sample of parameter sets, and the draw each replication runs with.

A scenario that declares ``posterior = "../calibration/posterior.parquet"`` runs replication
``r`` with draw ``r mod N`` of the file's ``N`` parameter sets: every scenario run with the
same seed uses the same draws, so common random numbers and paired comparisons keep working,
and the spread of the replications includes the uncertainty in the parameters. A draw sets the
fields the history match fitted, except those that a file extending the declaring one (or an
override) sets itself: a policy's or another council's own values win, as they win over the
point fit of a ``calibration`` link.

The file (written by ``sufficiency calibrate --posterior``) holds one row per draw: a column
per free parameter, and ``scenario_values``, the scenario fields the draw resolves to (JSON);
its metadata record the targets, their hash, the waves, the seed, the version and the commit.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.config import Scenario, ScenarioError, _merge, scenario_from_dict

META_KEY = b"placement_sufficiency"


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        node = out
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = v
    return out


def _kept(path: str, kept: list[str]) -> bool:
    return any(path == k or path.startswith(k + ".") or k.startswith(path + ".") for k in kept)


@functools.lru_cache(maxsize=8)
def _read(file: str, mtime: float) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        table = pq.read_table(file)
    except FileNotFoundError:
        raise ScenarioError(f"{file}: posterior file not found") from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise ScenarioError(f"{file}: not a readable parquet file: {exc}") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    df = table.to_pandas()
    if "scenario_values" not in df.columns or df.empty:
        raise ScenarioError(
            f"{file}: not a posterior sample: needs at least one row and a 'scenario_values' "
            "column (write it with `sufficiency calibrate --posterior`)"
        )
    return df, meta


def read_posterior(file: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The draws (one row each) and the metadata of a posterior file."""
    file = str(file)
    try:
        mtime = Path(file).stat().st_mtime
    except OSError:
        raise ScenarioError(f"{file}: posterior file not found") from None
    return _read(file, mtime)


def draw_values(scenario: Scenario, draw: int) -> dict[str, Any]:
    """The scenario fields draw ``draw`` sets in ``scenario`` (nested, as in a TOML file)."""
    link = scenario.posterior
    if link is None:
        return {}
    df, _ = read_posterior(link.file)
    flat = _flatten(json.loads(df["scenario_values"].iloc[draw]))
    return _nest({k: v for k, v in flat.items() if not _kept(k, list(link.kept))})


def for_replication(scenario: Scenario, replication: int) -> tuple[Scenario, int | None]:
    """The scenario replication ``replication`` runs, and the posterior draw it uses."""
    link = scenario.posterior
    if link is None:
        return scenario, None
    df, _ = read_posterior(link.file)
    draw = replication % len(df)
    return _drawn(scenario, draw), draw


def _drawn(scenario: Scenario, draw: int) -> Scenario:
    return scenario_from_dict(
        _merge(scenario.model_dump(), draw_values(scenario, draw)), scenario.name
    )


def check(scenario: Scenario, source: str) -> None:
    """Refuse a posterior whose draws do not make a valid scenario of ``scenario``."""
    link = scenario.posterior
    if link is None:
        return
    df, _ = read_posterior(link.file)
    for i in range(len(df)):
        try:
            values = json.loads(df["scenario_values"].iloc[i])
        except (TypeError, ValueError):
            raise ScenarioError(
                f"{source}: field 'posterior': {link.file}: row {i}: 'scenario_values' is not JSON"
            ) from None
        if not isinstance(values, dict):
            raise ScenarioError(
                f"{source}: field 'posterior': {link.file}: row {i}: 'scenario_values' must be a "
                "table of scenario fields"
            )
        try:
            _drawn(scenario, i)
        except ScenarioError as exc:
            raise ScenarioError(
                f"{source}: field 'posterior': {link.file}: draw {i} does not fit the scenario:\n"
                f"{exc}"
            ) from None


def point(scenario: Scenario) -> Scenario:
    """``scenario`` with its point parameters: no posterior draws."""
    return scenario.model_copy(update={"posterior": None})


def write_posterior(draws: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> Path:
    """Write the draws (a column per parameter and ``scenario_values``) with ``meta``."""
    path = Path(path)
    table = pa.Table.from_pandas(draws.reset_index(drop=True), preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_KEY] = json.dumps(meta, default=str).encode()
    pq.write_table(table.replace_schema_metadata(schema_meta), path)
    return path
