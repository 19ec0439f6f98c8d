"""The meter's Bluetooth service for handhelds and the other local peers (the customer's phone,
external sensors, a concentrator): pairing, roles, lockout, and a sealed session that carries
DL/T 698.45 APDUs (a concentrator: link frames) to the meter.

Theory of operation. The service is sans-IO: ``receive(frame, now)`` takes one frame a
handheld wrote and returns the frame to answer with; it never raises for anything a peer can
send. Frames and cryptography are in :mod:`wattguard.meter.bluetooth.pairing`. The service is a
small
state machine::

    no session --PAIR_*--> challenge pending --PROOF ok--> paired (role) --DATA...-->
                                            \\--PROOF bad--> no session (a failure counted)

* Pairing by certificate (the utility CA's compact certificate,
  :mod:`wattguard.meter.bluetooth.certificate`) gives the certificate's role; pairing by the meter's
  6-digit PIN gives at most ``pin_role`` and only a handheld's role (asking for more is refused
  as role escalation). A certificate bound to a meter pairs only with that meter, and a phone's
  or a sensor's certificate must be bound (:data:`~wattguard.meter.bluetooth.access.BOUND_ROLES`).
* Each failure (bad or revoked certificate, bad signature, wrong PIN, role escalation) counts
  toward the lockout (:mod:`wattguard.meter.bluetooth.lockout`); while locked, pairing is refused
  with the seconds left and not judged.
* Every pairing attempt becomes one security event: a failure an AUTHENTICATION event (the
  detail starts with "failure"), a success an ACCESS event (starting with "success": who
  paired, how and as what; no alert rule counts it, so a concentrator pairing with a
  district's meters does not look like a guessing attack); locking and attempts while locked
  are LOCKOUT events; requests outside the role, or without a session, are UNAUTHORISED;
  altered frames BAD_MAC, replayed ones REPLAY, undecodable ones MALFORMED.
* A paired session's DATA frames are opened, decoded, judged against the role
  (:mod:`wattguard.meter.bluetooth.access`) and handed to ``handler(apdu, role)`` (the meter's 698
  server); the answer goes back sealed. A request outside the role is answered with the 698
  denial (DAR 3) and never reaches the handler. A CONCENTRATOR's DATA frames carry 698 link
  frames, handed to the handler unjudged: the meter's 698 server judges them as it judges the
  power line's. Sessions end after ``session_timeout`` idle
  seconds or when another pairing succeeds. A concentrator's session stands beside that one
  (it collects while a technician or the customer is paired; a DATA frame opens under the
  keys of the session that sealed it), ends after ``concentrator_timeout`` idle seconds or
  when another concentrator pairs, and carries what the meter sends on its own (an active
  report) sealed by :meth:`BluetoothService.notify`.

``protected=False`` is the unprotected baseline of the attack harness: PLAIN frames are served
without pairing, as MAINTENANCE, with no access check; pairing, if a handheld does it, checks
no proof and counts no failure.

``now`` is the meter's calendar clock (certificates carry calendar dates); the lockout runs on
it too, see docs/bluetooth.md.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from wattguard.crypto import sm2
from wattguard.errors import DecodeError, IntegrityError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.meter.bluetooth.access import (
    BOUND_ROLES,
    HANDHELD_ROLES,
    Role,
    denial,
    refusal_reason,
)
from wattguard.meter.bluetooth.certificate import CertificateRefused, HandheldCertificate
from wattguard.meter.bluetooth.lockout import Lockout, LockoutPolicy
from wattguard.meter.bluetooth.pairing import (
    MAX_FRAME,
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
from wattguard.meter.links.channel import ReplayError
from wattguard.meter.management.storage import Store
from wattguard.protocol import decode_apdu
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.axdr import Reader
from wattguard.randomness import Random

__all__ = ["BluetoothService", "Handler"]

log = logging.getLogger(__name__)

#: What the meter's 698 server offers the service: an authorised APDU in, the answer out.
Handler = Callable[[bytes, Role], bytes]

LOCKOUT_KEY = "ble/lockout"
REVOKED_KEY = "ble/revoked"


@dataclass(frozen=True, slots=True)
class _Claim:
    """Who a pairing handheld says it is."""

    method: Method
    handheld: str
    role: Role
    serial: int | None  # the certificate's; None for a PIN
    public_key: sm2.PublicKey | None
    scope: int = 0  # the object a sensor's certificate names


@dataclass(frozen=True, slots=True)
class _Pending:
    claim: _Claim
    transcript: bytes
    keys: SessionKeys
    expires: float


@dataclass(slots=True)
class _Session:
    handheld: str
    role: Role
    serial: int | None
    cipher: SessionCipher
    last_used: float
    scope: int = 0


class BluetoothService:
    """The meter's end of the Bluetooth link (see the module docstring)."""

    def __init__(
        self,
        address: bytes,
        handler: Handler,
        events: EventSink,
        *,
        ca_public_key: sm2.PublicKey | None = None,
        pin: str | None = None,
        pin_role: Role = Role.READ_ONLY,
        revoked: Iterable[int] = (),
        protected: bool = True,
        lockout: LockoutPolicy | None = None,
        store: Store | None = None,
        random: Random = os.urandom,
        source: str = "management/BLE",
        challenge_timeout: float = 30.0,
        session_timeout: float = 300.0,
        concentrator_timeout: float = 86400.0,
    ) -> None:
        self.address = bytes(address)
        self.handler = handler
        self.events = events
        self.ca_public_key = ca_public_key
        self.pin = None if pin is None else check_pin(pin)
        self.pin_role = pin_role
        self.protected = protected
        self.store = store
        self.random = random
        self.source = source
        self.challenge_timeout = challenge_timeout
        self.session_timeout = session_timeout
        self.concentrator_timeout = concentrator_timeout
        self.lockout = Lockout(lockout, store, LOCKOUT_KEY)
        self.revoked: set[int] = set(revoked)
        stored = store.get(REVOKED_KEY) if store is not None else None
        if stored:
            self.revoked.update(struct.unpack(f">{len(stored) // 8}Q", stored))
        self._pending: _Pending | None = None
        self._session: _Session | None = None  # a handheld's, a phone's or a sensor's
        self._standing: _Session | None = None  # a concentrator's, beside it

    @property
    def session(self) -> tuple[str, Role] | None:
        """(id, role) of the paired handheld, phone or sensor, if any (not the concentrator's
        standing session)."""
        return None if self._session is None else (self._session.handheld, self._session.role)

    def revoke(self, serial: int) -> None:
        """Refuse the certificate with this serial from now on (kept in the store)."""
        self.revoked.add(serial)
        if self.store is not None:
            ordered = sorted(self.revoked)
            self.store.put(REVOKED_KEY, struct.pack(f">{len(ordered)}Q", *ordered))
        if self._session is not None and self._session.serial == serial:
            self._session = None
        if self._standing is not None and self._standing.serial == serial:
            self._standing = None

    # Frames in, frames out

    def receive(self, frame: bytes, now: float) -> bytes:
        """Answer one frame from a handheld."""
        try:
            if not frame or len(frame) > MAX_FRAME:
                raise DecodeError(f"frame of {len(frame)} bytes", offset=0)
            step = self._STEPS.get(frame[0])
            if step is None:
                raise DecodeError(f"frame type 0x{frame[0]:02X} not accepted", offset=0)
            return step(self, bytes(frame), now)
        except DecodeError as exc:
            self._record(EventKind.MALFORMED, exc.reason, now)
            return Refused(RefusalCode.MALFORMED).to_bytes()
        except IntegrityError:  # a key agreement on a degenerate point, should one get through
            self._pending = None
            self._record(EventKind.MALFORMED, "key agreement failed", now)
            return Refused(RefusalCode.MALFORMED).to_bytes()

    # Pairing

    def _pair_certificate(self, frame: bytes, now: float) -> bytes:
        reader = Reader(frame, 1)
        request = PairCertificate.read(reader)
        reader.finish()
        if self.protected and (remaining := self.lockout.remaining(now)):
            return self._locked(remaining, "certificate", now)
        certificate = HandheldCertificate.from_bytes(request.certificate)
        who = f"#{certificate.serial} {certificate.handheld_id}"
        if self.protected:
            if self.ca_public_key is None:
                return self._fail(f"{who}: certificate pairing is not configured", now)
            try:
                certificate.check(self.ca_public_key, now)
            except CertificateRefused as refused:
                return self._fail(f"{who}: certificate {refused.reason}", now)
            if certificate.serial in self.revoked:
                return self._fail(f"{who}: certificate revoked", now)
            if (bound := self._binding_refusal(certificate)) is not None:
                return self._fail(f"{who}: {bound}", now)
        claim = _Claim(
            Method.CERTIFICATE,
            who,
            certificate.role,
            certificate.serial,
            certificate.public_key,
            certificate.scope,
        )
        return self._challenge(claim, request.certificate, request, now)

    def _pair_pin(self, frame: bytes, now: float) -> bytes:
        reader = Reader(frame, 1)
        request = PairPin.read(reader)
        reader.finish()
        who = f"PIN {request.handheld_id}"
        if self.protected:
            if remaining := self.lockout.remaining(now):
                return self._locked(remaining, "PIN", now)
            if self.pin is None:
                return self._fail(f"{who}: PIN pairing is disabled", now)
            if request.role not in HANDHELD_ROLES or request.role > self.pin_role:
                asked, allowed = request.role.name, self.pin_role.name
                return self._fail(f"{who}: role escalation, {asked} asked of a {allowed} PIN", now)
        claim = _Claim(Method.PIN, who, request.role, None, None)
        return self._challenge(claim, request.handheld_id.encode("ascii"), request, now)

    def _binding_refusal(self, certificate: HandheldCertificate) -> str | None:
        if certificate.meter is None:
            if certificate.role in BOUND_ROLES:
                return f"a {certificate.role.name} certificate must be bound to one meter"
            return None
        if certificate.meter != self.address:
            return f"certificate bound to meter {certificate.meter.hex()}, not this one"
        return None

    def _challenge(
        self, claim: _Claim, identity: bytes, request: PairCertificate | PairPin, now: float
    ) -> bytes:
        key = ephemeral_key(self.random)
        challenge = Challenge(self.address, key.public_key, self.random(16))
        hashed = transcript(claim.method, self.address, identity, claim.role, request, challenge)
        keys = SessionKeys.agree(key, request.ephemeral, handheld=False, transcript_hash=hashed)
        self._pending = _Pending(claim, hashed, keys, now + self.challenge_timeout)
        return challenge.to_bytes()

    def _proof(self, frame: bytes, now: float) -> bytes:
        pending, self._pending = self._pending, None  # a challenge answers one proof only
        if pending is None or now > pending.expires:
            self._record(EventKind.AUTHENTICATION, "failure: proof without a live challenge", now)
            return Refused(RefusalCode.NOT_PAIRED).to_bytes()
        proof, claim = frame[1:], pending.claim
        if self.protected:
            if claim.public_key is not None:
                try:
                    claim.public_key.verify(proof_message(pending.transcript), proof)
                except SecurityError:
                    return self._fail(f"{claim.handheld}: signature does not verify", now)
            else:
                expected = pending.keys.pin_tag(pending.transcript, self.pin or "")
                if self.pin is None or not hmac.compare_digest(expected, proof):
                    return self._fail(f"{claim.handheld}: wrong PIN", now)
            self.lockout.success()
        keys = pending.keys
        cipher = SessionCipher(
            keys.to_handheld, keys.to_meter, FrameType.DATA_REPLY, FrameType.DATA
        )
        session = _Session(claim.handheld, claim.role, claim.serial, cipher, now, claim.scope)
        if claim.role == Role.CONCENTRATOR:
            self._standing = session
        else:
            self._session = session
        how = "certificate" if claim.method == Method.CERTIFICATE else "PIN"
        detail = f"success: {claim.handheld} paired by {how} as {claim.role.name}"
        self._record(EventKind.ACCESS, detail, now)
        return Paired(claim.role, keys.confirmation(pending.transcript)).to_bytes()

    def _fail(self, detail: str, now: float) -> bytes:
        self._pending = None
        self._record(EventKind.AUTHENTICATION, f"failure: {detail}", now)
        locked_for = self.lockout.failure(now) if self.protected else 0.0
        if locked_for:
            text = f"locked for {locked_for:g} s after {self.lockout.policy.max_failures} failures"
            self._record(EventKind.LOCKOUT, text, now)
            return Refused(RefusalCode.LOCKED, math.ceil(locked_for)).to_bytes()
        return Refused(RefusalCode.AUTHENTICATION_FAILED).to_bytes()

    def _locked(self, remaining: float, how: str, now: float) -> bytes:
        self._record(EventKind.LOCKOUT, f"{how} pairing while locked ({remaining:g} s left)", now)
        return Refused(RefusalCode.LOCKED, math.ceil(remaining)).to_bytes()

    # The session

    def _live(self, now: float) -> tuple[list[_Session], bool]:
        """The live sessions (expired ones ended), and whether one just expired."""
        expired = False
        if self._session is not None and now - self._session.last_used > self.session_timeout:
            self._session, expired = None, True
        standing = self._standing
        if standing is not None and now - standing.last_used > self.concentrator_timeout:
            self._standing, expired = None, True
        return [s for s in (self._session, self._standing) if s is not None], expired

    def _data(self, frame: bytes, now: float) -> bytes:
        live, expired = self._live(now)
        if not live:
            reason = (
                "request in an expired session" if expired else "sealed request without a session"
            )
            self._record(EventKind.UNAUTHORISED, reason, now)
            return Refused(RefusalCode.NOT_PAIRED).to_bytes()
        for session in live:  # a frame opens under the keys of the session that sealed it
            try:
                apdu = session.cipher.open(frame)
            except IntegrityError:
                continue
            except ReplayError:
                self._record(EventKind.REPLAY, f"{session.handheld}: counter not increasing", now)
                return Refused(RefusalCode.REPLAY).to_bytes()
            session.last_used = now
            answer = self._serve(apdu, session.handheld, session.role, now, session.scope)
            return session.cipher.seal(answer)
        if expired:  # most likely the expired session's: say so rather than "altered"
            self._record(EventKind.UNAUTHORISED, "request in an expired session", now)
            return Refused(RefusalCode.NOT_PAIRED).to_bytes()
        names = " or ".join(s.handheld for s in live)
        self._record(EventKind.BAD_MAC, f"{names}: frame fails its tag", now)
        return Refused(RefusalCode.INTEGRITY).to_bytes()

    def can_notify(self, now: float) -> bool:
        """Whether a live concentrator session can carry a :meth:`notify` at ``now``."""
        standing = self._standing
        return standing is not None and now - standing.last_used <= self.concentrator_timeout

    def notify(self, payload: bytes, now: float) -> bytes | None:
        """``payload`` (link frames the meter sends on its own) sealed as a DATA_REPLY in the
        live concentrator session; None when there is none (see :meth:`can_notify`)."""
        if self._standing is None or not self.can_notify(now):
            return None
        return self._standing.cipher.seal(payload)

    def _plain(self, frame: bytes, now: float) -> bytes:
        if self.protected:
            self._record(EventKind.UNAUTHORISED, "unauthenticated request refused", now)
            return Refused(RefusalCode.NOT_PAIRED).to_bytes()
        answer = self._serve(frame[1:], "unpaired handheld", Role.MAINTENANCE, now)
        return bytes([FrameType.PLAIN_REPLY]) + answer

    def _serve(self, apdu: bytes, who: str, role: Role, now: float, scope: int = 0) -> bytes:
        if self.protected and role != Role.CONCENTRATOR:  # a concentrator's: link frames
            try:
                request = decode_apdu(apdu)
            except DecodeError as exc:
                self._record(EventKind.MALFORMED, f"{who}: APDU {exc.reason}", now)
                return ErrorResponse(0, ErrorType.APDU_UNDECODABLE).to_bytes()
            reason = refusal_reason(request, role, scope)
            if reason is not None:
                self._record(EventKind.UNAUTHORISED, f"{who} ({role.name}): {reason}", now)
                return denial(request).to_bytes()
        try:
            return self.handler(apdu, role)
        except Exception:  # the handler's bug must not take the port down
            log.exception("%s: handler failed", self.source)
            return ErrorResponse(0, ErrorType.OTHER).to_bytes()

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s: %s", self.source, kind.value, detail)
        self.events.record(SecurityEvent(kind, self.source, detail, now))

    _STEPS: ClassVar[dict[int, Callable[[BluetoothService, bytes, float], bytes]]] = {
        FrameType.PAIR_CERTIFICATE: _pair_certificate,
        FrameType.PAIR_PIN: _pair_pin,
        FrameType.PROOF: _proof,
        FrameType.DATA: _data,
        FrameType.PLAIN: _plain,
    }
