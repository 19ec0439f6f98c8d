"""The reporting watch: meters that stop reporting, and terminals whose meters do, raise alerts.

Theory of operation. Nothing refuses anything when a terminal stops sending: its meters simply
go quiet, and no check anywhere else sees silence. :class:`ReportingWatch` keeps, for every
registered meter, when the station last stored a reading of it (by the station's clock, when
the reading arrived, not the time the reading claims). A meter is *silent* once nothing of it
has arrived for :data:`SILENT_ROUNDS` collection intervals (``interval``, the period of the
terminals' real-time task: 900 s, so 45 minutes by default); a meter never heard from counts
from when the watch started. A meter that falls silent is recorded once as a
:attr:`~wattguard.events.EventKind.SILENCE` security event under its own name (the monitor's
"stopped reporting" rule opens an alert for it), and again every ``interval`` while it stays
silent, so its alert stays open; a terminal with at least half of its meters silent is
recorded the same way under the terminal's name: it, or its link to the station, is the
likelier cause. Reporting again ends the reminders; the alert closes when its rule's quiet
time has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wattguard.events import EventKind, EventSink, SecurityEvent

__all__ = ["COLLECTION_INTERVAL", "SILENT_ROUNDS", "ReportingWatch"]

#: The terminals' real-time collection period (seconds) unless the station is told another.
COLLECTION_INTERVAL = 900.0
#: A meter is silent after this many collection intervals without a reading.
SILENT_ROUNDS = 3.0
_SOURCE = "station/watch"


@dataclass
class ReportingWatch:
    """Which registered meters stopped reporting (see the module docstring). ``terminal_of``
    is the station's meter -> terminal map (read, never written); ``started`` is when the
    watch began counting."""

    terminal_of: Mapping[str, bytes]
    events: EventSink
    started: float
    interval: float = COLLECTION_INTERVAL
    rounds: float = SILENT_ROUNDS
    last: dict[str, float] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    silent_terminals: set[bytes] = field(default_factory=set)
    _reminded: dict[str, float] = field(default_factory=dict)
    _next_check: float = 0.0

    @property
    def threshold(self) -> float:
        """Seconds without a reading after which a meter is silent."""
        return self.rounds * self.interval

    def seen(self, meters: Iterable[str], now: float) -> None:
        """Readings of ``meters`` arrived at ``now``."""
        for meter in meters:
            self.last[meter] = now
            if meter in self.silent:
                self.silent.discard(meter)
                self._reminded.pop(meter, None)

    def check(self, now: float) -> None:
        """Record the meters (and terminals) that fell silent, or still are, at ``now``. The
        station ticks often; the meters are looked through at most every ``interval / 15``."""
        if now < self._next_check:
            return
        self._next_check = now + self.interval / 15
        quiet_since = now - self.threshold
        by_terminal: dict[bytes, list[str]] = {}
        totals: dict[bytes, int] = {}
        for meter, terminal in self.terminal_of.items():
            members = by_terminal.setdefault(terminal, [])
            totals[terminal] = totals.get(terminal, 0) + 1
            if self.last.get(meter, self.started) > quiet_since:
                continue
            members.append(meter)
            if self._due(meter, now):
                heard = self.last.get(meter)
                ago = self._ago(heard, now)
                detail = (
                    f"no reading for {ago}"
                    if heard is not None
                    else (f"no reading since the watch started, {ago} ago")
                )
                self._record(f"meter {meter}", f"stopped reporting: {detail}", now)
            self.silent.add(meter)
        for terminal, silent in by_terminal.items():
            total = totals[terminal]
            key = f"terminal {terminal.hex()}"
            if 2 * len(silent) < total:
                self.silent_terminals.discard(terminal)
                self._reminded.pop(key, None)
                continue
            self.silent_terminals.add(terminal)
            if self._due(key, now):
                self._record(key, f"{len(silent)} of its {total} meters stopped reporting", now)

    def _due(self, key: str, now: float) -> bool:
        last = self._reminded.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._reminded[key] = now
        return True

    def _ago(self, heard: float | None, now: float) -> str:
        seconds = now - (self.started if heard is None else heard)
        return f"{seconds / 60:.0f} min ({seconds / self.interval:.1f} collection intervals)"

    def _record(self, subject: str, detail: str, now: float) -> None:
        self.events.record(SecurityEvent(EventKind.SILENCE, f"{_SOURCE} {subject}", detail, now))
