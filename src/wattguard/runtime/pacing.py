"""Simulated time paced against the wall clock: ``speed`` simulated seconds per real second."""

from __future__ import annotations

import time

from wattguard.errors import ConfigError

__all__ = ["PacedClock"]


class PacedClock:
    """A :class:`~wattguard.clock.Clock` for live runs of simulated time: it starts at ``start``
    and runs ``speed`` times as fast as real time (``monotonic`` is the same clock)."""

    def __init__(self, start: float, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ConfigError(f"speed must be positive, not {speed}")
        self.start = start
        self.speed = speed
        self._origin = time.monotonic()

    def time(self) -> float:
        return self.start + (time.monotonic() - self._origin) * self.speed

    def monotonic(self) -> float:
        return self.time()

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds take in real time."""
        return simulated / self.speed
