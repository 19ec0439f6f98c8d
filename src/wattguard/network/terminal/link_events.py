"""What a terminal's link to the station hands out (:class:`Online`, :class:`Offline`) and
how long it waits before logging in again."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Offline", "Online", "TerminalEvent", "posix", "relogin_delay"]


@dataclass(frozen=True, slots=True)
class Online:
    """The station accepted the login: the outbox goes up from ``at``."""

    at: float


@dataclass(frozen=True, slots=True)
class Offline:
    """The link to the station went down at ``at`` (the transport dropped, or the login or
    the heartbeats went unanswered); the terminal keeps collecting into its outbox."""

    at: float


#: Everything a terminal's ``next_event`` hands out.
TerminalEvent = Online | Offline


def relogin_delay(failures: int, timeout: float, longest: float) -> float:
    """How long a terminal waits before logging in again after ``failures`` logins in a row
    did not bring the link online: nothing after the first (a dropped heartbeat is no reason
    to wait), then ``timeout`` doubling each time, at most ``longest``."""
    if failures <= 1:
        return 0.0
    return min(timeout * 2.0 ** (failures - 2), longest)


def posix(now: float) -> float:
    """The terminal's calendar is its clock: its ``now`` is POSIX seconds already."""
    return now
