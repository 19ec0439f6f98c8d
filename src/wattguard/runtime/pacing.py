"""Simulated time paced against the wall clock: ``speed`` simulated seconds per real second."""

from __future__ import annotations

import time

from wattguard.errors import ConfigError

__all__ = ["PacedClock", "speed_of"]


class PacedClock:
    """Simulated time that runs ``speed`` times as fast as the machine's clock, from ``start``
    (POSIX seconds): the demo's clock, so a day of collection passes in minutes."""

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


def speed_of(clock: object) -> float:
    """Seconds of ``clock`` that pass per real second: a paced clock's speed, else 1."""
    return clock.speed if isinstance(clock, PacedClock) else 1.0
