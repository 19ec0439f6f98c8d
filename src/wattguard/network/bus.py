"""The bus between front-end processors and the master station.

A front-end processor publishes what a terminal sent on ``up.<terminal address>`` and
subscribes to ``down.<terminal address>`` for what the station sends back; the station does
the opposite. Subjects are NATS-style (``.``-separated tokens, ``*`` matches one token, ``>``
the rest), so a NATS JetStream bus can take this one's place behind the same interface.

:class:`InProcessBus` delivers synchronously in publication order, and keeps delivering to the
other subscribers when one handler raises (the error is logged: one broken consumer must not
silence the rest).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Protocol

from wattguard.errors import ConfigError, DecodeError
from wattguard.events import EventKind, SecurityEvent

__all__ = [
    "EVENTS",
    "Bus",
    "EventPublisher",
    "Handler",
    "InProcessBus",
    "decode_event",
    "down_subject",
    "matches",
    "up_subject",
]

#: Where components in other processes (FEPs) publish their security events for the station.
EVENTS = "events"

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]


def up_subject(terminal: bytes) -> str:
    return f"up.{terminal.hex()}"


def down_subject(terminal: bytes) -> str:
    return f"down.{terminal.hex()}"


class Bus(Protocol):
    """What FEPs and the station exchange frames and events over (subjects in the module
    docstring): :class:`InProcessBus` in one process, :class:`~wattguard.runtime.natsbus.NatsBus`
    across processes."""

    def publish(self, subject: str, payload: bytes) -> None: ...

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Deliver every message whose subject matches ``pattern``; returns the unsubscriber."""
        ...


def _check(pattern: str) -> list[str]:
    tokens = pattern.split(".")
    if not pattern or any(not t for t in tokens):
        raise ConfigError(f"bus subject {pattern!r} has an empty token")
    if ">" in tokens[:-1]:
        raise ConfigError(f"bus subject {pattern!r}: '>' may only be the last token")
    return tokens


def matches(pattern: str, subject: str) -> bool:
    want, have = _check(pattern), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


class InProcessBus:
    """The bus within one process: each message goes at once, in publication order, to every
    matching subscriber; a handler that raises is logged and the others still get the message."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler]] = []
        self.published = 0

    def publish(self, subject: str, payload: bytes) -> None:
        if "*" in subject or ">" in subject:
            raise ConfigError(f"publish to a concrete subject, not the pattern {subject!r}")
        _check(subject)
        self.published += 1
        for pattern, handler in list(self._subscriptions):
            if matches(pattern, subject):
                try:
                    handler(subject, payload)
                except Exception:
                    log.exception("bus handler for %s failed on %s", pattern, subject)

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        _check(pattern)
        entry = (pattern, handler)
        self._subscriptions.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscriptions:
                self._subscriptions.remove(entry)

        return unsubscribe


class EventPublisher:
    """An :class:`~wattguard.events.EventSink` that publishes each security event on the bus
    (``events.<origin>``, JSON), so that a FEP's refusals reach the station's monitor."""

    def __init__(self, bus: Bus, origin: str) -> None:
        self.bus = bus
        self.subject = f"{EVENTS}.{origin}"
        _check(self.subject)

    def record(self, event: SecurityEvent) -> None:
        payload = {"kind": event.kind.name, "source": event.source, "detail": event.detail,
                   "at": event.at}  # fmt: skip
        self.bus.publish(self.subject, json.dumps(payload).encode())


def decode_event(payload: bytes) -> SecurityEvent:
    """The inverse of :meth:`EventPublisher.record`; DecodeError when it is not one."""
    try:
        raw = json.loads(payload)
        return SecurityEvent(
            EventKind[raw["kind"]], str(raw["source"])[:200], str(raw["detail"])[:1000],
            float(raw["at"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"not a security event: {exc}", offset=0) from None
