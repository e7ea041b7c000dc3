"""A council's Ofsted *Fostering in England* figures, from a short TOML file.

Every field is optional. A missing field takes the England figure for 2018-19 (Ofsted,
``evidence.md`` section 3.3) scaled to the council by its children in in-house foster care
against England's filled places, and the scenario says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.config import ScenarioError, read_toml

ENGLAND_SOURCE = "England 2018-19 (Ofsted Fostering in England), scaled to the council"
ENGLAND_FILLED = 54_870.0  # filled approved places, England, 31 March 2019: the scale
ENGLAND: dict[str, float] = {
    "households": 44_450,
    "places_filled": 54_870,
    "places_vacant": 16_080,
    "places_not_available": 15_845,
    "enquiries": 127_850,
    "applications": 9_740,
    "approvals": 5_110,  # 8,400 newly approved less 3,290 family and friends households
}
ENGLAND_DEREGISTRATIONS: dict[str, float] = {
    "carer": 5_365,
    "service": 2_910,
    "to_la": 240,
    "to_ifa": 360,
}
FIELDS = (*ENGLAND, "deregistrations", "households_by_places", "year")


def read_fostering(path: Path | str | None, in_house_fostered: float) -> dict[str, Any]:
    """The fields of ``path`` (None: none given), each as ``(value, source)``.

    Parameters
    ----------
    path : Path or None
        The TOML file: ``households``, ``places_filled``, ``places_vacant``,
        ``places_not_available``, ``enquiries``, ``applications``, ``approvals``,
        ``[deregistrations]`` (``carer``, ``service``, ``to_la``, ``to_ifa``),
        ``households_by_places`` (1, 2, 3 and 4+ places) and ``year`` (a label).
    in_house_fostered : float
        Children with the council's own foster carers, which scales the England figures.
    """
    data: dict[str, Any] = {}
    where = "fostering figures"
    if path is not None:
        path = Path(path)
        where = str(path)
        data = read_toml(path, "fostering figures file not found")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {unknown}; allowed: {list(FIELDS)}")
    label = f"{where}" + (f" ({data['year']})" if "year" in data else "")
    scale = in_house_fostered / ENGLAND_FILLED
    out: dict[str, Any] = {}
    for name, england in ENGLAND.items():
        out[name] = _number(data, name, where, label) or (england * scale, ENGLAND_SOURCE)
    given = data.get("deregistrations", {})
    if not isinstance(given, dict):
        raise ScenarioError(f"{where}: field 'deregistrations' must be a table of counts")
    bad = sorted(set(given) - set(ENGLAND_DEREGISTRATIONS))
    if bad:
        raise ScenarioError(
            f"{where}: unknown field(s) {['deregistrations.' + b for b in bad]}; "
            f"allowed: {list(ENGLAND_DEREGISTRATIONS)}"
        )
    for name, england in ENGLAND_DEREGISTRATIONS.items():
        out[f"deregistrations.{name}"] = _number(given, name, where, label, "deregistrations.") or (
            england * scale,
            ENGLAND_SOURCE,
        )
    places = data.get("households_by_places")
    if places is not None:
        if (
            not isinstance(places, list)
            or len(places) != 4
            or not all(isinstance(x, int | float) and x >= 0 for x in places)
            or sum(places) <= 0
        ):
            raise ScenarioError(
                f"{where}: field 'households_by_places' must be four counts (households with "
                f"1, 2, 3 and 4+ places), got {places!r}"
            )
        out["households_by_places"] = (list(places), label)
    return out


def _number(
    data: dict[str, Any], name: str, where: str, label: str, prefix: str = ""
) -> tuple[float, str] | None:
    if name not in data:
        return None
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScenarioError(f"{where}: field '{prefix}{name}' must be a number >= 0, got {value!r}")
    return float(value), label
