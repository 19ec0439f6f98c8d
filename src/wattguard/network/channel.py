"""The channel between a terminal (or the station) and a service, as the runtimes see it.

Theory of operation. Every TCP link of the network (terminal to FEP, station to the
cryptographic device) runs through a :class:`ChannelCore`: the WAN secure channel
(:class:`WanChannel`, around :class:`~wattguard.network.wan.SecureChannel`), or
:class:`PlainChannel` when the boundary protection is off. A channel core has the shape of
:class:`wattguard.sansio.Core` plus ``send``; its events say that the channel is up (and whom
it authenticated), what data arrived, and that it closed and why.

The end of the transport (``receive_data(b"", now)``) closes a channel core quietly: no
event, and no truncation check of the WAN channel. Everything that rides on a channel acts on
whole messages only (DL/T 698.45 frames at the FEP and the terminal, length-prefixed calls at
the cryptographic device), so a stream cut short cannot make it act on part of one; the
runtime that fed the ``b""`` knows that the stream ended. (The truncation check itself is
:meth:`SecureChannel.receive_data`'s, for a user that reads the stream as a whole.)

:class:`MessageChannel` carries length-prefixed messages over a channel core: the request
and response core of the cryptographic device service.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from wattguard.errors import RemoteProtocolError, WattguardError
from wattguard.network.wan import AppData, ChannelRole, Closed, Handshaken, SecureChannel, State
from wattguard.sansio import Core

__all__ = [
    "MAX_MESSAGE",
    "ChannelClosed",
    "ChannelCore",
    "ChannelData",
    "ChannelEvent",
    "ChannelUp",
    "Message",
    "MessageChannel",
    "MessageEvent",
    "PlainChannel",
    "WanChannel",
]

#: The largest message :class:`MessageChannel` accepts (bytes, without its length).
MAX_MESSAGE = 1 << 20
_LENGTH = 4


@dataclass(frozen=True, slots=True)
class ChannelUp:
    """The channel is established; ``peer`` is the address its certificate names (None: the
    channel authenticated nobody)."""

    peer: bytes | None


@dataclass(frozen=True, slots=True)
class ChannelData:
    """Bytes from the peer, through the channel (never empty)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ChannelClosed:
    """The channel closed: refused by this end (``error`` is the specific refusal: a bad
    certificate, a replay, ...), or closed by the peer's alert (``error`` is None)."""

    reason: str
    error: WattguardError | None = None


#: Everything a channel core's ``next_event`` hands out.
ChannelEvent = ChannelUp | ChannelData | ChannelClosed


class ChannelCore(Core[ChannelEvent], Protocol):
    """A sans-IO channel between a terminal and a FEP (or the station and the cryptographic
    device): the WAN secure channel, or :class:`PlainChannel` when boundary protection is
    off. ``send`` queues application data; sending before the channel is up is our own
    illegal move (LocalProtocolError), sending after it closed does nothing."""

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the peer."""


@dataclass
class PlainChannel:
    """No protection: bytes pass as they are and nobody is authenticated."""

    _events: deque[ChannelEvent] = field(default_factory=lambda: deque([ChannelUp(None)]))
    _out: bytearray = field(default_factory=bytearray)

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer become :class:`ChannelData`; ``b""`` ends quietly."""
        if data:
            self._events.append(ChannelData(data))

    def next_event(self) -> ChannelEvent | None:
        """The next event: :class:`ChannelUp` first, then the data."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """What was sent, as it was sent."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        """None: no timers."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing is ever due."""

    def send(self, data: bytes) -> None:
        """Queue ``data`` unchanged."""
        self._out += data


class WanChannel:
    """The WAN secure channel (:mod:`wattguard.network.wan`) as a :class:`ChannelCore`.

    A client (terminal, station) starts its handshake at once. On the FEP's side
    ``ChannelUp.peer`` is the terminal address the verified certificate names (its CN, 12
    digits); an unprotected channel authenticates nobody (``None``). A refusal by the channel
    (bad certificate, altered record, ...) closes it: the channel has already recorded the
    security event and told the peer why, and ``ChannelClosed.error`` says which refusal.
    """

    def __init__(self, channel: SecureChannel) -> None:
        self.channel = channel
        self._events: deque[ChannelEvent] = deque()
        self._closed = False
        if channel.role is ChannelRole.CLIENT:
            channel.initiate()

    def receive_data(self, data: bytes, now: float) -> None:
        """Records from the peer; ``b""`` (the transport ended) closes quietly (see the
        module docstring)."""
        if not data:
            self._closed = True
            return
        self.channel.receive_data(data, now)
        self._collect()

    def next_event(self) -> ChannelEvent | None:
        """The next :data:`ChannelEvent`, or None."""
        self._collect()
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """The records to write to the peer."""
        return self.channel.data_to_send()

    def get_timer(self) -> float | None:
        """The channel's timer (it has none)."""
        return self.channel.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run the channel's timers."""
        self.channel.handle_timer(now)

    def send(self, data: bytes) -> None:
        """Queue application data (nothing once closed)."""
        if not self._closed and self.channel.state is not State.CLOSED:
            self.channel.send(data)

    def _collect(self) -> None:
        while (event := self.channel.next_event()) is not None:
            if isinstance(event, Handshaken):
                self._events.append(ChannelUp(_address(event) if event.peer else None))
            elif isinstance(event, AppData):
                self._events.append(ChannelData(event.data))
            elif isinstance(event, Closed) and not self._closed:
                self._closed = True
                self._events.append(ChannelClosed(event.reason, event.error))


def _address(event: Handshaken) -> bytes | None:
    name = event.peer_name
    if len(name) == 12 and name.isdigit():
        return bytes.fromhex(name)
    return None


@dataclass(frozen=True, slots=True)
class Message:
    """One whole message from the peer."""

    data: bytes


#: Everything a :class:`MessageChannel` hands out.
MessageEvent = ChannelUp | Message | ChannelClosed


class MessageChannel:
    """Messages over a :class:`ChannelCore`, each a 4-byte big-endian length and its bytes.

    A sans-IO core (:class:`wattguard.sansio.Core`): the channel's bytes go in, whole
    :class:`Message` events come out (with the channel's :class:`ChannelUp` and
    :class:`ChannelClosed`); :meth:`send` frames a message. Data before the channel is up is
    ignored. A length over ``limit`` is the peer's violation: the channel closes with a
    :class:`ChannelClosed` event (nothing more is read from it).
    """

    def __init__(self, channel: ChannelCore, *, limit: int = MAX_MESSAGE) -> None:
        self.channel = channel
        self.limit = limit
        self._buffer = bytearray()
        self._events: deque[MessageEvent] = deque()
        self._up = False
        self._closed = False

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer (``b""``: the transport ended)."""
        if not self._closed:
            self.channel.receive_data(data, now)
            self._pump()

    def next_event(self) -> MessageEvent | None:
        """The next :data:`MessageEvent`, or None."""
        self._pump()
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """What the channel has to send."""
        return self.channel.data_to_send()

    def get_timer(self) -> float | None:
        """The channel's timer."""
        return self.channel.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run the channel's timers."""
        self.channel.handle_timer(now)
        self._pump()

    def send(self, message: bytes) -> None:
        """Queue one message."""
        self.channel.send(len(message).to_bytes(_LENGTH, "big") + message)

    def _pump(self) -> None:
        while not self._closed and (event := self.channel.next_event()) is not None:
            if isinstance(event, ChannelData):
                if self._up:
                    self._buffer += event.data
                    self._take()
                continue
            self._up = self._up or isinstance(event, ChannelUp)
            self._closed = isinstance(event, ChannelClosed)
            self._events.append(event)

    def _take(self) -> None:
        buffer = self._buffer
        while len(buffer) >= _LENGTH:
            size = int.from_bytes(buffer[:_LENGTH], "big")
            if size > self.limit:
                reason = f"a message of {size} bytes is larger than allowed"
                self._closed = True
                self._events.append(ChannelClosed(reason, RemoteProtocolError(reason)))
                return
            if len(buffer) < _LENGTH + size:
                return
            self._events.append(Message(bytes(buffer[_LENGTH : _LENGTH + size])))
            del buffer[: _LENGTH + size]
