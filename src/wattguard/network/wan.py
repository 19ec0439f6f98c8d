"""The WAN secure channel between a collection terminal (client) and a front-end processor
(server): mutual authentication with certificates from the utility's CA, key agreement with
the SM2 key exchange (GB/T 32918.3-2016), then SM4-GCM records with sequence numbers.

Theory of operation. The terminal is user A of the key exchange, the FEP user B; each side's
identity (ID_A, ID_B) is the DER of its certificate's subject::

    terminal                                                  FEP
    initiate()   ClientHello(certs_A, R_A, N_A) ---------->   check certs_A (CA, CRL, role)
                                                              K = KX(d_B, r_B, P_A, R_A)
                 <--- ServerHello(certs_B, R_B, N_B, S_B, verify_B)
    check certs_B (CA, CRL, role)
    K = KX(d_A, r_A, P_B, R_B); check S_B and verify_B
                 Finished(S_A, verify_A) ----------------->   check S_A and verify_A
    Handshaken                                                Handshaken
                 <====== application records (SM4-GCM) ======>

Only the holder of the certified private key can compute K, so S_B (and S_A) prove
possession: a man in the middle who substitutes an ephemeral point or a certificate is caught
by the key confirmation or the certificate checks. ``verify_A`` and ``verify_B`` (HMACs over
the hash of the hellos) catch any other change to the hellos, the nonces included. The key
schedule and record protection are in ``_wan_keys.py``; the byte layout in ``_wan_wire.py``;
both are drawn in ``docs/wan.md``.

Every record carries a sequence number, counted per direction from 0 over all records. In
protected mode the next record must carry exactly the next number: an older one is a replay
(:class:`~wattguard.errors.ReplayError`), a newer one means a record was dropped or reordered
(:class:`MissingRecordError`); a changed byte fails the GCM tag (IntegrityError); the end of
the stream (``receive_data(b"", now)``) without a close alert is a truncation
(:class:`TruncatedError`). Any refusal is final: the channel records a security event, sends
an alert that says why (encrypted once the sender has keys) and emits ``Closed`` carrying the
specific error. What the peer sends never raises out of :meth:`SecureChannel.receive_data`
(the codebase's policy: a peer's violation is an event); our own illegal moves (sending before
the handshake, initiating twice) raise :class:`~wattguard.errors.LocalProtocolError`. A
received alert closes the channel with ``Closed(by_peer=True)``.

The channel has the shape of :class:`wattguard.sansio.Core`. It has no timers; its ``now`` is
the caller's clock and is not used: certificate validity and the time of a security event
come from the calendar of the ``clock`` it was built with.

The states and their transition table are in ``_wan_state.py``.

``protected=False`` is the unprotected baseline for the attack harness: the same messages,
but no certificate checks, no key exchange, plaintext records and no sequence checks.
"""

from __future__ import annotations

import enum
import logging
import os
from collections import deque
from collections.abc import Callable, Sequence

from wattguard.clock import Clock
from wattguard.crypto import sm2, sm4
from wattguard.errors import (
    ConfigError,
    DecodeError,
    IntegrityError,
    LocalProtocolError,
    RemoteProtocolError,
    ReplayError,
    WattguardError,
)
from wattguard.events import EventLog, EventSink, SecurityEvent
from wattguard.network import pki
from wattguard.network._wan_errors import (
    DowngradeError,
    HandshakeError,
    MissingRecordError,
    TruncatedError,
    UnexpectedPeerError,
    classify,
)
from wattguard.network._wan_events import AppData, Closed, Event, Handshaken
from wattguard.network._wan_keys import KeyLimits, KeySchedule, RecordProtection
from wattguard.network._wan_state import Input, State, next_state
from wattguard.network._wan_wire import (
    HEADER,
    MAX_PLAINTEXT,
    NONCE_SIZE,
    Alert,
    AlertCode,
    Finished,
    HandshakeType,
    Hello,
    Record,
    RecordOverflowError,
    RecordType,
    UnsupportedVersionError,
    parse_handshake,
    read_header,
    split_records,
)

__all__ = [
    "MAX_PLAINTEXT",
    "Alert",
    "AlertCode",
    "AppData",
    "ChannelRole",
    "Closed",
    "DowngradeError",
    "Event",
    "Finished",
    "HandshakeError",
    "Handshaken",
    "Hello",
    "KeyLimits",
    "MissingRecordError",
    "Record",
    "RecordOverflowError",
    "RecordType",
    "SecureChannel",
    "State",
    "TruncatedError",
    "UnexpectedPeerError",
    "UnsupportedVersionError",
    "split_records",
]

logger = logging.getLogger(__name__)

_KEY_SIZE = 32  # bytes of K from the SM2 key exchange
_MAX_SEQUENCE = (1 << 64) - 1


class ChannelRole(enum.Enum):
    """Which end of the channel: the terminal initiates, the FEP answers."""

    CLIENT = "client (terminal)"
    SERVER = "server (front-end processor)"


class SecureChannel:
    """One end of the channel, sans-IO (:class:`wattguard.sansio.Core`): feed
    ``receive_data(data, now)`` (``b""`` when the stream ends), write out ``data_to_send()``,
    read ``next_event()`` until it returns None.

    A protected channel needs this side's ``key``, its certificate ``chain`` (own certificate
    first) and a ``trust`` store; ``peer_role`` is what the peer's certificate must say
    (``Role.FEP`` at a terminal, ``Role.TERMINAL`` at a FEP) and ``peer_name``, when given,
    pins the peer's CN. ``random_bytes`` and ``new_ephemeral`` supply the nonces and ephemeral
    keys (the operating system's CSPRNG unless a test or ESAM supplies its own).
    """

    def __init__(
        self,
        role: ChannelRole,
        *,
        clock: Clock,
        peer_role: pki.Role,
        key: sm2.PrivateKey | None = None,
        chain: Sequence[pki.Certificate] = (),
        trust: pki.TrustStore | None = None,
        peer_name: str | None = None,
        protected: bool = True,
        events: EventSink | None = None,
        source: str = "WAN channel",
        limits: KeyLimits | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        new_ephemeral: Callable[[], sm2.PrivateKey] = sm2.PrivateKey.generate,
    ) -> None:
        if protected and (key is None or not chain or trust is None):
            raise ConfigError("a protected channel needs a key, a certificate and a trust store")
        if protected and key is not None and chain[0].public_key != key.public_key:
            raise ConfigError("the first certificate of the chain must be for this key")
        self.role = role
        self.protected = protected
        self.state = State.IDLE if role is ChannelRole.CLIENT else State.WAIT_CLIENT_HELLO
        self.peer_certificate: pki.Certificate | None = None
        self.peer_name = ""
        self._clock, self._peer_role, self._peer_pin = clock, peer_role, peer_name
        self._key, self._chain, self._trust = key, tuple(chain), trust
        self._sink: EventSink = events if events is not None else EventLog()
        self._source = source
        self._limits = limits or KeyLimits()
        self._random, self._new_ephemeral = random_bytes, new_ephemeral
        self._incoming = bytearray()
        self._outgoing = bytearray()
        self._events: deque[Event] = deque()
        self._send_sequence = self._receive_sequence = 0
        self._sender: RecordProtection | None = None
        self._receiver: RecordProtection | None = None
        self._nonce = b""
        self._client_hello = b""
        self._ephemeral: sm2.PrivateKey | None = None
        self._exchange: sm2.KeyExchange | None = None
        self._schedule: KeySchedule | None = None

    # ------------------------------------------------------------------ the sans-IO surface

    def initiate(self) -> None:
        """Client: queue the ClientHello."""
        if self.role is not ChannelRole.CLIENT:
            raise LocalProtocolError("only the terminal (client) initiates the handshake")
        self._move(Input.INITIATE, local=True)
        self._nonce = self._random(NONCE_SIZE)
        ephemeral = b""
        if self.protected:
            self._ephemeral = self._new_ephemeral()
            ephemeral = self._ephemeral.public_key.to_bytes()
        certificates = tuple(certificate.der for certificate in self._chain)
        hello = Hello(
            HandshakeType.CLIENT_HELLO, self.protected, self._nonce, ephemeral, certificates
        )
        self._client_hello = hello.to_bytes()
        self._write(RecordType.HANDSHAKE, self._client_hello)

    def receive_data(self, data: bytes, now: float) -> None:
        """Take bytes from the peer; ``b""``: the transport's stream has ended. Never raises
        for what the peer sent: a refusal queues the alert and a ``Closed`` carrying the
        specific error (events before it stay queued). The end of the stream without the
        peer's close alert is a truncation (TruncatedError) in a protected channel, and
        nothing can be sent back any more. Bytes that arrive after the channel closed are
        discarded."""
        if self.state is State.CLOSED:
            return
        try:
            if not data:
                self._end_of_stream()
                return
            self._incoming += data
            self._process()
        except WattguardError as error:
            self._fail(error, send_alert=bool(data))

    def data_to_send(self) -> bytes:
        """The records to write to the peer (cleared once taken)."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def next_event(self) -> Event | None:
        """The next :data:`Event`, or None."""
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """None: the channel has no timers (the FEP's session and the runtime time out)."""
        return None

    def handle_timer(self, now: float) -> None:
        """Nothing is ever due (see :meth:`get_timer`)."""

    def send(self, data: bytes) -> None:
        """Queue application data (in records of at most MAX_PLAINTEXT bytes)."""
        self._move(Input.SEND, local=True)
        for start in range(0, len(data), MAX_PLAINTEXT):
            piece = bytes(data[start : start + MAX_PLAINTEXT])
            if self._sender is not None and self._sender.update_due(len(piece)):
                self._write(RecordType.KEY_UPDATE, b"")
                self._sender.update()
            self._write(RecordType.APPLICATION, piece)

    def close(self, reason: str = "closed") -> None:
        """Send the close alert and close (does nothing when already closed)."""
        if self.state is State.CLOSED:
            return
        if self.state is not State.IDLE:
            self._write(RecordType.ALERT, Alert(AlertCode.CLOSE_NOTIFY, reason).to_bytes())
        self.state = State.CLOSED
        self._events.append(Closed(reason, AlertCode.CLOSE_NOTIFY, by_peer=False))

    @property
    def key_generations(self) -> tuple[int, int]:
        """(send, receive) key generations: how many key updates each direction has had."""
        return (
            self._sender.generation if self._sender else 0,
            self._receiver.generation if self._receiver else 0,
        )

    # ------------------------------------------------------------------ records

    def _move(self, step: Input, *, local: bool) -> None:
        self.state = next_state(self.state, step, local=local)

    def _check(self, step: Input) -> None:
        next_state(self.state, step, local=False)

    def _write(self, kind: RecordType, plaintext: bytes) -> None:
        sequence = self._send_sequence
        if sequence >= _MAX_SEQUENCE:
            raise LocalProtocolError("sequence numbers are used up: open a new channel")
        self._send_sequence += 1
        if self._sender is None:
            self._outgoing += HEADER.pack(kind, sequence, len(plaintext)) + plaintext
            return
        header = HEADER.pack(kind, sequence, len(plaintext) + sm4.TAG_SIZE)
        self._outgoing += header + self._sender.seal(header, sequence, plaintext)

    def _process(self) -> None:
        buffer, offset, size = self._incoming, 0, HEADER.size
        try:
            while self.state is not State.CLOSED and len(buffer) - offset >= size:
                kind, sequence, length = read_header(buffer, offset)
                end = offset + size + length
                if end > len(buffer):
                    break
                header, body = (
                    bytes(buffer[offset : offset + size]),
                    bytes(buffer[offset + size : end]),
                )
                offset = end
                self._record(kind, sequence, header, body)
        finally:
            del buffer[:offset]

    def _record(self, kind: RecordType, sequence: int, header: bytes, body: bytes) -> None:
        if self.protected:
            expected = self._receive_sequence
            if sequence < expected:
                raise ReplayError(f"record {sequence} replayed (expected {expected})")
            if sequence > expected:
                raise MissingRecordError(
                    f"record {expected} is missing (got {sequence}): dropped or reordered"
                )
        self._receive_sequence += 1
        if self._receiver is not None:
            body = self._receiver.open(header, sequence, body)
            if self._receiver.over_limit():
                raise RemoteProtocolError("the peer went past its key limits without updating")
        if kind is RecordType.HANDSHAKE:
            if self._receiver is not None:
                raise RemoteProtocolError("a handshake message after the handshake")
            self._handshake(body)
        elif kind is RecordType.APPLICATION:
            self._move(Input.APPLICATION, local=False)
            if body:
                self._events.append(AppData(body))
        elif kind is RecordType.KEY_UPDATE:
            self._move(Input.KEY_UPDATE, local=False)
            if body:
                raise DecodeError("a key update record is empty", offset=0)
            if self._receiver is not None:
                self._receiver.update()
        else:
            self._peer_alert(Alert.from_bytes(body))

    def _peer_alert(self, alert: Alert) -> None:
        self.state = State.CLOSED
        if alert.code == AlertCode.CLOSE_NOTIFY:
            reason = "closed by the peer" + (f": {alert.reason}" if alert.reason else "")
        else:
            reason = f"refused by the peer: {alert.reason}"
            logger.warning("%s: %s", self._source, reason)
        self._events.append(Closed(reason, alert.code, by_peer=True))

    def _end_of_stream(self) -> None:
        if not self.protected:
            self.state = State.CLOSED
            self._events.append(Closed("the connection ended", AlertCode.CLOSE_NOTIFY, True))
            return
        if self._incoming:
            raise TruncatedError("the connection ended in the middle of a record")
        raise TruncatedError("the connection ended without a close alert (truncated)")

    def _fail(self, error: WattguardError, *, send_alert: bool) -> None:
        alert, kind = classify(error)
        reason = str(error)
        self._sink.record(SecurityEvent(kind, self._source, reason, self._clock.time()))
        if send_alert and self.state is not State.IDLE:
            self._write(RecordType.ALERT, Alert(alert, reason).to_bytes())
        self.state = State.CLOSED
        self._events.append(Closed(reason, alert, by_peer=False, error=error))
        logger.warning("%s: channel refused: %s", self._source, reason)

    # ------------------------------------------------------------------ the handshake

    def _handshake(self, body: bytes) -> None:
        message = parse_handshake(body)
        if isinstance(message, Finished):
            self._check(Input.FINISHED)
            self._finished(message)
        elif message.kind is HandshakeType.CLIENT_HELLO:
            self._check(Input.CLIENT_HELLO)
            self._client_hello_received(message, body)
            self.state = State.WAIT_FINISHED
        else:
            self._check(Input.SERVER_HELLO)
            self._server_hello_received(message)

    def _authenticate(self, hello: Hello) -> pki.Certificate | None:
        if self.protected and not hello.protected:
            raise DowngradeError("the peer offered an unprotected channel: protection is required")
        chain = []
        for der in hello.certificates:
            try:
                chain.append(pki.Certificate.from_der(der))
            except pki.MalformedCertificateError:
                if self.protected:
                    raise
        if not self.protected:
            self.peer_name = chain[0].name if chain else ""
            return None
        assert self._trust is not None
        leaf = self._trust.verify(
            chain, self._clock.time(), role=self._peer_role, usage=pki.KeyUsage.KEY_AGREEMENT
        )
        if self._peer_pin is not None and leaf.name != self._peer_pin:
            raise UnexpectedPeerError(f"the peer is {leaf.name!r}, not {self._peer_pin!r}")
        self.peer_certificate, self.peer_name = leaf, leaf.name
        return leaf

    def _exchange_with(self, peer: pki.Certificate, ephemeral: sm2.PrivateKey) -> sm2.KeyExchange:
        assert self._key is not None
        return sm2.KeyExchange(
            self._key,
            peer.public_key,
            initiator=self.role is ChannelRole.CLIENT,
            id=self._chain[0].subject.der,
            peer_id=peer.subject.der,
            key_length=_KEY_SIZE,
            ephemeral_key=ephemeral,
        )

    @staticmethod
    def _point(encoded: bytes) -> sm2.PublicKey:
        try:
            return sm2.PublicKey.from_bytes(encoded)
        except IntegrityError:
            raise HandshakeError("the peer's ephemeral key is not a point on the curve") from None

    def _client_hello_received(self, hello: Hello, raw: bytes) -> None:
        peer = self._authenticate(hello)
        self._nonce = self._random(NONCE_SIZE)
        certificates = tuple(certificate.der for certificate in self._chain)
        if peer is None:
            reply = Hello(HandshakeType.SERVER_HELLO, False, self._nonce, b"", certificates)
            self._write(RecordType.HANDSHAKE, reply.to_bytes())
            return
        ephemeral = self._new_ephemeral()
        exchange = self._exchange_with(peer, ephemeral)
        shared = exchange.derive(self._point(hello.ephemeral))
        core = Hello(
            HandshakeType.SERVER_HELLO,
            True,
            self._nonce,
            ephemeral.public_key.to_bytes(),
            certificates,
        ).core()
        schedule = KeySchedule(shared, hello.nonce, self._nonce, raw + core)
        self._write(RecordType.HANDSHAKE, core + exchange.confirmation() + schedule.server_verify())
        self._sender = RecordProtection(schedule.server_secret, self._limits)
        self._exchange, self._schedule = exchange, schedule

    def _server_hello_received(self, hello: Hello) -> None:
        peer = self._authenticate(hello)
        if peer is None:
            self._write(RecordType.HANDSHAKE, Finished().to_bytes())
            self._established()
            return
        assert self._ephemeral is not None
        exchange = self._exchange_with(peer, self._ephemeral)
        shared = exchange.derive(self._point(hello.ephemeral))
        try:
            exchange.check_confirmation(hello.confirmation)
        except IntegrityError:
            raise HandshakeError(
                "the FEP's key confirmation S_B failed: it does not hold the certified key, "
                "or a man in the middle changed the key exchange"
            ) from None
        schedule = KeySchedule(shared, self._nonce, hello.nonce, self._client_hello + hello.core())
        if not schedule.matches(schedule.server_verify(), hello.verify_data):
            raise HandshakeError("the handshake messages were altered (ServerHello verify data)")
        self._receiver = RecordProtection(schedule.server_secret, self._limits)
        finished = Finished(exchange.confirmation(), schedule.client_verify())
        self._write(RecordType.HANDSHAKE, finished.to_bytes())
        self._sender = RecordProtection(schedule.client_secret, self._limits)
        self._established()

    def _finished(self, message: Finished) -> None:
        if self.protected:
            exchange, schedule = self._exchange, self._schedule
            assert exchange is not None and schedule is not None
            try:
                exchange.check_confirmation(message.confirmation)
            except IntegrityError:
                raise HandshakeError(
                    "the terminal's key confirmation S_A failed: it does not hold the "
                    "certified key, or a man in the middle changed the key exchange"
                ) from None
            if not schedule.matches(schedule.client_verify(), message.verify_data):
                raise HandshakeError("the handshake messages were altered (Finished verify data)")
            self._receiver = RecordProtection(schedule.client_secret, self._limits)
        self._established()

    def _established(self) -> None:
        self.state = State.ESTABLISHED
        self._exchange = self._schedule = None
        self._ephemeral = None
        self._events.append(Handshaken(self.peer_certificate, self.peer_name, self.protected))
        logger.info("%s: channel established with %r", self._source, self.peer_name)
