"""Security events: what every refusal anywhere in the system becomes.

A component that refuses something (a bad MAC, a replay, a malformed frame, a tamper switch)
raises or returns its error *and* records a :class:`SecurityEvent` through the
:class:`EventSink` it was given; the station's security monitor collects them. The event says
what happened and where, never key material or protected plaintext.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from typing import Protocol

__all__ = ["EventKind", "EventLog", "EventSink", "SecurityEvent"]


class EventKind(enum.Enum):
    """What kind of refusal or anomaly a security event reports (and ACCESS: a successful
    authentication, kept for the audit of who had access, which no alert rule counts)."""

    BAD_MAC = "bad MAC"
    REPLAY = "replay"
    MALFORMED = "malformed input"
    UNAUTHORISED = "unauthorised command"
    TAMPER = "tamper"
    CLOCK = "clock change"
    POWER = "power loss"
    AUTHENTICATION = "authentication failure"  # wrong password/PIN/certificate/signature
    LOCKOUT = "lockout"  # too many failures: a port or a peer is locked out
    FIRMWARE = "firmware refused"
    KEY = "key or certificate refused"
    BATTERY = "battery low"
    FLOOD = "rate or connection limit"  # a peer sent faster, or opened more, than allowed
    SILENCE = "stopped reporting"  # a meter (or most of a terminal's) sent nothing for too long
    MOVED = "meter moved"  # a registered meter answered through another terminal
    ACCESS = "access granted"  # a peer authenticated and got a role: an audit record, no refusal


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One refusal or anomaly: its kind, which component saw it, what happened, and when by
    that component's clock. Never key material or protected plaintext."""

    kind: EventKind
    source: str  # which component, e.g. "meter 000000000001 management/SPI"
    detail: str
    at: float  # the component's clock (monotonic or calendar, as it keeps time)


class EventSink(Protocol):
    """Where a component records its security events (the station's monitor, an EventLog)."""

    def record(self, event: SecurityEvent) -> None: ...


class EventLog:
    """A bounded in-memory sink; the oldest events go first when it is full."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.events: deque[SecurityEvent] = deque(maxlen=capacity)

    def record(self, event: SecurityEvent) -> None:
        self.events.append(event)

    def of_kind(self, kind: EventKind) -> list[SecurityEvent]:
        return [event for event in self.events if event.kind == kind]
