"""WAN channel rigs: a small utility PKI, channel pairs, a pump that carries bytes between them
through an optional man in the middle."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattguard.clock import VirtualClock
from wattguard.crypto import sm2
from wattguard.errors import WattguardError
from wattguard.events import EventLog
from wattguard.network import pki, wan
from wattguard.testing import DAY, T0

__all__ = [
    "FEP_NAME",
    "NOW",
    "TERMINAL_NAME",
    "Hook",
    "Party",
    "Utility",
    "app_data",
    "connect",
    "events",
    "pump",
    "records_of",
    "refusal",
    "rewrite_hello",
]

#: The ``now`` handed to the channels: it is not used (the channel has no timers; certificate
#: validity comes from the utility's clock).
NOW = 0.0
FEP_NAME = "FEP-1"
TERMINAL_NAME = "000000000001"

# A hook sees each burst of bytes one side sends and returns what the other side receives.
Hook = Callable[[bytes], bytes]


def _through(data: bytes) -> bytes:
    return data


@dataclass
class Party:
    """A key pair and the certificate the utility's CA issued for it."""

    key: sm2.PrivateKey
    certificate: pki.Certificate


@dataclass
class Utility:
    """The CA and its subjects, all issued a day before T0."""

    ca: pki.CertificateAuthority
    terminal: Party
    fep: Party
    clock: VirtualClock = field(default_factory=lambda: VirtualClock(T0))

    @classmethod
    def create(cls) -> Utility:
        """A new CA with a terminal and a FEP."""
        ca = pki.CertificateAuthority.create("wattguard root CA", T0 - 2 * DAY)
        return cls(
            ca,
            cls.party(ca, TERMINAL_NAME, pki.Role.TERMINAL),
            cls.party(ca, FEP_NAME, pki.Role.FEP),
        )

    @staticmethod
    def party(ca: pki.CertificateAuthority, name: str, role: pki.Role, **kw: Any) -> Party:
        """A new key pair for ``name`` in ``role``, certified by ``ca`` from a day before T0."""
        key = sm2.PrivateKey.generate()
        return Party(key, ca.issue(name, role, key.public_key, T0 - DAY, **kw))

    def trust(self) -> pki.TrustStore:
        """A trust store of the CA, with its current revocation list."""
        return pki.TrustStore(
            self.ca.certificate, [self.ca.crl(self.clock.time())], now=self.clock.time()
        )

    def client(self, party: Party | None = None, **kw: Any) -> wan.SecureChannel:
        """The terminal's end (or ``party``'s); ``kw`` overrides the channel's options."""
        party = party or self.terminal
        options: dict[str, Any] = dict(
            clock=self.clock,
            peer_role=pki.Role.FEP,
            key=party.key,
            chain=[party.certificate],
            trust=self.trust(),
            events=EventLog(),
            source="terminal WAN",
        )
        options.update(kw)
        return wan.SecureChannel(wan.ChannelRole.CLIENT, **options)

    def server(self, party: Party | None = None, **kw: Any) -> wan.SecureChannel:
        """The FEP's end (or ``party``'s); ``kw`` overrides the channel's options."""
        party = party or self.fep
        options: dict[str, Any] = dict(
            clock=self.clock,
            peer_role=pki.Role.TERMINAL,
            key=party.key,
            chain=[party.certificate],
            trust=self.trust(),
            events=EventLog(),
            source="FEP WAN",
        )
        options.update(kw)
        return wan.SecureChannel(wan.ChannelRole.SERVER, **options)


def pump(
    client: wan.SecureChannel,
    server: wan.SecureChannel,
    up: Hook = _through,
    down: Hook = _through,
    wire: list[bytes] | None = None,
) -> None:
    """Carry bytes both ways until neither side has anything to send. ``up`` is the path from
    client to server, ``down`` the way back; ``wire`` collects what an eavesdropper sees."""
    while True:
        to_server, to_client = client.data_to_send(), server.data_to_send()
        if not to_server and not to_client:
            return
        if wire is not None:
            wire += [to_server, to_client]
        if to_server:
            server.receive_data(up(to_server), NOW)
        if to_client:
            client.receive_data(down(to_client), NOW)


def connect(client: wan.SecureChannel, server: wan.SecureChannel, **kw: Any) -> None:
    """Start the handshake and :func:`pump` until it is quiet."""
    client.initiate()
    pump(client, server, **kw)


def events(channel: wan.SecureChannel) -> list[wan.Event]:
    """Every event the channel has waiting."""
    out = []
    while (event := channel.next_event()) is not None:
        out.append(event)
    return out


def refusal(channel: wan.SecureChannel) -> WattguardError | None:
    """The error with which ``channel`` refused its peer: what its last event, a ``Closed``,
    carries (None when it did not close, or closed without refusing)."""
    seen = events(channel)
    last = seen[-1] if seen else None
    return last.error if isinstance(last, wan.Closed) else None


def app_data(channel: wan.SecureChannel) -> bytes:
    """The application bytes among the channel's waiting events."""
    return b"".join(e.data for e in events(channel) if isinstance(e, wan.AppData))


def records_of(data: bytes) -> list[wan.Record]:
    """The whole records in ``data`` (ValueError if bytes are left over)."""
    records, rest = wan.split_records(data)
    if rest:
        raise ValueError(f"{len(rest)} bytes after the last whole record")
    return records


def rewrite_hello(data: bytes, **changes: Any) -> bytes:
    """Replace fields of the hello in the first record of ``data`` (a man in the middle);
    anything else (an alert) passes unchanged."""
    first, *others = records_of(data)
    if first.type is not wan.RecordType.HANDSHAKE:
        return data
    hello = dataclasses.replace(wan.Hello.from_bytes(first.body), **changes)
    altered = wan.Record(first.type, first.sequence, hello.to_bytes())
    return altered.to_bytes() + b"".join(record.to_bytes() for record in others)
