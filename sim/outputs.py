"""The output catalogue: every snapshot column, flow and KPI the model writes, declared once.

Each :class:`Output` has the title a reader sees, its unit, how its values are written
(``kind``) and which direction is better. The recorder starts every flow of the catalogue at
zero, and the report, the web app, the CLI summary and ``compare`` take titles and units from
here, so one column has one name everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim.config import CARER_TYPES, PLACEMENT_TYPES

#: The tables whose columns the catalogue declares.
TABLES = ("snapshots", "flows", "kpis")


@dataclass(frozen=True)
class Output:
    """One column of a results table."""

    name: str
    table: str  # "snapshots", "flows" or "kpis"
    title: str
    unit: str  # what the values count, in words
    kind: str = "count"  # "count", "share", "money", "months", "key" (identifies the row)
    better: int = 0  # +1 if more is better, -1 if less is better, 0 if neither

    def format(self, value: float | None, signed: bool = False) -> str:
        """The value as a reader expects it: 10.6%, £2.85m, 1,234."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        sign = "+" if signed and value > 0 else ""
        if self.kind == "share":
            return f"{sign}{value * 100:.1f}{' points' if signed else '%'}"
        if self.kind == "money":
            return sign + format_money(value)
        if self.kind == "months":
            return f"{sign}{value:,.2f}"
        return f"{sign}{value:,.0f}"


def format_money(value: float | None, signed: bool = False) -> str:
    """Pounds as a reader writes them: £550, £47.3k, £1.2m, £2.85m, £1.1bn (3 figures);
    ``signed`` puts ``+`` before a positive difference."""
    if value is None or not math.isfinite(value):
        return "–"
    sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
    size = abs(value)
    if round(size) < 10_000:
        return f"{sign}£{size:,.0f}"
    size = float(f"{size:.3g}")  # round first, so 999,950 reads £1m and not £1000k
    unit, scale = ("bn", 1e9) if size >= 1e9 else ("m", 1e6) if size >= 1e6 else ("k", 1e3)
    return f"{sign}£{size / scale:.3g}{unit}"


_CHILDREN = "children"
_KINDS = {
    "in_house": "With the council's own foster carers",
    "connected": "With family or friends carers (kinship)",
    "ifa_framework": "With agency (IFA) foster carers on the framework",
    "ifa_spot": "With agency (IFA) foster carers bought one by one (spot)",
    "residential": "In residential children's homes",
    "supported": "In supported accommodation (16 and over)",
    "unregistered": "In unregistered placements (last resort)",
    "placed_for_adoption": "Placed for adoption",
    "with_parents": "Placed with parents",
}
_BETTER = {"in_house": +1, "ifa_spot": -1, "residential": -1, "unregistered": -1}
_EXTERNAL = ("ifa_framework", "ifa_spot", "residential", "supported", "unregistered")
_EXIT_REASONS = {
    "return_home": "returning home",
    "sgo": "to a special guardianship order",
    "adoption": "to adoption",
    "age_18": "at 18",
    "nts_transfer": "by National Transfer Scheme transfer",
}
_DEREGISTRATION_REASONS = {
    "carer_initiated": "carer's decision",
    "to_ifa": "moved to an agency",
    "service": "by the service (long inactive)",
    "after_breakdown": "after a breakdown",
}


def _snapshots() -> list[Output]:
    s = "snapshots"
    out = [
        Output("date", s, "Month end", "date", "key"),
        Output("day", s, "Days since the start", "days", "key"),
        Output("children_in_care", s, "All children in care", _CHILDREN),
        Output("uasc_in_care", s, "Unaccompanied asylum-seeking children in care", _CHILDREN),
        Output("waiting", s, "Children waiting for a placement", _CHILDREN, better=-1),
        Output(
            "waiting_after_cascade",
            s,
            "Children waiting after every option was tried",
            _CHILDREN,
            better=-1,
        ),
    ]
    out += [Output(k, s, t, _CHILDREN, better=_BETTER.get(k, 0)) for k, t in _KINDS.items()]
    out += [
        Output("ifa", s, "With agency (IFA) foster carers, framework and spot", _CHILDREN),
        Output("households", s, "The council's fostering households", "households", better=+1),
        Output(
            "connected_section20",
            s,
            "With family or friends, accommodated under section 20",
            _CHILDREN,
        ),
        Output("households_connected", s, "Family or friends (connected) households", "households"),
        Output("households_on_hold", s, "Fostering households on hold", "households"),
        Output("places_approved", s, "Approved places with the council's carers", "places"),
        Output("places_filled", s, "Filled places with the council's carers", "places"),
        Output("places_vacant", s, "Vacant places with the council's foster carers", "places"),
        Output("places_unavailable", s, "Places not available (kept or on hold)", "places"),
        Output("staying_put", s, "Young people Staying Put with their carers", "young people"),
        Output(
            "staying_put_former_carers",
            s,
            "Young people Staying Put with carers no longer approved",
            "young people",
        ),
        Output("weekly_cost", s, "Weekly cost of placements", "£ per week", "money", -1),
        Output(
            "programme_weekly_cost",
            s,
            "Weekly cost of programmes (hub families, Mockingbird, ...)",
            "£ per week",
            "money",
            -1,
        ),
        Output(
            "total_weekly_cost",
            s,
            "Weekly cost of placements and programmes (hub families, Mockingbird, ...)",
            "£ per week",
            "money",
            -1,
        ),
        Output(
            "households_supported",
            s,
            "Households in a hub or constellation",
            "households",
            better=+1,
        ),
        Output(
            "kpi_3plus_placements",
            s,
            "Children with 3 or more placements in the last 12 months",
            "% of children in care",
            "share",
            -1,
        ),
        Output(
            "kpi_same_placement_2y",
            s,
            "Children in care 2½ years or more who have lived in the same home for 2 years or more",
            "% of children in long-term care",
            "share",
            +1,
        ),
        Output(
            "long_term_group",
            s,
            "Children under 16 in care 2½ years or more (the two-year stability measure's group)",
            _CHILDREN,
        ),
        Output(
            "placed_distance_known",
            s,
            "Children placed whose distance from home is known",
            _CHILDREN,
        ),
        Output(
            "kpi_within_20_miles",
            s,
            "Children placed within 20 miles of home",
            "% of placed children whose distance is known",
            "share",
            +1,
        ),
        Output(
            "kpi_within_20_miles_all",
            s,
            "Children placed within 20 miles of home, 'not known' counted (DfE)",
            "% of placed children",
            "share",
            +1,
        ),
        Output(
            "kpi_in_house_share",
            s,
            "Fostered children with the council's own or kinship carers",
            "% of fostered children",
            "share",
            +1,
        ),
        Output("arrivals_to_date", s, "Children come into care since the start", _CHILDREN),
        Output("exits_to_date", s, "Children left care since the start", _CHILDREN),
        Output("initial_children", s, "Children in care at the start", _CHILDREN),
    ]
    out += [
        Output(f"{k}_occupied", s, f"Places occupied: {_KINDS[k].lower()}", "places")
        for k in _EXTERNAL
    ]
    return out


#: Flows counted by the model (per financial year), with their titles and units.
def _flow_counts() -> list[Output]:
    f = "flows"
    year = "a financial year"
    rows: list[tuple[str, str, str, int]] = [
        ("arrivals", "Children coming into care", _CHILDREN, 0),
        ("arrivals_uasc", "UASC coming into care", _CHILDREN, 0),
        ("arrivals_age_16_plus", "Children coming into care aged 16 or over", _CHILDREN, 0),
        ("exits", "Children leaving care", _CHILDREN, 0),
        ("exits_uasc", "UASC leaving care", _CHILDREN, 0),
        *(
            (f"exits_{r}", f"Children leaving care {t}", _CHILDREN, 0)
            for r, t in _EXIT_REASONS.items()
        ),
        ("enquiries", "Fostering enquiries", "enquiries", +1),
        (
            "enquiries_not_followed_up",
            "Enquiries the team had no slot to follow up",
            "enquiries",
            -1,
        ),
        ("applications", "Fostering applications", "applications", +1),
        ("withdrawn_before_assessment", "Applicants withdrawn before assessment", "applicants", 0),
        ("assessments", "Fostering assessments started", "assessments", +1),
        ("withdrawn_in_assessment", "Applicants withdrawn during assessment", "applicants", 0),
        ("assessment_waits", "Applicants waiting for an assessing slot", "applicants", -1),
        ("withdrawn_waiting_assessment", "Withdrawn waiting for a slot", "applicants", -1),
        ("approvals", "Fostering households approved (excl. connected)", "households", +1),
        *(
            (f"approvals_{k}", f"Approvals: {k.replace('_', ' ')} carers", "households", 0)
            for k in (*CARER_TYPES, "connected")
        ),
        ("approval_months_sum", "Months from application to approval, summed", "months", 0),
        ("approvals_within_6_months", "Approvals within 6 months", "households", +1),
        (
            "deregistrations",
            "Fostering households deregistered (excl. connected)",
            "households",
            -1,
        ),
        *(
            (f"deregistrations_{r}", f"Deregistrations: {t}", "households", -1)
            for r, t in _DEREGISTRATION_REASONS.items()
        ),
        ("deregistrations_connected", "Connected households deregistered", "households", 0),
        (
            "connected_temporary_approvals",
            "Connected persons temporarily approved (Reg 24)",
            "households",
            0,
        ),
        ("connected_not_approved", "Connected-person assessments failed", "households", 0),
        (
            "deregistrations_service_mismatch",
            "Service deregistrations: approval excludes demand",
            "households",
            0,
        ),
        (
            "deregistrations_service_standards",
            "Service deregistrations: standards of care",
            "households",
            0,
        ),
        ("vacancies_matching", "Free in-house places put into matching", "places", 0),
        ("vacancies_held", "Free in-house places held by the carers", "places", 0),
        ("vacancy_offers_declined", "Matches declined by the carers", "offers", 0),
        (
            "resignations_deferred",
            "Carers leaving once their placed children have left",
            "households",
            0,
        ),
        ("on_hold_starts", "Households put on hold", "households", 0),
        ("on_hold_ends", "Households back from hold", "households", 0),
        ("nts_referrals", "UASC referred to the National Transfer Scheme", _CHILDREN, 0),
        (
            "uasc_not_accommodated",
            "UASC arrivals not taken into care (accommodation limit reached)",
            _CHILDREN,
            0,
        ),
        ("placed_for_adoption", "Children placed for adoption", _CHILDREN, 0),
        ("turned_18_in_foster", "Young people turning 18 in foster care", "young people", 0),
        (
            "turned_18_in_house_foster",
            "Young people turning 18 with the council's carers",
            "young people",
            0,
        ),
        ("staying_put_starts", "Staying Put arrangements started", "young people", 0),
        ("staying_put_ends", "Staying Put arrangements ended", "young people", 0),
        ("hub_families_started", "Hub families started", "hubs", 0),
        ("constellations_started", "Mockingbird constellations started", "constellations", 0),
        (
            "constellations_not_formed",
            "Mockingbird constellations not formed (too few carers)",
            "constellations",
            -1,
        ),
        ("ring_fenced_in_house_places", "In-house places ring-fenced for UASC", "places", 0),
        ("step_across", "Children stepped across from residential", _CHILDREN, 0),
        ("siblings_split", "Sibling groups split to be placed", "groups", -1),
        ("search_failures", "Children with no placement found", _CHILDREN, -1),
        *(
            (f"placements_{k}", f"Placements started: {_KINDS[k].lower()}", "placements", 0)
            for k in PLACEMENT_TYPES
        ),
        *(
            (f"entries_{k}", f"First placements: {_KINDS[k].lower()}", _CHILDREN, 0)
            for k in PLACEMENT_TYPES
        ),
        ("moves", "Placement moves", "moves", -1),
        ("breakdowns", "Placement breakdowns", "placements", -1),
        ("unplanned_endings", "Unplanned placement endings", "placements", -1),
        ("planned_moves", "Planned moves", "moves", 0),
        ("moves_to_supported", "Moves on from foster care to supported accommodation", "moves", 0),
        ("emergency_moves_on", "Moves on from emergency beds", "moves", 0),
        ("step_downs", "Step-downs to the council's carers", "moves", +1),
        ("moves_carer_resigned", "Moves because the carers resigned", "moves", -1),
        (
            "spot_other_councils_placed",
            "Other councils' children placed in the IFA spot market",
            _CHILDREN,
            0,
        ),
        (
            "spot_other_councils_turned_away",
            "Other councils' children turned away (spot market full)",
            _CHILDREN,
            0,
        ),
        (
            "spot_placed_outside",
            "Children placed with agencies outside the county (spot pool full)",
            _CHILDREN,
            -1,
        ),
        ("places_opened_residential", "Residential places opened", "places", 0),
        ("places_opened_supported", "Supported accommodation places opened", "places", 0),
        ("placements_out_of_county", "Placements outside the county", "placements", -1),
        (
            "placements_distance_not_known",
            "Placements with distance not known (UASC)",
            "placements",
            0,
        ),
    ]
    out = [Output(n, f, t, f"{u} {year}", better=b) for n, t, u, b in rows]
    out.append(Output("step_across_cost", f, "Cost of step-across moves", f"£ {year}", "money", -1))
    return out


def _flow_ratios() -> list[Output]:
    f = "flows"
    return [
        Output("approval_time_mean_months", f, "Mean approval time", "months", "months", -1),
        Output(
            "approval_within_6_months_share",
            f,
            "Approvals within 6 months",
            "% of approvals",
            "share",
            +1,
        ),
        Output(
            "foster_entries_in_house_share",
            f,
            "Foster entrants placed with the council's carers",
            "% of foster entrants",
            "share",
            +1,
        ),
        Output(
            "enquiry_to_application_ratio",
            f,
            "Enquiries becoming applications",
            "% of enquiries",
            "share",
            +1,
        ),
        Output(
            "enquiry_to_approval_ratio",
            f,
            "Enquiries becoming approvals",
            "% of enquiries",
            "share",
            +1,
        ),
    ]


def _kpis() -> list[Output]:
    k = "kpis"
    final, mean, y5 = "final month", "mean over months", "year 5 (or end)"
    return [
        Output("places_vacant_y5", k, f"Vacant in-house places, {y5}", "places"),
        Output("ifa_spot_y5", k, f"IFA spot placements, {y5}", _CHILDREN, better=-1),
        Output("unregistered_mean", k, f"Unregistered placements, {mean}", _CHILDREN, better=-1),
        Output("cost_total_m", k, "Total spend over the horizon", "£ million", "count", -1),
        Output("children_in_care_final", k, f"Children in care, {final}", _CHILDREN),
        Output("in_house_final", k, f"With in-house foster carers, {final}", _CHILDREN, better=1),
        Output("ifa_spot_final", k, f"IFA spot placements, {final}", _CHILDREN, better=-1),
        Output("ifa_final", k, f"IFA placements (framework and spot), {final}", _CHILDREN),
        Output("residential_final", k, f"Residential placements, {final}", _CHILDREN, better=-1),
        Output("unregistered_final", k, f"Unregistered placements, {final}", _CHILDREN, better=-1),
        Output("households_final", k, f"Fostering households, {final}", "households", better=1),
        Output("places_vacant_final", k, f"Vacant in-house places, {final}", "places"),
        Output(
            "waiting_mean", k, f"Children waiting for a placement, {mean}", _CHILDREN, better=-1
        ),
        Output(
            "weekly_cost_final",
            k,
            f"Weekly cost incl. programmes, {final}",
            "£ per week",
            "money",
            -1,
        ),
        Output(
            "kpi_3plus_placements_final",
            k,
            f"3+ placements in 12 months, {final}",
            "%",
            "share",
            -1,
        ),
        Output(
            "kpi_same_placement_2y_final", k, f"Same placement 2+ years, {final}", "%", "share", 1
        ),
        Output("kpi_within_20_miles_final", k, f"Placed within 20 miles, {final}", "%", "share", 1),
        Output(
            "kpi_in_house_share_final",
            k,
            f"In-house share of fostered children, {final}",
            "%",
            "share",
            1,
        ),
        Output("approvals_per_year", k, "Carer approvals a year (mean)", "households", better=1),
        Output(
            "deregistrations_per_year",
            k,
            "Carer deregistrations a year (mean)",
            "households",
            better=-1,
        ),
        Output(
            "breakdowns_per_year", k, "Placement breakdowns a year (mean)", "placements", better=-1
        ),
        Output("events", k, "Simulation events", "events"),
    ]


#: Spend categories per financial year (``spend_<category>`` in the flows table), each with
#: its group and what it pays for (after "Spend: "); ``spend_total`` is their sum.
SPEND_CATEGORIES: dict[str, tuple[str, str]] = {
    **{k: ("placements", t[0].lower() + t[1:]) for k, t in _KINDS.items()},
    "staying_put": ("placements", "Staying Put after 18 with their foster carers"),
    "fostering_households": (
        "placements",
        "the council's fostering households, whatever their placements (retainers)",
    ),
    "hub_families": ("programmes", "hub families"),
    "mockingbird": ("programmes", "Mockingbird constellations"),
    "assessment_capacity": ("programmes", "extra assessing social workers"),
    "retention_offers": ("programmes", "retention offers to foster carers"),
    "step_across": ("programmes", "step-across moves from residential care"),
    "recruitment_campaigns": ("recruitment", "recruitment campaigns"),
    "enquiries": ("recruitment", "fostering enquiries handled"),
    "assessments": ("recruitment", "fostering assessments"),
    "approvals": ("recruitment", "fostering approvals (panel and training)"),
}
SPEND_GROUPS = ("placements", "programmes", "recruitment")


def _spend() -> list[Output]:
    f, unit = "flows", "£ a financial year"
    out = [
        Output(f"spend_{k}", f, f"Spend: {t}", unit, "money", -1)
        for k, (_, t) in SPEND_CATEGORIES.items()
    ]
    out.append(Output("spend_total", f, "Spend: total", unit, "money", -1))
    out.append(
        Output(
            "price_index",
            f,
            "Price index applied to the year's spend (1 = first year's prices)",
            "index",
            "months",
        )
    )
    return out


#: What the spend figures count and what they leave out, in words a reader can check.
COST_INCLUDES: tuple[str, ...] = (
    "Placements: each child's days in each placement type times its weekly unit cost "
    "(in-house fostering fees and allowances, connected persons, IFA framework and spot, "
    "residential, supported accommodation, unregistered, placed for adoption, with parents)",
    "Staying Put: each young person's days with their foster carers after 18",
    "Programmes from the day they start: hub families, Mockingbird constellations, extra "
    "assessing social workers, retention offers, step-across moves, recruitment campaigns",
    "Recruitment: each enquiry handled, each assessment started and each approval",
    "Approved fostering households whatever their placements (retainers), where a weekly "
    "cost per household is set (none by default)",
)
COST_EXCLUDES: tuple[str, ...] = (
    "Social work for the child (the child's social worker, reviews, independent reviewing "
    "officers), education, health and legal costs",
    "Assessments of connected persons (family and friends carers)",
    "Leaving-care support after 18 other than Staying Put",
    "Adoption, special guardianship and child arrangements allowances after a child leaves care",
    "Capital costs (opening children's homes) and the council's overheads",
    "Savings or costs outside children's services (such as fewer breakdowns in schools)",
    "Any unit cost changing with a child's needs beyond the placement type: each type has one "
    "weekly price",
)


def prices_note(inflation_per_year: float | None) -> str:
    """Which prices the spend is in (``costs.inflation_per_year``), in words."""
    if not inflation_per_year:
        return "at the first financial year's prices throughout (no inflation index)"
    return f"with prices rising by {inflation_per_year:.1%} each 1 April after the first year"


_KEYS = [
    Output("financial_year", "flows", "Financial year", "1 April to 31 March", "key"),
    Output("days_simulated", "flows", "Days of the year simulated", "days", "key"),
]

#: Every output, by table and column name (a stock and a flow may share a name, e.g.
#: ``placed_for_adoption``).
CATALOGUE: dict[str, dict[str, Output]] = {t: {} for t in TABLES}
for _o in (*_snapshots(), *_KEYS, *_flow_counts(), *_flow_ratios(), *_spend(), *_kpis()):
    if _o.name in CATALOGUE[_o.table]:  # pragma: no cover - a mistake in this file
        raise AssertionError(f"{_o.table} column {_o.name!r} declared twice")
    CATALOGUE[_o.table][_o.name] = _o

#: The flows the model counts; the recorder starts each at zero in every financial year.
FLOW_COUNTS: tuple[str, ...] = tuple(o.name for o in _flow_counts())
#: Flows derived from the counts as ratios (missing, not zero, when undefined).
FLOW_RATIOS: tuple[str, ...] = tuple(o.name for o in _flow_ratios())
#: The spend columns of the flows table (one per category, then the total).
SPEND_COLUMNS: tuple[str, ...] = (*(f"spend_{k}" for k in SPEND_CATEGORIES), "spend_total")


def columns(table: str) -> tuple[str, ...]:
    """The columns of ``table`` declared in the catalogue, in declaration order."""
    return tuple(CATALOGUE[table])


def output(name: str, table: str | None = None) -> Output:
    """The catalogue entry of column ``name`` (of ``table``, else the first table holding
    it); a column not in the catalogue is shown under its own name."""
    for t in (table,) if table else TABLES:
        if name in CATALOGUE[t]:
            return CATALOGUE[t][name]
    return Output(name, table or "", name, "")


def title(name: str, table: str | None = None) -> str:
    """The title of a column."""
    return output(name, table).title


def fmt(name: str, value: float | None, signed: bool = False, table: str | None = None) -> str:
    """A value of column ``name`` as a reader expects it (see :meth:`Output.format`)."""
    return output(name, table).format(value, signed)
