"""A utility's WAN PKI as a deployment sets it up: the CA, the FEP's certificate, the
station's and the cryptographic device's, one per terminal, and the channel factories each
side uses (:class:`~wattguard.network.fep.WanChannel` over
:class:`~wattguard.network.wan.SecureChannel`).

For processes on several hosts the PKI lives in a directory (:meth:`UtilityPki.save` and
:meth:`UtilityPki.load`): ``ca.crt``, ``ca.key``, ``ca-state.json`` (next serial, revoked
serials), and ``<name>.crt``/``<name>.key`` per party (``fep``, ``station``, ``cipher``,
``terminal-<address>``), PEM. The keys are written unencrypted with mode 0600: a real site
keeps the CA key offline and each key on its own host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wattguard.clock import Clock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.events import EventSink
from wattguard.network import pki
from wattguard.network.fep import ChannelCore, WanChannel
from wattguard.network.wan import ChannelRole, SecureChannel

__all__ = ["CIPHER_NAME", "FEP_NAME", "STATION_NAME", "UtilityPki"]

FEP_NAME = "FEP-1"


@dataclass
class _Party:
    key: sm2.PrivateKey
    certificate: pki.Certificate


STATION_NAME = "STATION-1"
CIPHER_NAME = "CIPHER-1"


@dataclass
class UtilityPki:
    clock: Clock
    ca: pki.CertificateAuthority
    fep: _Party
    station: _Party | None = None
    cipher: _Party | None = None
    terminals: dict[bytes, _Party] = field(default_factory=dict)
    _trust: pki.TrustStore | None = field(default=None, init=False, repr=False)
    _trust_refresh: float = field(default=0.0, init=False, repr=False)

    @classmethod
    def create(cls, clock: Clock, name: str = "wattguard utility CA") -> UtilityPki:
        now = clock.time() - 3600
        ca = pki.CertificateAuthority.create(name, now)
        made = cls(clock, ca, _issue(ca, FEP_NAME, pki.Role.FEP, now))
        made.station = _issue(ca, STATION_NAME, pki.Role.STATION, now)
        made.cipher = _issue(ca, CIPHER_NAME, pki.Role.STATION, now)
        return made

    # files

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / "ca.crt", self.ca.certificate.to_pem())
        _write(folder / "ca.key", self.ca.key.to_pem(), secret=True)
        state = {
            "next_serial": self.ca.next_serial,
            "revoked": self.ca.revoked_serials,
        }
        _write(folder / "ca-state.json", json.dumps(state).encode())
        parties = {"fep": self.fep, "station": self.station, "cipher": self.cipher}
        parties.update({f"terminal-{t.hex()}": p for t, p in self.terminals.items()})
        for name, party in parties.items():
            if party is not None:
                _write(folder / f"{name}.crt", party.certificate.to_pem())
                _write(folder / f"{name}.key", party.key.to_pem(), secret=True)

    @classmethod
    def load(cls, folder: Path, clock: Clock) -> UtilityPki:
        try:
            ca_certificate = pki.Certificate.from_pem((folder / "ca.crt").read_bytes())
            ca_key = sm2.PrivateKey.from_pem((folder / "ca.key").read_bytes())
            state = json.loads((folder / "ca-state.json").read_text())
            ca = pki.CertificateAuthority(
                ca_key, ca_certificate, next_serial=int(state["next_serial"])
            )
            for serial in state["revoked"]:
                ca.revoke(int(serial), clock.time())
            loaded = cls(clock, ca, _read(folder, "fep"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"no utility PKI in {folder} ({exc.filename}): create it with "
                "`wattguard pki --init DIR`"
            ) from None
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"the utility PKI in {folder} is damaged: {exc}") from None
        loaded.station = _read(folder, "station")
        loaded.cipher = _read(folder, "cipher")
        for path in folder.glob("terminal-*.crt"):
            address = bytes.fromhex(path.stem.removeprefix("terminal-"))
            loaded.terminals[address] = _read(folder, path.stem)
        return loaded

    def enrol(self, terminal: bytes) -> pki.Certificate:
        """Issue a terminal's certificate (its CN is its address, 12 digits)."""
        party = _issue(self.ca, terminal.hex(), pki.Role.TERMINAL, self.clock.time() - 3600)
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
        self.ca.revoke(self.terminals[terminal].certificate, self.clock.time())
        self._trust = None

    def trust(self) -> pki.TrustStore:
        """The CA and a current CRL, shared by the channels this PKI makes: the CRL is signed
        and checked again only after a revocation or half-way through its validity (a
        fresh store per connection cost as much as the handshake itself)."""
        now = self.clock.time()
        if self._trust is None or now >= self._trust_refresh:
            crl = self.ca.crl(now)
            self._trust = pki.TrustStore(self.ca.certificate, [crl], now=now)
            end = crl.next_update if crl.next_update is not None else now
            self._trust_refresh = now + (end - now) / 2
        return self._trust

    def fep_channel(self, events: EventSink | None = None) -> Callable[[], ChannelCore]:
        """The FEP's channels: any terminal of this CA, in force and not revoked."""
        return self.channel(
            self.fep, ChannelRole.SERVER, pki.Role.TERMINAL, None, events, f"{FEP_NAME} WAN"
        )

    def terminal_channel(
        self, terminal: bytes, events: EventSink | None = None
    ) -> Callable[[], ChannelCore]:
        """A terminal's channels to the FEP (enrolling the terminal first if need be)."""
        party = self.terminals.get(terminal) or self._enrolled(terminal)
        source = f"terminal {terminal.hex()} WAN"
        return self.channel(party, ChannelRole.CLIENT, pki.Role.FEP, FEP_NAME, events, source)

    def _enrolled(self, terminal: bytes) -> _Party:
        self.enrol(terminal)
        return self.terminals[terminal]


def _issue(ca: pki.CertificateAuthority, name: str, role: pki.Role, now: float) -> _Party:
    key = sm2.PrivateKey.generate()
    return _Party(key, ca.issue(name, role, key.public_key, now))


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    path.write_bytes(data)
    if secret:
        os.chmod(path, 0o600)


def _read(folder: Path, name: str) -> _Party:
    return _Party(
        sm2.PrivateKey.from_pem((folder / f"{name}.key").read_bytes()),
        pki.Certificate.from_pem((folder / f"{name}.crt").read_bytes()),
    )
