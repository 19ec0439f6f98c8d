"""The station's side of the soft-ESAM profile: what the cryptographic device computes.

Theory of operation. :class:`StationSecurity` holds the master keys (one
:class:`~wattguard.esam.profile.MasterKeys` per key version) and, per meter, what the
station must remember: the meter's key version, the last command counter and top-up count it
used, the session keys of a CONNECT, and a window of the report counters it has seen. From
these it derives the meter's keys on demand (nothing per meter is stored but counters) and:

* wraps a request: plaintext + SID_MAC, ciphertext + SID_MAC, ciphertext + SID, plaintext or
  ciphertext + RN_MAC, or plaintext + RN (a read whose answer comes back MAC'd);
* opens the meter's answers and its RN_MAC reports (:class:`~wattguard.station.ingest.Verifier`
  is this interface), refusing a forged MAC (IntegrityError) and a replayed report
  (ReplayError);
* runs the client side of CONNECT, symmetric or signature;
* builds the parameters of F100's top-up, key-update and certificate-update methods.

It is sans-IO and keeps no clock: time comes in where a certificate is checked.
``wattguard.cipher`` (the HSM service) wraps it.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError, IntegrityError, ReplayError, SecurityError
from wattguard.esam import profile as p
from wattguard.esam.certificate import Certificate, CertificateKind
from wattguard.protocol import SID, SIDMAC, Data, DataType
from wattguard.protocol.apdu.connect import ConnectMechanism, Mechanism, SecurityData
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)

__all__ = ["REPORT_WINDOW", "StationSecurity", "wrap_with_rn"]

_U32 = struct.Struct(">I")
_RN = VerificationKind.RN
#: How far back (in report counters) a late report is still accepted once.
REPORT_WINDOW = 64


class _Encodable(Protocol):
    def to_bytes(self) -> bytes: ...


def wrap_with_rn(apdu: bytes | _Encodable, random: p.Random = os.urandom) -> SecurityRequest:
    """Plaintext + RN: what a terminal (which holds no key) sends so that the meter answers
    with a MAC the station can check."""
    raw = apdu if isinstance(apdu, bytes) else apdu.to_bytes()
    return SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, raw),
        Verification(VerificationKind.RN, random=random(p.RANDOM_SIZE)),
    )


@dataclass
class _Window:
    """The report counters seen lately, with their MACs (an exact duplicate is harmless)."""

    highest: int = 0
    seen: dict[int, bytes] = field(default_factory=dict)
    heard: int = 0  # distinct reports accepted

    def accept(self, counter: int, tag: bytes) -> None:
        if counter > self.highest:
            self.highest = counter
            self.seen = {c: t for c, t in self.seen.items() if c > counter - REPORT_WINDOW}
        elif counter <= self.highest - REPORT_WINDOW:
            raise ReplayError()
        previous = self.seen.get(counter)
        if previous is not None and previous != tag:
            raise ReplayError()
        if previous is None:
            self.heard += 1
        self.seen[counter] = bytes(tag)


@dataclass
class _Offer:
    mechanism: Mechanism
    client_random: bytes
    ciphertext: bytes
    esam_key: sm2.PublicKey | None = None


@dataclass
class _Meter:
    key_version: int
    command_counter: int = 0
    top_ups: int = 0
    session: p.SessionKeys | None = None
    offer: _Offer | None = None
    reports: _Window = field(default_factory=_Window)


#: Meters whose derived keys the device keeps in memory at once.
_DERIVED_CACHE = 100_000


class StationSecurity:
    """The cryptographic device's computations for the soft-ESAM profile."""

    def __init__(
        self,
        master_keys: p.MasterKeys | Iterable[p.MasterKeys],
        *,
        identity: sm2.PrivateKey | None = None,
        ca_public: sm2.PublicKey | None = None,
        random: p.Random = os.urandom,
    ) -> None:
        sets = [master_keys] if isinstance(master_keys, p.MasterKeys) else list(master_keys)
        if not sets:
            raise ConfigError("the cryptographic device needs master keys")
        self._masters = {keys.version: keys for keys in sets}
        self._current = max(self._masters)
        self.identity = identity
        self.ca_public = ca_public
        self._random = random
        self._meters: dict[bytes, _Meter] = {}
        self._derived: dict[tuple[bytes, int], p.MeterKeys] = {}
        # (encryption key, MAC key) of the meter keysets verified lately: a verification then
        # costs one lookup (bounded like the derived keys, and dropped with them)
        self._pairs: dict[tuple[bytes, int], tuple[bytes, bytes]] = {}

    # keys and per-meter state

    def add_master_keys(self, keys: p.MasterKeys) -> None:
        """A new key version (for key updates); it becomes the version new meters start at."""
        self._masters[keys.version] = keys
        self._current = max(self._masters)
        for cache in (self._derived, self._pairs):  # keys derived from a version it replaced
            for stale in [k for k in cache if k[1] == keys.version]:
                del cache[stale]

    @property
    def current_version(self) -> int:
        return self._current

    def master(self, version: int | None = None) -> p.MasterKeys:
        """The master keys of ``version`` (the current one by default), for provisioning."""
        master = self._masters.get(self._current if version is None else version)
        if master is None:
            raise ConfigError(f"no master keys of version {version}")
        return master

    def counters(self) -> dict[bytes, tuple[int, int, int]]:
        """Per meter: (key version, command counter, top-ups), to keep across restarts."""
        return {
            address: (meter.key_version, meter.command_counter, meter.top_ups)
            for address, meter in self._meters.items()
        }

    def counters_of(self, address: bytes) -> tuple[int, int, int]:
        """One meter's (key version, command counter, top-ups)."""
        meter = self._meter(address)
        return meter.key_version, meter.command_counter, meter.top_ups

    def meter_keys(self, address: bytes, version: int | None = None) -> p.MeterKeys:
        """A meter's keys (of its current version unless given)."""
        version = self._meter(address).key_version if version is None else version
        cached = self._derived.get((address, version))
        if cached is not None:
            return cached
        master = self._masters.get(version)
        if master is None:
            raise ConfigError(f"no master keys of version {version}")
        keys = master.for_meter(address)
        # Derived keys stay in the device's memory (bounded): a verification costs a MAC, not
        # five diversifications.
        if len(self._derived) >= _DERIVED_CACHE:
            self._derived.pop(next(iter(self._derived)))
        self._derived[(address, version)] = keys
        return keys

    def register(
        self,
        address: bytes,
        *,
        key_version: int | None = None,
        command_counter: int = 0,
        top_ups: int = 0,
    ) -> None:
        """State what is known of a meter (e.g. its F100 counters after a restart); counters
        only ever move forward."""
        meter = self._meter(address)
        if key_version is not None:
            meter.key_version = key_version
        meter.command_counter = max(meter.command_counter, command_counter)
        meter.top_ups = max(meter.top_ups, top_ups)

    def key_version(self, address: bytes) -> int:
        return self._meter(address).key_version

    def report_windows(self) -> dict[bytes, tuple[int, dict[int, bytes], int]]:
        """Per meter that has reported: (highest report counter, {counter: MAC} of the window,
        distinct reports heard), to keep across restarts so that no report verified before one
        is accepted again."""
        return {
            address: (meter.reports.highest, dict(meter.reports.seen), meter.reports.heard)
            for address, meter in self._meters.items()
            if meter.reports.seen or meter.reports.highest
        }

    def restore_reports(
        self, address: bytes, highest: int, seen: dict[int, bytes], heard: int = 0
    ) -> None:
        """Take back a meter's report window as :meth:`report_windows` gave it (the window
        only ever moves forward)."""
        window = self._meter(address).reports
        if highest < window.highest:
            return
        window.heard = max(window.heard, heard)
        window.highest = highest
        window.seen = {
            c: bytes(t) for c, t in seen.items() if highest - REPORT_WINDOW < c <= highest
        }

    def note_report(self, address: bytes, counter: int, tag: bytes) -> None:
        """Take a report counter (and its MAC) verified before, e.g. from a journal after a
        restart; one the window already holds, or has passed, changes nothing."""
        with contextlib.suppress(ReplayError):
            self._meter(address).reports.accept(counter, tag)

    def reports_heard(self, address: bytes) -> int:
        """How many distinct reports of the meter were verified (kept across restarts by a
        device with a state file)."""
        return self._meter(address).reports.heard

    def _meter(self, address: bytes) -> _Meter:
        meter = self._meters.get(address)
        if meter is None:
            meter = self._meters[address] = _Meter(self._current)
        return meter

    def _keys(self, address: bytes, keyset: p.Keyset, version: int) -> tuple[bytes, bytes]:
        """(encryption key, MAC key) of a keyset; SecurityError if the station has none."""
        if keyset == p.Keyset.SESSION:
            session = self._meter(address).session
            if session is None or version != self._meter(address).key_version:
                raise SecurityError("no session with this meter")
            return session.enc, session.mac
        pair = self._pairs.get((address, version))
        if pair is not None:
            return pair
        if version not in self._masters:
            raise SecurityError("no master keys of that version")
        keys = self.meter_keys(address, version)
        pair = keys[p.KeyId.ENC], keys[p.KeyId.MAC]
        if len(self._pairs) >= _DERIVED_CACHE:
            self._pairs.pop(next(iter(self._pairs)))
        self._pairs[(address, version)] = pair
        return pair

    # requests

    def wrap(
        self,
        address: bytes,
        apdu: bytes | _Encodable,
        *,
        protection: Protection = Protection.PLAINTEXT,
        verification: VerificationKind = VerificationKind.SID_MAC,
        session: bool = False,
    ) -> SecurityRequest:
        """A SECURITY-Request carrying ``apdu`` to the meter at ``address``."""
        raw = apdu if isinstance(apdu, bytes) else apdu.to_bytes()
        if verification == VerificationKind.SID and protection != Protection.CIPHERTEXT:
            raise ConfigError("a SID without a MAC protects only ciphertext")
        meter = self._meter(address)
        keyset = p.Keyset.SESSION if session else p.Keyset.METER
        if verification == VerificationKind.RN:
            if session:
                raise ConfigError("a plain RN read is answered under the meter's own keys")
            binding = self._random(p.RANDOM_SIZE)
            enc, mac_key = self._keys(address, p.Keyset.METER, meter.key_version)
        else:
            enc, mac_key = self._keys(address, keyset, meter.key_version)
            meter.command_counter += 1
            if verification == VerificationKind.RN_MAC:
                binding = p.StructuredRandom.fresh(
                    keyset, meter.key_version, meter.command_counter, self._random
                ).to_bytes()
            else:
                sid = p.SidFields(
                    p.Operation.COMMAND, keyset, meter.key_version, meter.command_counter, address
                )
                binding = sid.binding
        payload = raw
        if protection == Protection.CIPHERTEXT:
            payload = p.encrypt(enc, p.Direction.REQUEST, binding, raw)
        tag = p.mac(mac_key, p.Label.REQUEST, binding, bytes((protection,)) + payload)
        return SecurityRequest(
            SecurityPayload(protection, payload), _verification(verification, binding, tag)
        )

    # answers and reports (wattguard.station.ingest.Verifier)

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        """The APDU inside a meter's answer to ``request``; IntegrityError if it is forged."""
        if request is None:
            raise IntegrityError()  # nothing to bind the answer to
        if response.payload.dar is not None:
            raise SecurityError(f"the meter refused the request (DAR {response.payload.dar})")
        tag = response.mac
        if tag is None:
            raise IntegrityError()
        v = request.verification
        if v.kind is _RN:  # a plain RN read (what a terminal collects): the meter's own keys
            known = self._meters.get(meter)
            version = (self._meter(meter) if known is None else known).key_version
            binding = v.random
            pair = self._pairs.get((meter, version)) or self._keys(meter, p.Keyset.METER, version)
        else:
            binding, keyset, version = _binding_of(request)
            if keyset is None:
                keyset, version = p.Keyset.METER, self._meter(meter).key_version
            pair = self._keys(meter, keyset, version)
        payload = response.payload
        return p.open_answer(pair[0], pair[1], binding, payload.protection, payload.data, tag)

    def open_responses(
        self, exchanges: Sequence[tuple[bytes, SecurityRequest | None, SecurityResponse]]
    ) -> list[bytes | SecurityError]:
        """:meth:`open_response` of each of many answers, in order: the inner APDU, or the
        SecurityError that refused it (the station's ``Verifier`` batch call).

        What a terminal collects is a plain RN read of a meter whose keys are derived
        already: that answer is opened here, with :meth:`open_response`'s steps inlined (a
        report holds dozens of them); any other goes through :meth:`open_response`."""
        out: list[bytes | SecurityError] = []
        append, meters, pairs, opened = out.append, self._meters, self._pairs, p.open_answer
        for meter, request, response in exchanges:
            try:
                payload, tag = response.payload, response.mac
                if request is not None and tag is not None and payload.dar is None:
                    v = request.verification
                    known = meters.get(meter) if v.kind is _RN else None
                    pair = None if known is None else pairs.get((meter, known.key_version))
                    if pair is not None:
                        append(opened(pair[0], pair[1], v.random, payload.protection,
                                      payload.data, tag))  # fmt: skip
                        continue
                append(self.open_response(meter, request, response))
            except SecurityError as exc:
                append(exc)
        return out

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        """The report inside a meter's plaintext + RN_MAC report; IntegrityError if forged,
        ReplayError if its counter is stale (an exact duplicate is let through: the station
        stores each reading once).

        Only the meter's current key version is accepted, whatever version the report's RN
        names: the device keeps old master keys, and after a key update or an ESAM replacement
        the old version's keys may be in an adversary's hands (an opened meter)."""
        v = report.verification
        if v.kind != VerificationKind.RN_MAC or report.payload.protection != Protection.PLAINTEXT:
            raise IntegrityError()
        try:
            rn = p.StructuredRandom.from_bytes(v.random)
        except DecodeError:
            raise IntegrityError() from None
        if rn.keyset != p.Keyset.METER or rn.key_version != self._meter(meter).key_version:
            raise IntegrityError()
        _, mac_key = self._keys(meter, p.Keyset.METER, rn.key_version)
        p.check_mac(mac_key, p.Label.REPORT, v.random, b"\x00" + report.payload.data, v.mac)
        self._meter(meter).reports.accept(rn.counter, v.mac)
        return report.payload.data

    # CONNECT

    def connect_mechanism(
        self,
        address: bytes,
        mechanism: Mechanism,
        now: float,
        *,
        esam_certificate: bytes | None = None,
    ) -> ConnectMechanism:
        """The client's half of a CONNECT. The signature mechanism needs the station's
        identity, the CA key and the meter's ESAM certificate (F100 attribute 10)."""
        client_random = self._random(p.RANDOM_SIZE)
        meter = self._meter(address)
        if mechanism == Mechanism.SYMMETRIC:
            auth = self.meter_keys(address)[p.KeyId.AUTH]
            ciphertext, tag = p.symmetric_offer(auth, address, client_random)
            meter.offer = _Offer(mechanism, client_random, ciphertext)
            return ConnectMechanism(mechanism, ciphertext=ciphertext, signature=tag)
        if mechanism != Mechanism.SIGNATURE:
            raise ConfigError("only the symmetric and signature mechanisms involve the ESAM")
        if self.identity is None or self.ca_public is None or esam_certificate is None:
            raise ConfigError("the signature mechanism needs an identity, the CA key and a cert")
        certificate = Certificate.from_bytes(esam_certificate)
        esam_key = certificate.verify(self.ca_public, now)
        if certificate.kind != CertificateKind.ESAM or certificate.subject != address:
            raise IntegrityError()
        ciphertext = esam_key.encrypt(client_random)
        signature = self.identity.sign(p.signed_offer(address, ciphertext))
        meter.offer = _Offer(mechanism, client_random, ciphertext, esam_key)
        return ConnectMechanism(mechanism, ciphertext=ciphertext, signature=signature)

    def accept_connect(self, address: bytes, security: SecurityData | None) -> None:
        """Check the meter's answer to our CONNECT and keep the session keys; IntegrityError
        if the answer is not the ESAM's."""
        meter = self._meter(address)
        offer, meter.offer = meter.offer, None
        if offer is None or security is None:
            raise IntegrityError()
        server_random = security.server_random
        keys = p.session_keys(offer.client_random, server_random, address)
        if offer.mechanism == Mechanism.SYMMETRIC:
            p.check_mac(
                keys.mac, p.Label.CONNECT_SERVER, server_random, offer.ciphertext,
                security.signature,
            )  # fmt: skip
        else:
            assert offer.esam_key is not None
            message = p.signed_answer(address, server_random, offer.ciphertext)
            offer.esam_key.verify(message, security.signature)
        meter.session = keys

    def release(self, address: bytes) -> None:
        self._meter(address).session = None

    # F100 methods

    def top_up(self, address: bytes, amount: int, *, refund: bool = False) -> Data:
        """F100 method 6's parameter: structure {amount double-long-unsigned fen, SID_MAC}.
        The purchase count advances; if the answer is lost, send the *same* parameter again
        (the meter either applies it or answers DAR 21, already done). ``refund``: the SID
        names a refund (the same purchase count), which takes ``amount`` out."""
        meter = self._meter(address)
        keys = self.meter_keys(address)
        meter.top_ups += 1
        operation = p.Operation.REFUND if refund else p.Operation.TOP_UP
        label = p.Label.REFUND if refund else p.Label.TOP_UP
        sid = p.SidFields(operation, p.Keyset.METER, keys.version, meter.top_ups, address)
        tag = p.mac(keys[p.KeyId.WALLET], label, sid.binding, _U32.pack(amount))
        return Data.structure(
            Data(DataType.DOUBLE_LONG_UNSIGNED, amount),
            Data(DataType.SID_MAC, SIDMAC(SID(sid.ident, sid.attach), tag)),
        )

    def key_update(self, address: bytes, new_version: int) -> Data:
        """F100 method 7's parameter: structure {key ciphertext octet-string, SID_MAC}: the
        keys of ``new_version`` wrapped under the meter's current transport key. Call
        :meth:`key_updated` once the meter has answered success."""
        old = self.meter_keys(address)
        new = self.meter_keys(address, new_version)
        sid = p.SidFields(p.Operation.KEY_UPDATE, p.Keyset.METER, old.version, new_version, address)
        transport = old[p.KeyId.TRANSPORT]
        wrap_key, mac_key = p.subkey(transport, b"E"), p.subkey(transport, b"M")
        ciphertext = p.encrypt(wrap_key, p.Direction.KEY_WRAP, sid.binding, new.to_bytes())
        tag = p.mac(mac_key, p.Label.KEY_UPDATE, sid.binding, ciphertext)
        return Data.structure(
            Data(DataType.OCTET_STRING, ciphertext),
            Data(DataType.SID_MAC, SIDMAC(SID(sid.ident, sid.attach), tag)),
        )

    def key_updated(self, address: bytes, version: int) -> None:
        meter = self._meter(address)
        meter.key_version = version
        meter.session = None

    def certificate_update(self, address: bytes, certificate: Certificate) -> Data:
        """F100 method 8's parameter: structure {certificate octet-string, SID}."""
        sid = p.SidFields(
            p.Operation.CERTIFICATE_UPDATE,
            p.Keyset.METER,
            self._meter(address).key_version,
            certificate.serial,
            address,
        )
        return Data.structure(
            Data(DataType.OCTET_STRING, certificate.to_bytes()),
            Data(DataType.SID, SID(sid.ident, sid.attach)),
        )


def _verification(kind: VerificationKind, binding: bytes, tag: bytes) -> Verification:
    if kind in (VerificationKind.SID_MAC, VerificationKind.SID):
        sid = SID(_U32.unpack(binding[:4])[0], binding[4:])
        return Verification(kind, sid=sid, mac=tag if kind == VerificationKind.SID_MAC else b"")
    return Verification(kind, random=binding, mac=tag if kind == VerificationKind.RN_MAC else b"")


def _binding_of(request: SecurityRequest) -> tuple[bytes, p.Keyset | None, int]:
    """What the meter bound its answer to, and the keys the request named (None: a plain RN
    read, answered under the meter's own keys)."""
    v = request.verification
    try:
        if v.kind in (VerificationKind.SID_MAC, VerificationKind.SID):
            assert v.sid is not None
            sid = p.SidFields.parse(v.sid.ident, v.sid.additional)
            return _U32.pack(v.sid.ident) + v.sid.additional, sid.keyset, sid.key_version
        if v.kind == VerificationKind.RN_MAC:
            rn = p.StructuredRandom.from_bytes(v.random)
            return v.random, rn.keyset, rn.key_version
    except DecodeError:
        raise IntegrityError() from None
    return v.random, None, 0
