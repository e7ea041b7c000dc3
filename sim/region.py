"""A region: several councils simulated together, competing for shared placement markets.

One SimPy environment runs one :class:`~sim.model.world.World` per member council, so every
event of every council happens on one clock. Each world keeps its own children, carers,
framework contracts, policies and recorder; the providers of the ``[shared] markets`` are
joined into one pool (:meth:`sim.model.providers.Providers.share`), so a child of one council
placed in a spot or residential place takes it from the others.

Randomness: member ``i`` draws from ``SeedSequence([seed, replication, stream_id, i])``, and
the first member from the single-council streams ``SeedSequence([seed, replication,
stream_id])``. A region of one council is therefore that council's own run, bit for bit, and
a region that adds members to a first one shares its random numbers (paired comparisons).
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.config import Region, Scenario, with_overrides
from sim.model.metrics import Results
from sim.model.world import World, run_until
from sim.posterior import for_replication
from sim.rng import STREAM_IDS, Stream, make_streams


def member_streams(seed: int, replication: int, member: int) -> dict[str, Stream]:
    """The random streams of the region's member number ``member``."""
    if member == 0:
        return make_streams(seed, replication)
    return {
        name: Stream(np.random.SeedSequence([seed, replication, sid, member]))
        for name, sid in STREAM_IDS.items()
    }


def member_scenario(region: Region, scenario: Scenario) -> Scenario:
    """A member as the region runs it: only ``outside_share`` of its other-councils demand on
    the spot pool comes from outside the region (the rest are the other members)."""
    share = region.shared.outside_share
    spot = scenario.market.spot
    if share == 1.0 or len(region.members) == 1:
        return scenario
    return with_overrides(
        scenario,
        {
            "market": {
                "spot": {
                    "other_councils_initial": round(spot.other_councils_initial * share),
                    "other_councils_per_year": spot.other_councils_per_year * share,
                }
            }
        },
    )


def simulate_region(region: Region, seed: int = 0, replication: int = 0) -> dict[str, Results]:
    """Run one replication of ``region``: each member's tables, by council name."""
    env = simpy.Environment()
    # A member with a posterior runs this replication with its own draw, as it would alone.
    drawn = [for_replication(sc, replication) for sc in region.members]
    worlds = [
        World(member_scenario(region, sc), member_streams(seed, replication, i), env)
        for i, (sc, _) in enumerate(drawn)
    ]
    pool = tuple(w.providers for w in worlds)
    kinds = frozenset(region.shared.markets)
    for w in worlds:
        w.providers.share(pool, kinds)
    for w in worlds:
        w.start()
    horizon = worlds[0].horizon
    run_until(env, horizon + 1e-9)
    out = {}
    for w, (_, draw) in zip(worlds, drawn, strict=True):
        out[w.scenario.name] = w.recorder.results()
        if draw is not None:
            out[w.scenario.name].meta["posterior_draw"] = draw
    return out
