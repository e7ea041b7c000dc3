"""The buffered random streams: every draw reads its buffer within the stream's own block."""

from __future__ import annotations

from sim.rng import make_streams


def test_choice_on_a_small_block_substream_refills_like_random():
    """``choice`` and ``random`` share a buffer, so past a substream's 16-draw block they agree."""
    by_choice = make_streams(3, 0)["carers"].substream(5, 9)
    by_random = make_streams(3, 0)["carers"].substream(5, 9)
    picks = [by_choice.choice([0.25, 0.75, 1.0]) for _ in range(100)]
    uniforms = [by_random.random() for _ in range(100)]
    expected = [0 if u < 0.25 else 1 if u < 0.75 else 2 for u in uniforms]
    assert picks == expected
