"""The station's audit trail in its storage, chained with SM3 like the cryptographic
device's (:mod:`wattguard.cipher.audit`): the same chain function, a database table instead of
a file. Editing, deleting or reordering rows is caught by :meth:`StationAudit.verify`."""

from __future__ import annotations

from collections.abc import Callable

from wattguard.cipher.audit import GENESIS, chain_hash
from wattguard.station.storage import Storage

__all__ = ["StationAudit"]


class StationAudit:
    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = clock
        rows = storage.audit()
        self._next = rows[-1][0] + 1 if rows else 0
        self._head = bytes.fromhex(rows[-1][4]) if rows else GENESIS

    def __call__(self, action: str, detail: str) -> None:
        """Append one entry (the signature :class:`~wattguard.station.commands.CommandBook`
        takes as its ``audit``)."""
        now = self.clock()
        digest = chain_hash(self._head, self._next, now, action, detail)
        self.storage.append_audit(self._next, now, action, detail, digest.hex())
        self._next += 1
        self._head = digest

    @property
    def head(self) -> bytes:
        return self._head

    def verify(self) -> int | None:
        """The position of the first entry that breaks the chain, or None if it is whole."""
        previous = GENESIS
        for index, (seq, time, action, detail, digest) in enumerate(self.storage.audit()):
            if seq != index or chain_hash(previous, seq, time, action, detail).hex() != digest:
                return index
            previous = bytes.fromhex(digest)
        return None
