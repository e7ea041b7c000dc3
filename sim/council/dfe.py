"""Starting scenarios and benchmarks for every English council from the DfE 2019 tables.

The bundled extract (``sim/data/dfe_2019/cla_2019.csv``, see its README) gives each council's
children in care at 31 March 2019 by age, placement and provider, the children looked after
during 2018-19 and the placement changes that year. The DfE tables do not split foster care
by carer, so the council's fostering service's Ofsted figures for 2018-19 (``fostering_2019.csv``
beside it) give its family-and-friends (connected person) households and approvals and its
Staying Put. Everything they do not give takes the schema's defaults, and the fit report lists
which.
"""

from __future__ import annotations

import difflib
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config import Breakdown, Children, Scenario, ScenarioError, Uasc
from sim.council.build import Built, _provenance
from sim.council.fostering import ENGLAND_SOURCE, read_fostering
from sim.council.scenario import (
    Entry,
    _mean_multiplier,
    area_entries,
    capacity_entries,
    fostering_entries,
    validate,
)
from sim.model.children import _mean_group_size

SOURCE = "DfE CLA 2019 (Children looked after in England, year ending 31 March 2019)"
OFSTED = "Ofsted, Fostering in England 2018-19, local authority fostering services"
AGES = ("CLA_U1", "CLA_1to4", "CLA_5to9", "CLA_10to15", "CLA_16over")  # the schema's bands
NEIGHBOURS = 10
#: Per-child shares that choose statistical neighbours (nearest in standardised units).
NEIGHBOUR_MEASURES = (
    "looked after per 10,000 children",
    "share aged 16 and over",
    "share UASC",
    "share in foster care",
    "share with own provision",
)
DEFAULTED = (  # parameters the extract cannot give, left at the schema's national defaults
    "children.exits.* (exit hazards by age and reason)",
    "children.entry_age_weights, children.seasonality, children.sibling_group_weights",
    "children.section20_share, children.placed_with_parents_prob",
    "uasc.age_weights, uasc.return_per_year, uasc.nts.transfer_prob",
    "the breakdown hazards' pattern across placement types (only their level is the council's)",
)


@cache
def table() -> pd.DataFrame:
    """The bundled extract, with published symbols (c, ., -) read as missing."""
    path = resources.files("sim").joinpath("data/dfe_2019/cla_2019.csv")
    with path.open(encoding="utf-8") as fh:
        raw = pd.read_csv(fh, dtype=str, keep_default_na=False)
    out = raw[["New_geog_code", "geog_l", "geog_c", "geog_n"]].copy()
    for col in raw.columns[4:]:
        out[col] = pd.to_numeric(raw[col], errors="coerce")
    return out


@cache
def fostering_table() -> pd.DataFrame:
    """The bundled Ofsted extract, one row per council (by its DfE name); a figure Ofsted did
    not publish for the council is missing."""
    path = resources.files("sim").joinpath("data/dfe_2019/fostering_2019.csv")
    with path.open(encoding="utf-8") as fh:
        return pd.read_csv(fh).set_index("council")


def _ofsted(la: str, col: str) -> float | None:
    """The council's Ofsted figure, None where not published (or no row)."""
    t = fostering_table()
    v = float(t[col].get(la, float("nan")))
    return None if np.isnan(v) else v


def councils() -> list[str]:
    """The name of every council in the extract."""
    t = table()
    return t.loc[t["geog_l"] == "LA", "geog_n"].tolist()


@cache
def _councils() -> pd.DataFrame:
    t = table()
    return t[t["geog_l"] == "LA"]


@cache
def _regions() -> pd.DataFrame:
    t = table()
    return t[(t["geog_l"] == "REGION") & t["New_geog_code"].str.startswith("E12")]


def find(name: str) -> pd.Series:
    """The extract's row for a council, by name, DfE number or ONS code (any case)."""
    la = _councils()
    key = name.strip().lower()
    hit = la[
        (la["geog_n"].str.lower() == key)
        | (la["geog_c"] == key)
        | (la["New_geog_code"].str.lower() == key)
    ]
    if hit.empty:
        close = difflib.get_close_matches(name, la["geog_n"].tolist(), n=3, cutoff=0.5)
        guess = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        raise ScenarioError(
            f"--la {name!r}: no such council in the DfE 2019 tables{guess}; "
            "give a name, a DfE LA number or an ONS code (sufficiency init-council --la list)"
        )
    return hit.iloc[0]


def region_of(row: pd.Series) -> pd.Series:
    """The council's region: the DfE orders each LA after its region's row."""
    regions = _regions()
    above = regions[regions["LA_order"] <= row["LA_order"]]
    return above.loc[above["LA_order"].idxmax()]


def _title(name: object) -> str:
    """A region's name as written in prose ("East of England", not "EAST OF ENGLAND")."""
    small = {"of", "and", "the"}
    words = str(name).lower().split()
    return " ".join(w if i and w in small else w.capitalize() for i, w in enumerate(words))


def _n(row: pd.Series, col: str) -> float:
    """A count, 0 where suppressed or not applicable."""
    v = row[col]
    return 0.0 if pd.isna(v) else float(v)


def measures(row: pd.Series) -> dict[str, float]:
    """Per-child figures compared in the benchmark table."""
    cla = _n(row, "CLA_Mar2019")
    stock18 = _n(row, "CLA_Mar2018")
    during = _n(row, "CLA_2019")
    per = (lambda col: _n(row, col) / cla) if cla else (lambda col: float("nan"))
    pop = _n(row, "CLA_Pop2018")
    providers = sum(_n(row, c) for c in ("CLA_OwnP", "CLA_OthLA", "CLA_Priv", "CLA_Vol"))
    return {
        "looked after per 10,000 children": 1e4 * cla / pop if pop else float("nan"),
        "starts per 10,000 children": 1e4 * (during - stock18) / pop if pop else float("nan"),
        "share aged 16 and over": per("CLA_16over"),
        "share UASC": per("CLA_UASC2019"),
        "share in foster care": per("CLA_Fost"),
        "share in children's homes, secure or semi-independent": per("CLA_Secure"),
        "share with own provision": _n(row, "CLA_OwnP") / providers if providers else np.nan,
        "share placed more than 20 miles away": per("CLA_GT20"),
        "share with 3+ placements in the year": per("CLA_3_Pl"),
        "carer-requested endings per child in care": per("CLA_RPC_CarerBehav"),
    }


@cache
def _council_measures() -> pd.DataFrame:
    t = table()
    la = t[(t["geog_l"] == "LA") & (t["CLA_Mar2019"] > 0)]
    return pd.DataFrame([measures(r) for _, r in la.iterrows()], index=la.index)[
        list(NEIGHBOUR_MEASURES)
    ]


def neighbours(row: pd.Series, k: int = NEIGHBOURS) -> pd.DataFrame:
    """The ``k`` councils nearest to ``row`` in :data:`NEIGHBOUR_MEASURES`, each measure
    standardised across councils (the DfE's own statistical-neighbour list is not bundled)."""
    t = table()
    la = t[(t["geog_l"] == "LA") & (t["CLA_Mar2019"] > 0)]
    m = _council_measures()
    z = (m - m.mean()) / m.std()
    # .loc takes any hashable label; the stubs admit fewer.
    me = z.loc[row.name] if row.name in z.index else (pd.Series(measures(row)) - m.mean()) / m.std()  # type: ignore[call-overload]
    dist = np.sqrt(((z - me) ** 2).sum(axis=1, min_count=1))
    dist = dist.drop(row.name, errors="ignore").sort_values()
    return la.loc[dist.index[:k]].assign(distance=dist.iloc[:k].round(3).to_numpy())


def benchmark(row: pd.Series) -> pd.DataFrame:
    """The council against England, its region and its statistical neighbours (their mean)."""
    t = table()
    england = t[t["geog_l"] == "NATIONAL"].iloc[0]
    region = region_of(row)
    near = neighbours(row)
    near_m = pd.DataFrame([measures(r) for _, r in near.iterrows()]).mean()
    out = pd.DataFrame(
        {
            row["geog_n"]: measures(row),
            "England": measures(england),
            _title(region["geog_n"]): measures(region),
            f"{len(near)} nearest councils (mean)": near_m,
        }
    )
    out.index.name = "measure"
    return out.round(4).reset_index()


def _placements(row: pd.Series) -> tuple[dict[str, int], list[str], int]:
    """Children in care at 31 March 2019 by model placement type, with the rules used; and
    the connected-person households they live in."""
    own = _n(row, "CLA_OwnP")
    bought = sum(_n(row, c) for c in ("CLA_OthLA", "CLA_Priv", "CLA_Vol"))
    foster = _n(row, "CLA_Fost")
    fostered_own = round(foster * own / (own + bought)) if own + bought else round(foster)
    kin_households = _ofsted(str(row["geog_n"]), "family_and_friends_households") or 0.0
    group = _mean_group_size(Children().sibling_group_weights)
    # Each connected household holds one arriving group in the model, so its children are
    # the households times the mean group; they are among the council's own foster placements.
    connected = min(round(kin_households * group), fostered_own)
    in_house = fostered_own - connected
    cla = _n(row, "CLA_Mar2019")
    older = _n(row, "CLA_16over") / cla if cla else 0.0
    homes = _n(row, "CLA_Secure")
    semi = round(homes * older)
    placements = {
        "in_house": in_house,
        "connected": connected,
        "ifa_framework": round(foster) - fostered_own,
        "ifa_spot": 0,
        "residential": round(homes) - semi + round(_n(row, "CLA_Ores") + _n(row, "CLA_RSch")),
        "supported": semi + round(_n(row, "CLA_Ocom")),
        "unregistered": round(_n(row, "CLA_OthPl")),
        "placed_for_adoption": round(_n(row, "CLA_Adopt")),
        "with_parents": round(_n(row, "CLA_Parent")),
    }
    rules = [
        "foster placements split in-house / agency as own provision against other providers "
        "(CLA_OwnP : CLA_OthLA + CLA_Priv + CLA_Vol)",
        f"connected: {kin_households:.0f} family-and-friends households at 31 March ({OFSTED}) "
        f"x {group:.2f} children (the schema's mean sibling group), out of the own provision's "
        "foster placements"
        if connected
        else f"connected: 0 ({OFSTED} gives no family-and-friends households)",
        "secure units, children's homes and semi-independent living (CLA_Secure) split by the "
        "share aged 16 and over into supported accommodation, the rest residential, with other "
        "residential settings and residential schools; other community placements (CLA_Ocom) "
        "as supported; other placements (CLA_OthPl) as unregistered",
        "suppressed counts (c) are taken as 0",
    ]
    return placements, rules, min(round(kin_households), connected)


def _uasc_years_to_18() -> float:
    """Mean years from arrival to the 18th birthday under the schema's UASC age mix."""
    w = Uasc().age_weights
    return sum(p * (18 - (a + 0.5)) for a, p in w.items()) / sum(w.values())


def from_la(
    name: str, fostering: Path | str | None, display: str | None = None, benchmarks: bool = True
) -> Built:
    """A starting scenario for a council from the DfE 2019 tables alone (and its fostering
    figures if given); ``benchmarks`` adds the benchmark and neighbour tables to the report."""
    row = find(name)
    la = str(row["geog_n"])
    title = display or la
    placements, rules, kin_households = _placements(row)
    cla = _n(row, "CLA_Mar2019")
    starts = max(_n(row, "CLA_2019") - _n(row, "CLA_Mar2018"), 0.0)
    ceased = max(_n(row, "CLA_2019") - cla, 0.0)
    uasc_stock = _n(row, "CLA_UASC2019")
    uasc_arrivals = uasc_stock / _uasc_years_to_18()
    children_arrivals = max(starts - uasc_arrivals, 0.0)
    ages = [_n(row, c) for c in AGES]
    src = f"{SOURCE}, {la}"
    entries = [
        Entry("name", title, "the council"),
        Entry("council", title, "the council its published figures name"),
        Entry("description", f"{title} from 31 March 2019, from the DfE 2019 tables", "what it is"),
        Entry("start", pd.Timestamp(2019, 3, 31).date(), "the DfE tables' stock date"),
        *area_entries("one area: the tables give no districts"),
        Entry(
            "children.arrivals_per_year",
            round(children_arrivals, 1),
            f"SE {max(children_arrivals, 1) ** 0.5:.3g} (Poisson, one year); children starting in "
            f"2018-19, CLA_2019 - CLA_Mar2018 = {starts:.0f}, less the UASC arrivals below ({src})",
        ),
        Entry(
            "uasc.arrivals_per_year",
            round(uasc_arrivals, 1),
            f"{uasc_stock:.0f} UASC in care / {_uasc_years_to_18():.2f} mean years from arrival "
            f"to 18 under the schema's UASC ages (an assumption: the extract has no UASC "
            f"starts; {src})",
        ),
        Entry(
            "uasc.nts.child_population",
            int(_n(row, "CLA_Pop2018")),
            f"population under 18, mid-2018 (CLA_Pop2018; {src})",
        ),
        Entry(
            "initial.placements",
            placements,
            f"children in care at 31 March 2019 ({cla:.0f}; {src}): " + "; ".join(rules),
        ),
        *(
            [
                Entry(
                    "initial.connected_households",
                    kin_households,
                    f"family-and-friends households at 31 March 2019 ({OFSTED}, {la})",
                )
            ]
            if kin_households
            else []
        ),
        Entry("initial.uasc", int(uasc_stock), f"UASC in care (CLA_UASC2019; {src})"),
        Entry(
            "initial.age_weights",
            [round(a / sum(ages), 4) for a in ages]
            if sum(ages)
            else Scenario().initial.age_weights,
            f"children in care by age band (CLA_U1 ... CLA_16over; {src})",
        ),
    ]
    if cla and not pd.isna(row["CLA_3_Pl"]):
        p = _n(row, "CLA_3_Pl") / cla
        entries.append(
            Entry(
                "initial.three_plus_share",
                round(p, 4),
                f"SE {(p * (1 - p) / cla) ** 0.5:.3g}; 3+ placements in 2018-19 (CLA_3_Pl; {src})",
            )
        )
    entries += _breakdown(row, placements, src)
    entries += capacity_entries(placements)
    entries += _kin_and_staying_put(la, children_arrivals)
    fost = read_fostering(fostering, placements["in_house"] + placements["connected"])
    entries += fostering_entries(fost, kin_households)
    scenario = validate(entries, f"init-council --la {name}")
    region = region_of(row)
    observed = {
        "arrivals (not UASC)": children_arrivals,
        "arrivals (UASC)": uasc_arrivals,
        "exits (all)": ceased,
        "breakdowns": _n(row, "CLA_RPC_CarerBehav"),
    }
    groups = {
        "in_house": placements["in_house"],
        "connected": placements["connected"],
        "ifa": placements["ifa_framework"],
        "residential": placements["residential"],
        "supported": placements["supported"],
        "other": placements["unregistered"],
        "placed_for_adoption": placements["placed_for_adoption"],
        "with_parents": placements["with_parents"],
    }
    observed |= {f"in care at end: {g}": float(n) for g, n in groups.items()}
    notes = [
        f"{la} (DfE LA {row['geog_c']}, {row['New_geog_code']}), region "
        f"{_title(region['geog_n'])}; observed column: the year to 31 March 2019, stocks "
        "at that date (the first simulated year is 2019-20).",
        "parameters from national defaults (the schema's, neutral or England-wide): "
        + "; ".join(DEFAULTED),
        f"children leaving care in 2018-19: CLA_2019 - CLA_Mar2019 = {ceased:.0f} (by reason "
        "not in the extract; compare with the simulated exits)",
        f"statistical neighbours: the {NEIGHBOURS} councils nearest in "
        + ", ".join(NEIGHBOUR_MEASURES)
        + " (each standardised across councils); the DfE's published list is not bundled",
    ]
    unset = [
        k
        for k in ("children.kinship_prob", "children.staying_put_prob")
        if all(e.path != k for e in entries)
    ]
    if unset:
        notes.append(
            f"{OFSTED} publishes no figure for {la} that gives "
            + " or ".join(unset)
            + ", so off (0): the scenario should state them"
        )
    england = sorted({k.split(".")[0] for k, (_, s) in fost.items() if s == ENGLAND_SOURCE})
    if england:
        notes.append(
            "fostering fields not given, so England 2018-19 figures scaled to the council: "
            + ", ".join(england)
        )
    sections = {}
    if benchmarks:
        near = neighbours(row)[["geog_n", "geog_c", "distance"]].rename(
            columns={"geog_n": "council", "geog_c": "dfe_la"}
        )
        sections = {"benchmark": benchmark(row), "neighbours": near}
    defaults = {
        "arrivals (UASC)",
        "exits (all)",
        *(k for k in _fit_rows() if k.startswith("exits")),
    }
    header = _provenance(
        f"the DfE 2019 local-authority tables for {la} and {fostering or 'no fostering file'}"
    )
    return Built(title, entries, scenario, header, observed, sections, notes, defaults)


def _kin_and_staying_put(la: str, children_arrivals: float) -> list[Entry]:
    """``children.kinship_prob`` and ``children.staying_put_prob`` from the council's Ofsted
    figures for 2018-19, where published (Ofsted rounds them to 5)."""
    out = []
    where = f"{OFSTED}, {la}; counts rounded to 5"
    kin = _ofsted(la, "family_and_friends_approved")
    c = Children()
    groups = children_arrivals / _mean_group_size(c.sibling_group_weights)
    groups *= 1 - c.placed_with_parents_prob
    if kin is not None and groups > 0:
        p = min(kin / groups, 1.0)
        out.append(
            Entry(
                "children.kinship_prob",
                round(p, 4),
                f"SE {(p * (1 - p) / groups) ** 0.5:.3g}; {kin:.0f} family-and-friends "
                f"households approved in 2018-19 over {groups:.0f} groups a year coming into "
                f"care and not placed with parents (the arrivals above, by the schema's sibling "
                f"groups): each approval taken as one arriving group ({where})",
            )
        )
    turned, stayed = _ofsted(la, "became_18"), _ofsted(la, "stayed_put")
    if turned and stayed is not None:
        p = min(stayed / turned, 1.0)
        out.append(
            Entry(
                "children.staying_put_prob",
                round(p, 4),
                f"SE {(p * (1 - p) / turned) ** 0.5:.3g}; {stayed:.0f} of {turned:.0f} young "
                f"people in the council's foster care who turned 18 in 2018-19 stayed with "
                f"their former carer ({where})",
            )
        )
    return out


def _fit_rows() -> list[str]:
    from sim.council.fit import FLOWS

    return list(FLOWS)


def _breakdown(row: pd.Series, placements: dict[str, int], src: str) -> list[Entry]:
    """The schema's breakdown rates scaled so their mean matches the council's carer-requested
    endings per child-year (CLA_RPC_CarerBehav over the mean of the two 31 March stocks)."""
    years = (_n(row, "CLA_Mar2018") + _n(row, "CLA_Mar2019")) / 2
    events = row["CLA_RPC_CarerBehav"]
    if not years or pd.isna(events):
        return []
    rates = Breakdown().per_year
    total = sum(placements.values())
    teen = (_n(row, "CLA_10to15") + _n(row, "CLA_16over")) / max(_n(row, "CLA_Mar2019"), 1)
    complex_share = float(np.mean(Children().complex_need_prob))
    m = _mean_multiplier(teen, complex_share)
    model = sum(placements[k] * rates[k] for k in placements) / total * m
    observed = float(events) / years
    scale = observed / model if model else 1.0
    return [
        Entry(
            "breakdown.per_year",
            {k: round(v * scale, 5) for k, v in rates.items()},
            f"the schema's rates x {scale:.3f}: {events:.0f} carer-requested endings in 2018-19 "
            f"over {years:.0f} child-years = {observed:.3f} a year (SE "
            f"{max(float(events), 1) ** 0.5 / years:.3g}) against {model:.3f} from the schema "
            f"({src})",
        )
    ]
