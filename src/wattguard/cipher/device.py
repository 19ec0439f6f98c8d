"""The cryptographic device (HSM): the only holder of the master keys.

Theory of operation. :class:`CryptoDevice` wraps the soft-ESAM profile's station side
(:class:`~wattguard.esam.station.StationSecurity`) and adds what makes it a device: the master
keys come from a vault encrypted under the operator's passphrase
(:mod:`wattguard.cipher.vault`); every operation that uses a key is written to an SM3-chained
audit log (:mod:`wattguard.cipher.audit`) with the meter and the outcome, never a key; refusals
also become security events. Per-meter counters (command counter, top-ups, key version, and
the window of report counters seen) are kept on disk (:mod:`wattguard.cipher.state`: a
snapshot and a write-ahead journal), written before a counter is used or a report handed
back, so that a restarted device never reuses a counter nor accepts a report twice.

The station uses it as the :class:`~wattguard.station.ingest.Verifier` of relayed readings
and to protect its commands. ``wattguard cipher`` runs it as its own process (see
:mod:`wattguard.runtime.cipher`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from wattguard.cipher.audit import AuditChain
from wattguard.cipher.state import DeviceState
from wattguard.cipher.vault import load_vault
from wattguard.crypto import sm2
from wattguard.errors import ConfigError, ReplayError, SecurityError
from wattguard.esam.certificate import Certificate
from wattguard.esam.chip import Esam
from wattguard.esam.profile import MasterKeys, Random, StructuredRandom
from wattguard.esam.provisioning import provision
from wattguard.esam.station import StationSecurity
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.protocol import Data
from wattguard.protocol.apdu.connect import Mechanism, SecurityData
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityRequest,
    SecurityResponse,
    VerificationKind,
)

__all__ = ["CryptoDevice"]


_LABEL = re.compile(r"[a-z0-9-]{1,32}")


class CryptoDevice:
    """The cryptographic device: holds the master keys, wraps the station's commands and opens
    meters' protected answers under each meter's keys, and audits every use of a key."""

    def __init__(
        self,
        master_keys: Iterable[MasterKeys],
        *,
        identity: sm2.PrivateKey | None = None,
        ca_key: sm2.PrivateKey | None = None,
        audit: AuditChain | None = None,
        events: EventSink | None = None,
        state_path: Path | None = None,
        clock: Callable[[], float] = lambda: 0.0,
        random: Random = os.urandom,
    ) -> None:
        sets = list(master_keys)
        if not sets:
            raise ConfigError("the cryptographic device needs at least one master key set")
        self.ca_key = ca_key
        self.security = StationSecurity(
            sets,
            identity=identity,
            ca_public=None if ca_key is None else ca_key.public_key,
            random=random,
        )
        self.audit = audit or AuditChain()
        self.events = events
        self.state_path = state_path
        self.clock = clock
        self.random = random
        self.verified = 0
        self.refused = 0
        self._state = None if state_path is None else DeviceState(state_path)
        self._known: set[bytes] = set()
        if self._state is not None:
            self._known |= self._state.load(self.security)

    @classmethod
    def open(
        cls, vault: Path, passphrase: str, *, audit_path: Path | None = None, **options: object
    ) -> CryptoDevice:
        """The device with the master keys of ``vault`` (VaultError on a wrong passphrase)."""
        keys = load_vault(vault, passphrase)
        device = cls(keys, audit=AuditChain(audit_path), **options)  # type: ignore[arg-type]
        device._audit("open", f"vault {vault.name}: {len(keys)} master key version(s)")
        return device

    # meters

    def register(self, address: bytes, key_version: int | None = None) -> None:
        self.security.register(address, key_version=key_version)
        if address not in self._known:
            self._known.add(address)
            self._audit("register", f"meter {address.hex()} (key version "
                        f"{self.security.key_version(address)})")  # fmt: skip

    def provision_esam(self, address: bytes, **options: object) -> Esam:
        """The factory's step: a new ESAM whose keys are this device's, diversified for
        ``address`` (the keys go into the chip and nowhere else)."""
        if self.ca_key is None:
            raise ConfigError("provisioning needs the CA key (ca_key=...)")
        master = self.security.master()
        version = master.version
        esam = provision(address, master, self.ca_key, now=self.clock(), **options)  # type: ignore[arg-type]
        self.register(address, key_version=version)
        self._audit("provision", f"ESAM for meter {address.hex()}")
        return esam

    # commands

    def protect(
        self,
        address: bytes,
        apdu: bytes,
        *,
        protection: Protection = Protection.CIPHERTEXT,
        verification: VerificationKind = VerificationKind.SID_MAC,
        operator: str = "",
    ) -> SecurityRequest:
        """A command to one meter, wrapped under that meter's keys with a fresh counter."""
        self.register(address)
        request = self.security.wrap(
            address, apdu, protection=protection, verification=verification
        )
        self._audit("protect", f"meter {address.hex()} {protection.name.lower()}+"
                    f"{verification.name.lower()} by {operator or 'station'}")  # fmt: skip
        self._persist(address)
        return request

    def top_up(
        self, address: bytes, amount: int, operator: str = "", *, refund: bool = False
    ) -> Data:
        """F100 method 6's parameter for a top-up (or, ``refund``, a refund) of ``amount`` fen
        under the meter's wallet key, with its next purchase count."""
        self.register(address)
        command = self.security.top_up(address, amount, refund=refund)
        what = "refund" if refund else "top-up"
        self._audit(what, f"meter {address.hex()} {amount} fen by {operator or 'station'}")
        self._persist(address)
        return command

    def newest_key_version(self) -> int:
        """The newest master key version the device holds (what a key update moves to)."""
        return self.security.current_version

    def key_update(self, address: bytes, new_version: int, operator: str = "") -> Data:
        self.register(address)
        command = self.security.key_update(address, new_version)
        self._audit("key update", f"meter {address.hex()} to version {new_version} by "
                    f"{operator or 'station'}")  # fmt: skip
        self._persist(address)
        return command

    def key_updated(self, address: bytes, version: int) -> None:
        """The meter confirmed a key update: use the new version from now on."""
        self.security.key_updated(address, version)
        self._audit("key updated", f"meter {address.hex()} now at version {version}")
        self._persist(address)

    def key_version(self, address: bytes) -> int:
        """The key version the device uses for ``address``."""
        self.register(address)
        return self.security.key_version(address)

    def certificate_update(
        self, address: bytes, certificate: Certificate, operator: str = ""
    ) -> Data:
        """F100 method 8's parameter: ``certificate`` (a station certificate, or the meter's
        ESAM certificate renewed) for ``address``."""
        self.register(address)
        command = self.security.certificate_update(address, certificate)
        self._audit("certificate update", f"meter {address.hex()} certificate serial "
                    f"{certificate.serial} by {operator or 'station'}")  # fmt: skip
        return command

    # session negotiation (CONNECT): the station side

    def connect_mechanism(self, address: bytes, mechanism: Mechanism, **options: Any) -> Any:
        """The security data of a CONNECT to ``address`` (symmetric or signature)."""
        self.register(address)
        offer = self.security.connect_mechanism(address, mechanism, self.clock(), **options)
        self._audit("connect", f"meter {address.hex()} {mechanism.name.lower()} offered")
        return offer

    def accept_connect(self, address: bytes, security: SecurityData | None) -> None:
        """Check the meter's CONNECT answer; its session keys stay in the device."""
        try:
            self.security.accept_connect(address, security)
        except SecurityError as exc:
            self._refused(address, "CONNECT answer", exc)
            raise
        self._audit("connect", f"meter {address.hex()} session established")

    def rotate(self, keys: MasterKeys) -> None:
        """A new master key version (meters move to it by key update)."""
        self.security.add_master_keys(keys)
        self._audit("rotate", f"master keys version {keys.version} added")

    # verification (wattguard.station.ingest.Verifier)

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        if meter not in self._known:
            self.register(meter)
        try:
            inner = self.security.open_response(meter, request, response)
        except SecurityError as exc:
            self._refused(meter, "answer", exc)
            raise
        self.verified += 1
        return inner

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        """A meter's RN_MAC report, opened; its counter joins the meter's report window, which
        is on disk (with a state file) before the report is handed back, so that neither a
        restart of this device nor one of the station lets the report through again."""
        self.register(meter)
        before = self.security.reports_heard(meter)
        try:
            inner = self.security.open_report(meter, report)
        except SecurityError as exc:
            self._refused(meter, "report", exc)
            raise
        if self.security.reports_heard(meter) != before and self._state is not None:
            counter = StructuredRandom.from_bytes(report.verification.random).counter
            self._state.report(self.security, meter, counter, report.verification.mac)
        self.verified += 1
        return inner

    def open_responses(
        self, exchanges: Sequence[tuple[bytes, SecurityRequest | None, SecurityResponse]]
    ) -> list[bytes | SecurityError]:
        """:meth:`open_response` of each of many answers (a terminal's report), in order: the
        inner APDU, or the SecurityError that refused it (recorded as one refusal)."""
        known = self._known
        for meter, _, _ in exchanges:
            if meter not in known:
                self.register(meter)
        out = self.security.open_responses(exchanges)
        refused = 0
        for index, inner in enumerate(out):
            if isinstance(inner, SecurityError):
                refused += 1
                self._refused(exchanges[index][0], "answer", inner)
        self.verified += len(out) - refused
        return out

    # bookkeeping

    def _refused(self, meter: bytes, what: str, exc: SecurityError) -> None:
        self.refused += 1
        detail = f"meter {meter.hex()}: {what} refused ({exc})"
        self._audit("refuse", detail)
        if self.events is not None:
            kind = EventKind.REPLAY if isinstance(exc, ReplayError) else EventKind.BAD_MAC
            self.events.record(SecurityEvent(kind, "cipher", detail, self.clock()))

    def witness(self, label: str, sequence: int, head: bytes) -> None:
        """Keep another system's audit checkpoint (its latest entry's number and hash) in
        this device's own chained log, out of reach of that system's database writers: the
        station's audit trail cannot then be rewritten and re-hashed unnoticed."""
        if not _LABEL.fullmatch(label) or sequence < 0 or len(head) != 32:
            raise ValueError("a checkpoint is a label (a-z, 0-9, -), a sequence and 32 bytes")
        self._audit("witness", f"{label} {sequence} {head.hex()}")

    def witnessed(self, label: str) -> tuple[int, bytes] | None:
        """The latest checkpoint witnessed for ``label``, or None."""
        for entry in reversed(self.audit.entries):
            if entry.action == "witness" and entry.detail.startswith(label + " "):
                _, sequence, head = entry.detail.split(" ")
                return int(sequence), bytes.fromhex(head)
        return None

    def _audit(self, action: str, detail: str) -> None:
        self.audit.append(action, detail, self.clock())

    def _persist(self, address: bytes) -> None:
        """Journal ``address``'s counters before they are relied on (see DeviceState)."""
        if self._state is not None:
            self._state.counters(self.security, address)
