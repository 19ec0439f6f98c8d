"""A utility's WAN PKI as a deployment sets it up: the CA, the FEP's certificate, the
station's and the cryptographic device's, one per terminal, and the channel factories each
side uses (:class:`~wattguard.network.fep.WanChannel` over
:class:`~wattguard.network.wan.SecureChannel`).

For processes on several hosts the PKI lives in a directory (:meth:`UtilityPki.save`):
``ca.crt``, ``ca.key``, ``ca-state.json`` (next serial, revoked serials, CRL number),
``ca.crl`` (the current signed CRL), and ``<name>.crt``/``<name>.key`` per party (``fep``,
``station``, ``cipher``, ``terminal-<address>``), PEM. Keys are written mode 0600 from the
moment they are created and atomically (:func:`wattguard.secretfile.write_secret`); a key file
that group or others can write is refused when read. Keep the directory 0700. The parties'
keys are unencrypted (a service must start unattended); ``ca.key`` may be sealed under a
passphrase of its own (``wattguard pki --init --encrypt-key``; ``network/_ca_key.py``).

Two ways to open it. :meth:`UtilityPki.load` opens the CA itself, key included: for the
administrator's commands (`wattguard pki --init|--enrol|--revoke|--crl`), which issue
certificates and sign CRLs. :meth:`UtilityPki.load_party` opens what one party needs and
nothing more: the CA certificate, the published CRL and that party's own key and certificate;
it never reads ``ca.key``. The services (FEP, station, cryptographic device, terminal) open
the directory that way, so a compromised service, the FEP at the boundary above all, cannot
issue certificates; a real site keeps ``ca.key`` offline and copies each host only its own
files. A party re-reads ``ca.crl`` when the file changes, so a revocation reaches a running FEP
with its next connection; a CRL past its next-update time is not trusted, and then every peer
is refused (fail closed, each refusal a security event) until the administrator signs a new
one with `wattguard pki --crl` (CRLs are valid for 7 days: sign one daily).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wattguard.clock import Clock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.events import EventSink
from wattguard.network import pki
from wattguard.network._ca_key import is_sealed, open_key, seal_key
from wattguard.network.channel import ChannelCore, WanChannel
from wattguard.network.wan import ChannelRole, SecureChannel
from wattguard.secretfile import read_secret, write_secret

__all__ = ["CIPHER_NAME", "FEP_NAME", "STATION_NAME", "UtilityPki", "ca_key_sealed"]

log = logging.getLogger(__name__)

FEP_NAME = "FEP-1"


@dataclass
class _Party:
    key: sm2.PrivateKey
    certificate: pki.Certificate


STATION_NAME = "STATION-1"
CIPHER_NAME = "CIPHER-1"


@dataclass
class UtilityPki:
    """A utility's WAN PKI (see the module docstring): the CA (None when a party opened it), the
    parties' keys and certificates, and the factories of their WAN channels."""

    clock: Clock
    ca: pki.CertificateAuthority | None  # None: opened by a party (load_party), no CA key
    fep: _Party | None
    station: _Party | None = None
    cipher: _Party | None = None
    terminals: dict[bytes, _Party] = field(default_factory=dict)
    ca_certificate: pki.Certificate | None = None  # a party's trust anchor
    crl_path: Path | None = None  # a party's published CRL, re-read when it changes
    _trust: pki.TrustStore | None = field(default=None, init=False, repr=False)
    _trust_refresh: float = field(default=0.0, init=False, repr=False)
    _crl_stamp: tuple[int, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def create(cls, clock: Clock, name: str = "wattguard utility CA") -> UtilityPki:
        now = clock.time() - 3600
        ca = pki.CertificateAuthority.create(name, now)
        made = cls(clock, ca, _issue(ca, FEP_NAME, pki.Role.FEP, now))
        made.station = _issue(ca, STATION_NAME, pki.Role.STATION, now)
        made.cipher = _issue(ca, CIPHER_NAME, pki.Role.STATION, now)
        return made

    # files

    def _authority(self) -> pki.CertificateAuthority:
        if self.ca is None:
            raise ConfigError(
                "this process opened the PKI as a party, without the CA key: issuing and "
                "revoking are `wattguard pki`'s work"
            )
        return self.ca

    def save(
        self,
        folder: Path,
        *,
        ca_passphrase: str | None = None,
        random: Callable[[int], bytes] | None = None,
    ) -> None:
        """Write the CA, its state, a freshly signed CRL and every party's files; with
        ``ca_passphrase`` (and ``random`` for its salt and nonce), ``ca.key`` sealed under it
        (``network/_ca_key.py``)."""
        ca = self._authority()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write(folder / "ca.crt", ca.certificate.to_pem())
        key = ca.key.to_pem()
        if ca_passphrase is not None:
            if random is None:
                raise ConfigError("sealing the CA key needs a random source (random=)")
            key = seal_key(key, ca_passphrase, random)
        _write(folder / "ca.key", key, secret=True)
        crl = ca.crl(self.clock.time())
        state = {
            "next_serial": ca.next_serial,
            "revoked": ca.revoked_serials,
            "crl_number": ca.crl_number,
        }
        _write(folder / "ca-state.json", json.dumps(state).encode())
        _replace(folder / "ca.crl", crl.to_pem())
        parties = {"fep": self.fep, "station": self.station, "cipher": self.cipher}
        parties.update({f"terminal-{t.hex()}": p for t, p in self.terminals.items()})
        for name, party in parties.items():
            if party is not None:
                _write(folder / f"{name}.crt", party.certificate.to_pem())
                _write(folder / f"{name}.key", party.key.to_pem(), secret=True)

    @classmethod
    def load(cls, folder: Path, clock: Clock, *, ca_passphrase: str | None = None) -> UtilityPki:
        """The CA with its key (the administrator's view); a sealed ``ca.key`` is opened
        with ``ca_passphrase``."""
        try:
            ca_certificate = pki.Certificate.from_pem((folder / "ca.crt").read_bytes())
            ca_key = sm2.PrivateKey.from_pem(
                _ca_key_pem(read_secret(folder / "ca.key"), ca_passphrase, folder / "ca.key")
            )
            state = json.loads((folder / "ca-state.json").read_text())
            ca = pki.CertificateAuthority(
                ca_key,
                ca_certificate,
                next_serial=int(state["next_serial"]),
                crl_number=int(state.get("crl_number", 0)),
            )
            for serial in state["revoked"]:
                ca.revoke(int(serial), clock.time())
            loaded = cls(clock, ca, _read(folder, "fep"))
        except FileNotFoundError as exc:
            if (folder / "ca.crt").exists() and not (folder / "ca.key").exists():
                raise ConfigError(
                    f"{folder} has no ca.key: issuing, revoking and signing CRLs need the CA "
                    "key; bring it back from where it is kept offline"
                ) from None
            raise ConfigError(
                f"no utility PKI in {folder} ({exc.filename}): create it with "
                "`wattguard pki --init --pki DIR`"
            ) from None
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"the utility PKI in {folder} is damaged: {exc}") from None
        loaded.station = _read(folder, "station")
        loaded.cipher = _read(folder, "cipher")
        for path in folder.glob("terminal-*.crt"):
            address = bytes.fromhex(path.stem.removeprefix("terminal-"))
            loaded.terminals[address] = _read(folder, path.stem)
        return loaded

    @classmethod
    def load_party(cls, folder: Path, clock: Clock, party: str) -> UtilityPki:
        """What ``party`` (``fep``, ``station``, ``cipher`` or ``terminal-<address>``) needs:
        the CA certificate, the published CRL and its own key and certificate. Never the CA
        key."""
        try:
            ca_certificate = pki.Certificate.from_pem((folder / "ca.crt").read_bytes())
            own = _read(folder, party)
            if not (folder / "ca.crl").exists():
                raise FileNotFoundError(2, "no CRL", str(folder / "ca.crl"))
        except FileNotFoundError as exc:
            hint = "create the PKI with `wattguard pki --init --pki DIR`"
            if party.startswith("terminal-") and (folder / "ca.crt").exists():
                address = party.removeprefix("terminal-")
                hint = f"enrol the terminal with `wattguard pki --enrol {address} --pki {folder}`"
            elif (folder / "ca.crt").exists():
                hint = f"sign one with `wattguard pki --crl --pki {folder}`"
            raise ConfigError(f"{folder} has no {exc.filename}: {hint}") from None
        except ValueError as exc:
            raise ConfigError(f"the utility PKI in {folder} is damaged: {exc}") from None
        loaded = cls(
            clock, None, own if party == "fep" else None,
            ca_certificate=ca_certificate, crl_path=folder / "ca.crl",
        )  # fmt: skip
        if party == "station":
            loaded.station = own
        elif party == "cipher":
            loaded.cipher = own
        elif party.startswith("terminal-"):
            loaded.terminals[bytes.fromhex(party.removeprefix("terminal-"))] = own
        elif party != "fep":
            raise ConfigError(f"no such party {party!r} in a utility PKI")
        loaded.trust()  # says now, not at the first connection, if the CRL is unusable
        return loaded

    def enrol(self, terminal: bytes) -> pki.Certificate:
        """Issue a terminal's certificate (its CN is its address, 12 digits)."""
        ca = self._authority()
        party = _issue(ca, terminal.hex(), pki.Role.TERMINAL, self.clock.time() - 3600)
        self.terminals[terminal] = party
        return party.certificate

    def channel(
        self,
        party: _Party,
        role: ChannelRole,
        peer_role: pki.Role,
        peer_name: str | None,
        events: EventSink | None = None,
        source: str = "WAN",
    ) -> Callable[[], ChannelCore]:
        """A factory of channels for ``party`` (client or server) accepting ``peer_role``."""

        def make() -> ChannelCore:
            return WanChannel(
                SecureChannel(
                    role,
                    clock=self.clock,
                    peer_role=peer_role,
                    key=party.key,
                    chain=[party.certificate],
                    trust=self.trust(),
                    peer_name=peer_name,
                    events=events,
                    source=source,
                )
            )

        return make  # fmt: skip

    def revoke(self, terminal: bytes) -> None:
        """Revoke a terminal's certificate: channels made from now on refuse it."""
        party = self.terminals.get(terminal)
        if party is None:
            raise ConfigError(f"terminal {terminal.hex()} has no certificate from this CA")
        self._authority().revoke(party.certificate, self.clock.time())
        self._trust = None

    def trust(self) -> pki.TrustStore:
        """The CA and a current CRL, shared by the channels this PKI makes.

        With the CA: the CRL is signed and checked again only after a revocation or half-way
        through its validity (a fresh store per connection cost as much as the handshake).
        As a party: the published CRL, read again when its file changes. A CRL that cannot
        be used (out of date, badly signed, unreadable) leaves the store without one, so every
        peer is refused with the reason until a good CRL is published."""
        now = self.clock.time()
        if self.ca is not None:
            if self._trust is None or now >= self._trust_refresh:
                crl = self.ca.crl(now)
                self._trust = pki.TrustStore(self.ca.certificate, [crl], now=now)
                end = crl.next_update if crl.next_update is not None else now
                self._trust_refresh = now + (end - now) / 2
            return self._trust
        assert self.ca_certificate is not None and self.crl_path is not None
        try:
            info = os.stat(self.crl_path)
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if self._trust is None or stamp != self._crl_stamp:
            self._crl_stamp = stamp
            self._trust = pki.TrustStore(self.ca_certificate, now=now)
            try:
                crl = pki.RevocationList.from_pem(self.crl_path.read_bytes())
                self._trust.update_crl(crl, now)
            except (OSError, ValueError, pki.CertificateError) as exc:
                log.warning("%s unusable, every peer is refused until it is fixed: %s",
                            self.crl_path, exc)  # fmt: skip
        return self._trust

    def fep_channel(self, events: EventSink | None = None) -> Callable[[], ChannelCore]:
        """The FEP's channels: any terminal of this CA, in force and not revoked."""
        if self.fep is None:
            raise ConfigError("this PKI was opened without the FEP's key and certificate")
        return self.channel(
            self.fep, ChannelRole.SERVER, pki.Role.TERMINAL, None, events, f"{FEP_NAME} WAN"
        )

    def terminal_channel(
        self, terminal: bytes, events: EventSink | None = None
    ) -> Callable[[], ChannelCore]:
        """A terminal's channels to the FEP (with the CA, enrolling the terminal first if need
        be)."""
        party = self.terminals.get(terminal) or self._enrolled(terminal)
        source = f"terminal {terminal.hex()} WAN"
        return self.channel(party, ChannelRole.CLIENT, pki.Role.FEP, FEP_NAME, events, source)

    def _enrolled(self, terminal: bytes) -> _Party:
        self.enrol(terminal)
        return self.terminals[terminal]


def _issue(ca: pki.CertificateAuthority, name: str, role: pki.Role, now: float) -> _Party:
    key = sm2.PrivateKey.generate()
    return _Party(key, ca.issue(name, role, key.public_key, now))


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a party re-reading it never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    if secret:
        write_secret(path, data)  # 0600 from creation, atomic
    else:
        path.write_bytes(data)


def _read(folder: Path, name: str) -> _Party:
    return _Party(
        sm2.PrivateKey.from_pem(read_secret(folder / f"{name}.key")),
        pki.Certificate.from_pem((folder / f"{name}.crt").read_bytes()),
    )


def _ca_key_pem(data: bytes, passphrase: str | None, where: Path) -> bytes:
    return open_key(data, passphrase, str(where)) if is_sealed(data) else data


def ca_key_sealed(folder: Path) -> bool:
    """Whether ``folder``'s ``ca.key`` is sealed under a passphrase (False if it has none)."""
    try:
        return is_sealed((folder / "ca.key").read_bytes())
    except FileNotFoundError:
        return False
