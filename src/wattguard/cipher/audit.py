"""An append-only audit log whose entries are chained with SM3.

Each entry stores ``hash = SM3(previous hash || body)`` with ``body = sequence (8) | time
(8, IEEE double) | len(action) (2) | action | detail`` (UTF-8), the first entry chaining from
32 zero bytes. Altering, deleting, inserting or reordering an entry breaks every hash from
there on, and :meth:`AuditChain.verify` names the first entry that does not fit. (Truncating
the tail is not detectable from the log alone: the latest hash must also be kept elsewhere,
e.g. reported to the station, which :attr:`AuditChain.head` gives.)

The chain lives in memory and, with a ``path``, in a text file of one JSON object per line,
appended and fsynced per entry.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from wattguard.crypto import sm3
from wattguard.errors import IntegrityError
from wattguard.secretfile import create_secret

__all__ = ["AuditChain", "AuditEntry", "chain_hash"]

GENESIS = bytes(32)
_FIXED = struct.Struct(">QdH")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit log: sequence number, time, action, detail, and the SM3 chain
    hash over it and every entry before it."""

    sequence: int
    time: float
    action: str
    detail: str
    hash: bytes

    def body(self) -> bytes:
        action = self.action.encode()
        return _FIXED.pack(self.sequence, self.time, len(action)) + action + self.detail.encode()


def chain_hash(previous: bytes, sequence: int, time: float, action: str, detail: str) -> bytes:
    entry = AuditEntry(sequence, time, action, detail, b"")
    return sm3.hash(previous + entry.body())


class AuditChain:
    """The SM3-chained, append-only audit log, in memory and, with a ``path``, in a JSON-lines
    file synced to disk per entry."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[AuditEntry] = []
        if path is not None and not create_secret(path):  # 0600 from creation
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                try:
                    raw = json.loads(line)
                    self.entries.append(
                        AuditEntry(
                            int(raw["seq"]),
                            float(raw["time"]),
                            str(raw["action"]),
                            str(raw["detail"]),
                            bytes.fromhex(raw["hash"]),
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise IntegrityError(f"audit log line {number} is damaged: {exc}") from None

    @property
    def head(self) -> bytes:
        return self.entries[-1].hash if self.entries else GENESIS

    def append(self, action: str, detail: str, time: float) -> AuditEntry:
        sequence = len(self.entries)
        entry = AuditEntry(
            sequence, time, action, detail, chain_hash(self.head, sequence, time, action, detail)
        )
        self.entries.append(entry)
        if self.path is not None:
            line = json.dumps(
                {"seq": sequence, "time": time, "action": action, "detail": detail,
                 "hash": entry.hash.hex()}
            )  # fmt: skip
            with open(self.path, "a") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
        return entry

    def verify(self) -> int | None:
        """The index of the first entry that breaks the chain, or None if it is whole."""
        previous = GENESIS
        for index, entry in enumerate(self.entries):
            expected = chain_hash(previous, index, entry.time, entry.action, entry.detail)
            if entry.sequence != index or entry.hash != expected:
                return index
            previous = entry.hash
        return None
