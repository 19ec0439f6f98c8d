"""The audit of a meter's active reports: did every report it sent reach the station?

Theory of operation. A meter reports its events (cover opened, magnetic field, refusals) on
its own, each report MAC'd under the next value of its ESAM's report counter. An adversary on
the power line cannot forge or alter one, but can drop it, and nothing else would tell: the
meter does not know whether the station heard it, and the station does not know what it never
received. The ESAM's counters (object F100 attribute 7: commands, reports, top-ups) are
public and travel in the meter's answers to the terminal's reads under the same MAC as the
readings, so the terminal's real-time read includes them (``F100-0700``).

:class:`ReportAudit` hears each batch of stored readings. For a meter's report counter
(``F1000702``) it compares the reports the meter has made since the station first heard of it
with the distinct reports the cryptographic device has verified from it
(``heard(meter)``). A shortfall is reports on their way, or lost. If the reports made up to
that counter have still not all arrived ``grace`` seconds later (after the next reads),
they were suppressed: a TAMPER security event of that meter, which the monitor alerts on, once
per shortfall. (A meter whose answers are dropped too falls silent, which its missing readings
show.) At the first sight of a meter the audit takes what it made before as its baseline, so a
restarted station does not cry wolf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.station.ingest import Reading

__all__ = ["REPORT_COUNTER", "ReportAudit"]

#: The ESAM's report counter, as the station stores F100 attribute 7, element 2.
REPORT_COUNTER = "F1000702"


@dataclass
class _Shortfall:
    counter: int  # the meter's report counter when the shortfall was first seen
    since: int
    recorded: bool = False


@dataclass
class ReportAudit:
    """``heard(meter) -> distinct reports verified`` is the cryptographic device's
    ``security.reports_heard``."""

    heard: Callable[[bytes], int]
    events: EventSink | None = None
    grace: int = 1800
    _base: dict[str, int] = field(default_factory=dict)
    _short: dict[str, _Shortfall] = field(default_factory=dict)

    def on_readings(self, readings: list[Reading]) -> None:
        for reading in readings:
            if reading.quantity == REPORT_COUNTER:
                self._check(reading.meter, int(reading.value), reading.time)

    def _check(self, meter: str, counter: int, at: int) -> None:
        heard = self.heard(bytes.fromhex(meter))
        base = self._base.setdefault(meter, counter - heard)
        short = self._short.get(meter)
        if counter - base <= heard:
            self._short.pop(meter, None)  # every report the meter made has arrived
            return
        caught_up = short is not None and heard >= short.counter - base
        if short is None or caught_up or (short.recorded and counter > short.counter):
            self._short[meter] = _Shortfall(counter, at)  # on their way, as far as we know
            return
        if not short.recorded and at - short.since >= self.grace:
            short.recorded = True
            detail = (
                f"{short.counter - base - heard} report(s) the meter made (report counter "
                f"{short.counter}) never reached the station: suppressed on the way?"
            )
            if self.events is not None:
                self.events.record(SecurityEvent(EventKind.TAMPER, f"meter {meter}", detail, at))
