"""The people the model follows: children and fostering households."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from sim.rng import Stream

# Child states: exactly one at any time.
SEARCHING: Final = "searching"  # looking for a placement (counted as waiting)
PLACED: Final = "placed"
LEFT: Final = "left"  # left care


@dataclass(slots=True, eq=False)
class Child:
    """A child in (or once in) care. Times are days from the scenario start."""

    id: int
    dob: float
    area: str
    complex_needs: bool
    uasc: bool
    male: bool
    section20: bool
    high_risk: bool
    group: int  # sibling group id (the child's own id when alone)
    entry: float
    parent_and_child: bool = False
    solo: bool = False  # needs to be the only child in the household
    needs_residential: bool = False  # assessed as needing a children's home
    state: str = SEARCHING
    placement: str = ""  # placement type while placed
    household: int = -1  # in-house or connected household id while placed there
    placed_at: float = 0.0
    #: Start of the placement as DfE's two-year stability measure counts it: ``placed_at``, or
    #: for an adoptive placement the start of the placement it followed.
    settled_from: float = 0.0
    within20: bool = True
    distance_known: bool = True  # False: 'not known' as DfE records it (a UASC's)
    episode_reason: str = "entry"  # why the current placement started
    placement_starts: list[float] = field(default_factory=list)
    exit_class: str = ""  # placement class the scheduled exit was drawn for
    exit_token: int = 0  # bumps invalidate scheduled exit checks
    placement_token: int = 0  # bumps invalidate scheduled placement events
    hazard_token: int = 0  # bumps invalidate a scheduled breakdown or planned move
    exit_at: float = math.inf  # day of the scheduled exit (or 18th birthday)
    #: A breakdown or planned move drawn for after ``exit_at``: (day, placement token,
    #: hazard token, what), scheduled only if the exit is redrawn to a later day.
    held_hazard: tuple[float, int, int, str] | None = None
    ring_fenced: bool = False  # holds a provider place reserved for UASC
    outside: bool = False  # in a place bought outside the county, beyond the spot pool
    avoid: int = -1  # household the child's placement broke down with: never matched again
    nts_referred: bool = False
    exit_day: float = -1.0
    exit_reason: str = ""


@dataclass(slots=True, eq=False)
class Household:
    """An approved fostering household (or a connected-person household for named children)."""

    id: int
    area: str
    kind: str  # mainstream, short_breaks, parent_and_child, emergency, connected
    places: int
    min_age: int
    max_age: int
    accepts_complex: bool
    approved: float
    rng: Stream  # the household's own draws: attrition clock, reviews (World.own_stream)
    on_hold: bool = False
    children: list[int] = field(default_factory=list)
    staying_put: int = 0
    held_back: int = 0  # approved places the carers choose not to offer
    solo: int = 0  # placed children who must be the only child: the other places are held back
    last_active: float = 0.0
    token: int = 0  # bumps invalidate scheduled attrition events
    active: bool = True  # False once deregistered
    support: str = ""  # hub or constellation membership, set by interventions
    reserved: int = 0  # places kept for respite or sleepovers (hub carers, Mockingbird hubs)
    held: int = 0  # free places the carers hold for a while (a break, a planned child)
    matching: int = 0  # free places not yet matchable: a match is being made (``offers``)
    uasc_only: bool = False  # places ring-fenced for unaccompanied asylum-seeking children
    breakdown_multiplier: float = 1.0  # set by support schemes
    deregistration_multiplier: float = 1.0
    hazard_left: float = -1.0  # cumulative leaving hazard to the next event (<0: none drawn)
    hazard_rate: float = 0.0  # per year, in force since hazard_since
    hazard_since: float = 0.0
    concern_reviews: int = 0  # reviews left before a standards-of-care concern (0: none drawn)
    leaving: str = ""  # the deregistration the carers wait to take until their children leave
    # Derived by refresh() after every change (the vacancy index calls it): matching reads
    # these in its inner loop.
    unavailable: int = 0
    free: int = 0

    @property
    def filled(self) -> int:
        return len(self.children) + self.staying_put

    def refresh(self) -> None:
        """Recount unavailable and free places after a change."""
        room = self.places - len(self.children) - self.staying_put
        if self.on_hold or self.leaving or self.kind == "short_breaks" or self.solo:
            self.unavailable = room
        else:
            self.unavailable = min(self.held_back + self.reserved + self.held, room)
        self.free = max(room - self.unavailable - self.matching, 0)
