"""The wire format and the cryptography of the meter's Bluetooth service, shared by the meter
(:mod:`wattguard.meter.bluetooth.service`) and the handheld
(:mod:`wattguard.meter.bluetooth.handheld`).

Theory of operation. Every frame is ``type (1) | payload``. Pairing takes two round trips::

    handheld                                              meter
    PAIR_CERTIFICATE  cert-len (2) | cert | E_h (65) | N_h (16)   (or)
    PAIR_PIN          role (1) | id-len (1) | id | E_h | N_h     -->
                                    <--  CHALLENGE  addr-len (1) | address | E_m (65) | N_m (16)
    PROOF             signature (64) or PIN tag (32)              -->
                                    <--  PAIRED  role (1) | confirmation (16)
                                    <--  REFUSED  code (1) | retry after, seconds (4)

E_h and E_m are fresh SM2 key pairs and N_h, N_m fresh 16-byte nonces. The transcript hash
``T = SM3("WG-BLE-1" | method | address | SM3(cert or id) | role | E_h | N_h | E_m | N_m)``
binds everything either side saw. The shared secret comes from the SM2 key agreement of
GB/T 32918.3 run over the two ephemeral keys (each side's ephemeral key stands in for its
static key too), and ``SM3-KDF("WG-BLE keys" | secret | T, 48)`` gives three 16-byte keys:
handheld-to-meter, meter-to-handheld, and an authentication key.

* Certificate: the handheld signs ``"WG-BLE proof" | T`` with the key its certificate names.
  The meter checks the CA's signature on the certificate, its validity, revocation, and this
  signature; the role comes from the certificate.
* PIN: the handheld sends ``HMAC-SM3(auth key, "WG-BLE pin" | T | PIN)``; the meter computes
  the same with its PIN and compares in constant time. The auth key depends on the key
  agreement, so a passive eavesdropper cannot test PINs offline; an active fake *meter* can
  (docs/bluetooth.md): PIN pairing is the weaker method, certificate pairing the strong one.

``PAIRED`` carries ``HMAC-SM3(auth key, "WG-BLE paired" | T)[:16]``, so the handheld knows it
shares the keys with the meter that answered. Then every APDU travels in a DATA frame::

    type (1) | counter (8) | SM4-GCM(direction key, nonce = 0000 0000 | counter,
                                     APDU, additional data = type | counter) | tag (16)

Counters start at 1 and must increase in each direction: a replayed, reordered or altered
frame is refused.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from wattguard.crypto import sm2, sm3, sm4
from wattguard.errors import ConfigError, DecodeError, IntegrityError
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.links.channel import ReplayError
from wattguard.protocol.axdr import Reader
from wattguard.randomness import Random

__all__ = [
    "Challenge",
    "FrameType",
    "Method",
    "PairCertificate",
    "PairPin",
    "Paired",
    "RefusalCode",
    "Refused",
    "SessionCipher",
    "SessionKeys",
    "check_pin",
    "ephemeral_key",
    "proof_message",
    "transcript",
]

POINT = 65
NONCE = 16
CONFIRMATION = 16
MAX_FRAME = 4096
_COUNTER = struct.Struct(">Q")
_REFUSED = struct.Struct(">BI")


class FrameType(enum.IntEnum):
    """The type byte that opens every Bluetooth frame; 0x8X and 0x9X go from meter to handheld."""

    PAIR_CERTIFICATE = 0x01
    PAIR_PIN = 0x02
    PROOF = 0x03
    DATA = 0x10
    PLAIN = 0x11  # an APDU without protection: served only by an unprotected service
    CHALLENGE = 0x81
    PAIRED = 0x82
    REFUSED = 0x83
    DATA_REPLY = 0x90
    PLAIN_REPLY = 0x91


class Method(enum.IntEnum):
    """How a handheld pairs: by its CA certificate or by the meter's PIN (hashed into T)."""

    CERTIFICATE = 1
    PIN = 2


class RefusalCode(enum.IntEnum):
    """Why the meter answered REFUSED; the handheld learns no more than this."""

    MALFORMED = 1
    AUTHENTICATION_FAILED = 2  # which check failed is in the meter's log, not here
    LOCKED = 3
    NOT_PAIRED = 4  #: no live session (or no live challenge for a PROOF)
    REPLAY = 5
    INTEGRITY = 6  #: a sealed frame failed its GCM tag


def check_pin(pin: str) -> str:
    if len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        raise ConfigError("a PIN is 6 decimal digits")
    return pin


def ephemeral_key(random: Random) -> sm2.PrivateKey:
    """A fresh key pair from ``random`` (retrying the rare value outside [1, n-2])."""
    while True:
        try:
            return sm2.PrivateKey.from_bytes(random(32))
        except ConfigError:
            continue


def _point(reader: Reader) -> sm2.PublicKey:
    at = reader.pos
    try:
        return sm2.PublicKey.from_bytes(reader.take(POINT))
    except IntegrityError:
        raise DecodeError("ephemeral key is not a point on the curve", offset=at) from None


@dataclass(frozen=True, slots=True)
class PairCertificate:
    """PAIR_CERTIFICATE: a handheld asks to pair by certificate, sending E_h and N_h."""

    certificate: bytes
    ephemeral: sm2.PublicKey
    nonce: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes([FrameType.PAIR_CERTIFICATE])
            + struct.pack(">H", len(self.certificate))
            + self.certificate
            + self.ephemeral.to_bytes()
            + self.nonce
        )

    @classmethod
    def read(cls, reader: Reader) -> PairCertificate:
        certificate = reader.take(reader.u16())
        return cls(certificate, _point(reader), reader.take(NONCE))


@dataclass(frozen=True, slots=True)
class PairPin:
    """PAIR_PIN: a handheld asks to pair by PIN in ``role``, sending its id, E_h and N_h."""

    role: Role
    handheld_id: str
    ephemeral: sm2.PublicKey
    nonce: bytes

    def to_bytes(self) -> bytes:
        identity = self.handheld_id.encode("ascii")
        return (
            bytes([FrameType.PAIR_PIN, self.role, len(identity)])
            + identity
            + self.ephemeral.to_bytes()
            + self.nonce
        )

    @classmethod
    def read(cls, reader: Reader) -> PairPin:
        at = reader.pos
        try:
            role = Role(reader.u8())
        except ValueError:
            raise DecodeError("unknown role", offset=at) from None
        raw = reader.take(reader.u8())
        if not raw or not raw.isascii():
            raise DecodeError("handheld id must be 1..255 ASCII bytes", offset=at + 2)
        return cls(role, raw.decode("ascii"), _point(reader), reader.take(NONCE))


@dataclass(frozen=True, slots=True)
class Challenge:
    """CHALLENGE: the meter's answer to a pairing request: its address, E_m and N_m."""

    address: bytes
    ephemeral: sm2.PublicKey
    nonce: bytes

    def to_bytes(self) -> bytes:
        return (
            bytes([FrameType.CHALLENGE, len(self.address)])
            + self.address
            + self.ephemeral.to_bytes()
            + self.nonce
        )

    @classmethod
    def read(cls, reader: Reader) -> Challenge:
        address = reader.take(reader.u8())
        return cls(address, _point(reader), reader.take(NONCE))


@dataclass(frozen=True, slots=True)
class Paired:
    """PAIRED: the meter accepted the proof; the session's role and the key confirmation tag."""

    role: Role
    confirmation: bytes

    def to_bytes(self) -> bytes:
        return bytes([FrameType.PAIRED, self.role]) + self.confirmation

    @classmethod
    def read(cls, reader: Reader) -> Paired:
        at = reader.pos
        try:
            role = Role(reader.u8())
        except ValueError:
            raise DecodeError("unknown role", offset=at) from None
        return cls(role, reader.take(CONFIRMATION))


@dataclass(frozen=True, slots=True)
class Refused:
    """REFUSED: the meter turned a frame down; ``retry_after`` is the seconds left of a
    lockout (0 otherwise)."""

    code: RefusalCode
    retry_after: int = 0

    def to_bytes(self) -> bytes:
        return bytes([FrameType.REFUSED]) + _REFUSED.pack(self.code, self.retry_after)

    @classmethod
    def read(cls, reader: Reader) -> Refused:
        code, retry_after = _REFUSED.unpack(reader.take(_REFUSED.size))
        try:
            return cls(RefusalCode(code), retry_after)
        except ValueError:
            raise DecodeError(f"unknown refusal code {code}", offset=1) from None


def transcript(
    method: Method,
    address: bytes,
    identity: bytes,
    role: Role,
    pair: PairCertificate | PairPin,
    challenge: Challenge,
) -> bytes:
    """T, the hash of everything the pairing exchanged (see the module docstring)."""
    return sm3.hash(
        b"WG-BLE-1"
        + bytes([method, len(address)])
        + address
        + sm3.hash(identity)
        + bytes([role])
        + pair.ephemeral.to_bytes()
        + pair.nonce
        + challenge.ephemeral.to_bytes()
        + challenge.nonce
    )


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The three keys a pairing agrees: one per direction for the sealed session, and the
    authentication key for the PIN tag and the meter's confirmation."""

    to_meter: bytes
    to_handheld: bytes
    auth: bytes

    @classmethod
    def agree(
        cls, own: sm2.PrivateKey, peer: sm2.PublicKey, *, handheld: bool, transcript_hash: bytes
    ) -> SessionKeys:
        exchange = sm2.KeyExchange(own, peer, initiator=handheld, ephemeral_key=own, key_length=32)
        secret = exchange.derive(peer)
        keys = sm3.kdf(b"WG-BLE keys" + secret + transcript_hash, 48)
        return cls(keys[:16], keys[16:32], keys[32:])

    def pin_tag(self, transcript_hash: bytes, pin: str) -> bytes:
        return sm3.hmac(self.auth, b"WG-BLE pin" + transcript_hash + pin.encode("ascii"))

    def confirmation(self, transcript_hash: bytes) -> bytes:
        return sm3.hmac(self.auth, b"WG-BLE paired" + transcript_hash)[:CONFIRMATION]


def proof_message(transcript_hash: bytes) -> bytes:
    """What a certificate holder signs."""
    return b"WG-BLE proof" + transcript_hash


class SessionCipher:
    """One end of a paired session: seals what it sends, opens and checks what it receives."""

    def __init__(
        self, send_key: bytes, receive_key: bytes, send_type: FrameType, receive_type: FrameType
    ) -> None:
        self._send_key = send_key
        self._receive_key = receive_key
        self._send_type = send_type
        self._receive_type = receive_type
        self.sent = 0
        self.received = 0  # the highest counter accepted

    def seal(self, payload: bytes) -> bytes:
        self.sent += 1
        head = bytes([self._send_type]) + _COUNTER.pack(self.sent)
        return head + sm4.gcm_seal(self._send_key, bytes(4) + head[1:], payload, head)

    def open(self, frame: bytes) -> bytes:
        """The payload; DecodeError (short or wrong type), IntegrityError, ReplayError."""
        if len(frame) < 1 + _COUNTER.size + sm4.TAG_SIZE or frame[0] != self._receive_type:
            raise DecodeError("not a session frame", offset=0)
        head = frame[: 1 + _COUNTER.size]
        payload = sm4.gcm_open(self._receive_key, bytes(4) + head[1:], frame[len(head) :], head)
        (counter,) = _COUNTER.unpack_from(head, 1)
        if counter <= self.received:
            raise ReplayError()
        self.received = counter
        return payload
