"""Mechanism hooks: the moments at which one mechanism's change concerns others.

The matching core (``placements``) and the carer and children mechanisms call these moments;
mechanisms that react to them subclass :class:`Observer`, override the methods they need and
are subscribed once per world. Dispatch is a loop over a list of bound methods, one list per
moment: only the methods an observer overrides are listed, so a moment no one watches costs
an empty loop.

Observers run in the order they were subscribed, at the moment itself, before the caller
carries on: an observer that draws random numbers draws them at a fixed point of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.model.entities import Child, Household

try:  # read by mypyc when it compiles the model; a pure-Python install need not have it
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - no mypy here: a compiled build read it when built

    def mypyc_attr(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:  # type: ignore[misc]
        return lambda cls: cls


MOMENTS = (
    "placement_started",
    "placement_ended",
    "household_emptied",
    "child_left_care",
    "carer_approved",
    "carer_deregistered",
)


# A mechanism written outside the package (a notebook, a test, a council's own module) subclasses
# Observer in interpreted Python, which a compiled class refuses unless it allows it.
@mypyc_attr(allow_interpreted_subclasses=True)
class Observer:
    """A mechanism that reacts to the model's moments; override the methods you need."""

    def placement_started(self, child: Child, h: Household | None) -> None:
        """``child`` has just started a placement (``child.placement``; ``h`` if in a household).

        Called after the placement's own timers (breakdown, planned move, step-down) are set.
        """

    def placement_ended(self, child: Child, h: Household | None, reason: str) -> None:
        """``child``'s placement ends for ``reason`` (``"breakdown"``, ``"planned"``,
        ``"step_down"``, ``"carer_deregistered"``, an exit reason...).

        ``child.placement`` still names the placement that ends; ``h`` no longer lists the
        child, and its free place has not yet been offered to anyone: an observer that makes
        ``h`` inactive keeps it from being offered.
        """

    def household_emptied(self, h: Household) -> None:
        """``h`` has just gone from one or more placed children to none (Staying Put aside)."""

    def child_left_care(self, child: Child, reason: str) -> None:
        """``child`` has ceased to be looked after (``child.exit_reason`` is ``reason``)."""

    def carer_approved(self, h: Household) -> None:
        """A fostering household has been approved by panel, just before its places are offered.

        Connected persons, approved for named children on their entry, are not announced.
        """

    def carer_deregistered(self, h: Household, reason: str) -> None:
        """``h``'s approval has ended for ``reason``, and its children have moved on."""


class Hooks:
    """One world's subscribers, as a list of bound methods per moment."""

    __slots__ = MOMENTS

    def __init__(self) -> None:
        self.placement_started: list[Callable[[Child, Household | None], None]] = []
        self.placement_ended: list[Callable[[Child, Household | None, str], None]] = []
        self.household_emptied: list[Callable[[Household], None]] = []
        self.child_left_care: list[Callable[[Child, str], None]] = []
        self.carer_approved: list[Callable[[Household], None]] = []
        self.carer_deregistered: list[Callable[[Household, str], None]] = []

    def subscribe(self, observer: Observer) -> None:
        """Call ``observer``'s overridden methods at their moments, after earlier observers."""
        for moment in MOMENTS:
            if getattr(type(observer), moment) is not getattr(Observer, moment):
                getattr(self, moment).append(getattr(observer, moment))
