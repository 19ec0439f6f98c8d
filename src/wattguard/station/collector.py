"""The station's end of every terminal's link: reports in, verified readings out, commands
down.

Theory of operation. Front-end processors publish what each terminal sends on
``up.<terminal>``; :class:`Collector` keeps one :class:`TerminalLink` (a DL/T 698.45
:class:`~wattguard.protocol.ClientConnection`) per terminal and publishes its answers on
``down.<terminal>``. The link layer answers logins and heartbeats and acknowledges reports;
those bytes go out only *after* the report's readings have been handed to the sink (stored),
so a station that dies in between never acknowledged what it did not keep, and the terminal
sends it again. The sink must therefore take duplicates (the storage keeps each reading once).
With group commit (``commits``: :class:`~wattguard.station.group_commit.IngestQueue`) a
report's readings are only queued for a transaction shared with other reports, so the link
holds everything it would send (the report's acknowledgement first, and whatever follows it)
until that transaction is committed; if the commit fails the held bytes are dropped, and the
terminal, never acknowledged, sends the report again. Readings the storage refuses for good
(:class:`~wattguard.station.records.InvalidRecord`: a value that is not finite) are recorded
as a MALFORMED event and acknowledged, since sending them again would not change them.

The exchanges a report relays are opened together by
:func:`~wattguard.station.ingest.verify_exchanges` (the cryptographic device verifies each
meter's MAC, the report's answers in one call; the link's
:class:`~wattguard.station.freshness.AnswerFreshness` takes each answer once, and only while
young) before :func:`readings_of` reads it, dated by a time the meter authenticated, never by
the terminal's item header. A meter's own report (events) goes to ``on_report``; every meter
whose exchange was verified goes to ``on_meter`` with the terminal whose ``up.<terminal>``
subject carried it (the FEP sets that subject from the terminal's certificate, and on a
sealed bus only an FEP may publish it), so the station learns which meters sit behind which
terminal from what the terminals relay.

A terminal is *online* (:meth:`TerminalLink.online`) while its logins and heartbeats keep
coming: its last one arrived within :data:`ONLINE_HEARTBEATS` of the heartbeat periods it
announced. An open socket, or a login long ago, is not enough: a terminal stuck without a
link to the station sends nothing, and stops counting as online within those periods.

Commands go down as PROXY requests; :meth:`TerminalLink.request` calls back with the answer,
or None when it timed out.

A :class:`TerminalLink` is a sans-IO core (:class:`wattguard.sansio.Core`): the terminal's
bytes in with ``receive_data(data, now)``, the station's out with ``data_to_send()``, its
request timeouts through ``get_timer()`` / ``handle_timer(now)``. Its events are what the
terminal did at the link layer (login, heartbeat, logout) and what it sent that broke the
protocol (also recorded as a security event). A link outlives the terminal's connections (the
FEP's sessions come and go), so the end of a stream (``b""``) changes nothing.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from wattguard.clock import Clock
from wattguard.errors import DecodeError, LocalProtocolError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.bus import Bus, down_subject
from wattguard.network.terminal import Collected, decode_item
from wattguard.protocol import (
    ClientConnection,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
    ServerAddress,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.connect import LinkRequest, LinkRequestType
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.station.freshness import AnswerFreshness
from wattguard.station.ingest import Reading, Verifier, readings_of, verify_exchanges
from wattguard.station.records import InvalidRecord

__all__ = ["ONLINE_HEARTBEATS", "Collector", "CommitQueue", "TerminalLink", "TerminalLinkEvent"]

log = logging.getLogger(__name__)

#: A terminal counts as online while its last login or heartbeat is at most this many of its
#: heartbeat periods old (one heartbeat may be late or lost; the terminal itself gives up
#: after three).
ONLINE_HEARTBEATS = 2.0

ReadingSink = Callable[[list[Reading]], None]
ReportSink = Callable[[bytes, Structure, float], None]
#: Told of each meter whose answer was verified on a terminal's link: (meter, terminal, when).
MeterSink = Callable[[bytes, bytes, float], None]
Callback = Callable[[Structure | None], None]


class CommitQueue(Protocol):
    """Group commit as the collector uses it
    (:class:`~wattguard.station.group_commit.IngestQueue`): a report's readings go in with an
    acknowledgement called True once they are durable, False if their commit failed."""

    def add(self, readings: list[Reading], ack: Callable[[bool], None]) -> None: ...


#: Everything a :class:`TerminalLink` hands out.
TerminalLinkEvent = LinkEvent | ProtocolViolation


@dataclass
class TerminalLink:
    """The station's end of one terminal's link: a DL/T 698.45 client connection that answers
    the terminal's logins and heartbeats, acknowledges its reports once their readings are
    with ``sink`` (each exchange verified by ``verifier``), and carries the station's
    requests (see the module docstring)."""

    terminal: bytes
    verifier: Verifier
    sink: ReadingSink
    events: EventSink | None = None
    on_report: ReportSink | None = None
    require_protection: bool = True
    timeout: float = 120.0
    freshness: AnswerFreshness | None = None
    on_meter: MeterSink | None = None
    connection: ClientConnection = field(init=False)
    logged_in: bool = False
    last_heard: float = 0.0
    last_link: float = 0.0  # the last login or heartbeat
    heartbeat: float = 300.0  # the period the terminal announced in it
    exchanges: int = 0
    refused: int = 0
    _callbacks: dict[int, Callback] = field(default_factory=dict)
    _piid: int = 0
    _events: deque[TerminalLinkEvent] = field(default_factory=deque)
    #: reports of this link whose commit is pending, and the bytes held back until it is done
    waiting: int = 0
    held: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connection = ClientConnection(ServerAddress(self.terminal), timeout=self.timeout)

    @property
    def name(self) -> str:
        """The link's name in logs and security events."""
        return f"station/link {self.terminal.hex()}"

    def receive_data(self, data: bytes, now: float, wall: float | None = None) -> None:
        """Bytes from the terminal (``b""`` changes nothing: see the module docstring).
        ``wall`` is the station's calendar time (POSIX seconds), against which relayed answers
        are judged fresh; None when ``now`` is calendar time itself."""
        self.last_heard = now
        self.connection.receive_data(data, now)
        self._drain(now, now if wall is None else wall)

    def next_event(self) -> TerminalLinkEvent | None:
        """The next :data:`TerminalLinkEvent`, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """The station's bytes for the terminal (cleared once taken)."""
        return self.connection.data_to_send()

    def get_timer(self) -> float | None:
        """When the oldest request times out (None: none is waiting)."""
        return self.connection.get_timer()

    def handle_timer(self, now: float) -> None:
        """Time out the requests that are due (their callbacks get None)."""
        timer = self.connection.get_timer()
        if timer is not None and timer <= now:
            self.connection.handle_timer(now)
            self._drain(now)

    def request(self, apdu: Structure, now: float, callback: Callback) -> None:
        """Send a request (a PROXY, a GET of the terminal) and call back with its answer."""
        self.connection.send_request(apdu, now)
        self._callbacks[int(getattr(apdu, "piid", 0)) & 0x3F] = callback

    def next_piid(self) -> int:
        """A PIID no request is awaiting an answer under (1-63)."""
        for _ in range(64):
            self._piid = self._piid % 63 + 1
            if self._piid not in self._callbacks:
                return self._piid
        raise LocalProtocolError(f"{self.name}: 63 requests are already awaiting answers")

    def _drain(self, now: float, wall: float | None = None) -> None:
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, Notification) and isinstance(
                event.apdu, ReportNotificationTransData
            ):
                self._relayed(event.apdu, now, now if wall is None else wall)
            elif isinstance(event, LinkEvent):
                self._link_seen(event, now)
                self._events.append(event)
            elif isinstance(event, Response):
                callback = self._callbacks.pop(int(getattr(event.request, "piid", 0)) & 0x3F, None)
                if callback is not None:
                    callback(event.response)
            elif isinstance(event, RequestTimedOut):
                callback = self._callbacks.pop(int(getattr(event.request, "piid", 0)) & 0x3F, None)
                if callback is not None:
                    callback(None)
            elif isinstance(event, ProtocolViolation):
                self._record(EventKind.MALFORMED, str(event.error), now)
                self._events.append(event)

    def online(self, now: float) -> bool:
        """Whether the terminal is logged in and its logins or heartbeats keep coming (see the
        module docstring)."""
        return self.logged_in and now - self.last_link <= ONLINE_HEARTBEATS * self.heartbeat

    def _link_seen(self, event: LinkEvent, now: float) -> None:
        request = event.apdu
        self.logged_in = not (
            isinstance(request, LinkRequest) and request.type == LinkRequestType.LOGOUT
        )
        self.last_link = now
        if isinstance(request, LinkRequest) and request.heartbeat > 0:
            self.heartbeat = float(request.heartbeat)

    def _relayed(self, report: ReportNotificationTransData, now: float, wall: float) -> None:
        items: list[Collected] = []
        relayed: list[bytes] = []
        for data in report.data:
            try:
                items.append(decode_item(data))
            except DecodeError as exc:
                self._record(EventKind.MALFORMED, f"relayed item: {exc}", now)
                continue
            relayed.append(data)
        self.exchanges += len(items)
        verified = verify_exchanges(
            items, self.verifier, now=wall, require_protection=self.require_protection,
            events=self.events, freshness=self.freshness, relayed=relayed,
        )  # fmt: skip
        readings: list[Reading] = []
        for item, found in zip(items, verified, strict=True):
            if found is None:
                self.refused += 1
                continue
            if self.on_meter is not None:
                self.on_meter(item.meter, self.terminal, wall)
            if not item.request and self.on_report is not None:
                self.on_report(item.meter, found.answer, found.time)
            readings.extend(readings_of(item.meter, found.answer, found.time))
        if readings:
            self.sink(readings)

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s", self.name, detail)
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.name, detail, now))


class Collector:
    """Every terminal's link, on the bus."""

    def __init__(
        self,
        bus: Bus,
        clock: Clock,
        verifier: Verifier,
        sink: ReadingSink,
        *,
        events: EventSink | None = None,
        on_report: ReportSink | None = None,
        require_protection: bool = True,
        freshness: AnswerFreshness | None = None,
        on_meter: MeterSink | None = None,
        commits: CommitQueue | None = None,
    ) -> None:
        self.bus = bus
        self.commits = commits
        self.on_meter = on_meter
        self.clock = clock
        self.verifier = verifier
        self.sink = sink
        self.events = events
        self.on_report = on_report
        self.require_protection = require_protection
        # One record of the answers taken, for every link: a meter may move between terminals.
        self.freshness = freshness if freshness is not None else AnswerFreshness()
        self.links: dict[bytes, TerminalLink] = {}
        #: How long a request to a terminal (and through it a meter) may take, in the clock's
        #: seconds (new links take it; a live demo raises it: runtime/pacing.py).
        self.request_timeout = TerminalLink.timeout
        self._unsubscribe = bus.subscribe("up.*", self._up)

    def close(self) -> None:
        """Stop listening to the bus."""
        self._unsubscribe()

    def link(self, terminal: bytes) -> TerminalLink:
        """The link of ``terminal`` (made on first use)."""
        link = self.links.get(terminal)
        if link is None:
            sink = self.sink if self.commits is None else partial(self._queue, terminal)
            link = TerminalLink(
                terminal,
                self.verifier,
                sink,
                self.events,
                self.on_report,
                self.require_protection,
                freshness=self.freshness if self.require_protection else None,
                on_meter=self.on_meter,
                timeout=self.request_timeout,
            )
            self.links[terminal] = link
        return link

    def online(self) -> int:
        """How many terminals are online now (:meth:`TerminalLink.online`)."""
        now = self.clock.monotonic()
        return sum(1 for link in self.links.values() if link.online(now))

    def request(
        self, terminal: bytes, build: Callable[[int], Structure], callback: Callback
    ) -> None:
        """Send ``build(piid)`` to ``terminal`` and call back with the answer (None: timeout)."""
        link = self.link(terminal)
        link.request(build(link.next_piid()), self.clock.monotonic(), callback)
        self._flush(link)

    def tick(self) -> None:
        """Run every link's timers (requests that timed out)."""
        now = self.clock.monotonic()
        for link in self.links.values():
            link.handle_timer(now)
            self._flush(link)

    def _up(self, subject: str, payload: bytes) -> None:
        try:
            terminal = bytes.fromhex(subject.split(".", 1)[1])
        except ValueError:
            log.warning("bus subject %s names no terminal", subject)
            return
        link = self.link(terminal)
        link.receive_data(payload, self.clock.monotonic(), self.clock.time())
        self._flush(link)

    def _flush(self, link: TerminalLink) -> None:
        while (event := link.next_event()) is not None:
            if isinstance(event, LinkEvent):
                log.debug("%s: %s", link.name, type(event.apdu).__name__)
        out = link.data_to_send()
        if out and link.waiting:
            link.held.append(out)  # behind an acknowledgement whose commit is pending
        elif out:
            self.bus.publish(down_subject(link.terminal), out)

    def _queue(self, terminal: bytes, readings: list[Reading]) -> None:
        """A report's readings into group commit: its link holds what it sends (the report's
        acknowledgement first) until the commit is done."""
        assert self.commits is not None
        link = self.links[terminal]
        link.waiting += 1
        out = link.data_to_send()  # the report's acknowledgement is already written
        if out:
            link.held.append(out)
        try:
            self.commits.add(readings, partial(self._committed, link))
        except InvalidRecord as exc:  # refused for good: a resend would be refused again
            link._record(EventKind.MALFORMED, f"readings refused: {exc}", self.clock.time())
            self._committed(link, True)

    def _committed(self, link: TerminalLink, durable: bool) -> None:
        """One of ``link``'s reports was committed (or its commit failed: the bytes held so
        far, its acknowledgement among them, are dropped, and the terminal sends it again)."""
        link.waiting -= 1
        if not durable:
            link.held.clear()
        if link.waiting == 0 and link.held:
            out, link.held = b"".join(link.held), []
            self.bus.publish(down_subject(link.terminal), out)
