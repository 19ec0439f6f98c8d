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

import logging
from collections.abc import Callable
from typing import Protocol

from wattguard.errors import ConfigError

__all__ = ["Bus", "Handler", "InProcessBus", "down_subject", "matches", "up_subject"]

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]


def up_subject(terminal: bytes) -> str:
    return f"up.{terminal.hex()}"


def down_subject(terminal: bytes) -> str:
    return f"down.{terminal.hex()}"


class Bus(Protocol):
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
