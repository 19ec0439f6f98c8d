"""Lockout after repeated authentication failures, with exponential back-off.

Policy (docs/bluetooth.md). After ``max_failures`` consecutive failures the port is locked
for ``base_seconds * 2**level`` seconds, capped at ``max_seconds``; ``level`` counts the
lockouts since the last success, so each lockout is twice as long as the one before. While
locked, attempts are refused without being judged and are *not* counted (counting them would
let an attacker keep the port locked forever for nothing). A success resets the count and the
level. The state is kept in the meter's store when one is given, so a power cycle does not
clear it.

The lockout is per port, not per peer: a Bluetooth address is the attacker's to choose, so a
per-peer count would give a brute-forcer a fresh budget per address. The price is that an
attacker in radio range can keep a legitimate technician out; the station sees the LOCKOUT
events and the technician can use the optical port or a certificate-holding colleague later.

With the defaults (5 failures, 60 s doubling to a 24 h cap) an attacker gets 55 guesses in the
first 1.4 days and 5 a day after that: 1,875 guesses a year against a 6-digit PIN,
a 0.19 % chance of finding it (bench/bluetooth.py measures it on the real service).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wattguard.meter.management.storage import Store

__all__ = ["Lockout", "LockoutPolicy"]

_STATE = struct.Struct(">HHd")  # failures, level, locked until


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many consecutive pairing failures lock a port, and for how long (the back-off in the
    module docstring)."""

    max_failures: int = 5
    base_seconds: float = 60.0
    max_seconds: float = 86_400.0

    def duration(self, level: int) -> float:
        """How long the ``level``-th lockout (0-based) lasts."""
        return min(self.base_seconds * 2.0 ** min(level, 64), self.max_seconds)

    def guesses_within(self, seconds: float) -> int:
        """The most attempts an attacker can make in ``seconds`` from a clean state, if each
        attempt itself took no time."""
        guesses, elapsed, level = 0, 0.0, 0
        while True:
            guesses += self.max_failures
            elapsed += self.duration(level)
            level += 1
            if elapsed > seconds:
                return guesses


class Lockout:
    """The failure count and lock of one port."""

    def __init__(
        self, policy: LockoutPolicy | None = None, store: Store | None = None, key: str = ""
    ) -> None:
        self.policy = policy or LockoutPolicy()
        self._store = store
        self._key = key
        self.failures = 0
        self.level = 0
        self.locked_until = 0.0
        raw = store.get(key) if store is not None and key else None
        if raw is not None and len(raw) == _STATE.size:
            self.failures, self.level, self.locked_until = _STATE.unpack(raw)

    def remaining(self, now: float) -> float:
        """Seconds the port stays locked (0: open)."""
        return max(0.0, self.locked_until - now)

    def failure(self, now: float) -> float:
        """Count a failure; returns the lock duration if this one locked the port, else 0."""
        self.failures += 1
        duration = 0.0
        if self.failures >= self.policy.max_failures:
            duration = self.policy.duration(self.level)
            self.locked_until = now + duration
            self.level = min(self.level + 1, 0xFFFF)
            self.failures = 0
        self._save()
        return duration

    def success(self) -> None:
        self.failures = self.level = 0
        self.locked_until = 0.0
        self._save()

    def _save(self) -> None:
        if self._store is not None and self._key:
            self._store.put(self._key, _STATE.pack(self.failures, self.level, self.locked_until))
