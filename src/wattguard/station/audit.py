"""The station's audit trail in its storage, chained with SM3 like the cryptographic device's
(:mod:`wattguard.cipher.audit`): the same chain function, a database table instead of a file.

Theory of operation. Entry ``n`` stores ``hash_n = SM3(hash_{n-1} || body_n)`` where
``body_n`` is its sequence number, time, action and detail (layout in
:func:`wattguard.cipher.audit.chain_hash`) and ``hash_{-1}`` is 32 zero bytes. The storage
appends atomically (it reads the stored head and inserts in one locked transaction), so two
station processes sharing a PostgreSQL database extend one chain instead of forking it.

:meth:`StationAudit.verify` recomputes the chain from the first row and returns the index of
the first row that does not fit: an edited field, a deleted row, a row inserted, or two rows
swapped (their sequence numbers or their contents) all break it there.

What a chain alone cannot show: that rows were cut off the end, or that someone with write
access rewrote the tail and recomputed every hash after it (SM3 has no key). Against both, keep
a :meth:`checkpoint` somewhere the database's writers cannot reach and pass it back to
:meth:`verify`. The station does: :class:`~wattguard.station.service.Station` gives the
cryptographic device each new head (``witness``, kept in the device's own chained log, on its
own host when it runs as a service), and checks the trail against the device's latest
checkpoint at every start and on ``GET /api/audit`` (``Station.verify_audit``); a trail that
does not hold is a TAMPER event, and so an alert.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence

from wattguard.cipher.audit import GENESIS, chain_hash
from wattguard.station.records import AuditRow
from wattguard.station.storage import Storage

__all__ = ["Checkpoint", "StationAudit"]

#: (sequence number, hash) of one entry, kept outside the database.
Checkpoint = tuple[int, bytes]


class StationAudit:
    """The station's SM3-chained audit trail in its storage: appends entries stamped with the
    clock, verifies the chain, and gives checkpoints to keep out of the database's reach."""

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = clock
        rows = storage.audit()
        self._last: AuditRow | None = rows[-1] if rows else None

    def __call__(self, action: str, detail: str) -> None:
        """Append one entry (the signature :class:`~wattguard.station.commands.CommandBook`
        takes as its ``audit``)."""
        self.append(action, detail)

    def append(self, action: str, detail: str) -> AuditRow:
        """Append one entry, stamped with the clock; the row as stored."""
        self._last = self.storage.append_audit(self.clock(), action, detail, chain_hash)
        return self._last

    def append_many(self, entries: Sequence[tuple[str, str]]) -> list[AuditRow]:
        """Append (action, detail) entries in order, in one transaction; the rows as stored."""
        rows = self.storage.append_audits(self.clock(), entries, chain_hash)
        if rows:
            self._last = rows[-1]
        return rows

    @property
    def last(self) -> AuditRow | None:
        """The latest entry this object has seen (appended, or found at start)."""
        return self._last

    @property
    def head(self) -> bytes:
        """The hash of the latest entry this object has seen (32 zero bytes for none)."""
        return GENESIS if self._last is None else bytes.fromhex(self._last.hash)

    def checkpoint(self) -> Checkpoint | None:
        """The latest stored entry's (sequence number, hash), to keep elsewhere."""
        rows = self.storage.audit()
        return None if not rows else (rows[-1].seq, bytes.fromhex(rows[-1].hash))

    def verify(self, checkpoint: Checkpoint | None = None) -> int | None:
        """The index of the first entry that breaks the chain, or None if it is whole.

        With a ``checkpoint``, the entry it names must also be present with that hash; if the
        chain is whole up to where it ends but the checkpoint's entry is gone (the tail was cut
        off) the answer is the index where it should be, and if it is there with another hash
        (the chain was rewritten and recomputed) the answer is that index.
        """
        previous = GENESIS
        rows = self.storage.audit()
        for index, (seq, time, action, detail, digest) in enumerate(rows):
            if seq != index:
                return index
            try:
                expected = chain_hash(previous, seq, time, action, detail)
                if expected != bytes.fromhex(digest):
                    return index
            except (ValueError, struct.error):  # a hash that is not hex, an action too long
                return index
            previous = expected
            if checkpoint is not None and seq == checkpoint[0] and expected != checkpoint[1]:
                return index
        if checkpoint is not None and checkpoint[0] >= len(rows):
            return len(rows)
        return None
