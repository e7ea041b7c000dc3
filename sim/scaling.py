"""Synthetic larger councils built by scaling a council's structure (for scale tests).

:func:`scaled` multiplies every size in a scenario (arrival rates, enquiries, initial stocks,
provider capacities, the child population behind the UASC quota) by one factor and splits each
area into several, keeping the rates per child, the mixes and the hazards. The shipped
``scenarios/large_council.toml`` (Kent x 4) and ``scenarios/england.toml`` (about 84,000 children
in care) are written out from it (``python -m sim.scaling`` rewrites both, e.g. after Kent's
calibration changes); ``benchmarks/bench_scaling.py`` uses it for Kent x 1 to x 40.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from sim.config import Scenario, load_scenario, scenario_from_dict

#: Sizes multiplied by the factor, as dotted paths into the scenario.
SCALED_RATES = (
    "children.arrivals_per_year",
    "uasc.arrivals_per_year",
    "recruitment.enquiries_per_year",
    "market.spot.other_councils_per_year",
)
SCALED_COUNTS = (
    "uasc.nts.child_population",
    "providers.ifa_framework_places",
    "providers.residential_places",
    "providers.supported_places",
    "providers.unregistered_places",
    "initial.uasc",
    "initial.households",
    "market.spot.places",
    "market.spot.other_councils_initial",
    "market.spot.outside_places",
    "recruitment.assessing.slots",
)
AREA_WEIGHTS = (
    "children.area_weights",
    "uasc.area_weights",
    "recruitment.household.area_weights",
)


def _node(data: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, last = path.split(".")
    for p in parents:
        data = data[p]
    return data, last


def _sub(area: str, j: int) -> str:
    # The first part keeps the area's name, so a file that `extends` the original (whose
    # tables merge key by key) overrides every original weight rather than adding to them.
    return area if j == 1 else f"{area} {j}"


def default_split(factor: float) -> int:
    """Sub-areas per original area: areas grow with the square root of size, so each covers
    more children as the council grows (as regions do)."""
    return max(1, round(math.sqrt(factor)))


def scaled_dict(
    scenario: Scenario,
    factor: float,
    split: int | None = None,
    households: int | None = None,
) -> dict[str, Any]:
    """The fields of ``scenario`` that :func:`scaled` changes, as a nested dict."""
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    if scenario.interventions.dated():
        raise ValueError("scale a scenario without interventions, then add policies to it")
    split = split or default_split(factor)
    data = scenario.model_dump(mode="json")
    out: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        node = out
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    # A synthetic council: no council's published figures describe it.
    put("council", "")
    # A zero or unlimited (None) size stays as it is: the scaled file extends the original.
    for path in SCALED_RATES:
        node, key = _node(data, path)
        if node[key]:
            put(path, round(node[key] * factor, 1))
    for path in SCALED_COUNTS:
        node, key = _node(data, path)
        if node[key]:
            put(path, round(node[key] * factor))
    if households is not None:
        put("initial.households", int(households))
    put(
        "initial.placements",
        {k: round(v * factor) for k, v in data["initial"]["placements"].items()},
    )
    if split > 1:
        areas = [_sub(a, j) for a in scenario.areas for j in range(1, split + 1)]
        put("areas", areas)
        if scenario.geography.districts:
            put("geography.districts", "")  # a district table covers the council's own areas
        for path in AREA_WEIGHTS:
            node, key = _node(data, path)
            weights = node[key]
            put(
                path,
                {
                    _sub(a, j): round(w / split, 6)
                    for a, w in weights.items()
                    for j in range(1, split + 1)
                },
            )
    return out


def scaled(
    scenario: Scenario,
    factor: float,
    split: int | None = None,
    households: int | None = None,
    name: str | None = None,
) -> Scenario:
    """``scenario`` scaled up (or down) by ``factor``.

    Parameters
    ----------
    scenario : Scenario
        The council to scale (without interventions).
    factor : float
        Multiplier of every size: arrivals, enquiries, initial stocks, provider places.
    split : int, optional
        Sub-areas per area (default :func:`default_split`); weights are shared equally.
    households : int, optional
        Initial fostering households (excluding connected persons), if not ``factor`` times.
    name : str, optional
        The new scenario's name.
    """
    from sim.config import _merge  # the same merge rule as `extends`

    changes = scaled_dict(scenario, factor, split, households)
    changes["name"] = name or f"{scenario.name} x {factor:g}"
    data = _merge(scenario.model_dump(mode="json"), changes)
    return scenario_from_dict(data, changes["name"])


# ----------------------------------------------------------------------------- shipped files

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

#: The shipped scale scenarios: file -> (factor, split, households, name, description, header).
SHIPPED: dict[str, tuple[float, int, int | None, str, str, str]] = {
    "large_council.toml": (
        4,
        2,
        None,
        "Large council (Kent x 4)",
        "Synthetic: Kent's structure at four times its size, eight areas",
        "A synthetic large council: Kent's structure at four times its size, for scale tests and\n"
        "benchmarks (it is not a real council): every size (arrival rates, enquiries, initial\n"
        "children and households, provider places, the child population behind the UASC quota)\n"
        "x 4; each Kent area split in two with equal weights; every rate per child, mix and\n"
        "hazard as in Kent.",
    ),
    "england.toml": (
        52.8,
        9,
        37_500,
        "England (synthetic, Kent x 52.8)",
        "Synthetic England: about 84,000 children in care, 40,000 fostering households, 36 areas",
        "England at scale, synthetic: Kent's structure scaled to about 84,000 children in care\n"
        "and 40,000 fostering households (37,500 plus about 2,500 connected persons), as one\n"
        "simulation: every size x 52.8; each of Kent's four areas split into nine (36 areas)\n"
        "with equal weights; every rate per child, mix and hazard as in Kent. It tests that the\n"
        "model scales; it is not a forecast for England.",
    ),
}


def _toml_value(v: Any) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        if len(v) > 8:
            rows = [", ".join(_toml_value(x) for x in v[i : i + 6]) for i in range(0, len(v), 6)]
            return "[\n" + "".join(f"    {r},\n" for r in rows) + "]"
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v)


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").isalnum() else f'"{k}"'


def to_toml(changes: dict[str, Any]) -> str:
    """Nested ``changes`` as TOML: values first, then one ``[table]`` per nested dict."""
    lines: list[str] = []

    def walk(prefix: str, node: dict[str, Any]) -> None:
        values = {k: v for k, v in node.items() if not isinstance(v, dict)}
        if values:
            if prefix:
                lines.append(f"\n[{prefix}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items())
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v)

    walk("", changes)
    return "\n".join(lines) + "\n"


def shipped_text(file: str, base: Scenario | None = None) -> str:
    """The text of a shipped scale scenario, generated from ``kent_baseline.toml``."""
    factor, split, households, name, description, header = SHIPPED[file]
    base = base or load_scenario(SCENARIOS / "kent_baseline.toml")
    changes = scaled_dict(base, factor, split, households)
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    recipe = f"scaled_dict(kent, {factor:g}, split={split}, households={households})"
    return (
        f"{comment}# Written by `python -m sim.scaling` from kent_baseline.toml as\n"
        f"# {recipe}: rerun it rather than editing by hand (e.g. after Kent's calibration\n"
        "# changes).\n"
        'extends = "kent_baseline.toml"\n'
        f"name = {_toml_value(name)}\n"
        f"description = {_toml_value(description)}\n" + to_toml(changes)
    )


def main() -> int:
    """Rewrite the shipped scale scenarios from the current Kent baseline."""
    base = load_scenario(SCENARIOS / "kent_baseline.toml")
    for file in SHIPPED:
        path = SCENARIOS / file
        path.write_text(shipped_text(file, base), encoding="utf-8")
        sc = load_scenario(path)
        print(f"{path}: {sum(sc.initial.placements.values()):,} children, {len(sc.areas)} areas")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
