"""What a meter tells its host (the simulation, the runtime serving it): the events of
:meth:`wattguard.meter.device.Meter.next_event`, one precise union.

Theory of operation. The management module is the part of the meter that decides, so its
decisions are what the host hears:

* :class:`RelaySwitched`: the load switch changed state (a station command, a delayed trip
  falling due, a timed re-close, a local trip at zero credit). A host that models the
  customer's load cuts or restores it; a runtime logs it.
* :class:`SecurityAlert`: a security refusal the meter recorded anywhere inside it (a forged
  SPI or UART message, a frame that fails the F101 policy, a bad Bluetooth PIN, a tamper
  switch). The same event also goes to the meter's event log and to the
  :class:`~wattguard.events.EventSink` the meter was given; here the host sees it in order
  with the relay's moves.

:class:`EventQueue` holds them until the host reads them, at most ``capacity``: a host that
never reads (a large fleet in a simulation) loses the oldest, never memory; the event log and
the sink keep everything.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from wattguard.events import EventSink, SecurityEvent
from wattguard.meter.management.relay import RelayState

__all__ = ["EventQueue", "MeterEvent", "RelaySwitched", "SecurityAlert"]

#: Events kept for a host that does not read them (the oldest go first).
CAPACITY = 256


@dataclass(frozen=True, slots=True)
class RelaySwitched:
    """The load switch moved from ``before`` to ``after`` at ``at`` (the meter's ``now``)."""

    at: float
    before: RelayState
    after: RelayState
    reason: str = ""

    @property
    def supplying(self) -> bool:
        """Whether the customer's load has power after the move."""
        return self.after.supplying


@dataclass(frozen=True, slots=True)
class SecurityAlert:
    """A security refusal the meter recorded (what, where and when, never key material)."""

    event: SecurityEvent


MeterEvent = RelaySwitched | SecurityAlert


class EventQueue:
    """The meter's events for its host, oldest first, bounded (see the module docstring).

    It is also the :class:`~wattguard.events.EventSink` the meter's log passes each security
    event to: the event is queued as a :class:`SecurityAlert`, then passed on to
    ``upstream``."""

    def __init__(self, upstream: EventSink | None = None, capacity: int = CAPACITY) -> None:
        self.upstream = upstream
        self._events: deque[MeterEvent] = deque(maxlen=capacity)

    def record(self, event: SecurityEvent) -> None:
        """EventSink: queue a security event for the host and pass it on upstream."""
        self._events.append(SecurityAlert(event))
        if self.upstream is not None:
            self.upstream.record(event)

    def put(self, event: MeterEvent) -> None:
        """Queue ``event`` for the host."""
        self._events.append(event)

    def next_event(self) -> MeterEvent | None:
        """The oldest event not yet read, or None."""
        return self._events.popleft() if self._events else None
