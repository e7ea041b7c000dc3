"""``sufficiency init-council``: a scenario, an estimates table and a fit report for a council."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

import sim
from sim.config import Scenario
from sim.council import fit
from sim.council.areas import area_entries_from, read_areas
from sim.council.estimate import Estimates, estimate
from sim.council.fostering import ENGLAND_SOURCE, read_fostering
from sim.council.read903 import Return, read_return
from sim.council.scenario import (
    Entry,
    area_entries,
    episode_entries,
    fostering_entries,
    to_toml,
    validate,
)
from sim.experiment import git_commit

EDGES = Scenario().age_band_edges


@dataclass
class Built:
    """What init-council made: the scenario's entries, the validated scenario and the tables
    the report shows."""

    name: str
    entries: list[Entry]
    scenario: Scenario
    header: list[str]
    observed: dict[str, float] = field(default_factory=dict)
    sections: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    defaults: set[str] = field(default_factory=set)

    def estimates_table(self) -> pd.DataFrame:
        """Every value set, with its comment (standard error and source)."""
        return pd.DataFrame(
            [{"field": e.path, "value": str(e.value), "source": e.comment} for e in self.entries]
        )


@cache
def _commit() -> str:
    return git_commit()


def _provenance(what: str) -> list[str]:
    return [
        f"Built by `sufficiency init-council` from {what}",
        f"on {dt.date.today().isoformat()}, placement-sufficiency {sim.__version__}, "
        f"commit {_commit()}.",
        "Every field not set here takes its default in sim/config.py. The comment above each",
        "value gives its standard error (SE) and the data it came from.",
    ]


def from_return(
    root: Path | str, fostering: Path | str | None, name: str, areas: Path | str | None = None
) -> Built:
    """Build a council's scenario from its SSDA903 folder and fostering figures; its areas
    from the return's postcodes with the ``areas`` table of postcode districts, if given."""
    ret: Return = read_return(root)
    est: Estimates = estimate(ret, EDGES)
    first, last = ret.years[0], ret.years[-1]
    source = f"SSDA903 {first - 1}-{first % 100:02d} to {last - 1}-{last % 100:02d}"
    stock = est.tables["stock"]
    in_house = int(stock["group"].isin(["in_house", "connected"]).sum())
    fost = read_fostering(fostering, in_house)
    area_notes: list[str] = []
    if areas is None:
        area_rows = area_entries(
            "no districts: the return's postcodes are not mapped to areas (no --areas), so one area"
        )
    else:
        area_rows, area_notes = area_entries_from(ret, read_areas(areas), str(areas))
    entries = [
        Entry("name", name, "the council"),
        Entry("council", name, "the council its published figures name"),
        Entry(
            "description",
            f"{name} from {est.start:%d %B %Y}, estimated from its SSDA903 return",
            "what the scenario is",
        ),
        Entry("start", est.start.date(), "the last 31 March observed: the stock date"),
        *area_rows,
        *episode_entries(est, source),
        *fostering_entries(fost, int((stock["group"] == "connected").sum())),
    ]
    scenario = validate(entries, f"init-council {name}")
    notes = [f"SSDA903 folders: {ret.convention}.", *est.notes, *area_notes]
    england = sorted({k.split(".")[0] for k, (_, src) in fost.items() if src == ENGLAND_SOURCE})
    if england:
        notes.append(
            "fostering fields not given, so England 2018-19 figures scaled to the council: "
            + ", ".join(england)
        )
    notes.append(
        "no schema slot, reported only: planned moves (CARPL) per placement-year "
        f"{est.values['observed.planned_moves_per_year'].value}, own-provision share of unrelated "
        f"foster placements {est.values['observed.in_house_share_of_foster'].value}; exits to "
        "independent living and at 18 follow from the 18th birthday in the model; the 20-mile "
        "share needs placement distances, which no bundled postcode lookup gives, so it keeps "
        "the schema defaults"
    )
    problems = ret.problems_table()
    sections = {
        "data_quality": problems,
        "stock_by_group": stock.groupby(["group", "uasc"]).size().rename("children").reset_index(),
        "stock_by_legal_status": stock.groupby("legal_status")
        .size()
        .rename("children")
        .reset_index(),
        "exits": est.tables["exits"],
        "moves": est.tables["moves"],
    }
    if "sibling_groups" in est.tables:
        sections["sibling_groups"] = est.tables["sibling_groups"]
    header = _provenance(
        f"the SSDA903 return in {root} ({source}) and {fostering or 'no fostering file'}"
    )
    return Built(name, entries, scenario, header, est.last_year, sections, notes)


def write(
    built: Built, out: Path | str, report: Path | str | None, reps: int, seed: int
) -> list[Path]:
    """Write the scenario TOML, and the fit report (with ``reps`` replications) into ``report``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_toml(built.entries, built.header), encoding="utf-8")
    written = [out]
    if report is None:
        return written
    simulated = fit.simulate_first_year(built.scenario, reps, seed)
    table = fit.fit_table(built.observed, simulated, built.defaults)
    sections = {"estimates": built.estimates_table(), **built.sections}
    notes = [f"{reps} replications of the first year, seed {seed}.", *built.notes]
    written += fit.write_report(Path(report), f"{built.name}: fit report", table, sections, notes)
    return written


def summary(built: Built) -> dict[str, Any]:
    """A few headline figures for the command line."""
    ini = built.scenario.initial
    return {
        "children in care": sum(ini.placements.values()),
        "arrivals a year (not UASC)": built.scenario.children.arrivals_per_year,
        "UASC arrivals a year": built.scenario.uasc.arrivals_per_year,
        "households": ini.households,
    }
