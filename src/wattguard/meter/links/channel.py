"""Integrity-protected message channels between the meter's chips: the SPI link (metering to
management) and the UART link (management and expansion, both ways).

Theory of operation. The metering module cannot be upgraded, the expansion module is the
least trusted part, and the management module must not trust a bus a tamperer can reach, so
every message carries a sequence number and a MAC under a key the two chips share
(provisioned at manufacture)::

    start | type (1) | sequence (4, big-endian) | length (2) | payload | MAC (4)

The start byte names the link (A5 for SPI, 7E for UART) and the type enumeration is the
link's own.

MAC = the first 4 bytes of SM4-CMAC(key, everything before it). The receiver refuses a message
whose MAC fails (forged or altered), whose sequence number is not above the last accepted one
(replayed or reordered), or that is malformed, and records a security event for each; a
refused message changes nothing. Sequence numbers start at 1 after power-up of the metering
chip; the management module learns a restart from a ``RESTART`` message, itself MAC'd.
"""

from __future__ import annotations

import enum
import hmac
import struct
from typing import Generic, TypeVar

from wattguard.crypto import sm4
from wattguard.errors import DecodeError, IntegrityError, ReplayError
from wattguard.events import EventKind, EventSink, SecurityEvent

__all__ = ["EPOCH_SIZE", "ChannelReceiver", "ChannelSender", "ReplayError"]

MAC_SIZE = 4
#: Random bytes in a RESTART message (its epoch).
EPOCH_SIZE = 8
_HEADER = struct.Struct(">BBIH")


T = TypeVar("T", bound=enum.IntEnum)

#: Type 0 is RESTART on every link.
RESTART = 0


def _mac(key: bytes, data: bytes) -> bytes:
    return sm4.cmac(key, data)[:MAC_SIZE]


class ChannelSender:
    """The sending end of one direction: numbers and MACs each message it encodes."""

    def __init__(self, key: bytes, start: int) -> None:
        self._key = key
        self._start = start
        self._sequence = 0

    def encode(self, kind: enum.IntEnum, payload: bytes) -> bytes:
        if len(payload) > 0xFFFF:
            raise ValueError("a channel message carries at most 65535 bytes")
        self._sequence += 1
        body = _HEADER.pack(self._start, kind, self._sequence, len(payload)) + payload
        return body + _mac(self._key, body)

    def restart(self, epoch: bytes) -> bytes:
        """After power-up: sequence numbers begin again, announced by a RESTART message that
        carries ``epoch``, 8 fresh random bytes the caller draws (a core draws no random
        number), so an old RESTART cannot be replayed."""
        if len(epoch) != EPOCH_SIZE:
            raise ValueError(f"a RESTART epoch is {EPOCH_SIZE} random bytes")
        self._sequence = 1
        body = _HEADER.pack(self._start, RESTART, self._sequence, EPOCH_SIZE) + epoch
        return body + _mac(self._key, body)


class ChannelReceiver(Generic[T]):
    """The receiving end of one direction: checks and opens each message, refusing (and
    recording) forged, altered, replayed and malformed ones; ``types`` is the link's message
    enumeration."""

    def __init__(
        self,
        key: bytes,
        events: EventSink,
        source: str,
        start: int,
        types: type[T],
        *,
        protected: bool = True,
    ) -> None:
        # protected=False is the unprotected baseline the attack harness compares against:
        # framing only, no MAC check, no replay check (as a meter without this link security).
        self.protected = protected
        self._key = key
        self._events = events
        self._source = source
        self._start = start
        self._types = types
        self._last = 0
        self._epochs: set[bytes] = set()
        self.accepted = 0

    def receive(self, message: bytes, now: float) -> tuple[T, bytes]:
        """Check and open one message; refusals raise and are recorded as security events."""
        try:
            kind, sequence, payload = self._check(message)
        except DecodeError as exc:
            self._record(EventKind.MALFORMED, exc.reason, now)
            raise
        except IntegrityError:
            self._record(EventKind.BAD_MAC, "message failed its MAC", now)
            raise
        if not self.protected:
            self.accepted += 1
            return kind, payload
        if kind == RESTART:
            if payload in self._epochs:
                self._record(EventKind.REPLAY, "RESTART message replayed", now)
                raise ReplayError()
            self._epochs.add(payload)
            self._last = sequence
        elif sequence <= self._last:
            self._record(EventKind.REPLAY, f"sequence {sequence} after {self._last}", now)
            raise ReplayError()
        else:
            self._last = sequence
        self.accepted += 1
        return kind, payload

    def _check(self, message: bytes) -> tuple[T, int, bytes]:
        if len(message) < _HEADER.size + MAC_SIZE or message[0] != self._start:
            raise DecodeError(f"not a {self._source} message", offset=0)
        _, kind, sequence, length = _HEADER.unpack_from(message)
        if len(message) != _HEADER.size + length + MAC_SIZE:
            raise DecodeError(f"{self._source} message length does not match its header", offset=6)
        body, mac = message[:-MAC_SIZE], message[-MAC_SIZE:]
        if self.protected and not hmac.compare_digest(_mac(self._key, body), mac):
            raise IntegrityError()
        try:
            message_type = self._types(kind)
        except ValueError:
            raise DecodeError(f"unknown {self._source} message type {kind}", offset=1) from None
        return message_type, sequence, body[_HEADER.size :]

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        self._events.record(SecurityEvent(kind, self._source, detail, now))
