"""Simulated time paced against the wall clock: ``speed`` simulated seconds per real second,
held back when the simulation cannot keep up.

A live demo's meters are simulated in the same process as the station: when the machine cannot
step them as fast as ``speed`` asks, a clock that ran on regardless would leave them further
behind at every tick, each catch-up would hold the event loop for longer, and the terminals
would miss their heartbeats (seen: ``--speed 1800`` on a busy 2-core machine, 0 of 4 terminals
online and every meter silent). So the deployment sets a *ceiling* (:meth:`PacedClock.hold`:
where its slowest simulated neighbourhood is, plus a margin): the clock never shows a time past
it, and when it reaches it, it waits there and then runs on from it, so simulated time follows
what the machine can do (:attr:`PacedClock.held`, :meth:`PacedClock.effective_speed`).
"""

from __future__ import annotations

import math
import time

from wattguard.errors import ConfigError

__all__ = ["WAN_PATIENCE", "PacedClock", "patience", "speed_of"]


#: Real seconds a request over the real network (terminal to FEP to station, over loopback TCP
#: in a live demo) is given at least, however fast simulated time runs: the protocol's timeouts
#: are simulated seconds, and at 1800x a 30 s timeout would be 17 ms of a busy event loop.
WAN_PATIENCE = 2.0


class PacedClock:
    """Simulated time that runs ``speed`` times as fast as the machine's clock, from ``start``
    (POSIX seconds): the demo's clock, so a day of collection passes in minutes."""

    def __init__(self, start: float, speed: float = 1.0, *, paused: bool = False) -> None:
        if speed <= 0:
            raise ConfigError(f"speed must be positive, not {speed}")
        self.start = start
        self.speed = speed
        #: A paused clock shows ``start`` until :meth:`resume` (a deployment is built on it:
        #: its setup's real seconds are not simulated time the meters then have to catch up).
        self.paused = paused
        self._origin = time.monotonic()
        self._began = (start, self._origin)
        self._ceiling = math.inf
        #: Simulated seconds the clock has given up waiting for the simulation.
        self.held = 0.0

    def resume(self) -> None:
        """Start a paused clock running from where it stands."""
        if self.paused:
            self.paused = False
            self._origin = time.monotonic()
            self._began = (self.start, self._origin)

    def time(self) -> float:
        if self.paused:
            return self.start
        now = time.monotonic()
        paced = self.start + (now - self._origin) * self.speed
        if paced <= self._ceiling:
            return paced
        self.held += paced - self._ceiling  # wait at the ceiling, then run on from there
        self.start, self._origin = self._ceiling, now
        return self._ceiling

    def hold(self, ceiling: float) -> None:
        """Never show a time past ``ceiling`` (it only rises: a lower one is ignored)."""
        current = self.time()
        self._ceiling = max(ceiling, current)

    def effective_speed(self) -> float:
        """Simulated seconds per real second since the start (``speed`` unless held)."""
        start, origin = self._began
        real = time.monotonic() - origin
        return (self.time() - start) / real if real > 0 else self.speed

    def monotonic(self) -> float:
        return self.time()

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time."""
        return simulated / self.speed


def speed_of(clock: object) -> float:
    """Seconds of ``clock`` that pass per real second: a paced clock's speed, else 1."""
    return clock.speed if isinstance(clock, PacedClock) else 1.0


def patience(clock: object, simulated: float) -> float:
    """A timeout of ``simulated`` seconds on ``clock``, but at least :data:`WAN_PATIENCE` real
    seconds: for a request that crosses the real network."""
    return max(simulated, WAN_PATIENCE * speed_of(clock))
