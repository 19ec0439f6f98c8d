"""Group commit: many terminals' reports stored in one transaction, each acknowledged only once
its readings are durable.

Theory of operation. Committing every terminal report on its own costs a transaction (and, on
SQLite with ``synchronous=FULL``, a sync of the log) for a handful of readings. The station
instead gathers the rows of the reports that arrive within a few milliseconds and writes them
in one transaction, whichever comes first of:

* the size trigger: the batch holds ``max_rows`` rows or more;
* the time trigger: its oldest report has waited ``max_delay`` seconds.

:class:`GroupCommit` is the sans-IO core: rows and an acknowledgement token go in with
:meth:`~GroupCommit.add` (the caller's monotonic ``now``), :meth:`~GroupCommit.due` and
:meth:`~GroupCommit.get_timer` say when a batch must go, :meth:`~GroupCommit.take` hands it
out. It reads no clock and writes nothing.

:class:`IngestQueue` is its shell at the station: it checks each report's readings on their
own (:func:`~wattguard.station.records.reading_rows`: a bad report is refused alone and never
poisons a batch), writes a batch through :meth:`~wattguard.station.storage.Storage.add_rows`
and only *after the commit returned* calls each report's acknowledgement with ``True``. When
the commit fails, nothing of the batch is stored (one transaction) and every acknowledgement is
called with ``False``: the collector then drops the acknowledgement bytes it was holding, the
terminal sends those reports again, and the storage, which keeps each reading once, takes the
resend. A station that dies before a commit has acknowledged nothing of that batch. So an
acknowledged report is always stored, and a report is lost only if it was never acknowledged.

On a storage that commits on a writer thread of its own (SQLite's ``begin_rows``:
:mod:`wattguard.station._commit_thread`; ``GroupCommitConfig.overlap``, on by default), a due
batch is inserted at once and its ``COMMIT`` (the disk sync) runs on that thread while the next
reports are verified; :meth:`IngestQueue.handle_timer` acknowledges it once the commit
returned (the runtime polls every :data:`POLL` seconds meanwhile), and :meth:`IngestQueue.flush`
waits for it. One commit is in flight at a time: the next batch gathers meanwhile, so under
load the commits grow rather than queue. Nothing changes in what is durable when: a report is
still acknowledged only after the commit that stored it returned.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from wattguard.station.ingest import Reading
from wattguard.station.records import ReadingRow, StorageError, reading_rows

__all__ = ["Batch", "GroupCommit", "GroupCommitConfig", "IngestQueue", "IngestStats", "RowWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Rows per transaction before the size trigger fires (about a tenth of a second of a busy
#: station's ingest; large enough that the commit's fixed cost is spread thin).
MAX_ROWS = 5000
#: Seconds the oldest report of a batch may wait for its commit (the time trigger).
MAX_DELAY = 0.005
#: Meter addresses remembered as checked (beyond, the memory starts again).
_KNOWN = 1_000_000
#: While a commit is in flight on the storage's writer thread, how often (s) the runtime
#: looks whether it returned (to acknowledge its reports).
POLL = 0.001


@dataclass(frozen=True, slots=True)
class GroupCommitConfig:
    """The two triggers of group commit: rows per transaction and the longest wait (s); and
    whether a storage that can (SQLite) commits on its writer thread while the next reports
    are verified (``overlap``; see :class:`IngestQueue`)."""

    max_rows: int = MAX_ROWS
    max_delay: float = MAX_DELAY
    overlap: bool = True


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """What one transaction writes: the rows of its reports, each report's acknowledgement
    token in arrival order, and when each report was added (the caller's monotonic time)."""

    rows: list[ReadingRow]
    acks: tuple[T, ...]
    added: tuple[float, ...]


@dataclass
class GroupCommit(Generic[T]):
    """The sans-IO core of group commit (see the module docstring)."""

    max_rows: int = MAX_ROWS
    max_delay: float = MAX_DELAY
    _rows: list[ReadingRow] = field(default_factory=list)
    _acks: list[T] = field(default_factory=list)
    _added: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_rows < 1 or not self.max_delay >= 0:
            raise ValueError("group commit needs max_rows >= 1 and max_delay >= 0")

    @property
    def pending(self) -> int:
        """Rows waiting for the next commit."""
        return len(self._rows)

    @property
    def reports(self) -> int:
        """Reports waiting for the next commit."""
        return len(self._acks)

    def add(self, rows: list[ReadingRow], ack: T, now: float) -> None:
        """Queue one report's rows with its acknowledgement token."""
        self._rows.extend(rows)
        self._acks.append(ack)
        self._added.append(now)

    def get_timer(self) -> float | None:
        """When the time trigger fires (None: nothing is waiting)."""
        return self._added[0] + self.max_delay if self._added else None

    def due(self, now: float) -> bool:
        """Whether the batch must be committed now (size or time trigger)."""
        if not self._acks:
            return False
        return len(self._rows) >= self.max_rows or now >= self._added[0] + self.max_delay

    def take(self) -> Batch[T] | None:
        """The batch to commit (everything queued), or None if nothing is."""
        if not self._acks:
            return None
        batch = Batch(self._rows, tuple(self._acks), tuple(self._added))
        self._rows, self._acks, self._added = [], [], []
        return batch


class RowWriter(Protocol):
    """Where a batch goes: one transaction, the number of rows that were new."""

    def add_rows(self, rows: list[ReadingRow]) -> int:
        """Store checked rows whole or not at all; how many were new."""
        ...


#: A storage that can also commit on a writer thread of its own
#: (:meth:`~wattguard.station.storage.SqliteStorage.begin_rows`): the rows go in now, the
#: future gives how many were new once the commit returned.
BeginRows = Callable[[list[ReadingRow]], "concurrent.futures.Future[int]"]


#: A report's acknowledgement: called with True once its readings are durable, False if the
#: commit failed (nothing of it was stored).
Ack = Callable[[bool], None]
#: Told of each report's readings after their commit (the station's watch, balance, hooks).
AfterCommit = Callable[[list[Reading]], None]


@dataclass
class IngestStats:
    """What an :class:`IngestQueue` did: reports and rows committed, rows that were new (the
    rest were duplicates), transactions, failed commits, and the latest reports' latency from
    arrival to durable acknowledgement (seconds, the last ``keep`` of them)."""

    reports: int = 0
    rows: int = 0
    new: int = 0
    commits: int = 0
    failed: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    @property
    def duplicates(self) -> int:
        """Rows that were already stored (a redelivery) or repeated in their batch."""
        return self.rows - self.new


class IngestQueue:
    """Group commit at the station: reports in, batches written through ``storage``, each
    report acknowledged after its commit (see the module docstring). ``clock`` is monotonic
    seconds, ``calendar`` the time stored as when the readings were received."""

    def __init__(
        self,
        storage: RowWriter,
        clock: Callable[[], float],
        calendar: Callable[[], float],
        *,
        after: AfterCommit | None = None,
        config: GroupCommitConfig = GroupCommitConfig(),
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.calendar = calendar
        self.after = after
        self.core: GroupCommit[tuple[Ack, list[Reading]]] = GroupCommit(
            config.max_rows, config.max_delay
        )
        self.stats = IngestStats()
        # meters and quantities already checked, from report to report
        self._known: tuple[dict[object, str], dict[object, str]] = ({}, {})
        # a storage that commits on its writer thread (SQLite): the batch in flight there
        self._begin: BeginRows | None = (
            getattr(storage, "begin_rows", None) if config.overlap else None
        )
        self._flight: tuple[Batch[tuple[Ack, list[Reading]]], concurrent.futures.Future[int]] | None
        self._flight = None

    def add(self, readings: list[Reading], ack: Ack) -> None:
        """Queue one report (its readings checked now: an invalid one raises
        :class:`~wattguard.station.records.InvalidRecord` and queues nothing); commits at
        once when the size trigger fires."""
        if len(self._known[0]) > _KNOWN:
            self._known = ({}, {})
        rows = reading_rows(readings, self.calendar(), self._known)
        now = self.clock()
        self.core.add(rows, (ack, readings), now)
        if self.core.due(now):
            self._commit_due()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` should next run (None: nothing is waiting); while a
        commit is in flight, soon (:data:`POLL`): its reports are acknowledged once it
        returned."""
        if self._flight is not None:
            return self.clock() + POLL
        return self.core.get_timer()

    def handle_timer(self, now: float) -> int:
        """Acknowledge the commit in flight if it returned; commit if the batch is due at
        ``now``; rows committed."""
        done = self._land(wait=False)
        if self.core.due(now):
            done += self._commit_due()
        return done

    def flush(self) -> int:
        """Commit whatever is queued, due or not, then acknowledge it (the commit in flight
        first); rows committed (0 when the commit failed: every report of the batch is then
        told False). Returns once everything queued is durable or refused."""
        done = self._land(wait=True)
        batch = self.core.take()
        if batch is None:
            return done
        try:
            new = self.storage.add_rows(batch.rows)
        except StorageError as exc:
            self._failed(batch, exc)
            return done
        return done + self._acknowledge(batch, new)

    def settle(self) -> int:
        """Wait for the commit in flight, if any, and acknowledge it; rows committed. The
        runtime need not (it looks every :data:`POLL` seconds); a caller that drives the clock
        itself, in steps far longer than a commit, calls this after each tick instead."""
        return self._land(wait=True)

    def _commit_due(self) -> int:
        """The batch is due: committed now (a storage without a writer thread), or on the
        writer thread once the commit before it returned. While that one is in flight the
        batch keeps gathering (up to twice the size trigger, then it waits): under load, the
        commits grow instead of queueing, and each costs its disk sync once."""
        if self._begin is None:
            return self.flush()
        done = 0
        if self._flight is not None:
            if not self._flight[1].done() and self.core.pending < 2 * self.core.max_rows:
                return 0
            done = self._land(wait=True)
        batch = self.core.take()
        if batch is None:
            return done
        try:
            self._flight = (batch, self._begin(batch.rows))
        except StorageError as exc:
            self._failed(batch, exc)
        return done

    def _land(self, *, wait: bool) -> int:
        """Acknowledge the batch in flight once its commit returned (with ``wait``, wait for
        it); rows committed."""
        if self._flight is None or not (wait or self._flight[1].done()):
            return 0
        batch, future = self._flight
        self._flight = None
        try:
            new = future.result()
        except StorageError as exc:
            self._failed(batch, exc)
            return 0
        return self._acknowledge(batch, new)

    def _failed(self, batch: Batch[tuple[Ack, list[Reading]]], exc: StorageError) -> None:
        self.stats.failed += 1
        log.warning("group commit of %d reports failed: %s", len(batch.acks), exc)
        for ack, _ in batch.acks:
            ack(False)

    def _acknowledge(self, batch: Batch[tuple[Ack, list[Reading]]], new: int) -> int:
        done = self.clock()
        stats = self.stats
        stats.commits += 1
        stats.reports += len(batch.acks)
        stats.rows += len(batch.rows)
        stats.new += new
        stats.latencies.extend(done - added for added in batch.added)
        for ack, _ in batch.acks:
            ack(True)
        if self.after is not None:
            for _, readings in batch.acks:
                self.after(readings)
        return len(batch.rows)
