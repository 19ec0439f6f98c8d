"""Which verified answers the station takes as fresh: no answer twice, none from another time.

Theory of operation. A meter's MAC proves who wrote an answer, not when it was sent: a
terminal (or anyone who captured the answer on its way) can hand the same verified answer in
again, and the terminal's item header, which says when the read went out, is covered by no
MAC. :class:`AnswerFreshness` is the station's record of the answers it has taken, per meter,
by the random number (or SID) the request bound the meter's MAC to, and refuses
(:class:`StaleAnswer`):

* an answer to a binding it has already taken, unless it is the very same item again (the
  same answer with the same claimed time: a terminal's resend of a batch whose acknowledgement
  was lost, which stores nothing new); the same answer with another claimed time is a replay,
  re-dated;
* an answer whose time, as the meter authenticated it (the meter's date-time 4000-0200 read in
  the same MAC'd answer), is older than ``window`` seconds by the station's clock: past the
  window the station no longer holds the bindings it would need to tell a replay;
* an answer dated more than ``tolerance`` seconds ahead of the station's clock.

A binding is remembered for ``window + tolerance`` seconds from when it was taken, so any
answer still young enough to pass the age check is compared against it. The record is one
table of every meter's bindings, and one queue of when each may be forgotten, in the order
taken: an admission looks at the queue's head and forgets only what is due (a binding is
never forgotten before its time; if the station's clock steps back, later). An answer without
an authenticated time (a record read, whose rows carry their own freeze times) is only checked
for a repeat. The record lives in memory: after a restart of the station, an answer from before it
is not known as a repeat, but its values are stored at the time the meter authenticated, which
the station already holds, so it changes nothing (the storage keeps each reading once).

It is sans-IO: the station's calendar time comes in as ``now``.
"""

from __future__ import annotations

from collections import deque

from wattguard.errors import ReplayError

__all__ = ["ANSWER_TOLERANCE", "ANSWER_WINDOW", "AnswerFreshness", "StaleAnswer"]

#: How old (seconds, by the meter's own authenticated time) a real-time answer may be when it
#: reaches the station. A terminal that stayed offline longer loses its real-time snapshots
#: (its curves and freezes, dated by their freeze times, still come in).
ANSWER_WINDOW = 6 * 3600.0
#: How far (seconds) a meter's authenticated time may run ahead of the station's clock.
ANSWER_TOLERANCE = 600.0


class StaleAnswer(ReplayError):
    """A verified answer the station does not take as fresh: to a random number (or SID) it
    already took, dated outside the freshness window, or with real-time values and no time the
    meter authenticated; the message says which."""


class AnswerFreshness:
    """The answers taken lately, per meter (see the module docstring)."""

    def __init__(self, window: float = ANSWER_WINDOW, tolerance: float = ANSWER_TOLERANCE) -> None:
        if window <= 0 or tolerance < 0:
            raise ValueError("the freshness window must be > 0 and the tolerance >= 0")
        self.window = window
        self.tolerance = tolerance
        self._keep = window + tolerance
        # _key(meter, binding) -> the first FINGERPRINT bytes of the item taken's fingerprint.
        # An ingest worker holds every meter's bindings of the last window + tolerance (48 a
        # meter at two answers every 15 minutes): at 100,000 meters that is millions of
        # entries, so each is one bytes key and one short value, not a tuple of two objects
        # and a 32-byte digest (175 bytes an entry instead of 326: tests/station/test_freshness.py).
        self._taken: dict[bytes, bytes] = {}
        # when each key may be forgotten, and the key, in the order taken: one entry per key of
        # _taken (a key is taken again only once its entry was forgotten)
        self._due_at: deque[float] = deque()
        self._due_key: deque[bytes] = deque()

    def admit(
        self,
        meter: bytes,
        binding: bytes,
        authenticated: float | None,
        now: float,
        fingerprint: bytes = b"",
    ) -> None:
        """Take the answer bound to ``binding`` (its time as the meter authenticated it, if it
        has one; ``fingerprint`` names the relayed item, claimed time included), or raise
        :class:`StaleAnswer`."""
        if authenticated is not None:
            if authenticated < now - self.window:
                raise StaleAnswer(
                    f"an answer dated {authenticated - now:+.0f} s from now, older than the "
                    f"{self.window:.0f} s window"
                )
            if authenticated > now + self.tolerance:
                raise StaleAnswer(
                    f"an answer dated {authenticated - now:+.0f} s ahead of the station's clock"
                )
        due_at = self._due_at
        if due_at and due_at[0] <= now:
            self._forget(now)
        key = _key(meter, binding)
        mark = fingerprint[:FINGERPRINT]
        before = self._taken.get(key)
        if before is not None:
            if before == mark:
                return  # the same item again: a resend
            raise StaleAnswer("an answer to a random number already used")
        self._taken[key] = mark
        due_at.append(now + self._keep)
        self._due_key.append(key)

    def _forget(self, now: float) -> None:
        """Forget the bindings due by ``now``."""
        due_at, due_key, taken = self._due_at, self._due_key, self._taken
        while due_at and due_at[0] <= now:
            due_at.popleft()
            del taken[due_key.popleft()]

    def taken(self, meter: bytes) -> int:
        """How many answers of ``meter`` the record holds."""
        prefix = _key(meter, b"")
        return sum(1 for key in self._taken if key.startswith(prefix))

    def __len__(self) -> int:
        """How many answers the record holds."""
        return len(self._taken)


#: Bytes of an item's fingerprint the record keeps: 128 bits of a cryptographic hash (the
#: station's ingest uses BLAKE2b), so that another item is never taken for a resend by chance.
FINGERPRINT = 16


def _key(meter: bytes, binding: bytes) -> bytes:
    """One bytes key for (meter, binding): the meter's length first, so that no meter's keys
    begin another's."""
    return bytes((len(meter),)) + meter + binding
