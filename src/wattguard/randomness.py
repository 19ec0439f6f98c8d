"""Randomness. Like time, it is an argument: a core never draws a random number itself.

A :data:`Random` is a function ``size -> bytes``; production code passes ``os.urandom``.
:func:`seeded` is the one reproducible source of random bytes (tests, the attack harness, the
demo's keys): SM3 in counter mode over a seed, so the same seed gives the same bytes on every
run and every machine. :func:`generator` is the one reproducible :class:`random.Random`, for
choices that are not secrets (a channel's losses, a fuzzer's mutations, an order of blocks);
never use it for keys or nonces.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

from wattguard.crypto import sm3

__all__ = ["Random", "generator", "seeded"]

#: A source of random bytes: ``os.urandom``, or :func:`seeded` where a run must repeat.
Random = Callable[[int], bytes]


def seeded(seed: bytes) -> Random:
    """A reproducible source of random bytes: block ``i`` (from 1) is
    ``SM3(seed || i as 8 big-endian bytes)``, and draws take the blocks in turn."""
    counter = 0

    def draw(size: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < size:
            counter += 1
            out += sm3.hash(seed + counter.to_bytes(8, "big"))
        return out[:size]

    return draw


def generator(seed: int) -> _random.Random:
    """A reproducible pseudo-random generator (Python's Mersenne Twister) for choices that
    are not secrets; the same seed makes the same choices."""
    return _random.Random(seed)
