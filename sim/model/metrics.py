"""The recorder: the model reports to it, and it turns what it hears into tables.

Monthly snapshots (stocks and KPIs), flows per financial year, an episode log shaped like the
DfE SSDA903 episodes return, and one row per child. Nothing here touches pandas until the run
has finished.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.config import PLACEMENT_TYPES
from sim.model.entities import PLACED, SEARCHING, Child
from sim.model.timing import YEAR
from sim.outputs import FLOW_COUNTS

if TYPE_CHECKING:
    from sim.model.world import World

PROVIDER = {
    "in_house": "council",
    "connected": "council",
    "ifa_framework": "ifa",
    "ifa_spot": "ifa",
    "residential": "private",
    "supported": "private",
    "unregistered": "unregistered",
    "placed_for_adoption": "adoption_agency",
    "with_parents": "parents",
}

EPISODE_COLUMNS = [
    "child",
    "start_day",
    "end_day",
    "placement",
    "provider",
    "household",
    "reason_start",
    "reason_end",
    "within_20_miles",
]
CHILD_COLUMNS = [
    "child",
    "dob_day",
    "male",
    "uasc",
    "area",
    "complex_needs",
    "section20",
    "high_risk",
    "sibling_group",
    "entry_day",
    "exit_day",
    "exit_reason",
    "initial",
]


def month_ends(start: dt.date, end: dt.date) -> list[dt.date]:
    """Month-end dates from ``start`` (included if it is one) to ``end``."""
    out: list[dt.date] = []
    y, m = start.year, start.month
    while True:
        nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
        last = nxt - dt.timedelta(days=1)
        if last > end:
            return out
        if last >= start:
            out.append(last)
        y, m = nxt.year, nxt.month


def financial_year(date: dt.date) -> str:
    """The financial year label (1 April to 31 March), e.g. ``"2019-20"``."""
    y = date.year if date.month >= 4 else date.year - 1
    return f"{y}-{(y + 1) % 100:02d}"


@dataclass
class Results:
    """The tables of one replication."""

    snapshots: pd.DataFrame
    flows: pd.DataFrame
    episodes: pd.DataFrame
    children: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def kpis(self) -> pd.DataFrame:
        """The council KPIs at each snapshot."""
        cols = ["date", *[c for c in self.snapshots.columns if c.startswith("kpi_")]]
        return self.snapshots[cols]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "snapshots": self.snapshots,
            "flows": self.flows,
            "episodes": self.episodes,
            "children": self.children,
        }


def three_plus_placements(c: Child, now: float) -> bool:
    """DfE stability indicator: 3+ placements in the 12 months to ``now``, counting one that
    began before and ran into them."""
    starts = c.placement_starts
    return len(starts) >= 3 and starts[-2] > now - YEAR


def long_term(c: Child, now: float) -> bool:
    """In the group of the two-year stability indicator: under 16, in care 2.5+ years."""
    return c.dob > now - 16 * YEAR and c.entry <= now - 2.5 * YEAR


class Recorder:
    """Collects what the model reports during one replication."""

    def __init__(self, world: World) -> None:
        self.world = world
        sc = world.scenario
        self.building = False
        self.flows: dict[tuple[int, str], float] = defaultdict(float)
        starts = []
        y = sc.start.year if sc.start.month >= 4 else sc.start.year - 1
        while dt.date(y, 4, 1) <= sc.end + dt.timedelta(days=366):
            starts.append(dt.date(y, 4, 1))
            y += 1
        self.fy_labels = [financial_year(d) for d in starts]
        # A run starting on 31 March (the usual stock date) counts its first day in the new
        # financial year rather than leaving a one-day year behind.
        self.fy_start_days = [float((d - sc.start).days) for d in starts]
        self.fy_start_days = [0.0 if 0 < d <= 1 else d for d in self.fy_start_days]
        self._fy, self._fy_from, self._fy_to = -1, 1.0, 0.0  # cached current year (none yet)
        self.snapshot_rows: list[dict[str, Any]] = []
        self.episode_rows: list[tuple[Any, ...]] = []
        self.child_rows: list[tuple[Any, ...]] = []
        self.arrivals = 0
        self.exits = 0
        self.initial_children = 0
        self.initial_ids: set[int] = set()
        self.initial_overflow = 0  # initial in-house children with no matching carer

    # -- reports from the model ---------------------------------------------------------------
    def flow(self, name: str, amount: float = 1.0) -> None:
        if self.building:
            return
        now = self.world.now
        if not self._fy_from <= now < self._fy_to:
            i = bisect.bisect_right(self.fy_start_days, now) - 1
            self._fy = i
            self._fy_from = self.fy_start_days[i]
            self._fy_to = self.fy_start_days[i + 1] if i + 1 < len(self.fy_start_days) else 1e18
        self.flows[(self._fy, name)] += amount

    def initial(self, child: Child) -> None:
        self.initial_children += 1
        self.initial_ids.add(child.id)

    def arrival(self, child: Child) -> None:
        self.arrivals += 1
        self.flow("arrivals")
        if child.uasc:
            self.flow("arrivals_uasc")

    def exit(self, child: Child, reason: str) -> None:
        self.exits += 1
        self.flow("exits")
        self.flow(f"exits_{reason}")
        if child.uasc:
            self.flow("exits_uasc")
        self.child_rows.append(self._child_row(child))

    def episode(self, child: Child, reason_end: str) -> None:
        self.episode_rows.append(
            (
                child.id,
                child.placed_at,
                self.world.now,
                child.placement,
                PROVIDER.get(child.placement, ""),
                child.household,
                child.episode_reason,
                reason_end,
                child.within20,
            )
        )

    def _child_row(self, c: Child) -> tuple[Any, ...]:
        return (
            c.id,
            c.dob,
            c.male,
            c.uasc,
            c.area,
            c.complex_needs,
            c.section20,
            c.high_risk,
            c.group,
            c.entry,
            c.exit_day if c.exit_day >= 0 else float("nan"),
            c.exit_reason,
            c.id in self.initial_ids,
        )

    # -- snapshots --------------------------------------------------------------------------
    def start(self) -> None:
        w = self.world
        for d in month_ends(w.scenario.start, w.scenario.end):
            day = float((d - w.scenario.start).days)
            if day == 0:
                self.snapshot()
            else:
                w.schedule(day, self.snapshot)

    def snapshot(self) -> None:
        """Record stocks and KPIs now."""
        w = self.world
        now = w.now
        counts = dict.fromkeys(PLACEMENT_TYPES, 0)
        searching = uasc = three_plus = n_long_term = long_term_stable = placed = within = 0
        for c in w.children.values():
            if c.uasc:
                uasc += 1
            if c.state == SEARCHING:
                searching += 1
            elif c.state == PLACED:
                counts[c.placement] += 1
                placed += 1
                within += c.within20
            if three_plus_placements(c, now):
                three_plus += 1
            if long_term(c, now):
                n_long_term += 1
                if c.state == PLACED and now - c.placed_at >= 2 * YEAR:
                    long_term_stable += 1
        places = filled = vacant = unavailable = staying_put = on_hold = 0
        households = connected = 0
        former_carers = supported = 0
        for h in w.households.values():
            if not h.active:
                former_carers += h.staying_put
                continue
            supported += bool(h.support)
            if h.kind == "connected":
                connected += 1
            else:
                households += 1
                on_hold += h.on_hold
            n_filled = len(h.children) + h.staying_put
            n_unavailable = h.unavailable
            places += h.places
            filled += n_filled
            unavailable += n_unavailable
            vacant += h.places - n_filled - n_unavailable
            staying_put += h.staying_put
        in_care = len(w.children)
        foster = (
            counts["in_house"] + counts["connected"] + counts["ifa_framework"] + counts["ifa_spot"]
        )
        unit = w.providers.weekly_cost
        cost = sum(counts[k] * unit[k] for k in PLACEMENT_TYPES)
        cost += (staying_put + former_carers) * unit["staying_put"]
        programme = w.programmes.weekly_cost(households)
        row: dict[str, Any] = {
            "date": w.date(now),
            "day": now,
            "children_in_care": in_care,
            "uasc_in_care": uasc,
            "waiting": searching,
            "waiting_after_cascade": len(w.waiting),
            **counts,
            "ifa": counts["ifa_framework"] + counts["ifa_spot"],
            "households": households,
            "households_connected": connected,
            "households_on_hold": on_hold,
            "places_approved": places,
            "places_filled": filled,
            "places_vacant": vacant,
            "places_unavailable": unavailable,
            "staying_put": staying_put,
            "staying_put_former_carers": former_carers,
            "weekly_cost": cost,
            "programme_weekly_cost": programme,
            "total_weekly_cost": cost + programme,
            "households_supported": supported,
            "kpi_3plus_placements": three_plus / in_care if in_care else float("nan"),
            "kpi_same_placement_2y": long_term_stable / n_long_term
            if n_long_term
            else float("nan"),
            "kpi_within_20_miles": within / placed if placed else float("nan"),
            "kpi_in_house_share": (counts["in_house"] + counts["connected"]) / foster
            if foster
            else float("nan"),
            "arrivals_to_date": self.arrivals,
            "exits_to_date": self.exits,
            "initial_children": self.initial_children,
        }
        for kind, free in w.providers.occupied.items():
            row[f"{kind}_occupied"] = free
        self.snapshot_rows.append(row)

    # -- tables -----------------------------------------------------------------------------
    def results(self) -> Results:
        w = self.world
        sc = w.scenario
        for c in w.children.values():
            if c.state == PLACED:
                self.episode_rows.append(
                    (
                        c.id,
                        c.placed_at,
                        float("nan"),
                        c.placement,
                        PROVIDER.get(c.placement, ""),
                        c.household,
                        c.episode_reason,
                        "open",
                        c.within20,
                    )
                )
            self.child_rows.append(self._child_row(c))
        snapshots = pd.DataFrame(self.snapshot_rows)
        episodes = pd.DataFrame(self.episode_rows, columns=EPISODE_COLUMNS)
        children = pd.DataFrame(self.child_rows, columns=CHILD_COLUMNS)
        flows = self._flow_table()
        for df, cols in (
            (episodes, ("start_day", "end_day")),
            (children, ("entry_day", "exit_day")),
        ):
            for col in cols:
                df[col.replace("_day", "_date")] = _to_dates(sc.start, df[col])
        children["dob"] = _to_dates(sc.start, children["dob_day"])
        meta = {
            "scenario": sc.name,
            "events": w.events,
            "initial_overflow_to_ifa": self.initial_overflow,
        }
        return Results(snapshots, flows, episodes, children, meta)

    def _flow_table(self) -> pd.DataFrame:
        unknown = sorted({name for _, name in self.flows} - set(FLOW_COUNTS))
        if unknown:
            raise ValueError(f"flows not in the output catalogue (sim/outputs.py): {unknown}")
        # Every catalogued flow is a column, zero in a year it never happened.
        names = sorted(FLOW_COUNTS)
        last = bisect.bisect_right(self.fy_start_days, self.world.horizon) - 1
        rows = []
        for i in range(0, last + 1):
            row: dict[str, Any] = {"financial_year": self.fy_labels[i]}
            start = max(self.fy_start_days[i], 0.0)
            end = min(
                self.fy_start_days[i + 1]
                if i + 1 < len(self.fy_start_days)
                else self.world.horizon,
                self.world.horizon,
            )
            row["days_simulated"] = max(end - start, 0.0)
            for name in names:
                row[name] = self.flows.get((i, name), 0.0)
            rows.append(row)
        df = pd.DataFrame(rows)
        df = df[df["days_simulated"] > 0].reset_index(drop=True)
        approvals = df["approvals"].where(df["approvals"] > 0)
        df["approval_time_mean_months"] = df["approval_months_sum"] / approvals
        df["approval_within_6_months_share"] = df["approvals_within_6_months"] / approvals
        foster = ("in_house", "connected", "ifa_framework", "ifa_spot")
        entries = df[[f"entries_{k}" for k in foster]].sum(axis=1)
        df["foster_entries_in_house_share"] = (
            df["entries_in_house"] + df["entries_connected"]
        ) / entries.where(entries > 0)
        enquiries = df["enquiries"].where(df["enquiries"] > 0)
        df["enquiry_to_application_ratio"] = df["applications"] / enquiries
        df["enquiry_to_approval_ratio"] = df["approvals"] / enquiries
        return df


def _to_dates(start: dt.date, days: pd.Series) -> pd.Series:
    return pd.Timestamp(start) + pd.to_timedelta(days.astype(float).round(), unit="D")
