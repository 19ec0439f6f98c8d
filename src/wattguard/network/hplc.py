"""The HPLC (high-speed power-line carrier) channel between a collection terminal and its
meters, as a seeded simulation.

Theory of operation. A terminal's power-line network is a tree: the terminal's central
coordinator (CCO) and the meters' stations (STA), each meter reached over ``hops`` relays
(HPLC routes through other meters when the line is long). The medium is shared: one frame is
on the line at a time, so transmissions queue behind each other. A frame sent at ``now`` to or
from a meter arrives after queueing, then for each hop the hop latency plus its transmission
time at the link's bandwidth; each hop loses it with the link's loss probability, drawn from a
generator seeded at construction, so a run is reproducible.

The channel is a sans-IO core with the contract's timer and event names
(:mod:`wattguard.sansio`): :meth:`HplcChannel.get_timer` says when the next frame arrives,
:meth:`HplcChannel.handle_timer` moves the channel's time to ``now``, and
:meth:`HplcChannel.next_event` then hands out each frame that has arrived by then as a
:class:`Delivery`, in arrival order. A medium has many endpoints rather than one peer, so it
has no ``receive_data`` / ``data_to_send``: its input is the named port
:meth:`HplcChannel.send`, ``(direction, address, data, now)``. The ``manipulate`` hook sees
every frame on the line (the attack harness eavesdrops, alters, drops or replays here), as the
in-memory links inside a meter do.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.errors import ConfigError
from wattguard.randomness import generator

__all__ = ["Delivery", "Direction", "HplcChannel", "LinkProfile"]


class Direction(enum.Enum):
    """Which way a frame travels on the line."""

    DOWN = "terminal to meter"
    UP = "meter to terminal"


@dataclass(frozen=True, slots=True)
class LinkProfile:
    """One meter's path: per-hop latency (s), bandwidth (bit/s), per-hop loss, hop count.
    The defaults are typical of HPLC application throughput (IEEE 1901.1 class PHY with
    protocol overheads: tens to a few hundred kbit/s)."""

    latency: float = 0.02
    bandwidth: float = 100_000.0
    loss: float = 0.0
    hops: int = 1

    def __post_init__(self) -> None:
        if self.latency < 0 or self.bandwidth <= 0 or self.hops < 1:
            raise ConfigError("an HPLC link has latency >= 0, bandwidth > 0 and at least 1 hop")
        if not 0.0 <= self.loss < 1.0:
            raise ConfigError("an HPLC link's loss probability is in [0, 1)")


@dataclass(frozen=True, slots=True, order=True)
class Delivery:
    """A frame that arrived at ``at``: to the meter at ``address`` (DOWN) or from it (UP).
    ``order`` keeps frames that arrive at the same moment in the order they were sent."""

    at: float
    order: int
    direction: Direction = field(compare=False)
    address: bytes = field(compare=False)
    data: bytes = field(compare=False)


Manipulator = Callable[[Direction, bytes, bytes], list[bytes]]


def _deliver(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
    return [data]


class HplcChannel:
    """One terminal's power-line network (see the module docstring): :meth:`send` in,
    :meth:`get_timer` / :meth:`handle_timer` / :meth:`next_event` out."""

    def __init__(
        self, seed: int = 0, default: LinkProfile | None = None, manipulate: Manipulator = _deliver
    ) -> None:
        self.default = default or LinkProfile()
        self.manipulate = manipulate
        self._random = generator(seed)
        self._links: dict[bytes, LinkProfile] = {}
        self._queue: list[Delivery] = []
        self._reached = float("-inf")  # the latest handle_timer: what arrived by then is out
        self._busy_until = 0.0
        self._order = 0
        self.sent = 0
        self.lost = 0

    def attach(self, address: bytes, profile: LinkProfile | None = None) -> None:
        """Put the meter at ``address`` on this line, over ``profile`` (or the default)."""
        self._links[address] = profile or self.default

    def detach(self, address: bytes) -> None:
        """Take the meter at ``address`` off this line (frames already on it still arrive)."""
        self._links.pop(address, None)

    def profile(self, address: bytes) -> LinkProfile:
        """The path to the meter at ``address``; ConfigError when it is not on this line."""
        try:
            return self._links[address]
        except KeyError:
            raise ConfigError(f"meter {address.hex()} is not on this power-line network") from None

    def send(self, direction: Direction, address: bytes, data: bytes, now: float) -> None:
        """Put a frame on the line to (DOWN) or from (UP) the meter at ``address``."""
        link = self.profile(address)
        for piece in self.manipulate(direction, address, data):
            self.sent += 1
            start = max(now, self._busy_until)
            airtime = len(piece) * 8 / link.bandwidth
            self._busy_until = start + airtime
            if any(self._random.random() < link.loss for _ in range(link.hops)):
                self.lost += 1
                continue
            at = start + link.hops * (link.latency + airtime)
            self._order += 1
            heapq.heappush(self._queue, Delivery(at, self._order, direction, address, piece))

    def get_timer(self) -> float | None:
        """When the next frame on the line arrives (None: the line is quiet)."""
        return self._queue[0].at if self._queue else None

    def handle_timer(self, now: float) -> None:
        """Time has reached ``now``: :meth:`next_event` hands out what has arrived by then."""
        self._reached = max(self._reached, now)

    def next_event(self) -> Delivery | None:
        """The next frame that has arrived by the latest :meth:`handle_timer` (in arrival
        order), or None."""
        if self._queue and self._queue[0].at <= self._reached:
            return heapq.heappop(self._queue)
        return None
