"""The soft ESAM: the meter's secure element, reached only through command frames.

Theory of operation. :meth:`Esam.transmit` takes one command frame
(``55 CLA INS P1 P2 Len DATA LRC``, :mod:`wattguard.esam.command`) and returns one response
frame (``E9 SW1 SW2 Len DATA LRC``). It never raises: a bad frame, an unknown instruction, a
wrong MAC, a replayed counter, an empty wallet each come back as their status word, and the
state is left as it was. The chip has no clock and draws its randomness from the source it was
given; the host states the time (POSIX seconds) in the commands that need it.

What it holds (:class:`~wattguard.esam.state.EsamState`): the meter's diversified keys and
their version, its SM2 key pair and certificate, the CA's public key, the station's
certificate, three counters (commands accepted, reports sent, top-ups), the wallet, and the
session a CONNECT negotiated. No command reads a key; :meth:`to_bytes` seals the state for the
host's storage and :meth:`from_bytes` opens it again.

A SECURITY-Request is opened with OPEN_REQUEST; the chip then remembers what the request was
bound to (its SID or random number, and the keys it named), and PROTECT_RESPONSE wraps the
answer under the same binding, once. So the host cannot have the chip MAC an answer to a
request that never came.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from wattguard.crypto import sm2
from wattguard.errors import DecodeError, IntegrityError, SecurityError
from wattguard.esam import profile as p
from wattguard.esam.certificate import Certificate, CertificateKind
from wattguard.esam.command import (
    CLA,
    Command,
    Fields,
    Info,
    Ins,
    Reply,
    Sw,
    pack,
    u8,
    u32,
    var,
)
from wattguard.esam.state import EsamState, open_sealed, seal

__all__ = ["VERSION", "WALLET_LIMIT", "Esam"]

log = logging.getLogger(__name__)

VERSION = b"wattguard soft ESAM 1.0"
#: The most the wallet may hold, fen (one million yuan).
WALLET_LIMIT = 100_000_000
_MAX_COUNTER = 0xFFFFFFFF
_RN_SIZES = range(8, 65)  # a plain RN may be any random number of 8 to 64 bytes
_SW_VALUES = frozenset(int(sw) for sw in Sw)
_VERIFICATIONS = 4  # SID_MAC, RN, RN_MAC, SID
_SID_MAC, _RN, _RN_MAC, _SID = range(_VERIFICATIONS)
_CIPHERTEXT = 1
_SYMMETRIC, _SIGNATURE = 2, 3


class _Refusal(Exception):
    def __init__(self, sw: Sw) -> None:
        super().__init__(sw.name)
        self.sw = sw


@dataclass(frozen=True, slots=True)
class _Keys:
    enc: bytes
    mac: bytes


@dataclass(frozen=True, slots=True)
class _Session:
    keys: _Keys
    expires: float


@dataclass(frozen=True, slots=True)
class _Context:
    """An opened request, waiting for its answer to be protected."""

    keys: _Keys
    binding: bytes
    protection: int


class Esam:
    """A soft ESAM. Build one with :func:`~wattguard.esam.provisioning.provision`."""

    def __init__(
        self, state: EsamState, device_key: bytes, *, random: p.Random = os.urandom
    ) -> None:
        self._state = state
        self._device_key = device_key
        self._random = random
        self._private = sm2.PrivateKey.from_bytes(state.private_key)
        self._ca = sm2.PublicKey.from_bytes(state.ca_public)
        self._session: _Session | None = None
        self._pending: _Context | None = None
        self._sealed_state: bytes | None = None  # the state as last sealed for the host

    def transmit(self, frame: bytes) -> bytes:
        """Execute one command frame; return the response frame. Never raises."""
        try:
            command = Command.from_bytes(frame)
        except DecodeError as exc:
            return Reply(_sw_of(exc)).to_bytes()
        if command.cla != CLA:
            return Reply(Sw.UNKNOWN_CLA).to_bytes()
        handler = _HANDLERS.get(command.ins)
        if handler is None:
            return Reply(Sw.UNKNOWN_INS).to_bytes()
        try:
            return Reply(Sw.OK, handler(self, command)).to_bytes()
        except _Refusal as refusal:
            return Reply(refusal.sw).to_bytes()
        except DecodeError as exc:
            return Reply(_sw_of(exc)).to_bytes()
        except IntegrityError:
            return Reply(Sw.BAD_MAC).to_bytes()
        except Exception:  # a bug must not take the chip down
            log.exception("ESAM command %02X failed", command.ins)
            return Reply(Sw.INTERNAL).to_bytes()

    # persistence

    def to_bytes(self) -> bytes:
        """The persistent state, sealed under the device key (SM4-GCM)."""
        return seal(self._state, self._device_key, self._random)

    def sealed_if_changed(self) -> bytes | None:
        """The sealed state (:meth:`to_bytes`) if it changed since this was last asked (a
        counter moved, the wallet, a key or certificate update), else None: what a host
        that keeps the state must write before it passes the answer on."""
        plain = self._state.to_bytes()
        if plain == self._sealed_state:
            return None
        self._sealed_state = plain
        return self.to_bytes()

    @classmethod
    def from_bytes(cls, blob: bytes, device_key: bytes, *, random: p.Random = os.urandom) -> Esam:
        """Open a sealed state; an altered blob, or one sealed by another chip, raises
        IntegrityError."""
        esam = cls(open_sealed(blob, device_key), device_key, random=random)
        esam._sealed_state = esam._state.to_bytes()
        return esam

    # keys

    def _meter_keys(self) -> _Keys:
        keys = self._state.keys
        return _Keys(keys[p.KeyId.ENC], keys[p.KeyId.MAC])

    def _keys_for(self, keyset: p.Keyset, key_version: int, now: float) -> _Keys:
        if key_version != self._state.keys.version:
            raise _Refusal(Sw.KEY_VERSION)
        if keyset == p.Keyset.METER:
            return self._meter_keys()
        session = self._session
        if session is None or now > session.expires:
            self._session = None
            raise _Refusal(Sw.SECURITY_STATUS)
        return session.keys

    def _check_address(self, address: bytes, refusal: Sw = Sw.BAD_MAC) -> None:
        if address != self._state.address:
            raise _Refusal(refusal)

    def _meter_sid(self, ident: int, attach: bytes, operation: p.Operation) -> p.SidFields:
        """The SID of a station operation on this meter's own keys (top-up, key update): for
        that operation (else BAD_DATA), under the keys in force (KEY_VERSION), for this meter
        (BAD_MAC)."""
        sid = p.SidFields.parse(ident, attach)
        if sid.operation != operation or sid.keyset != p.Keyset.METER:
            raise _Refusal(Sw.BAD_DATA)
        if sid.key_version != self._state.keys.version:
            raise _Refusal(Sw.KEY_VERSION)
        self._check_address(sid.address)
        return sid

    # GET_INFO

    def _info(self, command: Command) -> bytes:
        s = self._state
        try:
            item = Info(command.p1)
        except ValueError:
            raise _Refusal(Sw.BAD_P1P2) from None
        if item == Info.SESSION:
            now = Fields(command.data).u32()
            session = self._session
            left = 0 if session is None else max(0, int(session.expires - now))
            return u32(s.session_threshold) + u32(left)
        answers = {
            Info.SERIAL: s.serial,
            Info.VERSION: VERSION,
            Info.KEY_VERSION: u8(s.keys.version),
            Info.COUNTERS: u32(s.command_counter) + u32(s.report_counter) + u32(s.top_ups),
            Info.CERTIFICATE: s.certificate,
            Info.STATION_CERTIFICATE: s.station_certificate,
        }
        return answers[item]

    # SECURITY-Request and its answer

    def _open(self, command: Command) -> bytes:
        self._pending = None
        protection, kind = command.p1, command.p2
        if protection > _CIPHERTEXT or kind >= _VERIFICATIONS:
            raise _Refusal(Sw.BAD_P1P2)
        fields = Fields(command.data)
        now, payload, freshness, tag = fields.u32(), fields.var(), fields.var(), fields.var()
        fields.end()
        counter: int | None = None
        if kind == _RN:
            if len(freshness) not in _RN_SIZES:
                raise _Refusal(Sw.BAD_DATA)
            keys = self._meter_keys()
        elif kind == _RN_MAC:
            rn = p.StructuredRandom.from_bytes(freshness)
            keys, counter = self._keys_for(rn.keyset, rn.key_version, now), rn.counter
        else:
            if len(freshness) < 4 or (kind == _SID and protection != _CIPHERTEXT):
                raise _Refusal(Sw.BAD_DATA if len(freshness) < 4 else Sw.BAD_P1P2)
            sid = p.SidFields.parse(int.from_bytes(freshness[:4], "big"), freshness[4:])
            if sid.operation != p.Operation.COMMAND:
                raise _Refusal(Sw.BAD_DATA)
            self._check_address(sid.address)
            keys, counter = self._keys_for(sid.keyset, sid.key_version, now), sid.counter
        if kind in (_SID_MAC, _RN_MAC):
            p.check_mac(keys.mac, p.Label.REQUEST, freshness, u8(protection) + payload, tag)
        elif tag:
            raise _Refusal(Sw.BAD_DATA)
        if counter is not None and counter <= self._state.command_counter:
            raise _Refusal(Sw.REPLAY)
        inner = payload
        if protection == _CIPHERTEXT:
            inner = p.decrypt(keys.enc, p.Direction.REQUEST, freshness, payload)
        if counter is not None:
            self._state.command_counter = counter
        self._pending = _Context(keys, freshness, protection)
        return inner

    def _protect_response(self, command: Command) -> bytes:
        # P1 raises the answer's protection (1: ciphertext, for a read whose values the
        # meter's policy keeps confidential); nothing lowers it below the request's.
        if command.p1 > _CIPHERTEXT or command.p2:
            raise _Refusal(Sw.BAD_P1P2)
        fields = Fields(command.data)
        fields.u32()  # the time: not needed to answer
        apdu = fields.var()
        fields.end()
        context, self._pending = self._pending, None
        if context is None:
            raise _Refusal(Sw.SECURITY_STATUS)
        protection = max(context.protection, command.p1)
        payload = apdu
        if protection == _CIPHERTEXT:
            payload = p.encrypt(context.keys.enc, p.Direction.RESPONSE, context.binding, apdu)
        tag = p.mac(context.keys.mac, p.Label.RESPONSE, context.binding, u8(protection) + payload)
        return pack(u8(protection), var(payload), var(tag))

    def _protect_report(self, command: Command) -> bytes:
        fields = Fields(command.data)
        fields.u32()
        apdu = fields.var()
        fields.end()
        s = self._state
        if s.report_counter >= _MAX_COUNTER:
            raise _Refusal(Sw.REPLAY)
        s.report_counter += 1
        rn = p.StructuredRandom.fresh(
            p.Keyset.METER, s.keys.version, s.report_counter, self._random
        )
        binding = rn.to_bytes()
        tag = p.mac(s.keys[p.KeyId.MAC], p.Label.REPORT, binding, u8(0) + apdu)
        return pack(var(binding), var(tag))

    # CONNECT and RELEASE

    def _connect(self, command: Command) -> bytes:
        fields = Fields(command.data)
        now, ciphertext, signature = fields.u32(), fields.var(), fields.var()
        fields.end()
        address = self._state.address
        if command.p1 == _SYMMETRIC:
            auth = self._state.keys[p.KeyId.AUTH]
            client_random = p.symmetric_open(auth, address, ciphertext, signature)
        elif command.p1 == _SIGNATURE:
            station = self._station_key(now)
            station.verify(p.signed_offer(address, ciphertext), signature)
            client_random = self._private.decrypt(ciphertext)
        else:
            raise _Refusal(Sw.BAD_P1P2)
        if len(client_random) != p.RANDOM_SIZE:
            raise _Refusal(Sw.BAD_DATA)
        server_random = self._random(p.RANDOM_SIZE)
        derived = p.session_keys(client_random, server_random, address)
        keys = _Keys(derived.enc, derived.mac)
        self._session = _Session(keys, now + self._state.session_threshold)
        self._pending = None
        if command.p1 == _SYMMETRIC:
            proof = p.server_proof(derived, server_random, ciphertext)
        else:
            proof = self._private.sign(p.signed_answer(address, server_random, ciphertext))
        return pack(var(server_random), var(proof))

    def _station_key(self, now: float) -> sm2.PublicKey:
        if not self._state.station_certificate:
            raise _Refusal(Sw.CERTIFICATE)
        try:
            certificate = Certificate.from_bytes(self._state.station_certificate)
            return certificate.verify(self._ca, now)
        except (SecurityError, DecodeError):
            raise _Refusal(Sw.CERTIFICATE) from None

    def _release(self, command: Command) -> bytes:
        Fields(command.data).end()
        self._session = None
        self._pending = None
        return b""

    # the wallet

    def _wallet_read(self, command: Command) -> bytes:
        Fields(command.data).end()
        return u32(self._state.balance) + u32(self._state.top_ups)

    def _top_up(self, command: Command) -> bytes:
        return self._purchase(command, p.Operation.TOP_UP, p.Label.TOP_UP, +1)

    def _refund(self, command: Command) -> bytes:
        """A refund: like a top-up (its MAC under the wallet key, the next purchase count, so
        neither can be replayed nor one passed off as the other), taking credit out."""
        return self._purchase(command, p.Operation.REFUND, p.Label.REFUND, -1)

    def _purchase(
        self, command: Command, operation: p.Operation, label: p.Label, sign: int
    ) -> bytes:
        """A top-up (``sign`` +1) or refund (-1) of ``amount`` fen: MAC'd under the wallet key
        with the next purchase count; answers the balance and the count."""
        fields = Fields(command.data)
        amount, ident, attach, tag = fields.u32(), fields.u32(), fields.var(), fields.var()
        fields.end()
        s = self._state
        sid = self._meter_sid(ident, attach, operation)
        p.check_mac(s.keys[p.KeyId.WALLET], label, sid.binding, u32(amount), tag)
        if sid.counter <= s.top_ups:
            raise _Refusal(Sw.REPLAY)
        if sid.counter != s.top_ups + 1:
            raise _Refusal(Sw.OUT_OF_SEQUENCE)
        if amount == 0:
            raise _Refusal(Sw.BAD_DATA)
        if sign > 0 and s.balance + amount > WALLET_LIMIT:
            raise _Refusal(Sw.WALLET_LIMIT)
        if sign < 0 and amount > s.balance:
            raise _Refusal(Sw.WALLET_INSUFFICIENT)
        s.balance += sign * amount
        s.top_ups = sid.counter
        return u32(s.balance) + u32(s.top_ups)

    def _deduct(self, command: Command) -> bytes:
        fields = Fields(command.data)
        amount = fields.u32()
        fields.end()
        if amount > self._state.balance:
            raise _Refusal(Sw.WALLET_INSUFFICIENT)
        self._state.balance -= amount
        return u32(self._state.balance)

    # key and certificate updates

    def _key_update(self, command: Command) -> bytes:
        fields = Fields(command.data)
        ciphertext, ident, attach, tag = fields.var(), fields.u32(), fields.var(), fields.var()
        fields.end()
        s = self._state
        sid = self._meter_sid(ident, attach, p.Operation.KEY_UPDATE)
        transport = s.keys[p.KeyId.TRANSPORT]
        p.check_mac(p.subkey(transport, b"M"), p.Label.KEY_UPDATE, sid.binding, ciphertext, tag)
        if not s.keys.version < sid.counter <= 0xFF:
            raise _Refusal(Sw.KEY_VERSION)
        plain = p.decrypt(p.subkey(transport, b"E"), p.Direction.KEY_WRAP, sid.binding, ciphertext)
        keys = p.MeterKeys.from_bytes(plain)
        if keys.version != sid.counter:
            raise _Refusal(Sw.BAD_DATA)
        s.keys = keys
        self._session = None  # it was negotiated under the old keys
        # (an opened request keeps its keys: its answer goes back under the keys it came in)
        return u8(keys.version)

    def _certificate_update(self, command: Command) -> bytes:
        fields = Fields(command.data)
        now, raw, ident, attach = fields.u32(), fields.var(), fields.u32(), fields.var()
        fields.end()
        sid = p.SidFields.parse(ident, attach)
        if sid.operation != p.Operation.CERTIFICATE_UPDATE:
            raise _Refusal(Sw.BAD_DATA)
        self._check_address(sid.address, Sw.BAD_DATA)
        try:
            certificate = Certificate.from_bytes(raw)
            public = certificate.verify(self._ca, now)
        except (SecurityError, DecodeError):
            raise _Refusal(Sw.CERTIFICATE) from None
        if certificate.serial != sid.counter:
            raise _Refusal(Sw.BAD_DATA)
        s = self._state
        if certificate.kind == CertificateKind.ESAM:
            if certificate.subject != s.address or public != self._private.public_key:
                raise _Refusal(Sw.CERTIFICATE)
            current = s.certificate
        else:
            current = s.station_certificate
        if current and certificate.serial <= Certificate.from_bytes(current).serial:
            raise _Refusal(Sw.REPLAY)
        if certificate.kind == CertificateKind.ESAM:
            s.certificate = raw
        else:
            s.station_certificate = raw
        return u8(certificate.kind) + u32(certificate.serial)


def _sw_of(error: DecodeError) -> Sw:
    return Sw(error.dar) if error.dar in _SW_VALUES else Sw.BAD_DATA


_HANDLERS: dict[int, Callable[[Esam, Command], bytes]] = {
    Ins.GET_INFO: Esam._info,
    Ins.OPEN_REQUEST: Esam._open,
    Ins.PROTECT_RESPONSE: Esam._protect_response,
    Ins.PROTECT_REPORT: Esam._protect_report,
    Ins.CONNECT: Esam._connect,
    Ins.RELEASE: Esam._release,
    Ins.WALLET_READ: Esam._wallet_read,
    Ins.WALLET_TOP_UP: Esam._top_up,
    Ins.WALLET_DEDUCT: Esam._deduct,
    Ins.WALLET_REFUND: Esam._refund,
    Ins.KEY_UPDATE: Esam._key_update,
    Ins.CERTIFICATE_UPDATE: Esam._certificate_update,
}
