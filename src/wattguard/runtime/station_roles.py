"""The station split into processes: ``wattguard station --role ingest|api|all``.

Theory of operation. One station process (``all``) holds everything: it consumes the
terminals' frames (``up.<terminal>``), stores readings, answers the link layer, serves the API
and dashboard, issues commands and on-demand reads, runs the rules, the reporting watch and
the audit trail's witness. At scale the ingest is the heavy part, so it scales out:

* **ingest** (any number, on JetStream): every ingest process shares one durable consumer
  of the ``up`` stream (a work queue: each frame goes to one of them). A worker answers the
  terminal's logins, heartbeats and reports on ``down.<terminal>`` and stores the readings by
  group commit (:mod:`wattguard.station.group_commit`): it fetches a batch of messages, runs
  them, commits the batch's readings in one transaction (:func:`commit_batch`, the bus's
  ``before_ack``), and only then sends the reports' acknowledgements down and acknowledges the
  messages. When the commit fails (the database went away) the worker keeps the batch,
  backs off, and runs and commits it again once its storage has reconnected; a worker that
  dies mid-batch acknowledged nothing of it. So nothing acknowledged is lost, and
  a redelivery is stored once (the storage keeps each reading once). It also stores the
  FEPs' security events (``events.*``, shared the same way). It keeps in memory only what is
  per-frame: a link per terminal (the 698 connection that reassembles fragments and answers
  reports) and the answer freshness record; nothing that must be unique in the deployment.
* **api** (exactly one at a time): the API and dashboard (which read the database), and the
  state the station keeps in memory across frames: commands in flight and on-demand reads
  (pending PIIDs per terminal link), relay states, the rules (which issue commands), the
  reporting watch, the security monitor's aggregation and the audit witness. Its requests go
  down on ``down.<terminal>``; the terminal's answer comes up on ``up.<terminal>`` and reaches
  whichever ingest worker took it, which sees from the control byte that it answers a
  station request (DIR=1, PRM=1: DL/T 698.45-2017 clause 6.1.3) and forwards it unchanged on
  ``answers.<terminal>``, where the api process consumes it and its link matches the PIID.
* **all**: both at once (the default, and what a single-process deployment runs). Beside
  ingest workers it takes its share of ``up`` and consumes ``answers`` as the api does.

**Exactly one leader.** The api and all roles hold the deployment's *leader lock* for as long
as they run: a PostgreSQL session advisory lock (``pg_try_advisory_lock``) keyed by the
database and schema, or, on SQLite, an exclusive ``flock`` on ``<database>.leader``. A second
api process waits as a standby and takes over when the leader's connection (or process) dies:
PostgreSQL releases a session lock when its session ends, the kernel a flock when its holder
exits. The session can end while the leader lives (its connection dropped, or terminated by
an administrator): the leader checks its lock every :data:`LOCK_CHECK` seconds
(:func:`keep_leading`); when the session is gone it takes the lock again at once if it is free,
and otherwise steps down (the process ends with an error; its supervisor starts it again as a
standby). A process that takes a PostgreSQL lock waits :data:`LEAD_GRACE` seconds before it
leads, more than a leader needs to notice the loss and stop, so two leaders never run at once
(unless the old one's process is stalled longer than that: stopped in a debugger, say).
So the rules, the watch and the command dispatcher run in exactly one process. A lost
connection of the leader's storage is taken up again at its next call (the storage
reconnects); a tick that fails meanwhile is logged and tried again at the next.

**The leader hears every stored reading.** The energy balance, the reading-triggered rules
and the reporting watch run in the leader. On JetStream (where ingest workers may run beside
it) a :class:`LeaderStation` hears the readings from the database, not from what it stores
itself: :class:`~wattguard.station.reading_tail.ReadingTail` reads back every reading any
process committed, once each, in commit order (:func:`follow_readings`). The database, not a
notice on the bus, is the source because it is exactly what was stored: a redelivered message
adds no row, and a worker that dies between its commit and a notice would leave a reading
nobody heard of (a notice stream would be at least once, and the checks would have to forget
duplicates). A new leader starts from what is committed when it starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from wattguard.crypto import sm3
from wattguard.errors import ConfigError
from wattguard.network.bus import EVENTS, Bus, Handler
from wattguard.station.ingest import Reading
from wattguard.station.reading_tail import POLL_EVERY, ReadingTail
from wattguard.station.records import StorageError
from wattguard.station.service import Station

__all__ = [
    "ANSWERS",
    "LEAD_GRACE",
    "LOCK_CHECK",
    "LeaderLock",
    "LeaderStation",
    "RoleBus",
    "StationRole",
    "commit_batch",
    "follow_readings",
    "is_answer",
    "keep_leading",
    "lead",
    "serve_while_leading",
    "station_for",
]

log = logging.getLogger(__name__)

#: The subject prefix of terminals' answers forwarded by ingest workers to the leader.
ANSWERS = "answers"
#: Seconds between two checks of the leader that it still holds its lock.
LOCK_CHECK = 1.0
#: Seconds a standby that took the lock waits before it leads (see the module docstring).
LEAD_GRACE = 4.0


class StationRole(enum.StrEnum):
    """What a station process does (see the module docstring)."""

    ALL = "all"
    INGEST = "ingest"
    API = "api"

    @property
    def leads(self) -> bool:
        """Whether the role holds the leader lock (commands, rules, watch, API)."""
        return self is not StationRole.INGEST


def is_answer(frame: bytes) -> bool:
    """Whether ``frame`` (one whole frame as the FEP forwards it: ``68 L L C ...``) is a
    terminal's answer to a station request: control byte DIR=1 and PRM=1 (DL/T 698.45-2017
    clause 6.1.3), unlike logins, heartbeats and reports (PRM=0)."""
    return len(frame) > 3 and frame[0] == 0x68 and frame[3] & 0xC0 == 0xC0


class RoleBus:
    """The station's view of the bus in ``role`` (a :class:`~wattguard.network.bus.Bus` over
    ``inner``): the ingest role hands answers on to ``answers.<terminal>``, the api role takes
    its answers from there instead of ``up.*`` and leaves the FEPs' events to the ingest."""

    def __init__(self, inner: Bus, role: StationRole) -> None:
        self.inner = inner
        self.role = role
        self.forwarded = 0

    def publish(self, subject: str, payload: bytes) -> None:
        """Publish on the inner bus."""
        self.inner.publish(subject, payload)

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Subscribe on the inner bus as the role says (see the class docstring)."""
        if pattern != "up.*":
            if self.role is StationRole.API and pattern.startswith(EVENTS):
                return lambda: None  # the ingest workers store the FEPs' events
            return self.inner.subscribe(pattern, handler)
        offs: list[Callable[[], None]] = []
        if self.role is not StationRole.API:
            offs.append(self.inner.subscribe("up.*", self._up(handler)))
        if self.role.leads:

            def answer(subject: str, payload: bytes) -> None:
                handler("up." + subject.partition(".")[2], payload)

            offs.append(self.inner.subscribe(f"{ANSWERS}.*", answer))

        def unsubscribe() -> None:
            for off in offs:
                off()

        return unsubscribe

    def _up(self, handler: Handler) -> Handler:
        if self.role is not StationRole.INGEST:
            return handler

        def up(subject: str, payload: bytes) -> None:
            if is_answer(payload):  # awaited by the leader's link, not ours
                self.forwarded += 1
                self.inner.publish(f"{ANSWERS}.{subject.partition('.')[2]}", payload)
            else:
                handler(subject, payload)

        return up


class IngestStation(Station):
    """The station of an ingest worker: it stores what its links verify by group commit and
    nothing else (no balance, rules or watch: see the module docstring)."""

    def _committed(self, readings: list[Reading]) -> None:
        self.received += len(readings)
        if self.ingest is not None:
            self.stored = self.ingest.stats.new

    def tick(self) -> None:
        """Time out the link requests (an ingest worker sends none of its own)."""
        self.tick_ingest()
        self.collector.tick()


class LeaderStation(Station):
    """The leader beside ingest workers: what it stores itself is only counted; the balance,
    the rules and the watch hear every reading of the deployment from :meth:`observe`, fed by
    the database's :class:`~wattguard.station.reading_tail.ReadingTail`."""

    tailed = 0

    def _committed(self, readings: list[Reading]) -> None:
        self.received += len(readings)
        if self.ingest is not None:
            self.stored = self.ingest.stats.new

    def observe(self, readings: list[Reading]) -> None:
        """Readings committed by any process of the deployment, each once: the watch, the
        balance, the rules and the hooks hear them."""
        self.tailed += len(readings)
        self._heard(readings)


def station_for(role: StationRole, *args: Any, tail: bool = False, **options: Any) -> Station:
    """The station object of ``role`` (arguments as :class:`Station`'s); with ``tail`` a
    leader hears the readings from the database (:class:`LeaderStation`)."""
    if role is StationRole.INGEST:
        station: Station = IngestStation(*args, balance=False, **options)
        station.monitor.on_event.clear()  # the rules observe events in the leader only
        return station
    if tail:
        return LeaderStation(*args, **options)
    return Station(*args, **options)


def commit_batch(station: Station) -> Callable[[], bool]:
    """The JetStream bus's ``before_ack`` for ``station`` (which must have group commit):
    commit what the batch queued; False when a commit failed since the last call (its reports
    were told so, and the batch must be delivered again)."""
    queue = station.ingest
    if queue is None:
        raise ConfigError("acknowledging batches after their commit needs group commit")
    failed = [queue.stats.failed]

    def commit() -> bool:
        queue.flush()
        ok = queue.stats.failed == failed[0]
        failed[0] = queue.stats.failed
        return ok

    return commit


async def follow_readings(station: LeaderStation, every: float = POLL_EVERY) -> None:
    """Feed ``station`` every reading committed to its storage from now on (until cancelled),
    polling every ``every`` seconds; a poll the database refuses is tried again."""
    tail: ReadingTail | None = None
    while True:
        try:
            if tail is None:
                tail = ReadingTail(station.storage)
            readings = tail.poll()
        except StorageError as exc:
            log.warning("reading tail: %s (tried again)", exc)
        else:
            if readings:
                station.observe(readings)
        await asyncio.sleep(every)


class LeaderLock:
    """The deployment's leader lock (see the module docstring): a PostgreSQL session advisory
    lock, or an exclusive flock beside a SQLite database."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._held: Any = None
        self._key = int.from_bytes(sm3.hash(b"wattguard leader " + _place(database))[:8], "big",
                                   signed=True)  # fmt: skip

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it."""
        if self._held is not None:
            return True
        if self.database.startswith(("postgresql://", "postgres://")):
            self._held = self._postgres()
        elif self.database.startswith("sqlite://"):
            self._held = self._sqlite()
        else:
            raise ConfigError(f"no leader lock for the storage URL {self.database!r}")
        return self._held is not None

    def _postgres(self) -> Any:
        import psycopg

        parts = urlparse(self.database)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
        try:
            connection = psycopg.connect(urlunparse(parts._replace(query=query)),
                                         autocommit=True, connect_timeout=5)  # fmt: skip
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error as exc:
            raise ConfigError(f"the leader lock in PostgreSQL: {exc}") from None
        if row is not None and row[0]:
            return connection
        connection.close()
        return None

    def _sqlite(self) -> IO[bytes] | None:
        path = self.database[len("sqlite://") :].removeprefix("/")
        if not path or path == ":memory:":
            return open(os.devnull, "rb")  # a memory database has no peers
        handle = open(f"{path}.leader", "ab")  # noqa: SIM115  # held while leading
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        return handle

    @property
    def session(self) -> bool:
        """Whether the lock lives in a database session (PostgreSQL), which can end while its
        holder lives on; a flock is released only when its holder exits."""
        return self.database.startswith(("postgresql://", "postgres://"))

    def holds(self) -> bool:
        """Whether the lock is still held: on PostgreSQL, whether its session is alive (the
        lock ends with it); a flock lasts as long as its file is open."""
        if self._held is None:
            return False
        if not self.session:
            return True
        try:
            self._held.execute("SELECT 1").fetchone()
        except Exception:
            return False
        return True

    def release(self) -> None:
        """Give the lock up (closing the session or the file releases it)."""
        if self._held is not None:
            with contextlib.suppress(Exception):
                self._held.close()
            self._held = None


def _place(database: str) -> bytes:
    """What identifies a deployment's database for the lock: its URL's host, port, database
    and schema (not the user or password)."""
    parts = urlparse(database)
    schema = dict(parse_qsl(parts.query)).get("schema", "")
    return f"{parts.hostname}:{parts.port}{parts.path}?{schema}".encode()


async def lead(database: str, grace: float = LEAD_GRACE) -> LeaderLock:
    """The leader lock, waited for as a standby while another process holds it. Having taken
    a PostgreSQL lock, wait ``grace`` seconds before leading: a leader whose session just
    ended may not have noticed yet (a flock is only ever free once its holder is gone)."""
    lock = LeaderLock(database)
    if not lock.try_acquire():
        print("station: standby: another station process leads this database; waiting",
              flush=True)  # fmt: skip
        while not lock.try_acquire():
            await asyncio.sleep(1.0)
    if lock.session:
        print(f"station: took the leader lock; leading in {grace:.0f} s", flush=True)
        await asyncio.sleep(grace)
    return lock


async def keep_leading(lock: LeaderLock, every: float = LOCK_CHECK) -> None:
    """Return when the leader must step down: check ``lock`` every ``every`` seconds; a lost
    session's lock is taken again when it is free (see the module docstring)."""
    while True:
        await asyncio.sleep(every)
        if await asyncio.to_thread(lock.holds):
            continue
        lock.release()
        try:
            again = await asyncio.to_thread(lock.try_acquire)
        except ConfigError as exc:  # cannot tell whether another process leads now
            log.error("leader lock lost and not taken again (%s): stepping down", exc)
            return
        if not again:
            log.error("leader lock lost to another station process: stepping down")
            return
        print("station: the leader lock's session was lost; lock taken again", flush=True)


async def serve_while_leading(serving: Awaitable[None], lock: LeaderLock | None) -> None:
    """Run ``serving`` while ``lock`` is held (all of it without a lock); ConfigError when the
    lock is lost to another process (the caller stops everything: it no longer leads)."""
    if lock is None:
        await serving
        return
    work = asyncio.ensure_future(serving)
    watch = asyncio.ensure_future(keep_leading(lock))
    try:
        await asyncio.wait((work, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, watch):
            task.cancel()
        await asyncio.gather(work, watch, return_exceptions=True)
    error = None if work.cancelled() else work.exception()
    if error is not None:
        raise error
    if not watch.cancelled():
        raise ConfigError("the leader lock was lost to another station process: stepped down")
