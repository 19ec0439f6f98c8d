"""Failed logins counted per key (a charge point's identity, a source address), with lockout
and exponential backoff. Sans-IO: ``now`` (POSIX or monotonic seconds) is passed in.

Theory of operation. Each key holds its failures within ``window`` seconds of the first.
The ``limit``-th failure locks the key out for ``base`` seconds; each further lockout of the
same key (before it has been quiet for ``forget`` seconds) lasts twice the one before, up to
``ceiling``. While locked, attempts are refused without checking a password (the caller
answers "try later"); the attempt counts as nothing, so a locked-out guesser cannot extend
its own lockout, nor lengthen the lockout of a victim whose identity it names beyond the
backoff above. A success clears the key's failures (not its backoff, which decays after
``forget`` quiet seconds). At most ``max_keys`` keys are kept: the least recently failed
unlocked ones are forgotten first, so a flood of made-up identities cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Lockout"]


@dataclass
class _Record:
    failures: int = 0
    first: float = 0.0
    last: float = 0.0
    until: float = 0.0
    lockouts: int = 0


class Lockout:
    """Failures per key and the lockouts they earn (see the module's theory of operation)."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window: float = 300.0,
        base: float = 60.0,
        ceiling: float = 3600.0,
        forget: float = 86_400.0,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or not 0 < base <= ceiling or window <= 0 or max_keys < 1:
            raise ValueError("a lockout needs limit >= 1, 0 < base <= ceiling, window > 0")
        self.limit, self.window, self.base, self.ceiling = limit, window, base, ceiling
        self.forget, self.max_keys = forget, max_keys
        self._keys: dict[str, _Record] = {}

    def locked(self, key: str, now: float) -> float:
        """Seconds ``key`` stays locked out (0: it may try)."""
        record = self._keys.get(key)
        return max(0.0, record.until - now) if record is not None else 0.0

    def failed(self, key: str, now: float) -> float:
        """A failed attempt by ``key``: the seconds of the lockout it starts (0: none)."""
        record = self._keys.pop(key, None) or _Record()
        self._keys[key] = record  # now the most recently failed
        if record.lockouts and now - max(record.last, record.until) > self.forget:
            record.lockouts = 0  # quiet long enough: the backoff starts over
        if record.failures == 0 or now - record.first > self.window:
            record.failures, record.first = 0, now
        record.failures += 1
        record.last = now
        self._trim(now)
        if record.failures < self.limit:
            return 0.0
        seconds = min(self.ceiling, self.base * 2.0**record.lockouts)
        record.lockouts += 1
        record.failures, record.until = 0, now + seconds
        return seconds

    def succeeded(self, key: str) -> None:
        """A successful attempt by ``key``: its failures are cleared."""
        record = self._keys.get(key)
        if record is not None:
            record.failures = 0

    def _trim(self, now: float) -> None:
        if len(self._keys) <= self.max_keys:
            return
        for key in list(self._keys):
            if len(self._keys) <= self.max_keys:
                return
            if self._keys[key].until <= now:
                del self._keys[key]
