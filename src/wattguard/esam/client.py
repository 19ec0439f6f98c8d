"""The management module's driver for its ESAM: the meter's
:class:`~wattguard.meter.management.server.SecurityElement` and
:class:`~wattguard.meter.management.module.Wallet`, carried out as command frames to the chip.

Theory of operation. Each method builds one command (:mod:`wattguard.esam.command`), sends it
through the chip's only entry point, ``transmit``, and reads the answer. A status word other
than 9000 becomes an :class:`~wattguard.errors.EsamError` subclass that carries it, and is
recorded as a :class:`~wattguard.events.SecurityEvent` in the sink the client is bound to (the
meter's log: :func:`wattguard.meter.management.esam_objects.expose_esam` binds it). Nothing here
sees a key.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from typing import Protocol

from wattguard.errors import (
    CounterError,
    DecodeError,
    EsamCertificateError,
    EsamError,
    KeyVersionError,
    MacError,
    WalletError,
)
from wattguard.esam.command import Command, Fields, Info, Ins, Reply, Sw, pack, u32, var
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.protocol.apdu.connect import ConnectMechanism, ConnectResult, Mechanism, SecurityData
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.protocol.values import SID

__all__ = ["EsamClient", "EsamInfo", "Transmitter"]

log = logging.getLogger(__name__)

_U32 = struct.Struct(">I")


class Transmitter(Protocol):
    """An ESAM as its host sees it: one frame in, one frame out."""

    def transmit(self, frame: bytes) -> bytes: ...


#: What each refusal raises and how it is recorded.
_REFUSALS: dict[int, tuple[type[EsamError], EventKind | None]] = {
    Sw.BAD_MAC: (MacError, EventKind.BAD_MAC),
    Sw.REPLAY: (CounterError, EventKind.REPLAY),
    Sw.OUT_OF_SEQUENCE: (CounterError, EventKind.REPLAY),
    Sw.KEY_VERSION: (KeyVersionError, EventKind.KEY),
    Sw.CERTIFICATE: (EsamCertificateError, EventKind.KEY),
    Sw.WALLET_INSUFFICIENT: (WalletError, None),
    Sw.WALLET_LIMIT: (WalletError, EventKind.UNAUTHORISED),
    Sw.SECURITY_STATUS: (EsamError, EventKind.AUTHENTICATION),
}


@dataclass(frozen=True, slots=True)
class EsamInfo:
    """What the ESAM tells about itself (object F100 and the wallet, 202C)."""

    serial: bytes
    version: bytes
    key_version: int
    command_counter: int
    report_counter: int
    top_ups: int
    certificate: bytes
    station_certificate: bytes
    session_threshold: int
    session_remaining: int
    balance: int


def _sw_name(sw: int) -> str:
    try:
        return Sw(sw).name
    except ValueError:
        return "unknown"


def _time(now: float) -> bytes:
    return u32(min(max(int(now), 0), 0xFFFFFFFF))


class EsamClient:
    """Drives one ESAM (anything with ``transmit(frame) -> frame``)."""

    def __init__(
        self, esam: Transmitter, *, events: EventSink | None = None, source: str = "ESAM"
    ) -> None:
        self._esam = esam
        self.events = events
        self.source = source
        self._now = 0.0

    @property
    def last_time(self) -> float:
        """The latest time a command carried (for callers that have no clock of their own)."""
        return self._now

    def bind(self, events: EventSink, source: str) -> None:
        """Record refusals into ``events`` (the meter's log), naming ``source``."""
        self.events = events
        self.source = source

    # the command layer

    def call(
        self,
        ins: Ins,
        data: bytes = b"",
        *,
        p1: int = 0,
        p2: int = 0,
        now: float | None = None,
        kind: EventKind | None = None,
    ) -> bytes:
        """Send one command; return the answer's DATA, or raise the refusal's EsamError (and
        record it, as ``kind`` if given)."""
        if now is not None:
            self._now = now
        reply_frame = self._esam.transmit(Command(ins, p1, p2, data).to_bytes())
        try:
            reply = Reply.from_bytes(reply_frame)
        except DecodeError as exc:
            reply = Reply(Sw.BAD_FRAME)
            log.warning("%s: unreadable answer from the ESAM: %s", self.source, exc)
        if reply.ok:
            return reply.data
        error, default_kind = _REFUSALS.get(reply.sw, (EsamError, EventKind.MALFORMED))
        detail = f"ESAM refused {ins.name}: SW {reply.sw:04X} ({_sw_name(reply.sw)})"
        event_kind = kind or default_kind
        if event_kind is not None and self.events is not None:
            self.events.record(SecurityEvent(event_kind, self.source, detail, self._now))
        raise error("ESAM refused the command", sw=reply.sw)

    # SecurityElement (wattguard.meter.management.server)

    def open_request(self, request: SecurityRequest, now: float) -> bytes:
        """Verify or decrypt a SECURITY-Request; return the APDU inside."""
        v = request.verification
        if v.kind in (VerificationKind.SID_MAC, VerificationKind.SID):
            assert v.sid is not None
            freshness = _U32.pack(v.sid.ident) + v.sid.additional
        else:
            freshness = v.random
        data = pack(_time(now), var(request.payload.data), var(freshness), var(v.mac))
        return self.call(Ins.OPEN_REQUEST, data, p1=request.payload.protection, p2=v.kind, now=now)

    def protect_response(
        self, request: SecurityRequest, apdu: bytes, now: float, *, cipher: bool = False
    ) -> SecurityResponse:
        """Wrap the answer to the request last opened: the request's protection (ciphertext
        when ``cipher``, whatever the request's), and a MAC."""
        data = pack(_time(now), var(apdu))
        fields = Fields(self.call(Ins.PROTECT_RESPONSE, data, p1=int(cipher), now=now))
        protection, payload, tag = fields.u8(), fields.var(), fields.var()
        return SecurityResponse(SecurityPayload(Protection(protection), payload), mac=tag)

    def connect(self, mechanism: ConnectMechanism, now: float) -> SecurityData | ConnectResult:
        if mechanism.mechanism not in (Mechanism.SYMMETRIC, Mechanism.SIGNATURE):
            return ConnectResult.OTHER
        data = pack(_time(now), var(mechanism.ciphertext), var(mechanism.signature))
        try:
            answer = self.call(
                Ins.CONNECT, data, p1=mechanism.mechanism, now=now, kind=EventKind.AUTHENTICATION
            )
        except MacError:
            if mechanism.mechanism == Mechanism.SYMMETRIC:
                return ConnectResult.SYMMETRIC_DECRYPTION_ERROR
            return ConnectResult.SIGNATURE_ERROR
        except EsamError:
            return ConnectResult.OTHER
        fields = Fields(answer)
        return SecurityData(fields.var(), fields.var())

    def release(self) -> None:
        try:
            self.call(Ins.RELEASE)
        except EsamError:
            log.warning("%s: the ESAM refused RELEASE", self.source)

    def protect_report(self, apdu: bytes, now: float) -> SecurityRequest:
        """A report as the meter sends it: plaintext + RN_MAC."""
        fields = Fields(self.call(Ins.PROTECT_REPORT, pack(_time(now), var(apdu)), now=now))
        random, tag = fields.var(), fields.var()
        return SecurityRequest(
            SecurityPayload(Protection.PLAINTEXT, apdu),
            Verification(VerificationKind.RN_MAC, random=random, mac=tag),
        )

    # Wallet (wattguard.meter.management.module)

    def balance(self) -> int:
        return Fields(self.call(Ins.WALLET_READ)).u32()

    def deduct(self, amount: int) -> int:
        """Take ``amount`` fen from the wallet; WalletError (SW 6A84) if it holds less."""
        if not 0 <= amount <= 0xFFFFFFFF:
            raise ValueError("a deduction is 0 to 2^32 - 1 fen")
        return Fields(self.call(Ins.WALLET_DEDUCT, u32(amount))).u32()

    # the station's commands (object F100's methods)

    def top_up(self, amount: int, sid: SID, tag: bytes, now: float) -> tuple[int, int]:
        """Credit the wallet; return (balance, top-up count)."""
        data = pack(u32(amount), u32(sid.ident), var(sid.additional), var(tag))
        fields = Fields(self.call(Ins.WALLET_TOP_UP, data, now=now))
        return fields.u32(), fields.u32()

    def refund(self, amount: int, sid: SID, tag: bytes, now: float) -> tuple[int, int]:
        """Take ``amount`` fen out of the wallet (a refund); return (balance, purchase count)."""
        data = pack(u32(amount), u32(sid.ident), var(sid.additional), var(tag))
        fields = Fields(self.call(Ins.WALLET_REFUND, data, now=now))
        return fields.u32(), fields.u32()

    def key_update(self, ciphertext: bytes, sid: SID, tag: bytes, now: float) -> int:
        """Install a new key set; return its version."""
        data = pack(var(ciphertext), u32(sid.ident), var(sid.additional), var(tag))
        return Fields(self.call(Ins.KEY_UPDATE, data, now=now)).u8()

    def certificate_update(self, certificate: bytes, sid: SID, now: float) -> int:
        """Install a certificate (the station's, or the ESAM's own re-issued); return its
        serial."""
        data = pack(_time(now), var(certificate), u32(sid.ident), var(sid.additional))
        fields = Fields(self.call(Ins.CERTIFICATE_UPDATE, data, now=now))
        fields.u8()
        return fields.u32()

    def info(self, now: float) -> EsamInfo:
        def read(item: Info, data: bytes = b"") -> bytes:
            return self.call(Ins.GET_INFO, data, p1=item, now=now)

        counters = Fields(read(Info.COUNTERS))
        session = Fields(read(Info.SESSION, _time(now)))
        balance = Fields(self.call(Ins.WALLET_READ, now=now)).u32()
        return EsamInfo(
            serial=read(Info.SERIAL),
            version=read(Info.VERSION),
            key_version=read(Info.KEY_VERSION)[0],
            command_counter=counters.u32(),
            report_counter=counters.u32(),
            top_ups=counters.u32(),
            certificate=read(Info.CERTIFICATE),
            station_certificate=read(Info.STATION_CERTIFICATE),
            session_threshold=session.u32(),
            session_remaining=session.u32(),
            balance=balance,
        )
