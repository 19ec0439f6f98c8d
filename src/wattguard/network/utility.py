"""A utility's WAN PKI as a deployment sets it up: the CA, the FEP's certificate, one per
terminal, and the channel factories each side uses (:class:`~wattguard.network.fep.WanChannel`
over :class:`~wattguard.network.wan.SecureChannel`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.clock import Clock
from wattguard.crypto import sm2
from wattguard.events import EventSink
from wattguard.network import pki
from wattguard.network.fep import ChannelCore, WanChannel
from wattguard.network.wan import ChannelRole, SecureChannel

__all__ = ["FEP_NAME", "UtilityPki"]

FEP_NAME = "FEP-1"


@dataclass
class _Party:
    key: sm2.PrivateKey
    certificate: pki.Certificate


@dataclass
class UtilityPki:
    clock: Clock
    ca: pki.CertificateAuthority
    fep: _Party
    terminals: dict[bytes, _Party] = field(default_factory=dict)

    @classmethod
    def create(cls, clock: Clock, name: str = "wattguard utility CA") -> UtilityPki:
        now = clock.time() - 3600
        ca = pki.CertificateAuthority.create(name, now)
        key = sm2.PrivateKey.generate()
        fep = _Party(key, ca.issue(FEP_NAME, pki.Role.FEP, key.public_key, now))
        return cls(clock, ca, fep)

    def enrol(self, terminal: bytes) -> pki.Certificate:
        """Issue a terminal's certificate (its CN is its address, 12 digits)."""
        key = sm2.PrivateKey.generate()
        certificate = self.ca.issue(
            terminal.hex(), pki.Role.TERMINAL, key.public_key, self.clock.time() - 3600
        )
        self.terminals[terminal] = _Party(key, certificate)
        return certificate

    def revoke(self, terminal: bytes) -> None:
        self.ca.revoke(self.terminals[terminal].certificate, self.clock.time())

    def trust(self) -> pki.TrustStore:
        now = self.clock.time()
        return pki.TrustStore(self.ca.certificate, [self.ca.crl(now)], now=now)

    def fep_channel(self, events: EventSink | None = None) -> Callable[[], ChannelCore]:
        def make() -> ChannelCore:
            return WanChannel(
                SecureChannel(
                    ChannelRole.SERVER, clock=self.clock, peer_role=pki.Role.TERMINAL,
                    key=self.fep.key, chain=[self.fep.certificate], trust=self.trust(),
                    events=events, source=f"{FEP_NAME} WAN",
                )
            )  # fmt: skip

        return make

    def terminal_channel(
        self, terminal: bytes, events: EventSink | None = None
    ) -> Callable[[], ChannelCore]:
        party = self.terminals.get(terminal) or self._enrolled(terminal)

        def make() -> ChannelCore:
            return WanChannel(
                SecureChannel(
                    ChannelRole.CLIENT, clock=self.clock, peer_role=pki.Role.FEP,
                    key=party.key, chain=[party.certificate], trust=self.trust(),
                    peer_name=FEP_NAME, events=events, source=f"terminal {terminal.hex()} WAN",
                )
            )  # fmt: skip

        return make

    def _enrolled(self, terminal: bytes) -> _Party:
        self.enrol(terminal)
        return self.terminals[terminal]
