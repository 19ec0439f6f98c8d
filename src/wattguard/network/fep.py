"""The front-end processor's boundary checks, sans-IO.

Theory of operation. A front-end processor (FEP) is the station's boundary: the only place
terminals connect to. The WAN secure channel (:mod:`wattguard.network.wan`) authenticates the
terminal by its certificate before anything reaches this module; a :class:`FepSession` then
guards what that terminal may send up:

* **framing**: the byte stream must decode as DL/T 698.45 frames no larger than
  ``max_frame``; garbage is dropped and recorded (MALFORMED), and a connection that keeps
  sending it (``malformed_limit`` within ``window`` seconds) is closed;
* **direction and identity**: a frame must come from a server (the terminal side) and carry
  the address the terminal authenticated with; a terminal claiming another's address is
  refused (UNAUTHORISED) and closed;
* **login first**: until the terminal has sent a LINK login, only LINK frames pass;
* **rate**: a token bucket per connection in frames and in bytes; frames over the rate are
  dropped and recorded (FLOOD); a connection that stays over it for ``flood_limit`` frames is
  closed;
* **the FEP as a whole** (:class:`ConnectionGate`): a cap on connections in all and per
  remote host, a rate of new connections per host (a host whose connections are closed for
  misbehaving cannot come straight back: each connection costs the FEP an accept, a
  handshake and some decoding), and a deadline for the handshake and the login. The
  per-host cap counts only connections that have not authenticated yet: a terminal's session,
  once the channel named it, no longer counts against its host, and a host at its cap that
  opens one more connection closes its own oldest unauthenticated one rather than being
  refused. So a host that shares an address with terminals (a NAT, a compromised device
  beside them) cannot keep them out by holding connections open without a handshake: the
  newest connection always gets its handshake, and the host's rate bounds how fast it can be
  displaced.

A refused frame is never forwarded; everything forwarded is a whole, valid frame. Closing is
a decision (``session.closed`` says why, and a :class:`SessionClosed` event); the runtime
carries it out. :class:`FepConnection` is one accepted connection, sans-IO: its channel core
(:mod:`wattguard.network.channel`), the deadline for the handshake, then its session; the
runtime drives it as it drives every core (:class:`wattguard.sansio.Core`). The stream is decoded
:data:`SLICE` bytes at a time and the checks run after each slice, so a connection that is
to be closed costs at most one slice more: hunting for frames in garbage is the FEP's most
expensive work (a stream of 0x68 bytes, each a possible frame start, costs about 2 ms of
CPU per kilobyte), and a whole 64 KB read of it would cost a tenth of a second.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.channel import ChannelClosed, ChannelCore, ChannelUp
from wattguard.protocol.link import FunctionCode, LinkFrame
from wattguard.protocol.stream import FrameDecoder

__all__ = [
    "Admission",
    "ConnectionClosed",
    "ConnectionGate",
    "FepConnection",
    "FepConnectionEvent",
    "FepLimits",
    "FepSession",
    "FepSessionEvent",
    "FrameAdmitted",
    "SessionClosed",
    "SessionOpened",
    "TokenBucket",
]

log = logging.getLogger(__name__)

#: Bytes decoded between two rounds of checks (see the module docstring).
SLICE = 1024
#: The first byte of a LINK-Request APDU.
_LINK_REQUEST = 1
_LOGIN = 0


@dataclass(frozen=True, slots=True)
class FepLimits:
    """What the FEP allows: connections (in all, per host, per second), each connection's
    rate in frames and bytes, the largest frame, how much garbage and flooding it tolerates
    (within ``window`` seconds), and how long a handshake and login may take."""

    max_connections: int = 10_000
    max_per_host: int = 16
    frames_per_second: float = 50.0
    frame_burst: int = 200
    bytes_per_second: float = 256_000.0
    byte_burst: int = 1_000_000
    max_frame: int = 4096
    malformed_limit: int = 20
    flood_limit: int = 1000
    window: float = 60.0
    login_timeout: float = 60.0
    connections_per_second: float = 1.0  # new connections per host, sustained
    connection_burst: int = 16  # ... and at once (a FEP restart: every terminal behind a NAT)

    def __post_init__(self) -> None:
        caps = (self.max_connections, self.max_per_host, self.frame_burst, self.byte_burst)
        if min(*caps, self.connection_burst) < 1:
            raise ConfigError("FEP limits: connection caps and bursts must be at least 1")
        if min(self.frames_per_second, self.bytes_per_second, self.connections_per_second) <= 0:
            raise ConfigError("FEP limits: rates must be positive")
        if self.max_frame < 16:
            raise ConfigError("FEP limits: max_frame must allow a minimal frame (16 bytes)")


@dataclass
class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; :meth:`take` spends them."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, amount: float, now: float) -> bool:
        """Whether ``amount`` tokens were there at ``now`` (and are now spent)."""
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass(frozen=True, slots=True)
class FrameAdmitted:
    """A whole, valid frame that passed the checks: it may go on to the station."""

    frame: LinkFrame


@dataclass(frozen=True, slots=True)
class SessionClosed:
    """The checks closed the session (the security event is recorded): ``reason``."""

    reason: str


#: Everything a :class:`FepSession` hands out.
FepSessionEvent = FrameAdmitted | SessionClosed


@dataclass(eq=False)
class FepSession:
    """One terminal's connection, after the WAN channel authenticated it: a sans-IO core
    (:class:`wattguard.sansio.Core`) whose events are the frames it admits and its closing.
    It never answers the terminal (``data_to_send`` is always empty); its one timer is the
    deadline for the login.

    ``terminal`` is the address from its certificate, or None when the boundary protection is
    off (then any address is believed: the unprotected configuration of the attack harness).
    """

    terminal: bytes | None
    opened: float
    limits: FepLimits = field(default_factory=FepLimits)
    events: EventSink | None = None
    source: str = "FEP"
    closed: str | None = None
    logged_in: bool = False
    forwarded: int = 0
    dropped: int = 0
    claimed: bytes | None = None  # the address the frames carry (first valid frame's)
    _decoder: FrameDecoder = field(init=False)
    _frames: TokenBucket = field(init=False)
    _bytes: TokenBucket = field(init=False)
    _malformed: list[float] = field(default_factory=list)
    _flooded: int = 0
    _events: deque[FepSessionEvent] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(self.limits.max_frame)
        self._frames = TokenBucket(self.limits.frames_per_second, self.limits.frame_burst)
        self._bytes = TokenBucket(self.limits.bytes_per_second, self.limits.byte_burst)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the terminal: each frame that may go on to the station becomes a
        :class:`FrameAdmitted`. ``b""`` (the terminal hung up) changes nothing: the runtime
        drops the session."""
        for at in range(0, len(data), SLICE):
            if self.closed is not None:
                return
            self._decoder.receive_data(data[at : at + SLICE])
            for frame in self._decoder.frames():
                if self._admit(frame, now):
                    self._events.append(FrameAdmitted(frame))
                    self.forwarded += 1
                else:
                    self.dropped += 1
                if self.closed is not None:
                    return
            errors = self._decoder.errors
            if errors and self.closed is None:  # one event for the slice, each error counted
                more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
                self._malformed_seen(f"undecodable bytes: {errors[0]}{more}", now, len(errors))
            errors.clear()

    def next_event(self) -> FepSessionEvent | None:
        """The next :data:`FepSessionEvent`, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """Always empty: the session only checks, the station answers."""
        return b""

    def get_timer(self) -> float | None:
        """The login deadline, until the terminal has logged in (None after, or closed)."""
        if self.logged_in or self.closed is not None:
            return None
        return self.opened + self.limits.login_timeout

    def handle_timer(self, now: float) -> None:
        """Close the session if the login deadline (:meth:`get_timer`) has passed."""
        deadline = self.get_timer()
        if deadline is not None and now >= deadline:
            self._close(EventKind.AUTHENTICATION, "no login within the login timeout", now)

    # --- checks ---------------------------------------------------------------------------

    def _admit(self, frame: LinkFrame, now: float) -> bool:
        if not frame.control.from_server:
            self._malformed_seen("a frame in the station's direction", now)
            return False
        address = frame.address.address
        if self.terminal is not None and address != self.terminal:
            self._close(
                EventKind.UNAUTHORISED,
                f"terminal {self.terminal.hex()} sent a frame as {address.hex()}",
                now,
            )
            return False
        if self.claimed is None:
            self.claimed = address
        elif address != self.claimed:
            self._close(EventKind.UNAUTHORISED, "one connection spoke for two terminals", now)
            return False
        if not (self._frames.take(1, now) and self._bytes.take(len(frame.apdu) + 16, now)):
            self._flooded += 1
            if self._flooded == 1 or self._flooded % 100 == 0:
                self._record(EventKind.FLOOD, f"over the rate limit ({self._flooded} frames)", now)
            if self._flooded >= self.limits.flood_limit:
                self._close(EventKind.FLOOD, "stayed over the rate limit", now)
            return False
        is_link = frame.control.function == FunctionCode.LINK_MANAGEMENT
        if not self.logged_in:
            if not is_link:
                self._record(EventKind.UNAUTHORISED, "data before the LINK login", now)
                return False
            apdu = frame.apdu
            if len(apdu) >= 3 and apdu[0] == _LINK_REQUEST and apdu[2] == _LOGIN:
                self.logged_in = True
        return True

    def _malformed_seen(self, detail: str, now: float, count: int = 1) -> None:
        self._record(EventKind.MALFORMED, detail, now)
        self._malformed = [t for t in self._malformed if now - t < self.limits.window]
        self._malformed.extend([now] * min(count, self.limits.malformed_limit))
        if len(self._malformed) >= self.limits.malformed_limit:
            self._close(EventKind.MALFORMED, "too many malformed frames", now)

    def _close(self, kind: EventKind, reason: str, now: float) -> None:
        if self.closed is None:
            self.closed = reason
            self._record(kind, f"connection closed: {reason}", now)
            self._events.append(SessionClosed(reason))

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.source, detail, now))


@dataclass(eq=False)
class Admission:
    """One connection the :class:`ConnectionGate` let in, from ``host``: unauthenticated until
    :meth:`ConnectionGate.authenticated`. ``close`` (set by the runtime) ends the connection
    when the gate evicts it (``evicted``) to make room for a newer one from the same host."""

    host: str
    opened: float
    authenticated: bool = False
    evicted: bool = False
    released: bool = False
    close: Callable[[], None] | None = None


@dataclass
class ConnectionGate:
    """The FEP's connection caps: in all, and per remote host for the connections that have
    not authenticated yet (see the module docstring)."""

    limits: FepLimits = field(default_factory=FepLimits)
    events: EventSink | None = None
    source: str = "FEP"
    _waiting: dict[str, deque[Admission]] = field(default_factory=dict)
    _rates: dict[str, TokenBucket] = field(default_factory=dict)
    _open: int = 0
    refused: int = 0
    evicted: int = 0

    @property
    def open(self) -> int:
        """Connections admitted and not yet released."""
        return self._open

    def unauthenticated(self, host: str) -> int:
        """Connections from ``host`` that have not authenticated (yet)."""
        return len(self._waiting.get(host, ()))

    def admit(self, host: str, now: float) -> Admission | None:
        """A new connection from ``host``: its :class:`Admission`, or None when it may not
        proceed (call :meth:`release` with the admission when it ends). At the host's cap,
        the host's oldest unauthenticated connection is evicted to make room."""
        if self._open >= self.limits.max_connections:
            self._refuse(f"connection from {host}: the FEP is full", now)
            return None
        rate = self._rates.get(host)
        if rate is None:
            if len(self._rates) >= 4 * self.limits.max_connections:
                self._forget_idle(now)
            limits = self.limits
            rate = self._rates[host] = TokenBucket(
                limits.connections_per_second, limits.connection_burst
            )
        if not rate.take(1, now):
            self._refuse(f"connection from {host}: reconnecting too fast", now)
            return None
        waiting = self._waiting.setdefault(host, deque())
        if len(waiting) >= self.limits.max_per_host:
            self._evict(waiting.popleft(), now)
        admission = Admission(host, now)
        waiting.append(admission)
        self._open += 1
        return admission

    def authenticated(self, admission: Admission) -> None:
        """The channel named the peer of ``admission``: it no longer counts against its
        host's cap."""
        if admission.authenticated or admission.evicted or admission.released:
            return
        admission.authenticated = True
        self._unwait(admission)

    def release(self, admission: Admission) -> None:
        """The connection of ``admission`` has ended."""
        if admission.released:
            return
        admission.released = True
        if not admission.evicted:
            self._open -= 1
            self._unwait(admission)

    def _evict(self, admission: Admission, now: float) -> None:
        admission.evicted = True
        self._open -= 1
        self.evicted += 1
        if self.events is not None and (self.evicted == 1 or self.evicted % 100 == 0):
            detail = (
                f"{admission.host}: {self.limits.max_per_host} connections without a handshake;"
                f" the oldest closed for a new one ({self.evicted})"
            )
            self.events.record(SecurityEvent(EventKind.FLOOD, self.source, detail, now))
        if admission.close is not None:
            admission.close()

    def _unwait(self, admission: Admission) -> None:
        waiting = self._waiting.get(admission.host)
        if waiting is None:
            return
        with contextlib.suppress(ValueError):
            waiting.remove(admission)
        if not waiting:
            del self._waiting[admission.host]

    def _forget_idle(self, now: float) -> None:
        """Drop the rates of hosts whose bucket has refilled (they are as good as new)."""
        full = self.limits.connection_burst / self.limits.connections_per_second
        for host in [h for h, bucket in self._rates.items() if now - bucket.updated >= full]:
            del self._rates[host]

    def _refuse(self, detail: str, now: float) -> None:
        self.refused += 1
        if self.events is not None and (self.refused == 1 or self.refused % 100 == 0):
            self.events.record(
                SecurityEvent(EventKind.FLOOD, self.source, f"{detail} ({self.refused})", now)
            )


# --- one accepted connection: channel, handshake deadline, session -------------------------


@dataclass(frozen=True, slots=True)
class SessionOpened:
    """The channel named the terminal (or nobody, unprotected): from here on ``session``
    checks every frame."""

    session: FepSession


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The FEP ends this connection (the runtime closes it after sending what is queued, the
    channel's alert for instance): refused by the channel, closed by the session's checks, or
    no handshake in time. Its security event is recorded."""

    reason: str


#: Everything a :class:`FepConnection` hands out.
FepConnectionEvent = SessionOpened | FrameAdmitted | ConnectionClosed


class FepConnection:
    """One accepted connection at the FEP, sans-IO (:class:`wattguard.sansio.Core`).

    Bytes go to the channel core (``channel``); once it is up, a :class:`FepSession` checks
    what comes through it and its admitted frames come out as :class:`FrameAdmitted`. Until
    then, the one timer is the deadline for the handshake (``limits.login_timeout`` after
    ``opened``); after, the session's login deadline. ``name`` is the FEP's (the source of
    its events), ``peer`` the remote ``host:port``. :meth:`send` takes what the station sends
    down. The end of the stream (``b""``) ends the channel quietly (see
    :mod:`wattguard.network.channel`).
    """

    def __init__(
        self,
        channel: ChannelCore,
        opened: float,
        *,
        limits: FepLimits,
        events: EventSink | None,
        name: str,
        peer: str,
    ) -> None:
        self.channel = channel
        self.opened = opened
        self.limits = limits
        self.events = events
        self.name = name
        self.peer = peer
        self.session: FepSession | None = None
        self.closed: str | None = None
        self._events: deque[FepConnectionEvent] = deque()

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the terminal; ``b""``: it hung up."""
        if self.closed is None:
            self.channel.receive_data(data, now)
            self._pump(now)

    def next_event(self) -> FepConnectionEvent | None:
        """The next :data:`FepConnectionEvent`, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """What the channel has to send to the terminal."""
        return self.channel.data_to_send()

    def get_timer(self) -> float | None:
        """The handshake deadline, then the session's login deadline."""
        if self.closed is not None:
            return None
        if self.session is None:
            return self.opened + self.limits.login_timeout
        return self.session.get_timer()

    def handle_timer(self, now: float) -> None:
        """Close the connection if its handshake or its login is late."""
        if self.closed is not None:
            return
        if self.session is not None:
            self.session.handle_timer(now)
            self._session_events()
        elif now >= self.opened + self.limits.login_timeout:  # get_timer's handshake deadline
            self._record(EventKind.AUTHENTICATION, f"{self.peer}: no handshake", now)
            self._close("no handshake")

    def send(self, data: bytes) -> None:
        """Queue what the station sends the terminal (nothing once closed)."""
        if self.closed is None:
            self.channel.send(data)

    def _pump(self, now: float) -> None:
        while self.closed is None and (event := self.channel.next_event()) is not None:
            if isinstance(event, ChannelUp):
                # events name the host, not the port: a host that reconnects is one source
                # to the monitor, with one alert
                source = f"{self.name} {self.peer.rsplit(':', 1)[0]}"
                self.session = FepSession(event.peer, now, self.limits, self.events, source)
                self._events.append(SessionOpened(self.session))
            elif isinstance(event, ChannelClosed):
                self._record(EventKind.AUTHENTICATION, f"{self.peer}: {event.reason}", now)
                self._close(event.reason)
            elif self.session is not None:
                self.session.receive_data(event.data, now)
                self._session_events()

    def _session_events(self) -> None:
        assert self.session is not None
        while (event := self.session.next_event()) is not None:
            if isinstance(event, FrameAdmitted):
                self._events.append(event)
            else:
                log.info("%s: closing %s: %s", self.name, self.peer, event.reason)
                self._close(event.reason)

    def _close(self, reason: str) -> None:
        self.closed = reason
        self._events.append(ConnectionClosed(reason))

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s", self.name, detail)
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.name, detail, now))
