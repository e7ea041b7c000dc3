"""Rates and the starting stock estimated from a council's SSDA903 episodes, with standard errors.

Hazards are events over exposure (person-years in care inside the observed window, split at
the age-band birthdays), so episodes cut by the first or last collection year count only the
time observed. Poisson standard errors: sqrt(events) / exposure (one event when there are none,
so a zero rate still carries its uncertainty). Shares carry binomial standard errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.council.read903 import Return
from sim.ssda903 import DFE_GROUPS, group_of

DFE_GROUP_NAMES = tuple(DFE_GROUPS)

DAYS_PER_YEAR = 365.25
RETURN_HOME = ("E4A", "E4B", "E13")
SGO = ("E43", "E44", "E45", "E46", "E47", "E48")
ADOPTION = ("E11", "E12")
NTS = ("E3",)
INDEPENDENT = ("E5", "E6")
EXIT_GROUPS = {
    "return_home": RETURN_HOME,
    "sgo": SGO,
    "adoption": ADOPTION,
    "nts_transfer": NTS,
    "independent_living": INDEPENDENT,
}
BREAKDOWN = "CREQB"  # carer requests the end because of the child's behaviour
PLANNED = "CARPL"
STATUS_ONLY = "PLACE"  # a new episode for a change in the placement's status only
CONNECTED_PLACES = ("U1", "U2", "U3")
FOSTER_PLACES = ("U1", "U2", "U3", "U4", "U5", "U6")
OWN_PROVIDERS = ("PR1", "PR2", "PR3")


@dataclass(frozen=True)
class Estimate:
    """A value (or one per age band) with its standard error and what it was estimated from."""

    value: float | list[float]
    se: float | list[float]
    basis: str
    #: Person-years behind a rate (one per band), so a test can use the SE under its null.
    exposure: float | list[float] | None = None


@dataclass
class Estimates:
    """Everything estimated from one :class:`~sim.council.read903.Return`."""

    start: pd.Timestamp  # the stock date: 31 March of the last collection year
    years_observed: float
    values: dict[str, Estimate] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    last_year: dict[str, float] = field(default_factory=dict)  # the fit report's observed column


def _rate(events: float, years: float) -> tuple[float, float]:
    if years <= 0:
        return 0.0, float("nan")
    return events / years, max(events, 1.0) ** 0.5 / years


def _share(k: float, n: float) -> tuple[float, float]:
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    return p, (max(p * (1 - p), 1.0 / n) / n) ** 0.5


def _age(dates: pd.Series, dob: pd.Series) -> np.ndarray:
    return ((dates - dob).dt.days / DAYS_PER_YEAR).to_numpy(dtype=float)


def _band(age: np.ndarray, edges: list[int]) -> np.ndarray:
    return np.clip(np.searchsorted(edges, age, side="right") - 1, 0, len(edges) - 2)


def band_years(eps: pd.DataFrame, edges: list[int]) -> np.ndarray:
    """Person-years of each episode row (columns ``a``, ``b``, ``dob``) in each age band."""
    a = _age(eps["a"], eps["dob"])
    b = _age(eps["b"], eps["dob"])
    lo = np.array(edges[:-1], dtype=float)
    hi = np.array(edges[1:], dtype=float)
    return np.clip(np.minimum(b[:, None], hi) - np.maximum(a[:, None], lo), 0.0, None)


def _prepare(ret: Return) -> pd.DataFrame:
    eps = ret.episodes[~ret.episodes["excluded"]].copy()
    eps = eps.merge(ret.children, on="CHILD", how="left")
    first = pd.Timestamp(ret.start)
    stop = pd.Timestamp(ret.end) + pd.Timedelta(days=1)
    end = eps["dec"].fillna(eps["censor"]).fillna(stop)
    # pandas clips datetimes at a Timestamp; its stubs admit numbers only.
    eps["a"] = eps["decom"].clip(lower=first)  # type: ignore[call-overload]
    eps["b"] = end.clip(upper=stop)  # type: ignore[call-overload]
    eps["b"] = eps[["a", "b"]].max(axis=1)
    eps["group"] = [
        group_of(p, q) for p, q in zip(eps["PLACE"], eps["PLACE_PROVIDER"], strict=True)
    ]
    eps["adoptive"] = eps["PLACE"].str.startswith("A")
    eps["s20"] = eps["LS"] == "V2"
    eps["connected"] = eps["PLACE"].isin(CONNECTED_PLACES)
    eps["ended"] = eps["dec"].notna() & (eps["dec"] >= first) & (eps["dec"] < stop)
    eps["exit"] = eps["ended"] & ~eps["REC"].isin(["", "X1"])
    eps["new_period"] = (eps["RNE"] == "S") & (eps["decom"] >= first) & (eps["decom"] < stop)
    nxt = eps.groupby("CHILD")["adoptive"].shift(-1, fill_value=False)
    eps["to_adoption"] = eps["ended"] & ~eps["adoptive"] & nxt.astype(bool) & (eps["REC"] == "X1")
    return eps


def _events_by_band(eps: pd.DataFrame, mask: pd.Series, date: str, edges: list[int]) -> np.ndarray:
    sel = eps[mask]
    bands = _band(_age(sel[date], sel["dob"]) - 1e-6, edges)
    return np.bincount(bands, minlength=len(edges) - 1).astype(float)


def _band_rates(events: np.ndarray, years: np.ndarray) -> tuple[list[float], list[float]]:
    pairs = [_rate(e, y) for e, y in zip(events, years, strict=True)]
    return [round(v, 5) for v, _ in pairs], [round(s, 5) for _, s in pairs]


def _years(expo: np.ndarray) -> list[float]:
    return [round(float(y), 3) for y in expo.sum(0)]


def _ratio(observed: float, expected: float, base_events: float) -> tuple[float, float]:
    """Indirectly standardised rate ratio O/E with an approximate standard error."""
    if expected <= 0:
        return float("nan"), float("nan")
    m = observed / expected
    return m, m * (1 / max(observed, 1.0) + 1 / max(base_events, 1.0)) ** 0.5


def _subgroup_multiplier(
    eps: pd.DataFrame,
    event: pd.Series,
    group: np.ndarray,
    base: Sequence[float],
    expo: np.ndarray,
    base_events: np.ndarray,
    source: str,
) -> Estimate:
    """A subgroup's events against those expected at the base rates by age band.

    ``source`` is formatted with ``o`` (observed events) and ``e`` (expected events).
    """
    o = float((event & pd.Series(group, eps.index)).sum())
    e = float((np.array(base) * expo[group].sum(0)).sum())
    m, mse = _ratio(o, e, float(base_events.sum()))
    return Estimate(round(m, 3), round(mse, 3), source.format(o=int(o), e=e))


def estimate(ret: Return, edges: list[int]) -> Estimates:
    """Estimate arrival, exit and move rates and the stock at the last 31 March.

    Parameters
    ----------
    ret : Return
        The council's SSDA903 history (:func:`~sim.council.read903.read_return`).
    edges : list of int
        Age-band edges of the scenario (e.g. ``[0, 1, 5, 10, 16, 18]``).
    """
    eps = _prepare(ret)
    years = (pd.Timestamp(ret.end) - pd.Timestamp(ret.start)).days / DAYS_PER_YEAR + 1 / 365.25
    out = Estimates(pd.Timestamp(ret.end), years)
    v = out.values
    window = f"{ret.start:%d/%m/%Y} to {ret.end:%d/%m/%Y}"
    expo = band_years(eps, edges)
    nb = len(edges) - 1

    # Arrivals: the first episode of each period of care (RNE S) started inside the window.
    starts = eps[eps["new_period"]]
    entry_age = _age(starts["decom"], starts["dob"])
    for is_uasc, name in ((False, "children"), (True, "uasc")):
        s = starts[starts["uasc"] == is_uasc]
        rate, se = _rate(len(s), years)
        groups = _groups(s)
        if groups is not None:  # compound Poisson: siblings arrive together
            se = float((groups**2).sum()) ** 0.5 / years
        v[f"{name}.arrivals_per_year"] = Estimate(
            round(rate, 2),
            round(se, 2),
            f"{len(s)} periods of care started (RNE S), {window}"
            + (
                "; SE counts same-day starts from one home postcode as one group"
                if groups is not None
                else ""
            ),
            round(years, 3),
        )
        male, male_se = _share(s["male"].sum(), len(s))
        v[f"{name}.male_share"] = Estimate(
            round(male, 4), round(male_se, 4), f"SEX of {len(s)} starters"
        )
    non = starts[~starts["uasc"]]
    bands = _band(entry_age[~starts["uasc"].to_numpy()], edges)
    counts = np.bincount(bands, minlength=nb)
    shares = [_share(c, len(non)) for c in counts]
    v["children.entry_age_weights"] = Estimate(
        [round(p, 4) for p, _ in shares],
        [round(s, 4) for _, s in shares],
        f"age at entry of {len(non)} non-UASC starters, by age band (shares)",
    )
    months = np.bincount(non["decom"].dt.month - 1, minlength=12).astype(float)
    mean = months.mean() if len(non) else 1.0
    v["children.seasonality"] = Estimate(
        [round(m / mean, 3) if mean else 1.0 for m in months],
        [round(max(m, 1.0) ** 0.5 / mean, 3) if mean else 0.0 for m in months],
        f"starts by calendar month (January first) over the mean month, {len(non)} starters",
    )
    first_place = non["PLACE"]
    n_p1 = int((first_place == "P1").sum())
    p, se = _share(n_p1, len(non))
    v["children.placed_with_parents_prob"] = Estimate(
        round(p, 4), round(se, 4), f"{n_p1} of {len(non)} first placements P1"
    )
    n_kin = int(first_place.isin(CONNECTED_PLACES).sum())
    p, se = _share(n_kin, len(non) - n_p1)
    v["children.kinship_prob"] = Estimate(
        round(p, 4),
        round(se, 4),
        f"{n_kin} of {len(non) - n_p1} first placements not P1 with connected carers (U1-U3)",
    )
    n_s20 = int((non["LS"] == "V2").sum())
    p, se = _share(n_s20, len(non))
    v["children.section20_share"] = Estimate(
        round(p, 4), round(se, 4), f"{n_s20} of {len(non)} starters under section 20 (LS V2)"
    )
    uasc_starts = starts[starts["uasc"]]
    ages = np.floor(entry_age[starts["uasc"].to_numpy()]).astype(int)
    if len(ages):
        ages = np.clip(ages, 0, edges[-1] - 1)
        vals, cnt = np.unique(ages, return_counts=True)
        v["uasc.age_weights"] = Estimate(
            {int(a): round(c / len(ages), 4) for a, c in zip(vals, cnt, strict=True)},  # type: ignore[arg-type]
            {int(a): round(_share(c, len(ages))[1], 4) for a, c in zip(vals, cnt, strict=True)},  # type: ignore[arg-type]
            f"age at entry (whole years) of {len(uasc_starts)} UASC starters",
        )
    _siblings(out, non)

    # Exits of children other than UASC: hazards from exposure outside adoptive placements.
    child = (~eps["uasc"] & ~eps["adoptive"]).to_numpy()
    c2 = child & ~eps["s20"].to_numpy()
    not_conn = child & ~eps["connected"].to_numpy()
    home = eps["exit"] & eps["REC"].isin(RETURN_HOME)
    ev = _events_by_band(eps, home & pd.Series(c2, eps.index), "dec", edges)
    base, ses = _band_rates(ev, expo[c2].sum(0))
    v["children.exits.return_home_per_year"] = Estimate(
        base,
        ses,
        f"returns home (REC {'/'.join(RETURN_HOME)}) of children not under section 20 over "
        "their person-years, by age band",
        _years(expo[c2]),
    )
    v["children.exits.section20_return_multiplier"] = _subgroup_multiplier(
        eps,
        home,
        child & eps["s20"].to_numpy(),
        base,
        expo,
        ev,
        "{o} returns home under section 20 against {e:.1f} at the other children's rates",
    )
    sgo = eps["exit"] & eps["REC"].isin(SGO)
    ev = _events_by_band(eps, sgo & pd.Series(not_conn, eps.index), "dec", edges)
    base, ses = _band_rates(ev, expo[not_conn].sum(0))
    v["children.exits.sgo_per_year"] = Estimate(
        base,
        ses,
        "special guardianship orders (REC E43-E48) from placements other than connected "
        "carers, by age band",
        _years(expo[not_conn]),
    )
    v["children.exits.connected_sgo_multiplier"] = _subgroup_multiplier(
        eps,
        sgo,
        child & eps["connected"].to_numpy(),
        base,
        expo,
        ev,
        "{o} SGOs from connected carers against {e:.1f} at other placements' rates",
    )
    ev = _events_by_band(eps, eps["to_adoption"] & pd.Series(child, eps.index), "dec", edges)
    base, ses = _band_rates(ev, expo[child].sum(0))
    v["children.exits.adoption_per_year"] = Estimate(
        base,
        ses,
        "moves into a placement for adoption (PLACE A*), by age band",
        _years(expo[child]),
    )
    adoptive = eps["adoptive"].to_numpy()
    orders = float((eps["exit"] & eps["adoptive"] & eps["REC"].isin(ADOPTION)).sum())
    days = float(expo[adoptive].sum() * DAYS_PER_YEAR)
    if orders:
        v["children.exits.adoption_placement_days"] = Estimate(
            round(days / orders, 1),
            round(days / orders / orders**0.5, 1),
            f"{days:.0f} days placed for adoption over {int(orders)} adoption orders (exponential)",
        )
    # UASC: returns and transfers under the National Transfer Scheme.
    uasc = eps["uasc"].to_numpy()
    o = float((eps["exit"] & eps["uasc"] & eps["REC"].isin(RETURN_HOME)).sum())
    r, se = _rate(o, float(expo[uasc].sum()))
    v["uasc.return_per_year"] = Estimate(
        round(r, 4),
        round(se, 4),
        f"{int(o)} UASC returns home over {expo[uasc].sum():.0f} person-years",
        round(float(expo[uasc].sum()), 3),
    )
    n_nts = int((eps["exit"] & eps["uasc"] & eps["REC"].isin(NTS)).sum())
    p, se = _share(min(n_nts, len(uasc_starts)), len(uasc_starts))
    v["uasc.nts.transfer_prob"] = Estimate(
        round(p, 4),
        round(se, 4),
        f"{n_nts} UASC ceased as taken over by another LA (REC E3) per {len(uasc_starts)} UASC "
        "starters",
    )
    out.tables["exits"] = _exit_table(eps, years)
    out.last_year = _last_year(eps, pd.Timestamp(ret.end))
    out.tables["moves"] = _moves(eps, expo, out)
    _stock(out, eps, ret, edges)
    return out


def _groups(starts: pd.DataFrame) -> np.ndarray | None:
    """Sizes of groups of starters on the same day from the same home postcode (None when no
    postcodes): an upper bound on sibling groups, as strangers may share both."""
    with_post = starts[starts["HOME_POST"] != ""]
    if with_post.empty or len(with_post) < len(starts):
        return None
    return with_post.groupby(["decom", "HOME_POST"]).size().to_numpy()


def _last_year(eps: pd.DataFrame, day: pd.Timestamp) -> dict[str, float]:
    """Flows in the year to ``day`` and children in care at ``day``, named as in the fit report."""
    y0 = day - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    started = eps["new_period"] & (eps["decom"] >= y0)
    ex = eps[eps["exit"] & (eps["dec"] >= y0)]
    at_18 = _age(ex["dec"], ex["dob"]) >= 17.95
    out = {
        "arrivals (not UASC)": float((started & ~eps["uasc"]).sum()),
        "arrivals (UASC)": float((started & eps["uasc"]).sum()),
        "exits (all)": float(len(ex)),
        "exits: return home": float(ex["REC"].isin(RETURN_HOME).sum()),
        "exits: special guardianship": float(ex["REC"].isin(SGO).sum()),
        "exits: adoption": float(ex["REC"].isin(ADOPTION).sum()),
        "exits: at 18": float((at_18 & ~ex["REC"].isin(RETURN_HOME + SGO + ADOPTION + NTS)).sum()),
        "exits: National Transfer Scheme": float(ex["REC"].isin(NTS).sum()),
        "breakdowns": float(
            (eps["ended"] & (eps["dec"] >= y0) & (eps["REASON_PLACE_CHANGE"] == BREAKDOWN)).sum()
        ),
    }
    open_ = eps[
        (eps["decom"] <= day) & (eps["dec"].isna() | (eps["dec"] > day)) & eps["censor"].isna()
    ]
    counts = open_.drop_duplicates("CHILD", keep="last")["group"].value_counts()
    for g in DFE_GROUP_NAMES:
        out[f"in care at end: {g}"] = float(counts.get(g, 0))
    return out


def _siblings(out: Estimates, non: pd.DataFrame) -> None:
    """Sibling groups as children starting care on the same day from the same home postcode."""
    with_post = non[non["HOME_POST"] != ""]
    if with_post.empty:
        out.notes.append("sibling groups: no home postcodes, not inferable; schema default kept")
        return
    distinct = with_post["HOME_POST"].nunique()
    sizes = with_post.groupby(["decom", "HOME_POST"]).size()
    dist = np.bincount(np.clip(sizes.to_numpy(), 1, 4) - 1, minlength=4)
    shares = dist / dist.sum()
    out.tables["sibling_groups"] = pd.DataFrame(
        {"group_size": ["1", "2", "3", "4+"], "groups": dist, "share": shares.round(4)}
    )
    if distinct < 0.5 * len(with_post):
        out.notes.append(
            f"sibling groups: only {distinct} distinct home postcodes for {len(with_post)} "
            "starters, so they are areas, not homes; same-day starts from one postcode would "
            "count strangers as siblings: schema default kept (inferred table in the report)"
        )
        return
    out.values["children.sibling_group_weights"] = Estimate(
        [round(s, 4) for s in shares],
        [round(_share(d, dist.sum())[1], 4) for d in dist],
        f"{dist.sum()} groups of starters on the same day from the same home postcode",
    )


def _exit_table(eps: pd.DataFrame, years: float) -> pd.DataFrame:
    ex = eps[eps["exit"]]
    age = _age(ex["dec"], ex["dob"])
    groups = pd.Series("other", index=ex.index)
    for name, codes in EXIT_GROUPS.items():
        groups[ex["REC"].isin(codes)] = name
    table = (
        pd.DataFrame({"reason": groups, "uasc": ex["uasc"], "at_18": age >= 17.95})
        .groupby(["reason", "uasc", "at_18"])
        .size()
        .rename("exits")
        .reset_index()
    )
    table["per_year"] = (table["exits"] / years).round(2)
    return table


def _moves(eps: pd.DataFrame, expo: np.ndarray, out: Estimates) -> pd.DataFrame:
    """Breakdowns, planned and other moves per placement-year, by SSDA903 placement group."""
    moved = eps["ended"] & (eps["REC"] == "X1")
    why = eps["REASON_PLACE_CHANGE"]
    rows = []
    for g, sel in eps.groupby("group"):
        years = float(expo[sel.index.to_numpy()].sum())
        m = moved[sel.index]
        n_break = int((m & (why[sel.index] == BREAKDOWN)).sum())
        n_plan = int((m & (why[sel.index] == PLANNED)).sum())
        n_moves = int((m & (why[sel.index] != STATUS_ONLY)).sum())
        teen = _teen_share(sel, expo[sel.index.to_numpy()])
        rate, se = _rate(n_break, years)
        rows.append(
            {
                "group": g,
                "placement_years": round(years, 1),
                "breakdowns": n_break,
                "breakdown_per_year": round(rate, 4),
                "breakdown_se": round(se, 4),
                "planned_moves": n_plan,
                "planned_per_year": round(_rate(n_plan, years)[0], 4),
                "all_moves": n_moves,
                "moves_per_year": round(_rate(n_moves, years)[0], 4),
                "teen_share_of_years": round(teen, 4),
            }
        )
    table = pd.DataFrame(rows)
    total_years = table["placement_years"].sum()
    n_plan = int(table["planned_moves"].sum())
    r, se = _rate(n_plan, total_years)
    out.values["observed.planned_moves_per_year"] = Estimate(
        round(r, 4),
        round(se, 4),
        f"{n_plan} changes of care plan (REASON_PLACE_CHANGE CARPL) per placement-year",
    )
    return table


TEEN_EDGE_INDEX = 3  # the band from 10; the model's teen multiplier starts at 11


def _teen_share(sel: pd.DataFrame, expo: np.ndarray) -> float:
    age = (_age(sel["a"], sel["dob"]) + _age(sel["b"], sel["dob"])) / 2
    years = expo.sum(1)
    return float((years * (age >= 11)).sum() / years.sum()) if years.sum() else 0.0


def _stock(out: Estimates, eps: pd.DataFrame, ret: Return, edges: list[int]) -> None:
    """Children in care at the last 31 March: counts, ages, legal status, time in care."""
    day = pd.Timestamp(ret.end)
    open_ = eps[
        (eps["decom"] <= day) & (eps["dec"].isna() | (eps["dec"] > day)) & eps["censor"].isna()
    ]
    now = open_.sort_values("decom").drop_duplicates("CHILD", keep="last")
    n = len(now)
    age = _age(pd.Series(day, index=now.index), now["dob"])
    period_start = eps[eps["RNE"] == "S"].groupby("CHILD")["decom"].max()
    known = eps.groupby("CHILD")["decom"].min()
    since = period_start.reindex(now["CHILD"]).fillna(known.reindex(now["CHILD"])).to_numpy()
    in_care = (day - pd.to_datetime(since)).days / DAYS_PER_YEAR
    year_ago = day - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    recent = eps[(eps["decom"] <= day) & (eps["dec"].isna() | (eps["dec"] >= year_ago))]
    status_only = recent.groupby("CHILD")["REASON_PLACE_CHANGE"].shift() == STATUS_ONLY
    placements = recent[~status_only].groupby("CHILD").size().reindex(now["CHILD"]).fillna(0)
    out.tables["stock"] = pd.DataFrame(
        {
            "CHILD": now["CHILD"].to_numpy(),
            "group": now["group"].to_numpy(),
            "age": age.round(2),
            "band": _band(age, edges),
            "male": now["male"].to_numpy(),
            "uasc": now["uasc"].to_numpy(),
            "legal_status": now["LS"].to_numpy(),
            "provider": now["PLACE_PROVIDER"].to_numpy(),
            "years_in_care": np.asarray(in_care).round(2),
            "placements_in_year": placements.to_numpy().astype(int),
        }
    )
    stock = out.tables["stock"]
    v = out.values
    counts = np.bincount(stock["band"], minlength=len(edges) - 1)
    v["initial.age_weights"] = Estimate(
        [round(c / n, 4) for c in counts],
        [round(_share(c, n)[1], 4) for c in counts],
        f"ages of the {n} children in care at {day:%d/%m/%Y}",
    )
    v["initial.uasc"] = Estimate(
        int(stock["uasc"].sum()), 0.0, f"UASC in care at {day:%d/%m/%Y} (a count)"
    )
    sd = float(np.std(stock["years_in_care"], ddof=1)) if n > 1 else 0.0
    v["initial.mean_years_in_care"] = Estimate(
        round(float(stock["years_in_care"].mean()), 3),
        round(sd / max(n, 1) ** 0.5, 3),
        "years since the latest start of care (RNE S), or the first episode seen",
    )
    k = int((stock["placements_in_year"] >= 3).sum())
    p, se = _share(k, n)
    v["initial.three_plus_share"] = Estimate(
        round(p, 4), round(se, 4), f"{k} of {n} with 3+ placements in the year to {day:%d/%m/%Y}"
    )
    foster = stock[stock["group"].isin(["in_house", "ifa"])]
    own = int((foster["group"] == "in_house").sum())
    p, se = _share(own, len(foster))
    v["observed.in_house_share_of_foster"] = Estimate(
        round(p, 4),
        round(se, 4),
        f"{own} of {len(foster)} unrelated foster placements by own provision (PR1-PR3)",
    )
