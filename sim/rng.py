"""Named random streams built from integers, so that replications share common random numbers.

Each stream is ``SeedSequence([master_seed, replication, stream_id])`` with a fixed id per
name: adding a stream never shifts the others, and replication *i* of two scenarios draws
the same numbers for every mechanism the scenarios do not change.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from typing import Final

import numpy as np

# Fixed ids: append new names, never reorder or reuse. Retired: 10 ("attrition"), 16 ("usage")
# and 20 ("review"), whose draws each household now takes from its own stream ("households").
STREAM_IDS: dict[str, int] = {
    "arrivals": 1,
    "uasc": 2,
    "children": 3,
    "exits": 4,
    "matching": 5,
    "breakdowns": 6,
    "enquiries": 7,
    "funnel": 8,
    "carers": 9,
    "distance": 11,
    "initial": 12,
    "interventions": 13,
    "geography": 14,
    "market": 15,
    "assessing": 17,
    "kinship": 18,
    "offers": 19,
    "follow_up": 21,
    "households": 22,  # the root of each household's own stream (Stream.substream)
    "enquiries_added": 23,  # enquiries a policy adds to the scenario's, and their funnel draws
    "moving_on": 24,
}

_BLOCK: Final = 2048


class Stream:
    """A random stream that draws in blocks: scalar draws from numpy are slow one by one."""

    __slots__ = ("_exp", "_i_exp", "_i_norm", "_i_uni", "_n", "_norm", "_rng", "_seed", "_uni")

    def __init__(self, seed_sequence: np.random.SeedSequence, block: int = _BLOCK) -> None:
        self._seed = seed_sequence
        self._n = block
        self._rng = np.random.Generator(np.random.PCG64(seed_sequence))
        self._uni = self._rng.random(block).tolist()
        self._exp = self._rng.standard_exponential(block).tolist()
        self._norm = self._rng.standard_normal(block).tolist()
        self._i_uni = self._i_exp = self._i_norm = 0

    def substream(self, *key: int) -> Stream:
        """An independent stream for one entity, named by ``key`` under this stream's seed.

        Its draws depend on no other entity's, so the entity draws the same numbers in two
        scenarios however differently the others' events run. The seed's spawn key holds
        ``key``, which no stream of :func:`make_streams` or a region member has. Small blocks:
        an entity draws a few numbers, not thousands.
        """
        s = self._seed
        return Stream(np.random.SeedSequence(s.entropy, spawn_key=(*s.spawn_key, *key)), 16)

    # The draws below repeat the buffer step rather than call each other: they run hundreds of
    # thousands of times a replication, and a Python call costs more than the draw.
    def random(self) -> float:
        """A uniform draw on [0, 1)."""
        i = self._i_uni
        if i == self._n:
            self._uni = self._rng.random(i).tolist()
            i = 0
        self._i_uni = i + 1
        return self._uni[i]

    def exponential(self, mean: float) -> float:
        """An exponential draw with the given mean (infinite when the mean is)."""
        i = self._i_exp
        if i == self._n:
            self._exp = self._rng.standard_exponential(i).tolist()
            i = 0
        self._i_exp = i + 1
        return self._exp[i] * mean

    def hazard_time(self, rate: float) -> float:
        """Time to an event with constant hazard ``rate`` (infinite when the rate is 0)."""
        i = self._i_exp
        if i == self._n:
            self._exp = self._rng.standard_exponential(i).tolist()
            i = 0
        self._i_exp = i + 1
        return self._exp[i] / rate if rate > 0 else math.inf

    def normal(self) -> float:
        """A standard normal draw."""
        if self._i_norm == self._n:
            self._norm = self._rng.standard_normal(self._n).tolist()
            self._i_norm = 0
        self._i_norm += 1
        return self._norm[self._i_norm - 1]

    def lognormal(self, median: float, sigma: float) -> float:
        """A lognormal draw given its median and log-scale sigma."""
        return median * math.exp(sigma * self.normal())

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p``."""
        i = self._i_uni
        if i == self._n:
            self._uni = self._rng.random(i).tolist()
            i = 0
        self._i_uni = i + 1
        return self._uni[i] < p

    def poisson(self, lam: float) -> int:
        """A Poisson draw (not buffered: used rarely)."""
        return int(self._rng.poisson(lam))

    def choice(self, cumulative: Sequence[float]) -> int:
        """Index drawn with probabilities given by a normalised cumulative sequence."""
        i = self._i_uni
        if i == self._n:
            self._uni = self._rng.random(i).tolist()
            i = 0
        self._i_uni = i + 1
        return min(bisect.bisect_right(cumulative, self._uni[i]), len(cumulative) - 1)


def choose_rates(rng: Stream, rates: Sequence[float], total: float) -> int:
    """Index of a competing risk drawn in proportion to ``rates`` (summing to ``total``)."""
    u = rng.random() * total
    acc = 0.0
    for i, r in enumerate(rates):
        acc += r
        if u < acc:
            return i
    return len(rates) - 1


def cumulative(weights: Sequence[float]) -> list[float]:
    """Normalised cumulative weights for :meth:`Stream.choice`."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("weights must not all be zero")
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def make_streams(master_seed: int, replication: int) -> dict[str, Stream]:
    """One independent :class:`Stream` per mechanism for one replication."""
    return {
        name: Stream(np.random.SeedSequence([master_seed, replication, sid]))
        for name, sid in STREAM_IDS.items()
    }
