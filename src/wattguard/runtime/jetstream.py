"""The bus over NATS JetStream: durable, deduplicated, shared by any number of workers.

Theory of operation. :class:`~wattguard.runtime.natsbus.NatsBus` is NATS core: at most once,
and every subscriber gets every message. At utility scale the station must survive being down
or slow, and several ingest workers must share the terminals' reports. JetStream gives both:

* **Streams** (:class:`StreamSpec`) hold what is published on their subjects on the server's
  disk until it is consumed (``workqueue``: a message leaves the stream when a consumer
  acknowledges it) or ages out (``limits``). :meth:`JetStreamBus.connect` creates them, or
  updates them when they exist, so every service may start first.
* **Publishing** waits for the server's acknowledgement (the message is stored) and retries a
  failed publish with backoff, so a message is published at least once; one at a time
  (:meth:`JetStreamBus._write` says why). Each message carries
  a ``Nats-Msg-Id``: the caller's, or by default the SM3 digest of its subject and payload
  (on the down stream, whose equal messages are meant, an id of each publish instead).
  Within the stream's duplicate window the server stores a second copy with the same id only
  once, so a publisher that retries, or a FEP that restarts and sends a report again, never
  duplicates it (:attr:`JetStreamBus.duplicates` counts what the server dropped). A
  "duplicate" answer with no stream sequence (0) names nothing stored: a clustered
  nats-server before 2.10.25 notes a message's id when its leader proposes it, and when a
  leader change drops the proposal it still calls every retry with that id a duplicate for
  the whole duplicate window (nats-io/nats-server#6415), so a publisher that believed it would
  lose the message. Such a publish is tried again with its id for :data:`STAGED_PATIENCE`
  seconds (a proposal still on its way lands, and the answer then names its sequence), then
  under a new id (:attr:`JetStreamBus.unstored` counts them): at worst stored twice, which
  every consumer takes, never lost.
* **Consuming** is a pull consumer: a pull takes up to ``batch`` of the messages waiting, or
  waits on the server for the next (:data:`FETCH_WAIT`). Subscribers with the
  same ``durable`` name share one consumer: each message goes to one of them (a work
  queue), and a message is acknowledged only when the handler has returned and its batch is
  committed (below), so the message's effect is durable before the server forgets it. A
  handler that raises gets the message again after ``retry_delay``; a worker that dies
  holding messages unacknowledged has them redelivered to the others after ``ack_wait``.
  After ``max_deliver`` attempts a message is terminated and logged: one poison message
  cannot stall a stream. A consumer that is unsubscribed, or whose bus closes, stops at its
  next pull even when its cancellation is lost (see :meth:`JetStreamBus.close`), and gives back
  what that pull brought.
* **Batches** (group commit). A consumer fetches up to ``batch`` messages at a time and runs
  their handlers one after the other without yielding to the event loop; then it calls
  :attr:`JetStreamBus.before_ack`, which commits what the handlers queued (the station's
  group commit: one transaction for the batch's readings), and only when that returns True
  acknowledges the batch. When it returns False (the commit failed: the database went away,
  or this worker's connection to it) the consumer keeps the batch: it waits, twice as long
  after each failure in a row (from ``retry_delay`` up to :data:`MAX_BACKOFF` seconds),
  telling the server meanwhile that the messages are in progress, runs their handlers again
  and commits again (the storage reconnects at its next call). So a database outage of any
  length loses nothing: the server neither hands the batch to another worker nor counts
  the waits towards ``max_deliver``, and fetches nothing new for this worker meanwhile. A
  worker that dies before the commit acknowledged nothing of the batch: the others get it
  after ``ack_wait``. So a message is acknowledged only once its effect is durable, and a
  batch costs one transaction, not one per message.
* **What a batch sends is stored before the batch is acknowledged.** Handlers and the commit
  publish too (an ingest worker sends a report's acknowledgement down once its readings are
  committed). The batch is acknowledged only when the server has stored everything published
  up to the end of its commit; a publish given up (after :data:`PUBLISH_PATIENCE`) gives the
  batch back to be delivered again (its handlers then publish again). So a worker killed
  between its commit and its publishes leaves the batch to another worker, which stores
  nothing twice and sends the acknowledgements: the terminal is not left waiting for its
  own timeout. The consumer fetches its next batch meanwhile; the wait is in a task of its
  own, which tells the server the batch is in progress while it lasts.
* **Where a new consumer starts.** On a ``workqueue`` stream a new durable consumer takes
  everything waiting (that is what the stream holds messages for). On a ``limits`` stream
  (``down``: the station's requests, kept an hour for whoever reads them) a new consumer starts
  with the messages stored from ``lookback`` seconds (default 5) before :meth:`subscribe` was
  called: a FEP started for the first time does not receive the last hour's commands (the
  meters' counters would refuse them anyway), yet the station's answer to a terminal's login,
  which may be stored before the consumer the login made exists, still reaches it. A durable
  consumer that exists already resumes where it left off: a restarted FEP gets what was
  published while it was down.

A ``prefix`` puts every subject of this bus under ``<prefix>.`` on the server (handlers still
see the bare subject), so that several deployments, or tests, share one NATS server.

Needs the ``nats`` extra (``pip install 'wattguard[nats]'``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from wattguard.crypto import sm3
from wattguard.errors import ConfigError
from wattguard.network.bus import Handler, _check, matches

__all__ = [
    "DEFAULT_STREAMS",
    "JetStreamBus",
    "StreamSpec",
    "durable_name",
    "message_id",
    "replicated",
]

log = logging.getLogger(__name__)

#: How long a publish is retried before it is given up (and logged), in seconds.
PUBLISH_PATIENCE = 30.0
#: How long (seconds) a consumer's pull waits on the server when nothing is waiting, before
#: it asks again. A message published meanwhile is handed over at once, so this costs no
#: latency; it is what an idle consumer costs, and a FEP has one per terminal connected (400
#: at 100,000 meters): at 5 s rather than 1 s the FEP's CPU at 100,000 meters fell by two
#: fifths (42.6 -> 25.2 s an hour). The fault-day loss once blamed on it was bench/chain.py's
#: shared calendar read torn (docs/deploy.md).
FETCH_WAIT = 5.0
#: How long (seconds) closing the connection may take once the consumers have stopped and
#: every publish is stored; past it the bus is closed anyway.
CLOSE_PATIENCE = 5.0
#: The longest wait (seconds) of a consumer before it fetches again after failed commits.
MAX_BACKOFF = 30.0
#: How long (seconds) a publish the server calls a duplicate of nothing stored (sequence 0:
#: see the module docstring) is tried again with its id before it goes under a new one.
STAGED_PATIENCE = 5.0

#: Called after a fetched batch's handlers ran, before any of it is acknowledged: commit what
#: they queued; False when the commit failed (the batch is then delivered again).
BeforeAck = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One JetStream stream: its name, the subjects it stores, how messages leave it
    (``workqueue``: when acknowledged; ``limits``: by age), its duplicate window, and on how
    many servers of a cluster it is kept (``replicas``: 3 survives the loss of one node)."""

    name: str
    subjects: tuple[str, ...]
    retention: str = "workqueue"
    max_age: float = 7 * 86_400.0
    duplicate_window: float = 600.0
    replicas: int = 1
    #: False: each publish gets an id of its own instead of the digest of its content, for a
    #: stream whose equal messages are meant (the station's acknowledgement of a terminal's
    #: report is the same bytes whenever the report's PIID, one of 64, comes round: under the
    #: digest, JetStream dropped the 65th within its window and the terminal's reports stalled).
    content_ids: bool = True


#: The streams of a deployment: reports and answers up, commands down, security events, and
#: answers handed from ingest workers to the leader (runtime/station_roles.py).
DEFAULT_STREAMS = (
    StreamSpec("WATTGUARD_UP", ("up.>",)),
    StreamSpec("WATTGUARD_ANSWERS", ("answers.>",)),
    StreamSpec(
        "WATTGUARD_DOWN", ("down.>",), retention="limits", max_age=3600.0, content_ids=False
    ),
    StreamSpec("WATTGUARD_EVENTS", ("events.>",)),
)


def replicated(streams: Sequence[StreamSpec], replicas: int) -> tuple[StreamSpec, ...]:
    """``streams``, each kept on ``replicas`` servers of a JetStream cluster (1-5)."""
    if not 1 <= replicas <= 5:
        raise ConfigError(f"JetStream keeps a stream on 1 to 5 servers, not {replicas}")
    return tuple(replace(spec, replicas=replicas) for spec in streams)


def durable_name(text: str) -> str:
    """A consumer name made of ``text`` (one may not hold '.', '*', '>' or white space)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text.replace(">", "all"))


def message_id(subject: str, payload: bytes) -> str:
    """The default ``Nats-Msg-Id``: the SM3 digest of the subject and the payload, so the same
    message published twice is stored once."""
    return sm3.hash(subject.encode() + b"\x00" + payload).hex()


class JetStreamBus:
    """The :class:`~wattguard.network.bus.Bus` over NATS JetStream (see the module
    docstring): durable streams, deduplicated publishing, work-queue consumers."""

    def __init__(
        self, connection: Any, streams: Sequence[StreamSpec], *, prefix: str = "",
        ack_wait: float = 30.0, max_deliver: int = 5, retry_delay: float = 1.0,
        batch: int = 256, consumer: str = "", lookback: float = 5.0,
    ) -> None:  # fmt: skip
        self._nc = connection
        self._js = connection.jetstream()
        self.streams = tuple(streams)
        self.prefix = f"{prefix}." if prefix else ""
        self.ack_wait, self.max_deliver = ack_wait, max_deliver
        self.retry_delay, self.batch = retry_delay, batch
        self.consumer = consumer
        self.lookback = lookback
        self._instance = os.urandom(8).hex()  # this bus's publishes' ids (content_ids=False)
        self._queue: asyncio.Queue[tuple[str, bytes, str] | None] = asyncio.Queue()
        # publishes queued and written (stored or given up), and the positions given up
        self._queued = self._written = 0
        self._given_up: collections.deque[int] = collections.deque(maxlen=1024)
        self._progress = asyncio.Event()
        self._settling: set[asyncio.Task[None]] = set()
        self._writer = asyncio.get_running_loop().create_task(self._write())
        # the live subscriptions: each consumer's task, with its unsubscribe and the future
        # set once its consumer exists; a task that ended leaves (an FEP subscribes once for
        # every terminal connection, and a long-lived one must not keep them all)
        self._subscriptions: dict[
            asyncio.Task[Any], tuple[Callable[[], None], asyncio.Future[None]]
        ] = {}
        self.published = self.duplicates = self.failed = 0
        #: publishes the server called duplicates of nothing it stored (module docstring)
        self.unstored = 0
        self.delivered = self.redelivered = self.terminated = 0
        self._current: tuple[int, float] | None = None
        #: See the module docstring ("Batches"); None: every message is acknowledged when its
        #: handler returns.
        self.before_ack: BeforeAck | None = None
        self.batches = self.failed_batches = 0
        #: committed batches given back because a publish of theirs was given up
        self.unsent_batches = 0

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "wattguard", nkey_seed: Path | None = None,
        streams: Sequence[StreamSpec] = DEFAULT_STREAMS, prefix: str = "",
        inbox: str | None = None, manage_streams: bool = True, **options: Any,
    ) -> JetStreamBus:  # fmt: skip
        """Connect to the server at ``url`` (several, of a cluster: comma-separated; the
        connection moves to another when one stops) (with ``nkey_seed``, as that NKey user)
        and create or update ``streams``; ConfigError when the server cannot be reached or has no
        JetStream (start it with ``-js``). ``inbox`` is the prefix of this connection's reply
        subjects (a server with per-service permissions grants each service its own); a
        service without ``manage_streams`` only checks that the streams exist (the station
        creates them; runtime/buskeys.py grants only it that)."""
        try:
            import nats
        except ImportError:
            raise ConfigError("the NATS bus needs nats-py: pip install 'wattguard[nats]'") from None
        credentials: dict[str, Any] = {}
        if nkey_seed is not None:
            credentials["nkeys_seed"] = str(nkey_seed)
        if inbox is not None:
            credentials["inbox_prefix"] = inbox
        try:
            connection = await nats.connect(
                servers=url.split(","), name=name, connect_timeout=2, max_reconnect_attempts=-1,
                allow_reconnect=True, **credentials,
            )  # fmt: skip
        except Exception as exc:
            raise ConfigError(f"cannot reach NATS at {url}: {exc}") from exc
        bus = cls(connection, streams, prefix=prefix, **options)
        try:
            await bus._ensure_streams(manage_streams)
        except Exception as exc:
            await bus.close()
            hint = "" if "overlap" in str(exc) else ": is the server started with -js?"
            raise ConfigError(f"NATS at {url} refused the JetStream streams ({exc}){hint}") from exc
        return bus

    async def _ensure_streams(self, manage: bool = True) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        for spec in self.streams:
            config = StreamConfig(
                name=self._stream_name(spec), subjects=[self.prefix + s for s in spec.subjects],
                retention=RetentionPolicy(spec.retention), storage=StorageType.FILE,
                max_age=spec.max_age, duplicate_window=spec.duplicate_window,
                num_replicas=spec.replicas,
            )  # fmt: skip
            try:
                await self._js.stream_info(config.name)
            except NotFoundError:
                if not manage:  # publishing is retried until the station has made it
                    log.warning("JetStream stream %s does not exist yet", config.name)
                    continue
                await self._js.add_stream(config)
            else:
                if manage:
                    await self._js.update_stream(config)

    def _stream_name(self, spec: StreamSpec) -> str:
        return (self.prefix.rstrip(".").replace(".", "_") + "_" + spec.name).lstrip("_")

    def _stream_for(self, pattern: str) -> StreamSpec:
        for spec in self.streams:
            if any(matches(s, pattern.replace("*", "x").replace(">", "x")) for s in spec.subjects):
                return spec
        raise ConfigError(f"no JetStream stream stores {pattern!r}: add a StreamSpec for it")

    def publish(self, subject: str, payload: bytes, msg_id: str | None = None) -> None:
        """Queue ``payload`` for ``subject``; it is sent in order, stored by the server and
        deduplicated by ``msg_id`` (default: :func:`message_id`; on a stream without content
        ids, an id of this publish alone)."""
        if "*" in subject or ">" in subject:
            raise ConfigError(f"publish to a concrete subject, not the pattern {subject!r}")
        _check(subject)
        spec = self._stream_for(subject)
        self.published += 1
        if msg_id is None:
            if spec.content_ids:
                msg_id = message_id(subject, payload)
            else:  # an id of this publish (kept through its retries), never another's
                msg_id = f"{self._instance}-{self.published}"
        self._queued += 1
        self._queue.put_nowait((subject, payload, msg_id))

    async def _write(self) -> None:
        """Publish what is queued, one at a time. With 32 waiting for their acknowledgements at
        once a FEP spent about a fifth less CPU (each publish was no longer a round trip and a
        socket write of its own), but when a node of a three-node cluster stopped, publishes in
        flight to it were sometimes stored twice under one id (2 runs in 13 of
        tests/runtime/test_jetstream_cluster.py on nats-server 2.9.10, 6-18 messages each; none
        in 8 one at a time): the retries met a new stream leader that had not yet applied the
        first copies. Readings would still be stored once, but commands and acknowledgements
        would go down twice."""
        try:
            while (item := await self._queue.get()) is not None:
                subject, payload, ident = item
                stored = await self._publish_until_stored(subject, payload, ident)
                self._written += 1
                if not stored:
                    self._given_up.append(self._written)
                self._progress.set()
        finally:
            self._progress.set()  # waiters see that nothing more is written

    async def _written_through(self, mark: int, holding: Sequence[Any]) -> None:
        """Wait until the publishes queued up to position ``mark`` are stored or given up (or
        the writer has stopped), telling the server meanwhile that ``holding`` is in progress."""
        while self._written < mark and not self._writer.done():
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), timeout=self.ack_wait / 3)
            except TimeoutError:
                for message in holding:
                    with contextlib.suppress(Exception):
                        await message.in_progress()

    def _all_stored(self, first: int, mark: int) -> bool:
        """Whether every publish queued after position ``first`` up to ``mark`` was stored
        (True when there is none: a batch that published nothing waits for nobody else's)."""
        if mark <= first:
            return True
        return self._written >= mark and not any(first < p <= mark for p in self._given_up)

    async def _publish_until_stored(self, subject: str, payload: bytes, ident: str) -> bool:
        """Publish until the server has stored the message (True) or give up (False)."""
        loop = asyncio.get_running_loop()
        give_up, delay = loop.time() + PUBLISH_PATIENCE, 0.05
        staged: float | None = None  # since when the id is a "duplicate" of nothing stored
        renamed = 0
        while True:
            try:
                ack = await self._js.publish(
                    self.prefix + subject, payload, timeout=2.0, headers={"Nats-Msg-Id": ident}
                )
            except Exception as exc:
                if loop.time() + delay > give_up:
                    self.failed += 1
                    log.error("JetStream publish to %s given up: %s", subject, exc)
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if ack.duplicate and not ack.seq:  # nothing stored under the id (module docstring)
                now = loop.time()
                if staged is None:
                    staged = now
                    if not renamed:  # time for one new id, however long the publish took
                        give_up = max(give_up, now + 2 * STAGED_PATIENCE)
                elif now - staged >= STAGED_PATIENCE:
                    renamed += 1
                    self.unstored += 1
                    log.warning("JetStream called a publish to %s a duplicate of nothing "
                                "stored: sent again under a new id", subject)  # fmt: skip
                    ident, staged = f"{ident}+{renamed}", None
                    continue
                if now + delay > give_up:
                    self.failed += 1
                    log.error("JetStream publish to %s given up: a duplicate of nothing "
                              "stored, whatever its id", subject)  # fmt: skip
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if ack.duplicate:
                self.duplicates += 1
            return True

    def subscribe(
        self, pattern: str, handler: Handler, *, durable: str | None = None
    ) -> Callable[[], None]:
        """Deliver the messages on ``pattern``'s stream to ``handler``, acknowledging each
        when it returns. Subscribers with the same ``durable`` share the messages (each goes
        to one of them); without one, a bus made with ``consumer=NAME`` uses the durable
        ``NAME-<pattern>`` (a restarted service resumes where it stopped), and a bus without
        has a consumer of its own that the server forgets after five idle minutes."""
        _check(pattern)
        if durable is None and self.consumer:
            durable = durable_name(f"{self.consumer}-{pattern}")
        spec = self._stream_for(pattern)
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asked = time.time()  # where a new consumer of a limits stream starts, less lookback
        stopped = asyncio.Event()  # (see close: a cancellation alone may be lost)
        task = asyncio.get_running_loop().create_task(
            self._consume(spec, pattern, handler, durable, started, asked, stopped)
        )

        def unsubscribe() -> None:
            stopped.set()
            task.cancel()

        self._subscriptions[task] = (unsubscribe, started)
        task.add_done_callback(self._ended)
        return unsubscribe

    def _ended(self, task: asyncio.Task[Any]) -> None:
        """A consumer's task ended: it leaves, unless its consumer could not be made (then
        :meth:`ready` raises that error)."""
        entry = self._subscriptions.get(task)
        if entry is None:
            return
        started = entry[1]
        if started.done() and not started.cancelled() and started.exception() is not None:
            return
        del self._subscriptions[task]

    async def _consume(
        self, spec: StreamSpec, pattern: str, handler: Handler, durable: str | None,
        started: asyncio.Future[None], asked: float, stopped: asyncio.Event,
    ) -> None:  # fmt: skip
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait,
            max_deliver=self.max_deliver, filter_subject=self.prefix + pattern,
            inactive_threshold=None if durable else 300.0,
        )  # fmt: skip
        if spec.retention == "limits":  # a new consumer skips the past (module docstring)
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = dt.datetime.fromtimestamp(asked - self.lookback, dt.UTC)
        try:
            subscription = await self._js.pull_subscribe(
                self.prefix + pattern, durable=durable, stream=self._stream_name(spec),
                config=config,
            )  # fmt: skip
        except Exception as exc:
            started.set_exception(ConfigError(f"JetStream consumer for {pattern!r}: {exc}"))
            return
        started.set_result(None)
        while not stopped.is_set():
            try:
                messages = await subscription.fetch(self.batch, timeout=FETCH_WAIT)
            except asyncio.CancelledError:
                raise
            except Exception:  # nothing within the timeout, or the connection is reconnecting
                continue
            if stopped.is_set():  # a cancellation lost (see close)
                for message in messages:  # to another subscriber of the consumer, now
                    with contextlib.suppress(Exception):
                        await message.nak()
                return
            await self._deliver_batch(messages, handler)

    async def _deliver_batch(self, messages: list[Any], handler: Handler) -> None:
        """Run the handlers of a fetched batch and commit (:attr:`before_ack`) until the
        commit holds, then acknowledge the batch (see the module docstring)."""
        delay = self.retry_delay
        while True:
            first = self._queued  # what the batch publishes comes after this position
            # no await from the first handler to the commit: nothing else runs in between
            handled = [self._handle(message, handler) for message in messages]
            self.batches += 1
            if self.before_ack is None or self._committed():
                break
            self.failed_batches += 1
            log.warning("commit of a batch of %d messages failed: run again in %.1f s",
                        len(messages), delay)  # fmt: skip
            await self._hold(messages, delay)
            delay = min(delay * 2, MAX_BACKOFF)
        mark = self._queued
        if self._all_stored(first, mark):
            await self._settle_batch(messages, handled)
            return
        task = asyncio.get_running_loop().create_task(
            self._settle_when_stored(messages, handled, first, mark)
        )
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def _settle_when_stored(
        self, messages: list[Any], handled: list[bool], first: int, mark: int
    ) -> None:
        """Settle a committed batch once what it published is stored; give it back to be
        delivered again when a publish of it was given up (module docstring)."""
        await self._written_through(mark, messages)
        if self._all_stored(first, mark):
            await self._settle_batch(messages, handled)
            return
        self.unsent_batches += 1
        log.warning("a publish of a batch of %d messages was given up: the batch is "
                    "delivered again", len(messages))  # fmt: skip
        for message in messages:
            with contextlib.suppress(Exception):
                await message.nak(delay=self.retry_delay)

    async def _settle_batch(self, messages: list[Any], handled: list[bool]) -> None:
        for message, ok in zip(messages, handled, strict=True):
            with contextlib.suppress(Exception):  # unacknowledged: redelivered after ack_wait
                await self._settle(message, ok)

    async def _hold(self, messages: list[Any], seconds: float) -> None:
        """Wait ``seconds`` keeping ``messages`` ours: the server is told they are in progress
        (its acknowledgement wait starts again), so it neither hands them to another worker
        nor counts another delivery towards ``max_deliver`` while this worker lives."""
        end = asyncio.get_running_loop().time() + seconds
        while True:
            for message in messages:
                with contextlib.suppress(Exception):
                    await message.in_progress()
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, self.ack_wait / 3))

    def _committed(self) -> bool:
        assert self.before_ack is not None
        try:
            return self.before_ack()
        except Exception:
            log.exception("the commit before acknowledging a batch failed")
            return False

    def _handle(self, message: Any, handler: Handler) -> bool:
        """Run ``handler`` on one message; whether it returned (False: it raised)."""
        subject = message.subject[len(self.prefix) :]
        self.delivered += 1
        if message.metadata.num_delivered > 1:
            self.redelivered += 1
        stored = message.metadata.timestamp.timestamp()
        self._current = (message.metadata.sequence.stream, stored)
        try:
            handler(subject, message.data)
        except Exception:
            log.exception("bus handler failed on %s", subject)
            return False
        finally:
            self._current = None
        return True

    async def _settle(self, message: Any, ok: bool) -> None:
        """Acknowledge a handled message, or give a failed one back (terminated after
        ``max_deliver`` attempts)."""
        if ok:
            await message.ack()
            return
        attempt = message.metadata.num_delivered
        if attempt >= self.max_deliver:
            self.terminated += 1
            log.error("bus handler failed %d times on %s: message dropped", attempt,
                      message.subject)  # fmt: skip
            await message.term()
        else:
            await message.nak(delay=self.retry_delay)

    def delivery(self) -> tuple[int, float] | None:
        """While a handler runs: its message's stream sequence and the time the server stored
        it (POSIX seconds); a redelivery has the same pair as the first delivery, a message
        published again a new one (see network/sealed_bus.py). None outside a handler."""
        return self._current

    async def ready(self) -> None:
        """Wait until every consumer exists and everything queued is stored by the server."""
        for _, started in list(self._subscriptions.values()):
            await started
        while not self._queue.empty() and not self._writer.done():
            await asyncio.sleep(0.01)
        await self._nc.flush()

    async def close(self) -> None:
        """Send what is queued, stop the consumers (unacknowledged messages go back to the
        stream) and close the connection."""
        await self._queue.put(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._settling:  # batches waiting for their publishes: the writer has finished
            await asyncio.wait(set(self._settling), timeout=5.0)
        # A consumer stops at its next turn even if its cancellation is lost: Python 3.11's
        # asyncio.wait_for returns the awaited result when a cancellation arrives just as it
        # completes, and nats-py's fetch awaits through it; the consumer then fetched on, and
        # this close waited for it for good (a CI run hung so, in
        # tests/runtime/test_jetstream_cluster.py; caught again with every task's stack).
        consumers = list(self._subscriptions)
        for stop, _ in list(self._subscriptions.values()):
            stop()
        if consumers:
            await asyncio.wait(consumers, timeout=FETCH_WAIT + CLOSE_PATIENCE)
        # not drain(): nats-py 2.16's drain waits for every message a pull put in the
        # subscription's queue to be marked done, and a fetch that takes one from there
        # never marks it, so a drain after a lingering pull waited out its 30 s timeout. What
        # drain would add is nothing here: the consumers are stopped, the publishes stored,
        # and an unacknowledged message goes back to the stream after ack_wait.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.flush(timeout=2), 3.0)  # acknowledgements out
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._nc.close(), CLOSE_PATIENCE)
