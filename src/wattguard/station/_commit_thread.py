"""A storage's commit, waited for on a thread of its own, so that the ingest goes on meanwhile.

Theory of operation. A durable SQLite commit (WAL, ``synchronous=FULL``) writes the
transaction's pages to the log and waits for the disk to sync them: for a group commit of a few
hundred readings that wait is as long as the CPU work of verifying them, and the ingest loop,
which commits synchronously, does nothing while it lasts. :class:`CommitThread` runs only that
last step, the ``COMMIT`` statement, on one writer thread: the rows were inserted (and checked
by the database) on the caller's thread, inside the transaction; the ``COMMIT`` holds no GIL
while SQLite writes and syncs (the ``sqlite3`` module releases it around each statement), so
the caller verifies the next reports meanwhile. Only the ``COMMIT`` goes to the thread: a
statement per row on a second thread would hand the GIL back and forth with the ingest loop for
every row, and lose more than it gains.

The storage keeps its guarantees: the transaction is committed whole or rolled back whole;
whoever holds the returned future learns the outcome (the number of new rows, or the
:class:`~wattguard.station.records.StorageError`) only once the commit returned, so nothing is
acknowledged before it is durable; and every other call on the storage first waits for the
commit in flight (:meth:`CommitThread.settle`), so no statement ever runs on the connection
while it commits, and none joins the open transaction.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable

__all__ = ["CommitThread"]


class CommitThread:
    """One writer thread for a storage's commits, at most one in flight (see the module
    docstring). Not itself locked: the storage calls it under its own lock."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: concurrent.futures.Future[int] | None = None

    def submit(self, commit: Callable[[], int]) -> concurrent.futures.Future[int]:
        """Run ``commit`` (which ends the transaction the caller began: COMMIT, or ROLLBACK
        and raise) on the writer thread; the caller must have settled the one before."""
        if self._pending is not None:
            raise RuntimeError("a commit is already in flight")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self.name)
        self._pending = self._pool.submit(commit)
        return self._pending

    def settle(self) -> None:
        """Wait for the commit in flight, if any (its outcome is its future's holder's)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            concurrent.futures.wait((pending,))

    def close(self) -> None:
        """Wait for the commit in flight and stop the thread."""
        self.settle()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
