"""The station split into processes: ``wattguard station --role ingest|api|all``.

Theory of operation. One station process (``all``) holds everything: it consumes the
terminals' frames (``up.<terminal>``), stores readings, answers the link layer, serves the API
and dashboard, issues commands and on-demand reads, runs the rules, the reporting watch and
the audit trail's witness. At scale the ingest is the heavy part, so it scales out:

* **ingest** (any number, on JetStream): every ingest process shares one durable consumer
  of the ``up`` stream (a work queue: each frame goes to one of them). A worker answers the
  terminal's logins, heartbeats and reports on ``down.<terminal>`` and stores the readings
  through the station's own store path (``Storage.add_readings``, which commits before it
  returns; the message is acknowledged after that, so nothing acknowledged is lost and a
  redelivery is stored once: the storage keeps each reading once). It also stores the FEPs'
  security events (``events.*``, shared the same way). It keeps in memory only what is
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
exits. So the rules, the watch and the command dispatcher run in exactly one process.

What the ingest workers do not do (they see only a share of the readings): the energy
balance, the reading-triggered rules and the reporting watch. They run in the leader on what
it stores itself; with separate ingest workers those checks see only the leader's share (see
docs/deploy.md, "Limits").
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
from collections.abc import Callable
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from wattguard.crypto import sm3
from wattguard.errors import ConfigError
from wattguard.network.bus import EVENTS, Bus, Handler
from wattguard.station.ingest import Reading
from wattguard.station.service import Station

__all__ = ["ANSWERS", "LeaderLock", "RoleBus", "StationRole", "is_answer", "station_for"]

log = logging.getLogger(__name__)

#: The subject prefix of terminals' answers forwarded by ingest workers to the leader.
ANSWERS = "answers"


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
    """The station of an ingest worker: it stores what its links verify through the station's
    store path and nothing else (no balance, rules or watch: see the module docstring)."""

    def _store(self, readings: list[Reading]) -> None:
        self.received += len(readings)
        self.stored += self.storage.add_readings(readings, received=self.clock.time())

    def tick(self) -> None:
        """Time out the link requests (an ingest worker sends none of its own)."""
        self.collector.tick()


def station_for(role: StationRole, *args: Any, **options: Any) -> Station:
    """The station object of ``role`` (arguments as :class:`Station`'s)."""
    if role is StationRole.INGEST:
        station: Station = IngestStation(*args, balance=False, **options)
        station.monitor.on_event.clear()  # the rules observe events in the leader only
        return station
    return Station(*args, **options)


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
