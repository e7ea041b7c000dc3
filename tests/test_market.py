"""Providers that run out (``market``) and distance from geography (``geography``).

Each mechanism is switched on alone in a quiet scenario (``conftest.small``) and compared with
the run without it under the same seed: the spot pool stops spot placements when it is full and
the children fall through the cascade; other councils' children are turned away as Erlang's
loss formula says; residential capacity closes its gap to demand with the stated time constant;
the 20-mile flag follows from the districts of home and placement.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from conftest import KENT, QUIET, YEAR, binomial_near, near, small, total
from test_statistics import erlang_b  # holds for any stay distribution (M/G/c/c)

from sim import cli
from sim.config import Scenario, ScenarioError, scenario_from_dict, with_overrides
from sim.model import geography
from sim.model.metrics import Results
from sim.model.world import World
from sim.rng import make_streams

# Children of 11-15 arriving into care with no in-house carer and no IFA framework place: the
# cascade goes IFA spot -> residential (ample) -> unregistered.
TEENS = [0.0, 0.0, 0.0, 1.0, 0.0]
NO_IN_HOUSE = {
    "years": 1.0,
    "children": {"arrivals_per_year": 120.0, "entry_age_weights": TEENS},
    "providers": {"ifa_framework_places": 0},
}


def run(sc: Scenario, seed: int = 1) -> tuple[World, Results]:
    """One replication, keeping the world for inspection."""
    world = World(sc, make_streams(seed, 0))
    return world, world.run()


def entries(flows: pd.DataFrame, kind: str) -> float:
    return total(flows, f"entries_{kind}")


# ------------------------------------------------------------------------------ spot market


def test_a_full_spot_pool_stops_spot_placements_and_children_fall_through():
    off = run(small(**NO_IN_HOUSE))[1]
    on = run(small(**NO_IN_HOUSE, market={"spot": {"places": 3}}))[1]
    arrived = entries(off.flows, "ifa_spot")
    assert arrived > 60 and entries(off.flows, "residential") == 0
    # The same children arrive (arrivals draw on their own stream); no one leaves, so the first
    # three take the pool's places and every later one goes on to residential care.
    pd.testing.assert_frame_equal(off.children, on.children)
    assert entries(on.flows, "ifa_spot") == 3
    assert entries(on.flows, "residential") == arrived - 3


def test_other_councils_children_hold_the_pool_and_this_councils_children_fall_through():
    busy = {"places": 30, "other_councils_initial": 30, "other_councils_mean_years": 30.0}
    world, res = run(small(**NO_IN_HOUSE, market={"spot": busy}))
    # Spot places go only to those freed by other councils' children leaving (at 1/30 a year).
    freed = 30 - world.providers.others["ifa_spot"]
    assert entries(res.flows, "ifa_spot") == freed <= 5
    assert entries(res.flows, "residential") > 60


def test_other_councils_are_turned_away_as_erlangs_loss_formula_says():
    """20 spot places, other councils' children arriving at 150 a year and staying 0.1 years on
    average: 15 erlangs offered, utilisation 0.72. The share turned away over 10 replications
    of 10 years matches Erlang B within 4 standard errors of the replication mean."""
    places, per_year, stay = 20, 150.0, 0.1
    offered = per_year * stay
    blocking = erlang_b(places, offered)
    assert offered * (1 - blocking) / places <= 0.8
    spot = {
        "places": places,
        "other_councils_initial": round(offered * (1 - blocking)),  # near the stationary mean
        "other_councils_per_year": per_year,
        "other_councils_mean_years": stay,
    }
    sc = small(years=10.0, market={"spot": spot})
    shares = []
    for r in range(10):
        flows = World(sc, make_streams(7, r)).run().flows
        lost = total(flows, "spot_other_councils_turned_away")
        shares.append(lost / (lost + total(flows, "spot_other_councils_placed")))
    s = np.array(shares)
    near(s.mean(), blocking, s.std(ddof=1) / math.sqrt(len(s)))


def spot_in_a_pool_that_fills_and_empties(outside_places: int) -> tuple[Results, list]:
    """Teenagers going to IFA spot carers (none leave) while the pool has no place for 120
    days, then 1,000 places, then none again from day 240; every placement is logged with
    whether it was bought outside the pool."""
    spot = {"places": 0, "outside_places": outside_places}
    sc = small(**NO_IN_HOUSE, market={"spot": spot}, geography={"districts": "kent"})
    world = World(sc, make_streams(1, 0))

    def pool(places: int) -> None:
        world.providers.capacity["ifa_spot"] = places

    world.schedule(120.0, pool, 1000)
    world.schedule(240.0, pool, 0)
    log: list[tuple[float, str, bool]] = []
    world.hooks.placement_started.append(
        lambda child, h: log.append((world.now, child.placement, child.outside))
    )
    return world.run(), log


def test_spot_placements_go_outside_the_county_while_the_pool_is_full_and_back_when_it_has_room():
    res, log = spot_in_a_pool_that_fills_and_empties(outside_places=1000)
    full = [out for t, kind, out in log if t < 120 or t >= 240]
    room = [out for t, kind, out in log if 120 <= t < 240]
    assert {kind for _, kind, _ in log} == {"ifa_spot"}
    assert len(full) > 50 and all(full)  # bought beyond the pool, outside the county
    assert len(room) > 20 and not any(room)  # the pool's own places
    # The geography puts exactly the places bought beyond the pool outside the county (this
    # scenario gives the pool's own placements no out-of-county share).
    assert total(res.flows, "spot_placed_outside") == len(full)
    assert total(res.flows, "placements_out_of_county") == len(full)
    assert entries(res.flows, "residential") == 0
    # Without places outside the county, the same children fall through to residential care.
    off, _ = spot_in_a_pool_that_fills_and_empties(outside_places=0)
    pd.testing.assert_frame_equal(off.children, res.children)
    assert entries(off.flows, "residential") == len(full)
    assert entries(off.flows, "ifa_spot") == len(room)
    assert total(off.flows, "placements_out_of_county") == 0
    assert total(off.flows, "spot_placed_outside") == 0


def test_places_outside_the_county_run_out_too_and_are_freed_when_children_leave():
    spot = {"places": 0, "outside_places": 5}
    world, res = run(small(**NO_IN_HOUSE, market={"spot": spot}))
    assert entries(res.flows, "ifa_spot") == 5 and entries(res.flows, "residential") > 60
    p = world.providers
    kids = [c for c in world.children.values() if c.placement == "ifa_spot"]
    assert p.outside["ifa_spot"] == 5 and p.outside_free("ifa_spot") == 0
    assert p.occupied["ifa_spot"] == 0 and all(c.outside for c in kids)
    p.release("ifa_spot", kids[0])
    assert p.outside_free("ifa_spot") == 1 and not kids[0].outside
    assert p.occupied["ifa_spot"] == 0
    # Spot placements that break down free their places for the next children.
    breaks = {"per_year": {"ifa_spot": 3.0}}
    world, res = run(small(**NO_IN_HOUSE, market={"spot": spot}, breakdown=breaks))
    outside = [c for c in world.children.values() if c.placement == "ifa_spot" and c.outside]
    assert total(res.flows, "spot_placed_outside") > 20
    assert world.providers.outside["ifa_spot"] == len(outside) <= 5
    assert not any(c.outside for c in world.children.values() if c.placement != "ifa_spot")


def test_places_outside_the_county_change_nothing_while_the_pool_has_room():
    geo = {"districts": "kent", "out_of_county_share": {"ifa_spot": 0.36}}
    base = small(**NO_IN_HOUSE, market={"spot": {"places": 1000}}, geography=geo)
    off = run(base)[1]
    on = run(with_overrides(base, {"market": {"spot": {"outside_places": 50}}}))[1]
    # The same draws: the geography's out-of-county share and distances as before.
    for name in ("children", "episodes", "flows", "snapshots"):
        pd.testing.assert_frame_equal(getattr(off, name), getattr(on, name))
    assert total(on.flows, "spot_placed_outside") == 0
    assert total(on.flows, "placements_out_of_county") > 10


@pytest.mark.parametrize("value", [-1, 1.5, True, "many", 100_001])
def test_a_bad_number_of_places_outside_the_county_is_a_clear_error(tmp_path, capsys, value):
    bad = tmp_path / "bad.toml"
    text = f'"{value}"' if isinstance(value, str) else str(value).lower()
    bad.write_text(f'extends = "{KENT}"\n[market.spot]\noutside_places = {text}\n')
    assert cli.main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "market.spot.outside_places" in err
    assert "Traceback" not in err


def test_more_other_councils_children_than_places_is_an_error():
    with pytest.raises(ScenarioError, match="exceeds places"):
        small(market={"spot": {"places": 5, "other_councils_initial": 6}})


# -------------------------------------------------------------------- capacity with a lag


def test_residential_capacity_closes_its_gap_to_demand_with_the_time_constant():
    """10 residential places full and 20 children in unregistered placements: demand is 30,
    so capacity moves toward 30 / 0.9 by 1 - exp(-30 days / 1 year) of the gap each review."""
    tau_years, review = 1.0, 30.0
    stock = {"residential": 10, "unregistered": 20}
    base = {
        "years": 2.0,
        "initial": {"placements": stock, "age_weights": TEENS},
        "providers": {"residential_places": 10},
        "market": {
            "capacity_response": {
                "response_years": tau_years,
                "review_days": review,
                "kinds": ["residential"],
            }
        },
    }
    world, res = run(small(**base))
    reviews = math.floor(world.horizon / review)
    target = 30 / 0.9
    expected = target - (target - 10) * math.exp(-reviews * review / (tau_years * YEAR))
    assert world.providers.capacity["residential"] == pytest.approx(expected, rel=1e-12)
    assert total(res.flows, "places_opened_residential") == math.floor(expected) - 10


def test_capacity_that_follows_demand_takes_children_who_would_go_unregistered():
    arrivals = {"arrivals_per_year": 60.0, "entry_age_weights": TEENS}
    common = {
        "years": 2.0,
        "children": {
            **arrivals,
            "complex_need_prob": [1.0] * 5,
            "residential_need_prob": 1.0,
            "residential_need_from_age": 0,
        },
        "initial": {"placements": {"residential": 10}, "age_weights": TEENS},
        "providers": {"residential_places": 10},
    }
    off = run(small(**common))[1]
    response = {"capacity_response": {"response_years": 0.5, "kinds": ["residential"]}}
    on = run(small(**common, market=response))[1]
    assert entries(off.flows, "residential") == 0
    assert entries(off.flows, "unregistered") > 80
    # The same children arrive; capacity opened by the response takes most of them.
    pd.testing.assert_frame_equal(off.children, on.children)
    assert entries(on.flows, "residential") > entries(on.flows, "unregistered")
    assert entries(on.flows, "residential") + entries(on.flows, "unregistered") == entries(
        off.flows, "unregistered"
    )


# ------------------------------------------------------------------------------- geography


def test_the_kent_table_has_twelve_districts_three_per_area_and_sensible_distances():
    kent = geography.read_districts("kent")
    assert len(kent) == 12
    by_area = pd.Series([d.area for d in kent]).value_counts()
    assert (by_area == 3).all() and set(by_area.index) == {"North", "South", "East", "West"}
    d = {x.name: x for x in kent}
    # Great circle against a flat-earth approximation (good to well under 1% at this scale).
    a, b = d["Dartford"], d["Thanet"]
    km_lat = 111.2
    km_lon = km_lat * math.cos(math.radians((a.lat + b.lat) / 2))
    flat = math.hypot((a.lat - b.lat) * km_lat, (a.lon - b.lon) * km_lon) / 1.609344
    assert geography.miles_between(a, b) == pytest.approx(flat, rel=0.01)
    assert 40 < flat < 55
    # A district's own placements are within 20 miles; Kent's ends are not.
    assert all(geography.miles_between(x, x) < 20 for x in kent)
    assert geography.miles_between(d["Sevenoaks"], d["Dover"]) > 20


def placed_in_house(**extra):
    """200 one-place households, children of 1-10 arriving at 150 a year for a year."""
    young = [0.0, 1.0, 1.0, 0.0, 0.0]
    return small(
        initial={"households": 200},
        children={"arrivals_per_year": 150.0, "entry_age_weights": young},
        **extra,
    )


def test_the_20_mile_flag_follows_from_the_districts_of_home_and_carer():
    off = run(placed_in_house())[1]
    on_world, on = run(placed_in_house(geography={"districts": "kent"}))
    # Geography draws on its own stream: the same children go to the same carers.
    pd.testing.assert_frame_equal(off.children, on.children)
    pd.testing.assert_frame_equal(
        off.episodes.drop(columns="within_20_miles"), on.episodes.drop(columns="within_20_miles")
    )
    g = on_world.geography
    assert g is not None
    group = on.children.set_index("child")["sibling_group"]
    ep = on.episodes
    assert len(ep) > 100 and (ep["household"] >= 0).all()
    pairs = [
        (g.home[group[c]], g.carer[h]) for c, h in zip(ep["child"], ep["household"], strict=True)
    ]
    expected = [geography.miles_between(home, carer) <= 20 for home, carer in pairs]
    assert ep["within_20_miles"].tolist() == expected
    # Each child's district lies in the child's area, each carer's in the carer's area.
    area = on.children.set_index("child")["area"]
    assert all(g.home[group[c]].area == area[c] for c in ep["child"])
    assert all(on_world.households[h].area == d.area for h, d in g.carer.items())
    # Not a coin toss: a carer in the home district is always within 20 miles.
    same = [home is carer for home, carer in pairs]
    assert ep.loc[same, "within_20_miles"].all() and sum(same) > 10


def test_the_two_20_mile_indicators_differ_exactly_by_the_uasc_whose_distance_is_not_known():
    uasc = {"arrivals_per_year": 100.0, "age_weights": {14: 1.0}}
    sc = placed_in_house(uasc=uasc, geography={"districts": "kent"})
    res = run(sc)[1]
    kids = res.children.set_index("child")["uasc"]
    ep = res.episodes
    is_uasc = ep["child"].map(kids)
    assert is_uasc.sum() > 50
    assert not ep.loc[is_uasc, "within_20_miles"].any()
    assert total(res.flows, "placements_distance_not_known") == is_uasc.sum()
    snaps = res.snapshots
    placed = snaps["children_in_care"] - snaps["waiting"]
    # Month by month: the same children within 20 miles over two denominators.
    np.testing.assert_allclose(
        snaps["kpi_within_20_miles_all"] * placed,
        snaps["kpi_within_20_miles"] * snaps["placed_distance_known"],
    )
    # At the end: the children placed without a known distance are exactly the UASC placed.
    last = snaps.iloc[-1]
    now = ep[ep["reason_end"] == "open"]
    now_uasc = now["child"].map(kids)
    assert last["placed_distance_known"] == len(now) - now_uasc.sum() and now_uasc.sum() > 20
    assert last["kpi_within_20_miles_all"] == pytest.approx(now["within_20_miles"].mean())
    assert last["kpi_within_20_miles"] == pytest.approx(
        now.loc[~now_uasc, "within_20_miles"].mean()
    )
    assert last["kpi_within_20_miles"] > last["kpi_within_20_miles_all"]
    # Without 'not known', every distance is known and the two indicators are one.
    known = run(with_overrides(sc, {"geography": {"uasc_not_known": False}}))[1].snapshots
    assert (known["placed_distance_known"] == known["children_in_care"] - known["waiting"]).all()
    np.testing.assert_allclose(known["kpi_within_20_miles"], known["kpi_within_20_miles_all"])


def test_distances_between_points_and_within_a_district_are_exact():
    def at(lat: float, lon: float, km2: float = 1.0) -> geography.District:
        return geography.District("x", "North", km2, 1.0, lat, lon)

    mile_per_degree = math.pi * geography.EARTH_RADIUS_KM / 180 / 1.609344
    # Along the equator and along a meridian, one degree is an arc of R x pi / 180.
    assert geography.miles_between(at(0, 0), at(0, 1)) == pytest.approx(mile_per_degree)
    assert geography.miles_between(at(51, 1), at(52, 1)) == pytest.approx(mile_per_degree)
    # Along a parallel at 60 degrees, the chord of the small circle (half the radius) seen
    # from the centre: 2 asin(cos 60 sin(1/2 degree)).
    arc = 2 * math.asin(0.5 * math.sin(math.radians(0.5))) * geography.EARTH_RADIUS_KM
    assert geography.miles_between(at(60, 0), at(60, 1)) == pytest.approx(arc / 1.609344)
    a, b = at(51.1, 0.3), at(51.4, 1.2)
    assert geography.miles_between(a, b) == pytest.approx(geography.miles_between(b, a))
    # Within a district of 400 km2: the mean distance of two points of a 20 km square.
    d = at(51, 1, 400.0)
    assert geography.miles_between(d, d) == pytest.approx(0.5214 * 20 / 1.609344)


def test_external_placements_in_the_county_are_searched_for_near_home():
    geo = {"districts": "kent", "search_miles": 10.0}
    world, res = run(small(**NO_IN_HOUSE, geography=geo))
    g = world.geography
    assert g is not None
    ep = res.episodes
    assert len(ep) > 60 and (ep["placement"] == "ifa_spot").all()
    group = res.children.set_index("child")["sibling_group"]
    homes = [g.home[group[c]] for c in ep["child"]]

    def p_within(home: geography.District, scale: float | None) -> float:
        w = [
            d.population * (math.exp(-geography.miles_between(home, d) / scale) if scale else 1)
            for d in g.districts
        ]
        near = [x for x, d in zip(w, g.districts, strict=True) if g.miles(home, d) <= 20]
        return sum(near) / sum(w)

    p = np.array([p_within(h, 10.0) for h in homes])
    se = math.sqrt(float((p * (1 - p)).sum()))
    near(ep["within_20_miles"].sum(), p.sum(), se)
    # Drawn by population alone (the mechanism removed), far fewer would be within 20 miles.
    p_pop = np.array([p_within(h, None) for h in homes])
    assert p.sum() - p_pop.sum() > 6 * se


def test_an_in_house_carer_elsewhere_is_looked_for_in_the_nearest_area_first():
    # Children of the North; carers only in the South and the West, plenty of each.
    sc = small(
        initial={"households": 200},
        children={
            "arrivals_per_year": 150.0,
            "entry_age_weights": [0.0, 1.0, 1.0, 0.0, 0.0],
            "area_weights": {"North": 1.0, "South": 0.0, "East": 0.0, "West": 0.0},
        },
        recruitment={"household": {"area_weights": {"North": 0, "South": 1, "East": 0, "West": 1}}},
        geography={"districts": "kent", "nearest_area_first": True},
    )
    world, res = run(sc)
    g = world.geography
    assert g is not None
    ep = res.episodes
    assert len(ep) > 100 and (ep["household"] >= 0).all()
    group = res.children.set_index("child")["sibling_group"]
    carer_area = ep["household"].map({h.id: h.area for h in world.households.values()})
    nearest = [
        next(a for a in g.areas_nearest(g.home[group[c]]) if a in ("South", "West"))
        for c in ep["child"]
    ]
    assert set(nearest) == {"West"}  # every North district is nearer the West than the South
    # The South only once every West carer is taken (no one leaves or moves in this run).
    west, south = ep[carer_area == "West"], ep[carer_area == "South"]
    n_west = sum(h.area == "West" for h in world.households.values())
    assert len(west) == n_west and len(west) + len(south) == len(ep)
    assert west["start_day"].max() < south["start_day"].min()
    # Without it, the first carer found in any other area: the South too, and further away.
    world_off, off = run(with_overrides(sc, {"geography": {"nearest_area_first": False}}))
    off_area = off.episodes["household"].map({h.id: h.area for h in world_off.households.values()})
    assert (off_area == "South").sum() > 20
    assert off.episodes["within_20_miles"].mean() < ep["within_20_miles"].mean() - 0.1


def test_out_of_county_placements_are_within_20_miles_as_the_lognormal_says():
    median, sigma = 30.0, 0.6
    geo = {
        "districts": "kent",
        "out_of_county_share": {"ifa_spot": 1.0},
        "out_of_county_median_miles": median,
        "out_of_county_sigma": sigma,
    }
    res = run(small(**NO_IN_HOUSE, geography=geo))[1]
    ep = res.episodes
    n = len(ep)
    assert n > 60 and (ep["placement"] == "ifa_spot").all()
    assert total(res.flows, "placements_out_of_county") == n
    p = 0.5 * math.erfc(-math.log(20 / median) / (sigma * math.sqrt(2)))  # P(miles <= 20)
    binomial_near(ep["within_20_miles"].sum(), n, p)


@pytest.mark.parametrize(
    ("geo", "message"),
    [
        ({"districts": "kentish"}, "unknown table 'kentish'; available: \\['kent'\\]"),
        ({"out_of_county_share": {"ifa_spott": 0.5}}, "did you mean 'ifa_spot'"),
    ],
)
def test_a_bad_geography_is_a_clear_error(geo, message):
    with pytest.raises(ScenarioError, match=message):
        small(geography=geo)


def test_districts_must_cover_the_scenarios_areas():
    data = copy.deepcopy(QUIET)
    weights = {"A": 1.0, "B": 1.0}
    data["areas"] = list(weights)
    data["children"]["area_weights"] = weights
    data["uasc"]["area_weights"] = weights
    data["recruitment"]["household"]["area_weights"] = weights
    scenario_from_dict(data)  # valid without districts
    data["geography"] = {"districts": "kent"}
    with pytest.raises(ScenarioError, match="the scenario's areas are \\['A', 'B'\\]"):
        scenario_from_dict(data, "two_areas.toml")
