"""The recorder: the model reports to it, and it turns what it hears into tables.

Monthly snapshots (stocks and KPIs), flows per financial year, an episode log shaped like the
DfE SSDA903 episodes return, and one row per child. Nothing here touches pandas until the run
has finished.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.config import PLACEMENT_TYPES
from sim.model.entities import PLACED, Child, Household
from sim.model.timing import YEAR
from sim.outputs import FLOW_COUNTS, SPEND_CATEGORIES

if TYPE_CHECKING:
    from sim.model.world import World

# DfE's age line for "aged 16 and over" (starts) and "under 16" (the two-year stability group).
AGE_16 = 16 * YEAR

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
    return c.dob > now - AGE_16 and c.entry <= now - 2.5 * YEAR


class Stocks:
    """Children in care by placement type and the stability indicators, kept up to date as
    children arrive, leave and start and end placements, so a snapshot scans nobody.

    The indicators change with the passing of time too: each is a queue ordered by the time a
    child's status will flip (a placement two years old, 2.5 years in care, a 16th birthday, a
    move a year ago), emptied up to the snapshot's date with the indicator's own comparison.
    """

    def __init__(self) -> None:
        self.by_type = dict.fromkeys(PLACEMENT_TYPES, 0)
        self.connected_section20 = 0  # Kent's connected count once left section 20 out (A08)
        self.placed = 0
        self.within = 0  # placed within 20 miles
        self.known = 0  # placed, with a known distance from home
        self.uasc = 0
        self.recent: dict[int, float] = {}  # child: their second-last start, while within a year
        self._recent: list[tuple[float, int]] = []
        self._entering: list[tuple[float, int]] = []  # (entry, child): not yet 2.5 years in care
        self._ageing: list[tuple[float, int]] = []  # (dob, child): in the two-year group until 16
        self.long_term: set[int] = set()
        self._settling: list[tuple[float, int]] = []  # (settled_from, child)
        self.settled: set[int] = set()  # in the same placement for 2+ years
        self.long_term_settled = 0

    @classmethod
    def count(cls, children: dict[int, Child], now: float) -> Stocks:
        """Counted from every child in care (once, after the initial stock is built)."""
        stocks = cls()
        for c in children.values():
            stocks.arrived(c)
            if c.state == PLACED:
                stocks.started(c)
        stocks.advance(children, now)
        return stocks

    def arrived(self, c: Child) -> None:
        self.uasc += c.uasc
        heapq.heappush(self._entering, (c.entry, c.id))

    def started(self, c: Child) -> None:
        self.by_type[c.placement] += 1
        self.connected_section20 += c.section20 and c.placement == "connected"
        self.placed += 1
        self.within += c.within20
        self.known += c.distance_known
        since = c.settled_from
        if c.dob > since - 14 * YEAR - 1:  # else 16 before the placement is 2 years old
            heapq.heappush(self._settling, (since, c.id))
        starts = c.placement_starts
        if len(starts) >= 3:
            self.recent[c.id] = starts[-2]
            heapq.heappush(self._recent, (starts[-2], c.id))
        else:
            self.recent.pop(c.id, None)

    def ended(self, c: Child) -> None:
        self.by_type[c.placement] -= 1
        self.connected_section20 -= c.section20 and c.placement == "connected"
        self.placed -= 1
        self.within -= c.within20
        self.known -= c.distance_known
        if c.id in self.settled:
            self.settled.remove(c.id)
            self.long_term_settled -= c.id in self.long_term

    def left(self, c: Child) -> None:
        self.uasc -= c.uasc
        self.recent.pop(c.id, None)
        if c.id in self.long_term:
            self.long_term.remove(c.id)
            self.long_term_settled -= c.id in self.settled
        self.settled.discard(c.id)

    def advance(self, children: dict[int, Child], now: float) -> None:
        """Bring the time-dependent indicators to ``now`` (never earlier than the last call)."""
        entering, ageing, settling, recent = (
            self._entering,
            self._ageing,
            self._settling,
            self._recent,
        )
        # The comparisons are those of long_term() and three_plus_placements(), term for term.
        while entering and entering[0][0] <= now - 2.5 * YEAR:
            _, cid = heapq.heappop(entering)
            c = children.get(cid)
            if c is not None and c.dob > now - AGE_16:
                self.long_term.add(cid)
                heapq.heappush(ageing, (c.dob, cid))
                self.long_term_settled += cid in self.settled
        while ageing and not ageing[0][0] > now - AGE_16:
            _, cid = heapq.heappop(ageing)
            if cid in self.long_term:
                self.long_term.remove(cid)
                self.long_term_settled -= cid in self.settled
        while settling and now - settling[0][0] >= 2 * YEAR:
            since, cid = heapq.heappop(settling)
            c = children.get(cid)
            if c is None or c.state != PLACED or c.settled_from != since or cid in self.settled:
                continue
            self.settled.add(cid)
            self.long_term_settled += cid in self.long_term
        while recent and not recent[0][0] > now - YEAR:
            second_last, cid = heapq.heappop(recent)
            if self.recent.get(cid) == second_last:
                del self.recent[cid]


class Spend:
    """Spend accrued exactly: each category's weekly rate times the days it held that rate,
    split at each 1 April.

    A category's rate is set whenever what it pays for changes (a placement starts or ends,
    a household is approved, a programme starts), so the spend is the integral of the weekly
    cost over time, not a sum of snapshots.
    """

    def __init__(self, year_starts: list[float]) -> None:
        self.year_starts = year_starts
        self.rate: dict[str, float] = {}
        self.since: dict[str, float] = {}
        self.total: dict[tuple[int, str], float] = defaultdict(float)
        self._year, self._from, self._to = -1, 1.0, 0.0  # the year of the last call (none yet)

    def set(self, category: str, weekly: float, now: float) -> None:
        """From ``now`` on, ``category`` costs ``weekly`` pounds a week."""
        rate = self.rate.get(category, 0.0)
        if rate:
            since = self.since[category]
            if not self._from <= now < self._to:
                starts = self.year_starts
                i = self._year = bisect.bisect_right(starts, now) - 1
                self._from = starts[i]
                self._to = starts[i + 1] if i + 1 < len(starts) else math.inf
            if since >= self._from:  # most calls: the rate held within the current year
                self.total[(self._year, category)] += rate * (now - since) / 7.0
            else:
                self._accrue(category, rate, since, now)
        self.rate[category] = weekly
        self.since[category] = now

    def close(self, now: float) -> None:
        """Accrue every category up to ``now`` (the end of the run)."""
        for category, rate in list(self.rate.items()):
            self.set(category, rate, now)

    def _accrue(self, category: str, rate: float, t0: float, t1: float) -> None:
        starts = self.year_starts
        i = bisect.bisect_right(starts, t0) - 1
        while t0 < t1:
            t = min(t1, starts[i + 1]) if i + 1 < len(starts) else t1
            self.total[(i, category)] += rate * (t - t0) / 7.0
            t0 = t
            i += 1


class Recorder:
    """Collects what the model reports during one replication."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._env = world.env
        sc = world.scenario
        self.building = False
        self.stocks = Stocks()
        # Flow names built once, not on every placement.
        self._placements = {k: f"placements_{k}" for k in PLACEMENT_TYPES}
        self._entries = {k: f"entries_{k}" for k in PLACEMENT_TYPES}
        self._exits: dict[str, str] = {}
        # Each financial year's flows (by the year's index), and the current year's.
        self.flows: dict[int, defaultdict[str, float]] = {}
        self._year_flows: defaultdict[str, float] = defaultdict(float)
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
        self._fy_from, self._fy_to = 1.0, 0.0  # the current financial year's days (none yet)
        self.spend = Spend(self.fy_start_days)
        self._unit = {k: 0.0 for k in PLACEMENT_TYPES}  # weekly cost per child, by type
        self._staying_put = 0  # young people Staying Put, with current or former carers
        self._households = 0  # approved fostering households (excl. connected)
        self._household_weekly = sc.costs.household_weekly.central
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
        now = self._env._now
        if not self._fy_from <= now < self._fy_to:
            i = bisect.bisect_right(self.fy_start_days, now) - 1
            self._fy_from = self.fy_start_days[i]
            self._fy_to = self.fy_start_days[i + 1] if i + 1 < len(self.fy_start_days) else 1e18
            self._year_flows = self.flows.setdefault(i, defaultdict(float))
        self._year_flows[name] += amount

    def initial(self, child: Child) -> None:
        self.initial_children += 1
        self.initial_ids.add(child.id)

    def arrival(self, child: Child) -> None:
        self.arrivals += 1
        self.stocks.arrived(child)
        self.flow("arrivals")
        if child.uasc:
            self.flow("arrivals_uasc")
        if child.dob <= child.entry - AGE_16:  # DfE's starts aged 16 and over
            self.flow("arrivals_age_16_plus")

    def exit(self, child: Child, reason: str) -> None:
        self.exits += 1
        self.flow("exits")
        name = self._exits.get(reason)
        if name is None:
            name = self._exits[reason] = f"exits_{reason}"
        self.flow(name)
        if child.uasc:
            self.flow("exits_uasc")
        self.stocks.left(child)
        self.child_rows.append(self._child_row(child))

    def placement_started(self, child: Child, reason: str) -> None:
        """``child`` has just started a placement (``place`` has set it up)."""
        kind = child.placement
        self.flow(self._placements[kind])
        self.flow(self._entries[kind] if reason == "entry" else "moves")
        if not self.building:  # the stock is counted once it is built
            self.stocks.started(child)
            self._placement_cost(kind)

    def episode(self, child: Child, reason_end: str) -> None:
        """``child``'s current placement episode ends now."""
        self.stocks.ended(child)
        if not self.building:
            self._placement_cost(child.placement)
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

    def staying_put(self, change: int) -> None:
        """A young person starts (+1) or ends (-1) Staying Put with their foster carers."""
        self.flow("staying_put_starts" if change > 0 else "staying_put_ends")
        self._staying_put += change
        if not self.building:
            self._staying_put_cost()

    def carer_approved(self, h: Household) -> None:
        self._households += 1
        self._household_cost()

    def carer_deregistered(self, h: Household, reason: str) -> None:
        if h.kind != "connected":
            self._households -= 1
            self._household_cost()

    def costs_changed(self) -> None:
        """A policy has started or ended a programme, or changed a unit cost."""
        w = self.world
        self._unit = dict(w.providers.weekly_cost)
        for kind in PLACEMENT_TYPES:
            self._placement_cost(kind)
        self._staying_put_cost()
        self._household_cost()
        programmes: dict[str, float] = dict.fromkeys(
            ("hub_families", "mockingbird", "assessment_capacity"), 0.0
        )
        for name, weekly in w.programmes.costs.items():
            kind = name.split("[")[0]
            programmes[kind] = programmes.get(kind, 0.0) + weekly
        for kind, weekly in programmes.items():
            self.spend.set(kind, weekly, w.now)

    def _placement_cost(self, kind: str) -> None:
        self.spend.set(kind, self.stocks.by_type[kind] * self._unit[kind], self._env._now)

    def _staying_put_cost(self) -> None:
        unit = self.world.providers.weekly_cost["staying_put"]
        self.spend.set("staying_put", self._staying_put * unit, self._env._now)

    def _household_cost(self) -> None:
        w = self.world
        n, now = self._households, self._env._now
        self.spend.set("fostering_households", n * self._household_weekly, now)
        self.spend.set("retention_offers", n * w.programmes.retention_cost_per_household, now)

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
        self.stocks = Stocks.count(w.children, w.now)
        self._staying_put = sum(h.staying_put for h in w.households.values())
        self._households = sum(h.active and h.kind != "connected" for h in w.households.values())
        # Only these two moments: the model reports placements to the recorder directly.
        w.hooks.carer_approved.append(self.carer_approved)
        w.hooks.carer_deregistered.append(self.carer_deregistered)
        self.costs_changed()
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
        stocks = self.stocks
        stocks.advance(w.children, now)
        counts = dict(stocks.by_type)
        in_care = len(w.children)
        uasc = stocks.uasc
        searching = in_care - stocks.placed
        placed = stocks.placed
        within = stocks.within
        known = stocks.known
        three_plus = len(stocks.recent)
        n_long_term = len(stocks.long_term)
        long_term_stable = stocks.long_term_settled
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
            "connected_section20": stocks.connected_section20,
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
            "long_term_group": n_long_term,
            "placed_distance_known": known,
            "kpi_within_20_miles": within / known if known else float("nan"),
            "kpi_within_20_miles_all": within / placed if placed else float("nan"),
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
        # Open episodes and child rows are added to copies, so results() can be read again.
        episode_rows = list(self.episode_rows)
        child_rows = list(self.child_rows)
        for c in w.children.values():
            if c.state == PLACED:
                episode_rows.append(
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
            child_rows.append(self._child_row(c))
        snapshots = pd.DataFrame(self.snapshot_rows)
        episodes = pd.DataFrame(episode_rows, columns=EPISODE_COLUMNS)
        children = pd.DataFrame(child_rows, columns=CHILD_COLUMNS)
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
        unknown = sorted({name for year in self.flows.values() for name in year} - set(FLOW_COUNTS))
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
            year: dict[str, float] = self.flows.get(i, {})
            for name in names:
                row[name] = year.get(name, 0.0)
            rows.append(row)
        df = pd.DataFrame(rows)
        return self._spend_columns(flow_ratios(df[df["days_simulated"] > 0].reset_index(drop=True)))

    def _spend_columns(self, df: pd.DataFrame) -> pd.DataFrame:
        """Add each financial year's spend by category (see :class:`Spend`), at the year's
        prices."""
        w = self.world
        sc = w.scenario
        self.spend.close(w.horizon)
        years = [self.fy_labels.index(fy) for fy in df["financial_year"]]
        spend = {k: [self.spend.total.get((i, k), 0.0) for i in years] for k in SPEND_CATEGORIES}
        spend["step_across"] = list(df["step_across_cost"])
        unit = sc.costs.recruitment
        for name, cost in (
            ("enquiries", unit.per_enquiry),
            ("assessments", unit.per_assessment),
            ("approvals", unit.per_approval),
        ):
            spend[name] = list(df[name] * cost.central)
        campaigns = [0.0] * len(years)
        for c in sc.recruitment.campaigns:
            a, b = w.day(c.start), w.day(c.end)
            for j, i in enumerate(years):
                lo = max(a, self.fy_start_days[i], 0.0)
                hi = min(b, self.fy_start_days[i + 1], w.horizon)
                campaigns[j] += c.cost * max(hi - lo, 0.0) / (b - a)
        spend["recruitment_campaigns"] = campaigns
        r = sc.costs.inflation_per_year or 0.0
        index = pd.Series([(1.0 + r) ** j for j in range(len(years))], index=df.index)
        out = pd.DataFrame({f"spend_{k}": v for k, v in spend.items()}, index=df.index)
        out = out.mul(index, axis=0)
        out["spend_total"] = out.sum(axis=1)
        out["price_index"] = index
        return pd.concat([df, out], axis=1)


def flow_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Add the ratio columns of a flow table to its counts (a region's totals use it too)."""
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
