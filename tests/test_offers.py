"""Vacancies that are not offered at once (``matching.offers``, ``sim/model/offers.py``).

A quiet scenario with a queue that never runs dry: every in-house child leaves at a constant
hazard and is replaced by a child from an agency (step-down with no wait), so a place is
taken the moment it can be offered. Without the mechanism no place stays vacant; with it,
the vacant and not-available places follow Little's law (places = entry rate x mean time),
each freed place is held with its probability, and no place is taken before its delay.
"""

from __future__ import annotations

import math

import pytest
from conftest import KENT, binomial_near, near, run_world, small, total

from sim.config import PLACEMENT_TYPES, ScenarioError, load_scenario
from sim.model.world import World

HOUSEHOLDS = 600
LEAVE = 2.0  # returns home a year, per child: about 1,200 places free a year


def _queue(years: float = 2.0, **offers) -> World:
    """600 one-place households, all full, and 600 children with agencies waiting to step
    down; children return home at LEAVE a year and new arrivals keep the agency list long."""
    placements = dict.fromkeys(PLACEMENT_TYPES, 0)
    placements["in_house"] = HOUSEHOLDS
    placements["ifa_framework"] = HOUSEHOLDS
    return run_world(
        small(
            years=years,
            children={
                "arrivals_per_year": 2 * LEAVE * HOUSEHOLDS,
                "exits": {"return_home_per_year": [LEAVE] * 5},
            },
            matching={
                "step_down_prob": 1.0,
                "step_down_min_days": 0.0,
                "step_down_max_age": 18.0,
                # Arrivals go to agencies, so only step-downs fill places, as soon as offered.
                "cascade": {
                    "in_house_home": {"accept_prob": 0.0},
                    "in_house_other": {"accept_prob": 0.0},
                },
                "offers": offers,
            },
            initial={
                "households": HOUSEHOLDS,
                "placements": placements,
                "age_weights": [1, 1, 1, 0, 0],
            },
        ),
        seed=3,
    )


def _after_warm_up(world: World, column: str, days: float = 91.0):
    """Monthly snapshots of ``column`` once the first quarter has passed."""
    snaps = world.recorder.results().snapshots
    return snaps.loc[snaps["day"] >= days, column]


def test_without_offer_delays_a_free_place_is_taken_at_once():
    world = _queue()
    assert _after_warm_up(world, "places_vacant").max() == 0
    flows = world.recorder.results().flows
    assert total(flows, "step_downs") > LEAVE * HOUSEHOLDS  # the queue did fill places
    assert total(flows, "vacancies_matching") == 0


@pytest.mark.slow
@pytest.mark.parametrize("decline", [0.0, 0.3])
def test_vacant_and_held_places_follow_littles_law(decline: float):
    """Mean places in matching = places entering matching a day x the mean delay (declines
    restart it), and mean places held = places held a day x the mean hold. In a stationary
    M/G/infinity queue the count at a snapshot is Poisson, and snapshots a month apart are
    close to independent when the delays are shorter than a month."""
    offers = {
        "delay_median_days": 8.0,
        "delay_sigma": 0.5,
        "held_prob": 0.2,
        "held_mean_days": 10.0,
        "decline_prob": decline,
    }
    world = _queue(**offers)
    p = world.scenario.matching.offers
    flows = world.recorder.results().flows
    days = world.horizon
    vacant = _after_warm_up(world, "places_vacant")
    held = _after_warm_up(world, "places_unavailable")
    expected_vacant = total(flows, "vacancies_matching") / days * p.mean_delay_days
    expected_held = total(flows, "vacancies_held") / days * p.held_mean_days
    near(vacant.mean(), expected_vacant, math.sqrt(expected_vacant / len(vacant)))
    near(held.mean(), expected_held, math.sqrt(expected_held / len(held)))
    assert expected_vacant > 20 and expected_held > 5  # the check is not vacuous
    if decline:
        matched = total(flows, "vacancies_matching")
        declined = total(flows, "vacancy_offers_declined")
        # Each proposal is declined with probability p: declines / proposals ~ p.
        binomial_near(declined, int(matched + declined), decline)
    else:
        assert total(flows, "vacancy_offers_declined") == 0


def test_a_share_of_free_places_is_held():
    world = _queue(years=1.0, delay_median_days=5.0, held_prob=0.35)
    flows = world.recorder.results().flows
    held, matching = total(flows, "vacancies_held"), total(flows, "vacancies_matching")
    binomial_near(held, int(held + matching), 0.35)


def test_no_place_is_taken_before_its_matching_delay():
    """With a fixed delay (sigma 0) and no holds or declines, every in-house placement in a
    household that had one before starts at least the delay after the previous one ended,
    and with the queue always waiting, exactly then."""
    delay = 12.0
    world = _queue(years=1.0, delay_median_days=delay, delay_sigma=0.0)
    episodes = world.recorder.results().episodes
    in_house = episodes[episodes["placement"] == "in_house"].sort_values("start_day")
    gaps = []
    for _, eps in in_house.groupby("household"):
        ends = eps["end_day"].to_numpy()[:-1]
        starts = eps["start_day"].to_numpy()[1:]
        gaps.extend(starts - ends)
    assert len(gaps) > LEAVE * HOUSEHOLDS / 2
    assert min(gaps) == pytest.approx(delay, abs=1e-6)
    assert max(gaps) == pytest.approx(delay, abs=1e-6)


def test_a_new_households_places_go_through_matching():
    """Each place of a newly approved household enters matching (or a hold) on approval."""
    world = run_world(
        small(
            years=1.0,
            recruitment={
                "enquiries_per_year": 400.0,
                "application_prob": 0.34,
                "household": {"places_weights": [0, 0, 1.0]},
            },
            matching={"offers": {"delay_median_days": 20.0}},
        )
    )
    flows = world.recorder.results().flows
    approvals = total(flows, "approvals")
    assert approvals > 10
    assert total(flows, "vacancies_matching") == 3 * approvals


def test_kent_sets_the_offer_delays():
    kent = load_scenario(KENT).matching.offers
    assert kent.active and kent.mean_delay_days > 0


@pytest.mark.parametrize(
    ("offers", "field"),
    [
        ({"decline_prob": 1.0}, "matching.offers.decline_prob"),
        ({"delay_median_days": -1.0}, "matching.offers.delay_median_days"),
        ({"held_prob": 1.5}, "matching.offers.held_prob"),
        ({"held_mean_days": 0.0}, "matching.offers.held_mean_days"),
        ({"delay_sigma": "wide"}, "matching.offers.delay_sigma"),
    ],
)
def test_bad_offer_parameters_are_rejected_by_name(offers, field):
    with pytest.raises((ScenarioError, ValueError), match=field.replace(".", r"\.")):
        small(matching={"offers": offers})


def test_offer_delays_are_off_by_default():
    assert not small().matching.offers.active


def _invariants(world: World):
    """Every month: no household holds or matches more places than it has free."""
    world.checked = 0
    while True:
        yield world.env.timeout(30)
        for h in world.households.values():
            if h.active:
                room = h.places - h.filled
                assert 0 <= h.matching and 0 <= h.held
                assert h.matching + h.held <= max(room, 0), (h.id, h.matching, h.held, room)
                assert 0 <= h.free <= room - h.matching or h.free == 0
                world.checked += 1


def test_kent_keeps_the_place_counts_consistent():
    """A Kent year with every mechanism on (breakdowns, deregistrations, Staying Put, holds)."""
    world = run_world(load_scenario(KENT, {"years": 1}), seed=5, monitor=_invariants)
    flows = world.recorder.results().flows
    assert world.checked > 5000
    assert total(flows, "vacancies_matching") > 100 and total(flows, "vacancies_held") > 10
