"""The readings other processes commit, read back from the database once each, in commit order.

Theory of operation. With separate ingest workers (``station --role ingest``) the leader stores
no readings itself, yet the energy balance, the reading-triggered rules and the reporting
watch must hear every reading the deployment stores. :class:`ReadingTail` follows the
readings table instead of a message stream: what the database holds is the truth, whichever
worker stored it, however often a JetStream message was delivered (the table's key keeps a
reading once, so a redelivery adds no row), and a worker that dies after its commit but before
telling anyone has nothing left to tell.

Following a table by an increasing number is only safe if rows become visible in that order.
They do not on PostgreSQL: two workers' transactions commit in any order, so a reader that
went past a number may later see a smaller one appear. The tail therefore follows the
*transaction* that stored each row (``readings.txid``, ``pg_current_xact_id()`` since schema
version 13) and reads only below the oldest transaction still running,
``pg_snapshot_xmin(pg_current_snapshot())``: every transaction below that bound has ended,
committed (its rows are visible) or rolled back (it left none), and no row can appear below it
later. Each poll reads the transactions in ``[previous bound, new bound)``: every committed
reading exactly once, none twice, whatever the order of the commits. A backlog (a leader that
was held up) is read about :data:`PAGE` rows a poll, each transaction whole. The cost: a long write
transaction anywhere in the database cluster holds the bound back until it ends (the tail
waits, it loses nothing). On SQLite, one writer at a time commits whole transactions, so the
``rowid`` grows in commit order and the tail follows it.

The tail starts from the snapshot it is made in (readings committed before are not replayed:
a new leader starts from what is committed from then on). Its bound starts at that snapshot's
oldest running transaction, and the transactions between it and the snapshot's newest that
had already ended then are skipped, so an unrelated long transaction open at the start does
not make the tail replay what committed before it. It does no I/O of its own beyond the
storage's queries; the runtime calls :meth:`ReadingTail.poll` every fraction of a second.
"""

from __future__ import annotations

from wattguard.errors import ConfigError
from wattguard.station._sql import SqlStorage
from wattguard.station.ingest import Reading
from wattguard.station.storage import PostgresStorage, Storage

__all__ = ["PAGE", "POLL_EVERY", "ReadingTail"]

#: Seconds between two polls of the leader's tail.
POLL_EVERY = 0.5
#: Rows read per poll, about (the rest come at the next poll; a transaction is read whole).
PAGE = 100_000


class ReadingTail:
    """The readings committed to ``storage`` since this tail was made, each once, oldest
    transaction first (see the module docstring)."""

    def __init__(self, storage: Storage) -> None:
        if not isinstance(storage, SqlStorage):
            raise ConfigError("the reading tail follows an SQL database (SQLite or PostgreSQL)")
        self.storage = storage
        self.postgres = isinstance(storage, PostgresStorage)
        self.seen = 0
        self.polls = 0
        #: PostgreSQL: below this transaction, only those running at the start are read
        self._xmax = 0
        self._running: frozenset[int] = frozenset()
        self._bound = self._start()

    def _start(self) -> int:
        if self.postgres:
            rows = self.storage.query(
                "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text, "
                "ARRAY(SELECT pg_snapshot_xip(s)::text) FROM pg_current_snapshot() AS s"
            )
            xmin, xmax, running = rows[0]
            self._xmax, self._running = int(xmax), frozenset(int(x) for x in running)
            return int(xmin)
        rows = self.storage.query("SELECT COALESCE(MAX(rowid), 0) FROM readings")
        return int(rows[0][0])

    def _snapshot_bound(self) -> int:
        rows = self.storage.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        return int(rows[0][0])

    def poll(self) -> list[Reading]:
        """The readings committed since the last poll, at most about :data:`PAGE` of them (the
        rest come at the next poll); raises :class:`~wattguard.station.records.StorageError`
        when the database cannot be read (the next poll reads the same range again)."""
        self.polls += 1
        found = self._postgres_page() if self.postgres else self._sqlite_page()
        self.seen += len(found)
        return found

    def _postgres_page(self) -> list[Reading]:
        bound = self._snapshot_bound()
        if bound <= self._bound:
            return []
        rows = self.storage.query(
            "SELECT txid::text, meter, quantity, time, value FROM readings "
            "WHERE txid >= ?::text::xid8 AND txid < ?::text::xid8 ORDER BY txid LIMIT ?",
            (str(self._bound), str(bound), PAGE),
        )
        if len(rows) == PAGE:  # a page: up to its last transaction, which may go on
            last = rows[-1][0]
            rows = [row for row in rows if row[0] != last]
            bound = int(last)
            if not rows:  # one transaction larger than a page: the whole of it
                rows = self.storage.query(
                    "SELECT txid::text, meter, quantity, time, value FROM readings "
                    "WHERE txid = ?::text::xid8",
                    (last,),
                )
                bound += 1
        self._bound = bound
        if self._xmax:  # what had committed before the tail began is not its to read
            rows = [
                row for row in rows if int(row[0]) >= self._xmax or int(row[0]) in self._running
            ]
            if bound >= self._xmax:
                self._xmax, self._running = 0, frozenset()
        return [Reading(m, q, int(t), float(v)) for _, m, q, t, v in rows]

    def _sqlite_page(self) -> list[Reading]:
        rows = self.storage.query(
            "SELECT rowid, meter, quantity, time, value FROM readings WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (self._bound, PAGE),
        )
        if rows:
            self._bound = int(rows[-1][0])
        return [Reading(m, q, int(t), float(v)) for _, m, q, t, v in rows]
