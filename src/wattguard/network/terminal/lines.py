"""The terminal's line to each meter of its archive: one DL/T 698.45 client connection and a
queue of jobs, at most one of them in flight (HPLC is half-duplex and slow; a real CCO polls
each meter in turn)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.protocol import ClientConnection
from wattguard.protocol.apdu import Structure
from wattguard.protocol.stream import FrameDecoder

__all__ = ["Answer", "Job", "MeterLine"]

#: What a job's ``done`` is called with: the meter's answer (an APDU, or the raw frame of a
#: transparent command), None when it timed out or was not sent.
Answer = Structure | bytes | None


@dataclass
class Job:
    """One request to one meter: an APDU, or (``apdu`` None) a raw frame forwarded as it is;
    ``done`` is called with the answer."""

    apdu: Structure | None
    done: Callable[[Answer], None]
    raw: bytes = b""
    deadline: float = 0.0
    task: str | None = None
    sent_at: float = 0.0


@dataclass
class MeterLine:
    """One meter's line: its connection, its jobs (``busy`` is the one in flight; a raw job
    reads its answer with ``raw_decoder``), and where each collection task stands (``since``:
    the start of the next window, ``next_run``: when it next runs)."""

    address: bytes
    connection: ClientConnection
    jobs: deque[Job] = field(default_factory=deque)
    busy: Job | None = None
    raw_decoder: FrameDecoder | None = None
    piid: int = 0
    since: dict[str, float] = field(default_factory=dict)
    next_run: dict[str, float] = field(default_factory=dict)
    failures: int = 0

    def next_piid(self) -> int:
        """The next PIID for a request to this meter (0-63, wrapping)."""
        self.piid = (self.piid + 1) % 64
        return self.piid
