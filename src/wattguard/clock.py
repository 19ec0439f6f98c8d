"""Clocks. Nothing in wattguard reads the wall clock directly: a :class:`Clock` is passed in.

``time()`` is POSIX seconds (the meter's calendar clock), ``monotonic()`` measures intervals.
:class:`SystemClock` reads the machine; :class:`VirtualClock` is advanced by its owner, so a
simulation can run a day of a thousand meters in seconds and a test is reproducible.
"""

from __future__ import annotations

import time as _time
from typing import Protocol, runtime_checkable

from wattguard.errors import ConfigError

__all__ = ["Clock", "SystemClock", "VirtualClock"]


@runtime_checkable
class Clock(Protocol):
    """What a core needs to know about time."""

    def time(self) -> float:
        """POSIX seconds, as a calendar clock shows them (may jump when set)."""
        ...

    def monotonic(self) -> float:
        """Seconds that only ever increase, for timeouts and rates."""
        ...


class SystemClock:
    """The machine's clocks. Only the runtime package should construct one."""

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()


class VirtualClock:
    """A clock that moves only when told to.

    The calendar time can be set (as a meter's clock can be set, or tampered with); the
    monotonic time only ever advances.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._time = float(start)
        self._monotonic = 0.0

    def time(self) -> float:
        return self._time

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` (which must not be negative)."""
        if seconds < 0:
            raise ConfigError(f"a virtual clock cannot go backwards ({seconds} s)")
        self._time += seconds
        self._monotonic += seconds

    def set_time(self, posix_seconds: float) -> None:
        """Set the calendar clock (forwards or backwards); the monotonic clock is untouched."""
        self._time = float(posix_seconds)
