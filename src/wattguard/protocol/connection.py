"""Sans-IO DL/T 698.45 connections: bytes and time in, events and bytes out.

Theory of operation. A :class:`ClientConnection` (master station, or a terminal acting for it)
and a :class:`ServerConnection` (meter, or a terminal towards its master) each own a
:class:`~wattguard.protocol.stream.FrameDecoder`, a fragment reassembler and the state
machines of :mod:`wattguard.protocol.state`. ``receive_data(bytes, now)`` feeds the link;
``next_event()`` hands out what happened; ``data_to_send()`` returns the bytes to write.
Nothing here reads a clock: every call that starts or checks a timer takes ``now``
(monotonic seconds), ``get_timer()`` says when ``handle_timer(now)`` must next be called.

Requests are matched to responses by their service (the APDU tag without its direction bit:
LINK, GET, REPORT, ...) and PIID service number (bits 0-5), never by the PIID alone: the
6-bit PIIDs of different services are independent counters (a terminal's logins and its
report batches), and an answer of one service never consumes a request of another (a late
REPORT-Response carrying a login's PIID answers no report, and the login stays pending). A
client's REPORT-Response carries the time tag of the report it acknowledges; a server takes one
whose tag names another report than the one its PIID awaits as a late acknowledgement of an
earlier report under that PIID (a violation: the report awaiting stays pending). A
SECURITY-Response carries its PIID inside the protected APDU, so it answers the oldest pending
SECURITY-Request.
Frames that cannot be decoded, responses to nothing and illegal transitions by the peer become
:class:`ProtocolViolation` events (the connection carries on); our own illegal moves raise
:class:`~wattguard.errors.LocalProtocolError`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattguard.errors import DecodeError, LocalProtocolError, ProtocolError, RemoteProtocolError
from wattguard.protocol._events import (
    ConnectionEvent,
    IncomingRequest,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
)
from wattguard.protocol.apdu import Structure, decode_apdu
from wattguard.protocol.apdu.connect import (
    ConnectRequest,
    ConnectResponse,
    ConnectResult,
    LinkRequest,
    LinkRequestType,
    LinkResponse,
    ReleaseNotification,
    ReleaseRequest,
    ReleaseResponse,
)
from wattguard.protocol.apdu.get import GetRequestNext, GetResponseNext
from wattguard.protocol.apdu.report import (
    ReportNotificationList,
    ReportNotificationRecordList,
    ReportNotificationTransData,
    ReportResponseList,
    ReportResponseRecordList,
    ReportResponseTransData,
)
from wattguard.protocol.apdu.security import Protection, SecurityRequest, SecurityResponse
from wattguard.protocol.fragment import Reassembler, acknowledgement, split_apdu
from wattguard.protocol.link import (
    AddressType,
    Control,
    FragmentKind,
    FunctionCode,
    LinkFrame,
    ServerAddress,
)
from wattguard.protocol.state import Association, ConnectionState, Event, Link, Side
from wattguard.protocol.stream import FrameDecoder
from wattguard.protocol.values import DateTime

__all__ = [
    "Calendar",
    "ClientConnection",
    "ConnectionEvent",
    "IncomingRequest",
    "LinkEvent",
    "Notification",
    "ProtocolViolation",
    "RequestTimedOut",
    "Response",
    "ServerConnection",
]

_REPORT_NOTIFICATIONS = (
    ReportNotificationList,
    ReportNotificationRecordList,
    ReportNotificationTransData,
)
_REPORT_RESPONSES = (ReportResponseList, ReportResponseRecordList, ReportResponseTransData)
#: What each LINK request is, for the master's view of the link.
_LINK_EVENTS = {
    LinkRequestType.LOGIN: Event.LOGIN,
    LinkRequestType.HEARTBEAT: Event.HEARTBEAT,
    LinkRequestType.LOGOUT: Event.LOGOUT,
}

#: Largest APDU piece put in one frame before link-layer fragmentation.
DEFAULT_MAX_PIECE = 1024
_SERVICE_MASK = 0x3F

#: ``now`` (monotonic seconds) -> the calendar (POSIX seconds).
Calendar = Callable[[float], float]


def _service(apdu: Any) -> int:
    return int(apdu.piid) & _SERVICE_MASK


#: A pending request's key: its service (the APDU tag without the direction bit, the same in
#: a request and its response) and its PIID service number.
_Key = tuple[int, int]


def _key(apdu: Structure) -> _Key:
    return apdu._prefix[0] & 0x7F, _service(apdu)


@dataclass
class _Pending:
    request: Structure
    deadline: float


@dataclass
class _Endpoint:
    address: ServerAddress
    client_address: int = 0x10
    timeout: float = 10.0
    max_piece: int = DEFAULT_MAX_PIECE
    #: Maps ``now`` (monotonic seconds) to the calendar (POSIX seconds) stamped into LINK
    #: messages; None: no trusted calendar.
    calendar: Calendar | None = None
    _state: ConnectionState = field(init=False, repr=False)
    _decoder: FrameDecoder = field(default_factory=FrameDecoder)
    _reassembler: Reassembler = field(default_factory=Reassembler)
    _out: bytearray = field(default_factory=bytearray)
    _events: deque[ConnectionEvent] = field(default_factory=deque)
    _pending: dict[_Key, _Pending] = field(default_factory=dict)
    _pending_security: deque[_Pending] = field(default_factory=deque)
    _now: float = 0.0
    _raw: bytes = b""  # the APDU being handled, as it arrived

    from_server = False
    side = Side.CLIENT

    def __post_init__(self) -> None:
        self._state = ConnectionState(self.side)

    @property
    def association(self) -> Association:
        """The application association as this side sees it (:mod:`wattguard.protocol.state`)."""
        return self._state.association

    @property
    def link(self) -> Link:
        """The LINK login state as this side sees it (:mod:`wattguard.protocol.state`)."""
        return self._state.link

    # --- the sans-IO surface ---------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer, at ``now``; what they mean comes out of :meth:`next_event`."""
        self._now = now
        self._decoder.receive_data(data)
        for frame in self._decoder.frames():
            self._frame(frame)
        while self._decoder.errors:
            self._events.append(ProtocolViolation(self._decoder.errors.popleft()))

    def next_event(self) -> ConnectionEvent | None:
        """The next event (see :data:`ConnectionEvent`), or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        pending, secured = self._pending, self._pending_security
        if not pending and not secured:
            return None  # the usual case, asked at every event of a simulation
        deadlines = [p.deadline for p in pending.values()]
        deadlines += [p.deadline for p in secured]
        return min(deadlines)

    def handle_timer(self, now: float) -> None:
        for key, pending in list(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[key]
                self._expired(pending.request)
        while self._pending_security and self._pending_security[0].deadline <= now:
            self._expired(self._pending_security.popleft().request)

    # --- sending ---------------------------------------------------------------------------

    def _write(
        self,
        apdu: bytes,
        control: Control,
        address: ServerAddress | None = None,
        client_address: int | None = None,
    ) -> None:
        target = address or self.address
        client = self.client_address if client_address is None else client_address
        if len(apdu) <= self.max_piece:
            self._out += LinkFrame(control, target, client, apdu).to_bytes()
            return
        fragmented = Control(control.from_server, control.client_started, control.function, True)
        for fragment, piece in split_apdu(apdu, self.max_piece):
            self._out += LinkFrame(fragmented, target, client, piece, fragment).to_bytes()

    def _expect(self, request: Structure, now: float) -> None:
        pending = _Pending(request, now + self.timeout)
        if isinstance(request, SecurityRequest):
            self._pending_security.append(pending)
            return
        key = _key(request)
        if key in self._pending:
            raise LocalProtocolError(f"PIID service number {key[1]} is already awaiting an answer")
        self._pending[key] = pending

    def _match(self, response: Structure) -> Structure | None:
        if isinstance(response, SecurityResponse):
            return self._pending_security.popleft().request if self._pending_security else None
        pending = self._pending.pop(_key(response), None)
        return None if pending is None else pending.request

    # --- receiving -------------------------------------------------------------------------

    def _frame(self, frame: LinkFrame) -> None:
        if frame.control.from_server == self.from_server:
            self._violation(RemoteProtocolError("frame sent in our own direction"))
            return
        if not self._accepts(frame.address):
            return  # on a shared medium, frames for others are normal
        apdu_bytes: bytes | None = frame.apdu
        if frame.fragment is not None:
            if frame.fragment.kind == FragmentKind.ACKNOWLEDGE:
                return
            ack = LinkFrame(
                Control(
                    self.from_server, frame.control.client_started, frame.control.function, True
                ),
                frame.address,
                frame.client_address,
                b"",
                acknowledgement(frame.fragment),
            )
            self._out += ack.to_bytes()
            try:
                apdu_bytes = self._reassembler.receive(frame.fragment, frame.apdu)
            except RemoteProtocolError as exc:
                self._violation(exc)
                return
            if apdu_bytes is None:
                return
        assert apdu_bytes is not None
        try:
            apdu = decode_apdu(apdu_bytes)
        except DecodeError as exc:
            self._violation(exc)
            return
        self._raw = apdu_bytes
        try:
            self._apdu(apdu, frame)
        except RemoteProtocolError as exc:
            self._violation(exc)

    def _calendar_now(self, fallback: DateTime) -> DateTime:
        return fallback if self.calendar is None else DateTime.from_posix(self.calendar(self._now))

    def _violation(self, error: ProtocolError) -> None:
        self._events.append(ProtocolViolation(error))

    def _accepts(self, address: ServerAddress) -> bool:
        return True

    def _apdu(self, apdu: Structure, frame: LinkFrame) -> None:
        raise NotImplementedError

    def _expired(self, request: Structure) -> None:
        self._events.append(RequestTimedOut(request))


@dataclass
class ClientConnection(_Endpoint):
    """The requesting side: the master station, or a terminal reading its meters."""

    _blocks: dict[int, list[tuple[Any, ...]]] = field(default_factory=dict)

    from_server = False

    def send_request(self, apdu: Structure, now: float, encoded: bytes = b"") -> None:
        """Send a GET/SET/ACTION/PROXY/SECURITY request and await its answer (``encoded``:
        ``apdu.to_bytes()``, when the caller has it already)."""
        self._state.associate(Event.REQUEST, remote=False)
        self._expect(apdu, now)
        self._write(encoded or apdu.to_bytes(), Control(False, True))

    def connect(self, request: ConnectRequest, now: float) -> None:
        self._state.associate(Event.SEND_CONNECT, remote=False)
        self._expect(request, now)
        self._write(request.to_bytes(), Control(False, True))

    def release(self, request: ReleaseRequest, now: float) -> None:
        self._state.associate(Event.SEND_RELEASE, remote=False)
        self._expect(request, now)
        self._write(request.to_bytes(), Control(False, True))

    def _expired(self, request: Structure) -> None:
        if isinstance(request, ConnectRequest | ReleaseRequest):
            self._state.associate(Event.TIMEOUT, remote=False)
        super()._expired(request)

    def _apdu(self, apdu: Structure, frame: LinkFrame) -> None:
        if isinstance(apdu, LinkRequest):
            self._answer_link(apdu, frame)
            return
        if isinstance(apdu, _REPORT_NOTIFICATIONS):
            self._acknowledge_report(apdu, frame)
            return
        if isinstance(apdu, SecurityRequest) and not frame.control.client_started:
            self._secured_report(apdu, frame)
            return
        if isinstance(apdu, ReleaseNotification):
            self._state.associate(Event.RELEASE_NOTIFIED, remote=True)
            self._events.append(Notification(apdu))
            return
        if isinstance(apdu, GetResponseNext):
            self._next_block(apdu)
            return
        request = self._match(apdu)
        if request is None:
            raise RemoteProtocolError(f"{type(apdu).__name__} answers no pending request")
        if isinstance(apdu, ConnectResponse):
            accepted = apdu.info.result == ConnectResult.ACCEPTED
            event = Event.CONNECT_ACCEPTED if accepted else Event.CONNECT_REFUSED
            self._state.associate(event, remote=True)
        elif isinstance(apdu, ReleaseResponse):
            self._state.associate(Event.RELEASED, remote=True)
        self._events.append(Response(request, apdu, self._raw))

    def _next_block(self, apdu: GetResponseNext) -> None:
        """Application-layer blocks (DL/T 698.45 GET-Response-Next): ask for each next block
        until the last, then hand out one response with every block's results joined."""
        key = _key(apdu)
        pending = self._pending.pop(key, None)
        if pending is None:
            raise RemoteProtocolError("GET-Response-Next answers no pending request")
        blocks = self._blocks.setdefault(key[1], [])
        if blocks and apdu.block_number != len(blocks) + 1:
            del self._blocks[key[1]]
            self._pending[key] = pending  # the caller still hears of it: it will time out
            raise RemoteProtocolError(
                f"block {apdu.block_number} arrived where {len(blocks) + 1} was due"
            )
        if isinstance(apdu.answer, tuple):
            blocks.append(apdu.answer)
        if apdu.last_block or not isinstance(apdu.answer, tuple):
            del self._blocks[key[1]]
            answer: Any = apdu.answer
            if isinstance(answer, tuple):
                answer = tuple(result for block in blocks for result in block)
            joined = GetResponseNext(apdu.piid, True, apdu.block_number, answer)
            self._events.append(Response(pending.request, joined))
            return
        # Each block earns the transfer one more timeout period.
        self._pending[key] = _Pending(pending.request, pending.deadline + self.timeout)
        follow_up = GetRequestNext(apdu.piid & 0xBF, apdu.block_number)
        self._write(follow_up.to_bytes(), Control(False, True))

    def _answer_link(self, apdu: LinkRequest, frame: LinkFrame) -> None:
        received = self._calendar_now(apdu.time)
        trusted = 0x80 if self.calendar is not None else 0x00  # bit 7: our clock is trusted
        answer = LinkResponse(apdu.piid & 0xBF, trusted, apdu.time, received, received)
        control = Control(False, False, FunctionCode.LINK_MANAGEMENT)
        self._out += LinkFrame(
            control, frame.address, frame.client_address, answer.to_bytes()
        ).to_bytes()
        self._state.link_event(_LINK_EVENTS[apdu.type], remote=True)
        self._events.append(LinkEvent(apdu))

    def _secured_report(self, apdu: SecurityRequest, frame: LinkFrame) -> None:
        """A report the server wrapped (plaintext + RN_MAC): acknowledged at once, handed to
        the application as a Notification of the wrapped APDU, whose MAC it must check."""
        if apdu.payload.protection != Protection.PLAINTEXT:
            raise RemoteProtocolError("a secured report travels as plaintext + MAC")
        inner = decode_apdu(apdu.payload.data)
        if not isinstance(inner, _REPORT_NOTIFICATIONS):
            raise RemoteProtocolError("a server-started SECURITY-Request must carry a report")
        self._acknowledge_report(inner, frame, notify=apdu)

    def _acknowledge_report(
        self, apdu: Any, frame: LinkFrame, notify: Structure | None = None
    ) -> None:
        piid = apdu.piid & 0xBF
        ack: Structure
        tag = apdu.time_tag  # names the report acknowledged (ServerConnection._apdu)
        if isinstance(apdu, ReportNotificationTransData):
            ack = ReportResponseTransData(piid, tag)
        elif isinstance(apdu, ReportNotificationList):
            ack = ReportResponseList(piid, tuple(result.oad for result in apdu.results), tag)
        else:
            ack = ReportResponseRecordList(piid, tuple(r.oad for r in apdu.results), tag)
        self._write(ack.to_bytes(), Control(False, False), frame.address, frame.client_address)
        self._events.append(Notification(notify if notify is not None else apdu))


@dataclass
class ServerConnection(_Endpoint):
    """The answering side: a meter, or a terminal towards its master station.

    A terminal logs in with :meth:`login`, and then its heartbeat falls due every
    ``heartbeat`` seconds (``get_timer`` includes it); three unanswered heartbeats take the
    link offline. Every link state has a timer or an exit: a login has a deadline
    (``timeout`` seconds) that takes the link OFFLINE when no LINK-Response accepted it, even
    if its pending request was lost; ONLINE has the heartbeat; OFFLINE waits for the
    application's next :meth:`login`.
    """

    heartbeat: float = 300.0
    missed_limit: int = 3
    _next_heartbeat: float | None = None
    _link_piid: int = 0
    _login_sent_at: float = 0.0
    _login: LinkRequest | None = None

    from_server = True
    side = Side.SERVER

    def _accepts(self, address: ServerAddress) -> bool:
        if address.type == AddressType.BROADCAST:
            return True
        mine = self.address.address
        if address.type == AddressType.WILDCARD:
            theirs = address.address.hex()
            return len(theirs) == len(mine.hex()) and all(
                t in ("a", m) for t, m in zip(theirs, mine.hex(), strict=True)
            )
        return address.address == mine

    def respond(self, request: IncomingRequest, apdu: Structure) -> None:
        """Answer ``request`` (the PIID must match, CONNECT/RELEASE move the association)."""
        if not isinstance(apdu, SecurityResponse) and _key(apdu) != _key(request.apdu):
            raise LocalProtocolError("a response must carry its request's PIID")
        if isinstance(apdu, ConnectResponse):
            accepted = apdu.info.result == ConnectResult.ACCEPTED
            event = Event.CONNECT_ACCEPTED if accepted else Event.CONNECT_REFUSED
            self._state.associate(event, remote=False)
        elif isinstance(apdu, ReleaseResponse):
            self._state.associate(Event.RELEASED, remote=False)
        self._write(apdu.to_bytes(), Control(True, True), request.address, request.client_address)

    def notify(self, apdu: Structure, now: float, *, answers: Structure | None = None) -> None:
        """Report on our own (REPORT-Notification, RELEASE-Notification). A report wrapped in
        a SECURITY-Request passes the inner report as ``answers``: the peer acknowledges it
        with a REPORT-Response carrying its PIID."""
        if isinstance(apdu, ReleaseNotification):
            self._state.associate(Event.RELEASE_NOTIFIED, remote=False)
        else:
            self._expect(answers if answers is not None else apdu, now)
        self._write(apdu.to_bytes(), Control(True, False))

    def login(self, now: float) -> None:
        """Log in to the master: the link is LOGGING_IN until the answer, or the deadline."""
        self._state.link_event(Event.LOGIN, remote=False)
        self._login_sent_at = now
        self._next_heartbeat = None
        # the previous login's heartbeats answer nothing now: they must not time out into it
        for key in [k for k, p in self._pending.items() if isinstance(p.request, LinkRequest)]:
            del self._pending[key]
        self._login = self._link_request(LinkRequestType.LOGIN, now)

    def logout(self, now: float) -> None:
        self._state.link_event(Event.LOGOUT, remote=False)
        self._link_request(LinkRequestType.LOGOUT, now)
        self._next_heartbeat = None

    def _link_request(self, kind: LinkRequestType, now: float) -> LinkRequest:
        self._link_piid = (self._link_piid + 1) & _SERVICE_MASK
        stamp = DateTime.from_posix(self.calendar(now) if self.calendar is not None else 0.0)
        request = LinkRequest(self._link_piid, kind, int(self.heartbeat), stamp)
        if kind != LinkRequestType.LOGOUT:
            self._pending.pop(_key(request), None)
            self._expect(request, now)
        control = Control(True, False, FunctionCode.LINK_MANAGEMENT)
        self._write(request.to_bytes(), control)
        return request

    @property
    def _login_deadline(self) -> float | None:
        if self.link != Link.LOGGING_IN:
            return None
        return self._login_sent_at + self.timeout

    def get_timer(self) -> float | None:
        # asked at every event of a terminal's simulation: no generator, no tuple
        timer = super().get_timer()
        heartbeat = self._next_heartbeat
        if heartbeat is not None and (timer is None or heartbeat < timer):
            timer = heartbeat
        login = self._login_deadline
        if login is not None and (timer is None or login < timer):
            timer = login
        return timer

    def handle_timer(self, now: float) -> None:
        super().handle_timer(now)
        deadline = self._login_deadline
        if deadline is not None and deadline <= now and self._login is not None:
            # the login's pending request is gone (never so by our own matching, but the
            # state must not depend on it): the deadline alone takes the link OFFLINE
            self._pending.pop(_key(self._login), None)
            self._expired(self._login)
        if self._next_heartbeat is not None and self._next_heartbeat <= now:
            self._state.link_event(Event.HEARTBEAT, remote=False)
            self._next_heartbeat = now + self.heartbeat
            self._link_request(LinkRequestType.HEARTBEAT, now)

    def _expired(self, request: Structure) -> None:
        if isinstance(request, LinkRequest):
            login = request.type == LinkRequestType.LOGIN
            if self._state.link_unanswered(login=login, missed_limit=self.missed_limit):
                self._next_heartbeat = None
        super()._expired(request)

    def _refuse_late(self, ack: Any) -> None:
        """Raise when REPORT-Response ``ack`` names by its time tag another report than the
        one its PIID awaits (a late acknowledgement of an earlier report under that PIID); an
        acknowledgement without a tag, or a report sent without one, is matched by PIID."""
        pending = self._pending.get(_key(ack))
        sent = None if pending is None else getattr(pending.request, "time_tag", None)
        named = ack.time_tag
        if sent is not None and named is not None and named != sent:
            raise RemoteProtocolError(
                f"REPORT-Response for PIID {_service(ack)} names the report sent at "
                f"{named.send_time.to_datetime()}, not the one awaiting it (sent at "
                f"{sent.send_time.to_datetime()}): a late acknowledgement"
            )

    def _apdu(self, apdu: Structure, frame: LinkFrame) -> None:
        if isinstance(apdu, LinkResponse):
            request = self._match(apdu)
            if not isinstance(request, LinkRequest):
                raise RemoteProtocolError("LINK-Response answers no pending login or heartbeat")
            ok = apdu.result & 0x07 == 0
            login = request.type == LinkRequestType.LOGIN
            self._state.link_answered(login=login, accepted=ok)
            if login and ok:
                self._next_heartbeat = self._login_sent_at + self.heartbeat
            self._events.append(LinkEvent(apdu))
            return
        if isinstance(apdu, _REPORT_RESPONSES):
            self._refuse_late(apdu)
            request = self._match(apdu)
            if request is None:
                raise RemoteProtocolError("REPORT-Response answers no report")
            self._events.append(Response(request, apdu))
            return
        if frame.control.from_server or not frame.control.client_started:
            raise RemoteProtocolError(f"{type(apdu).__name__} is not a request")
        if _is_request(apdu):
            self._state.associate(Event.REQUEST, remote=True)
            self._events.append(IncomingRequest(apdu, frame.address, frame.client_address))
            return
        raise RemoteProtocolError(f"{type(apdu).__name__} is not a request")


#: Service tags a client may send as a request: CONNECT, RELEASE, GET, SET, ACTION, PROXY,
#: SECURITY.
_REQUEST_TAGS = frozenset((2, 3, 5, 6, 7, 9, 16))


def _is_request(apdu: Structure) -> bool:
    return apdu._prefix[0] in _REQUEST_TAGS
