"""The fleet at a glance: its total load per collection interval, each terminal's health and
the day's collection completeness (the dashboard's fleet view, ``/api/fleet``).

Theory of operation. Every figure here is in UTC: a day is a UTC calendar day, a time is POSIX
seconds (the API adds ISO 8601 UTC), so the readings' times and the page's agree.

*Load.* The terminals collect each meter's 15-minute curve (DL/T 698.45 object 5002, column
00100201: the cumulative forward active energy frozen every quarter hour). The fleet's load in
the interval ending at ``t`` is the sum over the meters of what their counter grew since their
freeze at ``t - interval``, as kWh and as the mean power over the interval (kW); a meter whose
previous freeze is missing is left out of that interval (``meters`` says how many counted).

*Collection completeness* (the figure a utility watches most). On a UTC day, a freeze time
``t`` is *due* once a whole collection interval has passed after it (the terminal's round that
collects it, and its report): the due freezes are the quarter hours ``t`` with
``day 00:00 < t <= min(next day 00:00, now - interval)``. A terminal's *expected* readings
are its registered meters times the due freezes; *arrived* are the curve readings stored for
those meters at those times (each stored once, however often it was sent); completeness is
arrived / expected (``None`` while nothing is due). The fleet's is the sum over terminals. A
meter registered during the day is expected from the first quarter hour after it was
registered (none before); a late reading counts once it arrives.

*Health.* A terminal's link (:class:`~wattguard.station.collector.TerminalLink`) says when it
last logged in or sent a heartbeat, whether it is online, how many exchanges it relayed and
how many the station refused; the reporting watch (:mod:`wattguard.station.watch`) says which
of its meters are *behind* (silent for three collection intervals).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from wattguard.station._fleet_sql import CURVE
from wattguard.station.collector import TerminalLink
from wattguard.station.storage import Storage

__all__ = [
    "CURVE",
    "Completeness",
    "LoadPoint",
    "TerminalHealth",
    "completeness",
    "day_span",
    "fleet_load",
    "terminal_health",
]

_DAY = 86_400


@dataclass(frozen=True, slots=True)
class LoadPoint:
    """The fleet's load in the interval ending at ``time``: energy (kWh), mean power (kW) and
    how many meters counted."""

    time: int
    energy: float
    power: float
    meters: int


@dataclass(frozen=True, slots=True)
class Completeness:
    """Of one terminal (or the fleet, ``terminal`` ``None``) on a day: the readings expected and
    arrived, and their ratio (``None`` while none is due)."""

    terminal: str | None
    meters: int
    expected: int
    arrived: int

    @property
    def share(self) -> float | None:
        """arrived / expected, capped at 1 (``None`` when nothing is expected)."""
        return None if self.expected == 0 else min(1.0, self.arrived / self.expected)


@dataclass(frozen=True, slots=True)
class TerminalHealth:
    """A terminal's link as the station sees it (see the module docstring)."""

    terminal: str
    online: bool
    last_seen: float | None
    exchanges: int
    refused: int
    meters_behind: int


def day_span(day: date) -> tuple[int, int]:
    """The POSIX seconds of a UTC day's start and of the next day's start."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start, start + _DAY


def due(day: date, now: float, interval: int) -> tuple[int, int, int]:
    """``(start, last due freeze time, how many are due)`` of ``day`` at ``now``."""
    start, end = day_span(day)
    last = min(end, int(now) - interval)
    last -= (last - start) % interval
    return start, last, max(0, (last - start) // interval)


def completeness(
    storage: Storage, day: date, now: float, interval: int
) -> tuple[Completeness, list[Completeness]]:
    """The fleet's and each terminal's collection completeness of ``day`` at ``now``."""
    start, last, intervals = due(day, now, interval)
    meters = storage.meters_per_terminal()
    expected = {terminal: n * intervals for terminal, n in meters.items()}
    for terminal, registered in storage.registered_since(start):
        # due only from the first freeze after it was registered
        late = min(intervals, (int(registered) - start) // interval)
        expected[terminal] -= late
    arrived = storage.arrived_per_terminal(start, last) if intervals else {}
    rows = [
        Completeness(terminal, n, expected[terminal], arrived.get(terminal, 0))
        for terminal, n in sorted(meters.items())
    ]
    fleet = Completeness(
        None, sum(meters.values()), sum(r.expected for r in rows), sum(r.arrived for r in rows)
    )
    return fleet, rows


def fleet_load(storage: Storage, start: int, end: int, interval: int) -> list[LoadPoint]:
    """The fleet's load in each interval ending in ``start < t <= end``."""
    hours = interval / 3600
    return [
        LoadPoint(t, round(kwh, 6), round(kwh / hours, 6), n)
        for t, kwh, n in storage.interval_totals(start, end, interval)
    ]


def terminal_health(
    terminals: Iterable[str],
    links: Mapping[bytes, TerminalLink],
    behind: Mapping[str, int],
    now: tuple[float, float],
) -> list[TerminalHealth]:
    """The health of ``terminals`` (hex addresses) and of every terminal with a link, by
    address; ``behind`` counts each terminal's silent meters; ``now`` is the station's
    ``(monotonic, calendar)`` time (links keep monotonic times; ``last_seen`` is calendar)."""
    monotonic, calendar = now
    by_name = {terminal.hex(): link for terminal, link in links.items()}
    out = []
    for terminal in sorted(set(terminals) | set(by_name)):
        link = by_name.get(terminal)
        late = behind.get(terminal, 0)
        if link is None or not (link.last_link or link.last_heard):
            out.append(TerminalHealth(terminal, False, None, 0, 0, late))
            continue
        seen = calendar - (monotonic - max(link.last_link, link.last_heard))
        online = link.online(monotonic)
        out.append(TerminalHealth(terminal, online, seen, link.exchanges, link.refused, late))
    return out
