"""A handheld's side of the meter's Bluetooth service: pair by certificate or PIN, then send
698 APDUs in the sealed session. Tests and the attack harness drive the service with it.

Sans-IO like the service: the step methods (``start_*``, ``prove``, ``finish``, ``seal``,
``open``) turn frames into frames; the convenience methods (``pair_*``, ``request``) run them
over a ``transport(frame) -> reply`` callable, e.g. ``lambda f: service.receive(f, now)``
(wrap it to drop, alter or replay frames in transit).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, IntegrityError, RemoteProtocolError, SecurityError
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.pairing import (
    Challenge,
    FrameType,
    Method,
    PairCertificate,
    Paired,
    PairPin,
    RefusalCode,
    Refused,
    SessionCipher,
    SessionKeys,
    check_pin,
    ephemeral_key,
    proof_message,
    transcript,
)
from wattguard.protocol.axdr import Reader
from wattguard.randomness import Random

__all__ = ["Handheld", "PairingRefused", "Transport"]

Transport = Callable[[bytes], bytes]


class PairingRefused(SecurityError):
    """The meter refused: ``code`` says how, ``retry_after`` when to try again (locked)."""

    def __init__(self, code: RefusalCode, retry_after: int = 0) -> None:
        super().__init__(f"refused by the meter: {code.name.lower()}")
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Attempt:
    method: Method
    identity: bytes
    role: Role
    request: PairCertificate | PairPin
    key: sm2.PrivateKey


def _refusal(frame: bytes) -> PairingRefused | None:
    if frame[:1] != bytes([FrameType.REFUSED]):
        return None
    reader = Reader(frame, 1)
    refused = Refused.read(reader)
    return PairingRefused(refused.code, refused.retry_after)


def _expect(frame: bytes, kind: FrameType) -> Reader:
    if (refused := _refusal(frame)) is not None:
        raise refused
    if frame[:1] != bytes([kind]):
        raise RemoteProtocolError(f"expected {kind.name}, got {frame[:1].hex() or 'nothing'}")
    return Reader(frame, 1)


class Handheld:
    """A handheld terminal: ``certificate`` and ``private_key`` for certificate pairing."""

    def __init__(
        self,
        handheld_id: str,
        *,
        private_key: sm2.PrivateKey | None = None,
        certificate: HandheldCertificate | None = None,
        random: Random = os.urandom,
    ) -> None:
        if certificate is not None and (
            private_key is None or private_key.public_key != certificate.public_key
        ):
            raise ConfigError("the certificate needs the private key of the key it names")
        self.handheld_id = handheld_id
        self.private_key = private_key
        self.certificate = certificate
        self.random = random
        self.role: Role | None = None  # the role of the paired session
        self._attempt: _Attempt | None = None
        self._pending: tuple[SessionKeys, bytes] | None = None
        self._cipher: SessionCipher | None = None

    # Pairing, step by step

    def start_certificate(self) -> bytes:
        if self.certificate is None:
            raise ConfigError("this handheld has no certificate")
        key = ephemeral_key(self.random)
        cert = self.certificate.to_bytes()
        request = PairCertificate(cert, key.public_key, self.random(16))
        self._attempt = _Attempt(Method.CERTIFICATE, cert, self.certificate.role, request, key)
        return request.to_bytes()

    def start_pin(self, role: Role = Role.READ_ONLY) -> bytes:
        key = ephemeral_key(self.random)
        request = PairPin(role, self.handheld_id, key.public_key, self.random(16))
        identity = self.handheld_id.encode("ascii")
        self._attempt = _Attempt(Method.PIN, identity, role, request, key)
        return request.to_bytes()

    def prove(self, challenge_frame: bytes, pin: str | None = None) -> bytes:
        """Answer the meter's challenge: a signature, or the PIN tag."""
        attempt, self._attempt = self._attempt, None
        if attempt is None:
            raise ConfigError("start a pairing first")
        reader = _expect(challenge_frame, FrameType.CHALLENGE)
        challenge = Challenge.read(reader)
        reader.finish()
        hashed = transcript(
            attempt.method,
            challenge.address,
            attempt.identity,
            attempt.role,
            attempt.request,
            challenge,
        )
        keys = SessionKeys.agree(
            attempt.key, challenge.ephemeral, handheld=True, transcript_hash=hashed
        )
        self._pending = (keys, hashed)
        if attempt.method == Method.CERTIFICATE:
            assert self.private_key is not None  # checked with the certificate in __init__
            proof = self.private_key.sign(proof_message(hashed))
        else:
            proof = keys.pin_tag(hashed, check_pin(pin or ""))
        return bytes([FrameType.PROOF]) + proof

    def finish(self, paired_frame: bytes) -> Role:
        """Check the meter's confirmation and open the session."""
        pending, self._pending = self._pending, None
        if pending is None:
            raise ConfigError("no pairing in progress")
        reader = _expect(paired_frame, FrameType.PAIRED)
        paired = Paired.read(reader)
        reader.finish()
        keys, hashed = pending
        if not hmac.compare_digest(keys.confirmation(hashed), paired.confirmation):
            raise IntegrityError()  # not the meter we agreed keys with
        self._cipher = SessionCipher(
            keys.to_meter, keys.to_handheld, FrameType.DATA, FrameType.DATA_REPLY
        )
        self.role = paired.role
        return paired.role

    # Pairing over a transport

    def pair_certificate(self, transport: Transport) -> Role:
        challenge = transport(self.start_certificate())
        return self.finish(transport(self.prove(challenge)))

    def pair_pin(self, transport: Transport, pin: str, role: Role = Role.READ_ONLY) -> Role:
        challenge = transport(self.start_pin(role))
        return self.finish(transport(self.prove(challenge, pin)))

    # The session

    def seal(self, apdu: bytes) -> bytes:
        if self._cipher is None:
            raise ConfigError("not paired")
        return self._cipher.seal(apdu)

    def open(self, frame: bytes) -> bytes:
        if self._cipher is None:
            raise ConfigError("not paired")
        if (refused := _refusal(frame)) is not None:
            raise refused
        return self._cipher.open(frame)

    def request(self, transport: Transport, apdu: bytes) -> bytes:
        """Send one APDU in the session; the meter's answer."""
        return self.open(transport(self.seal(apdu)))

    def request_plain(self, transport: Transport, apdu: bytes) -> bytes:
        """Send one APDU without pairing (only an unprotected meter answers)."""
        reader = _expect(transport(bytes([FrameType.PLAIN]) + apdu), FrameType.PLAIN_REPLY)
        return reader.take(reader.remaining())
