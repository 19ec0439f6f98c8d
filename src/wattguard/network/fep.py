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
  handshake and some decoding), and a deadline for the handshake and the login.

A refused frame is never forwarded; everything forwarded is a whole, valid frame. Closing is
a decision (``session.closed`` says why); the runtime carries it out. The stream is decoded
:data:`SLICE` bytes at a time and the checks run after each slice, so a connection that is
to be closed costs at most one slice more: hunting for frames in garbage is the FEP's most
expensive work (a stream of 0x68 bytes, each a possible frame start, costs about 2 ms of
CPU per kilobyte), and a whole 64 KB read of it would cost a tenth of a second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from wattguard.errors import ConfigError, LocalProtocolError, ProtocolError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.wan import AppData, ChannelRole, Closed, Handshaken, SecureChannel
from wattguard.protocol.link import FunctionCode, LinkFrame
from wattguard.protocol.stream import FrameDecoder

__all__ = [
    "ChannelClosed",
    "ChannelCore",
    "ChannelData",
    "ChannelUp",
    "ConnectionGate",
    "FepLimits",
    "FepSession",
    "PlainChannel",
    "TokenBucket",
    "WanChannel",
]

#: Bytes decoded between two rounds of checks (see the module docstring).
SLICE = 1024
#: The first byte of a LINK-Request APDU.
_LINK_REQUEST = 1
_LOGIN = 0


@dataclass(frozen=True, slots=True)
class FepLimits:
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
    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, amount: float, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < amount:
            return False
        self.tokens -= amount
        return True


@dataclass(eq=False)
class FepSession:
    """One terminal's connection, after the WAN channel authenticated it.

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

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(self.limits.max_frame)
        self._frames = TokenBucket(self.limits.frames_per_second, self.limits.frame_burst)
        self._bytes = TokenBucket(self.limits.bytes_per_second, self.limits.byte_burst)

    def receive(self, data: bytes, now: float) -> list[LinkFrame]:
        """The frames of ``data`` that may go on to the station."""
        out: list[LinkFrame] = []
        for at in range(0, max(len(data), 1), SLICE):
            if self.closed is not None:
                return out
            self._decoder.receive_data(data[at : at + SLICE])
            for frame in self._decoder.frames():
                if self._admit(frame, now):
                    out.append(frame)
                    self.forwarded += 1
                else:
                    self.dropped += 1
                if self.closed is not None:
                    return out
            errors = self._decoder.errors
            if errors and self.closed is None:  # one event for the slice, each error counted
                more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
                self._malformed_seen(f"undecodable bytes: {errors[0]}{more}", now, len(errors))
            errors.clear()
        return out

    def check_timers(self, now: float) -> None:
        late = now - self.opened >= self.limits.login_timeout
        if late and not self.logged_in and self.closed is None:
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

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.source, detail, now))


@dataclass
class ConnectionGate:
    """The FEP's connection caps: in all, and per remote host."""

    limits: FepLimits = field(default_factory=FepLimits)
    events: EventSink | None = None
    source: str = "FEP"
    _by_host: dict[str, int] = field(default_factory=dict)
    _rates: dict[str, TokenBucket] = field(default_factory=dict)
    refused: int = 0

    @property
    def open(self) -> int:
        return sum(self._by_host.values())

    def admit(self, host: str, now: float) -> bool:
        """Whether a new connection from ``host`` may proceed (call :meth:`release` later)."""
        if self.open >= self.limits.max_connections:
            return self._refuse(f"connection from {host}: the FEP is full", now)
        if self._by_host.get(host, 0) >= self.limits.max_per_host:
            return self._refuse(f"connection from {host}: too many from this host", now)
        rate = self._rates.get(host)
        if rate is None:
            if len(self._rates) >= 4 * self.limits.max_connections:
                self._forget_idle(now)
            limits = self.limits
            rate = self._rates[host] = TokenBucket(
                limits.connections_per_second, limits.connection_burst
            )
        if not rate.take(1, now):
            return self._refuse(f"connection from {host}: reconnecting too fast", now)
        self._by_host[host] = self._by_host.get(host, 0) + 1
        return True

    def _forget_idle(self, now: float) -> None:
        """Drop the rates of hosts whose bucket has refilled (they are as good as new)."""
        full = self.limits.connection_burst / self.limits.connections_per_second
        for host in [h for h, bucket in self._rates.items() if now - bucket.updated >= full]:
            del self._rates[host]

    def release(self, host: str) -> None:
        count = self._by_host.get(host, 0) - 1
        if count > 0:
            self._by_host[host] = count
        else:
            self._by_host.pop(host, None)

    def _refuse(self, detail: str, now: float) -> bool:
        self.refused += 1
        if self.events is not None and (self.refused == 1 or self.refused % 100 == 0):
            self.events.record(
                SecurityEvent(EventKind.FLOOD, self.source, f"{detail} ({self.refused})", now)
            )
        return False


# --- the secure channel as the FEP's runtime sees it ---------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelUp:
    """The channel is established; ``peer`` is the address its certificate names (None: the
    channel authenticated nobody)."""

    peer: bytes | None


@dataclass(frozen=True, slots=True)
class ChannelData:
    data: bytes


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    reason: str


class ChannelCore(Protocol):
    """A sans-IO channel between a terminal and a FEP: the WAN secure channel, or
    :class:`PlainChannel` when boundary protection is off."""

    def receive_data(self, data: bytes) -> None: ...

    def data_to_send(self) -> bytes: ...

    def send(self, data: bytes) -> None: ...

    def next_event(self) -> ChannelUp | ChannelData | ChannelClosed | None: ...


@dataclass
class PlainChannel:
    """No protection: bytes pass as they are and nobody is authenticated."""

    _events: deque[ChannelUp | ChannelData | ChannelClosed] = field(
        default_factory=lambda: deque([ChannelUp(None)])
    )
    _out: bytearray = field(default_factory=bytearray)

    def receive_data(self, data: bytes) -> None:
        if data:
            self._events.append(ChannelData(data))

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def send(self, data: bytes) -> None:
        self._out += data

    def next_event(self) -> ChannelUp | ChannelData | ChannelClosed | None:
        return self._events.popleft() if self._events else None


class WanChannel:
    """The WAN secure channel (:mod:`wattguard.network.wan`) as a :class:`ChannelCore`.

    On the FEP's side ``ChannelUp.peer`` is the terminal address the verified certificate
    names (its CN, 12 digits); an unprotected channel authenticates nobody (``None``). A
    refusal by the channel (bad certificate, altered record, ...) closes it: the channel has
    already recorded the security event and told the peer why.
    """

    def __init__(self, channel: SecureChannel) -> None:
        self.channel = channel
        self._events: deque[ChannelUp | ChannelData | ChannelClosed] = deque()
        self._closed = False
        if channel.role is ChannelRole.CLIENT:
            self._guard(channel.initiate)

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._guard(self.channel.receive_eof)
        else:
            self._guard(lambda: self.channel.receive_data(data))
        self._collect()

    def data_to_send(self) -> bytes:
        return self.channel.data_to_send()

    def send(self, data: bytes) -> None:
        if not self._closed:
            self._guard(lambda: self.channel.send(data))

    def next_event(self) -> ChannelUp | ChannelData | ChannelClosed | None:
        self._collect()
        return self._events.popleft() if self._events else None

    def _guard(self, step: Callable[[], None]) -> None:
        try:
            step()
        except (SecurityError, ProtocolError, LocalProtocolError) as exc:
            if not self._closed:
                self._closed = True
                self._events.append(ChannelClosed(str(exc)))

    def _collect(self) -> None:
        while (event := self.channel.next_event()) is not None:
            if isinstance(event, Handshaken):
                self._events.append(ChannelUp(_address(event) if event.peer else None))
            elif isinstance(event, AppData):
                self._events.append(ChannelData(event.data))
            elif isinstance(event, Closed) and not self._closed:
                self._closed = True
                self._events.append(ChannelClosed(event.reason))


def _address(event: Handshaken) -> bytes | None:
    name = event.peer_name
    if len(name) == 12 and name.isdigit():
        return bytes.fromhex(name)
    return None
