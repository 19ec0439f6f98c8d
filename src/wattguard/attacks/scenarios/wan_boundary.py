"""Scenario 5, rogue terminals at the FEP, and the WAN half of scenario 1, an eavesdropper on
the WAN: over loopback TCP, through the WAN secure channel (:mod:`wattguard.network.wan`).

A FEP (:class:`~wattguard.runtime.fep.FepServer`) serves a station; a genuine terminal of the
utility reports through it all along (:class:`~wattguard.runtime.terminal.TerminalClient`, its
meters on a simulated power line, in paced time), and the rogue tries to do the same. The
rogue's goal is the station's trust: its meters' readings stored as genuine (made-up
consumption, or readings in another terminal's name).

* ``rogue-terminal-no-certificate``: bare DL/T 698.45 frames, no handshake;
* ``rogue-terminal-foreign-ca``: the channel, with a certificate from a CA of its own making;
* ``rogue-terminal-revoked``: a terminal the utility has revoked (stolen, decommissioned)
  comes back with its genuine certificate and key;
* ``rogue-terminal-lent-certificate``: a genuine certificate and key of one terminal, used to
  speak as another (the victim's address in the frames);
* ``rogue-terminal-minted-on-the-fep``: the adversary has broken into the FEP's host and
  copied its PKI files, and mints a certificate for a rogue terminal with them. Protected, the
  services open the PKI directory as parties (:meth:`UtilityPki.load_party`): the FEP's host
  holds its own key, the CA certificate and the CRL, never the CA key, so the best the
  adversary can do is sign with the FEP's key, which is no CA's. Unprotected, the FEP's host
  holds the whole directory with ``ca.key``, as every service once did;
* ``wan-eavesdrop``: a tap on the link between a terminal and the FEP records what goes up and
  decodes the readings from it, as the station would.

Protected: the FEP's channel asks every terminal for a certificate from the utility's CA, in
force and not revoked (GB/T 32918.3 key exchange, SM4-GCM records), and the FEP's checks hold
each connection to the address its certificate names. Unprotected: the channel authenticates
nobody and encrypts nothing (``SecureChannel(protected=False)``), as in the tests of
:mod:`tests.runtime.test_wan_tcp`. The meters here are unprotected on purpose: the
protection in question is the WAN's, not the readings' MACs.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.rigs import neighbourhood, quiet, recording_relay
from wattguard.crypto import sm2
from wattguard.errors import DecodeError
from wattguard.network import pki
from wattguard.network._x509 import Name, build_certificate, key_id
from wattguard.network.bus import InProcessBus
from wattguard.network.channel import ChannelCore, PlainChannel, WanChannel
from wattguard.network.fep import FepLimits
from wattguard.network.terminal import CollectionTask, decode_item
from wattguard.network.utility import FEP_NAME, UtilityPki
from wattguard.network.wan import ChannelRole, SecureChannel
from wattguard.protocol import OAD, FrameDecoder, decode_apdu
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.ingest import PlainVerifier, Reading, open_exchange, readings_of
from wattguard.station.service import Station
from wattguard.station.storage import open_storage

__all__: list[str] = []

Factory = Callable[[], ChannelCore]
GENUINE, ROGUE, VICTIM, LENT = (bytes.fromhex(f"9900000000{k:02d}") for k in (1, 2, 3, 4))
SPEED = 600.0  # simulated seconds per real second
TASK = CollectionTask("real-time", 300.0, (OAD(0x0010, 2, 0),))  # a read every 0.5 s real
SECONDS = 1.5


@dataclass
class WanRun:
    """What one run of a WAN scenario left: the readings stored per terminal, the station, and
    the tap's copy of what the terminals sent the FEP."""

    stored: dict[str, int]  # readings stored at the station, by terminal (address hex)
    station: Station
    wire: bytearray = field(default_factory=bytearray)  # the tap's view, terminals -> FEP

    def outcome(self, succeeded: bool, summary: str, evidence: list[str]) -> Outcome:
        out = Outcome(succeeded, summary, evidence)
        storage = self.station.storage
        out.events.extend(
            f"{e.kind.name.lower()}: {e.source}: {e.detail}"
            for e in storage.events(None, None, None, 40)
        )
        out.alerts.extend(f"{a.rule} ({a.severity}): {a.subject}" for a in storage.alerts())
        return out


def _unprotected(role: ChannelRole, clock: PacedClock) -> Factory:
    peer_role = pki.Role.FEP if role is ChannelRole.CLIENT else pki.Role.TERMINAL

    def make() -> ChannelCore:
        return WanChannel(SecureChannel(role, clock=clock, peer_role=peer_role, protected=False))

    return make


async def _run(
    clock: PacedClock, fep_channel: Factory, terminals: dict[bytes, Factory], station: Station,
    *, tap: bool = False,
) -> WanRun:  # fmt: skip
    bus = station.collector.bus
    stored: dict[str, int] = {}

    def sink(readings: list[Reading]) -> None:
        for reading in readings:
            terminal = "990000" + reading.meter[:6]
            stored[terminal] = stored.get(terminal, 0) + 1

    station.on_readings.append(sink)
    run = WanRun(stored, station)
    fep = FepServer(
        bus, clock=clock, events=station.monitor, channel=fep_channel,
        limits=FepLimits(login_timeout=600),
    )  # fmt: skip
    port = await fep.start("127.0.0.1", 0)
    relay = None
    if tap:
        relay, port = await recording_relay(port, run.wire)
    clients = [
        TerminalClient(neighbourhood(t, clock, TASK), clock, "127.0.0.1", port, channel=factory)
        for t, factory in terminals.items()
    ]
    tasks = [asyncio.create_task(client.run()) for client in clients]
    await asyncio.sleep(SECONDS)
    for client in clients:
        client.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if relay is not None:
        relay.close()
    await fep.close()
    station.tick()
    return run


def _system(protected: bool) -> tuple[PacedClock, UtilityPki, Station, Factory]:
    clock = PacedClock(T0, SPEED)
    utility = UtilityPki.create(clock)
    station = Station(open_storage("sqlite://"), InProcessBus(), clock)
    if protected:
        fep = utility.fep_channel(events=station.monitor)
    else:
        fep = _unprotected(ChannelRole.SERVER, clock)
    return clock, utility, station, fep


def _rogue(protected: bool, make_rogue: Callable[[PacedClock, UtilityPki], Factory]) -> WanRun:
    clock, utility, station, fep = _system(protected)
    if protected:
        genuine, rogue = utility.terminal_channel(GENUINE), make_rogue(clock, utility)
    else:  # the rogue speaks whatever the FEP accepts
        genuine = rogue = _unprotected(ChannelRole.CLIENT, clock)
    terminals = {GENUINE: genuine, ROGUE: rogue}
    return quiet(lambda: asyncio.run(_run(clock, fep, terminals, station)))


def _judged(run: WanRun, rogue: bytes, how: str) -> Outcome:
    theirs = run.stored.get(rogue.hex(), 0)
    ours = run.stored.get(GENUINE.hex(), 0)
    return run.outcome(
        theirs > 0,
        f"{how}: the station stored {theirs} reading(s) of the rogue's meters "
        f"(and {ours} of the genuine terminal's, which kept reporting)",
        [f"rogue terminal {rogue.hex()}, genuine terminal {GENUINE.hex()}"],
    )


@scenario(
    5,
    "rogue-terminal-no-certificate",
    "a rogue terminal with no certificate sends readings to the FEP in bare DL/T 698.45",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def no_certificate(protected: bool) -> Outcome:
    run = _rogue(protected, lambda clock, utility: PlainChannel)
    return _judged(run, ROGUE, "no certificate, no handshake")


@scenario(
    5,
    "rogue-terminal-foreign-ca",
    "a rogue terminal with a certificate from a CA of its own making",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def foreign_ca(protected: bool) -> Outcome:
    def rogue(clock: PacedClock, utility: UtilityPki) -> Factory:
        return UtilityPki.create(clock, name="wattguard utility CA").terminal_channel(ROGUE)

    run = _rogue(protected, rogue)
    return _judged(run, ROGUE, "a certificate from a look-alike CA (same name, other key)")


@scenario(
    5,
    "rogue-terminal-revoked",
    "a revoked terminal (stolen, decommissioned) comes back with its genuine certificate",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def revoked(protected: bool) -> Outcome:
    def rogue(clock: PacedClock, utility: UtilityPki) -> Factory:
        channel = utility.terminal_channel(ROGUE)  # enrolled while it was the utility's
        utility.revoke(ROGUE)
        return channel

    run = _rogue(protected, rogue)
    return _judged(run, ROGUE, "a genuine certificate, revoked")


@scenario(
    5,
    "rogue-terminal-lent-certificate",
    "one terminal's genuine certificate and key used to send readings as another terminal",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def lent_certificate(protected: bool) -> Outcome:
    clock, utility, station, fep = _system(protected)
    if protected:
        genuine, rogue = utility.terminal_channel(GENUINE), utility.terminal_channel(LENT)
    else:
        genuine = rogue = _unprotected(ChannelRole.CLIENT, clock)
    run = quiet(lambda: asyncio.run(_run(clock, fep, {GENUINE: genuine, VICTIM: rogue}, station)))
    return _judged(run, VICTIM, f"{LENT.hex()}'s certificate, frames as {VICTIM.hex()}")


@scenario(
    5,
    "rogue-terminal-minted-on-the-fep",
    "the FEP's host is broken into: its PKI files used to mint a certificate for a rogue terminal",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def minted_on_the_fep(protected: bool) -> Outcome:
    clock = PacedClock(T0, SPEED)
    station = Station(open_storage("sqlite://"), InProcessBus(), clock)
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder) / "pki"
        admin = UtilityPki.create(clock)
        admin.enrol(GENUINE)
        admin.save(directory)
        if protected:  # the CA key is kept offline; services open the directory as parties
            (directory / "ca.key").unlink()
            fep_host = UtilityPki.load_party(directory, clock, "fep")
            terminal = UtilityPki.load_party(directory, clock, f"terminal-{GENUINE.hex()}")
        else:  # every service reads the whole directory, CA key included
            fep_host = terminal = UtilityPki.load(directory, clock)
        fep = fep_host.fep_channel(events=station.monitor)
        genuine = terminal.terminal_channel(GENUINE)
        rogue, how = _mint(fep_host, clock)
        terminals = {GENUINE: genuine, ROGUE: rogue}
        run = quiet(lambda: asyncio.run(_run(clock, fep, terminals, station)))
    return _judged(run, ROGUE, how)


def _mint(stolen: UtilityPki, clock: PacedClock) -> tuple[Factory, str]:
    """The adversary's terminal, certified with what the FEP's host holds."""
    if stolen.ca is not None:
        return stolen.terminal_channel(ROGUE), "a certificate issued with the CA key found there"
    fep = stolen.fep
    assert fep is not None
    key = sm2.PrivateKey.generate()
    leaf = build_certificate(
        serial=0x7E57, issuer=fep.certificate.subject,
        subject=Name.build(ROGUE.hex(), pki.Role.TERMINAL.value, "wattguard"),
        not_before=clock.time() - 3600, not_after=clock.time() + 86400 * 365,
        public_key=key.public_key, issuer_key_id=key_id(fep.key.public_key), is_ca=False,
        key_usage=pki.KeyUsage.DIGITAL_SIGNATURE | pki.KeyUsage.KEY_AGREEMENT, signer=fep.key,
    )  # fmt: skip
    trust = stolen.trust()

    def make() -> ChannelCore:
        return WanChannel(
            SecureChannel(
                ChannelRole.CLIENT, clock=clock, peer_role=pki.Role.FEP, key=key,
                chain=[leaf, fep.certificate], trust=trust, peer_name=FEP_NAME,
            )
        )  # fmt: skip

    return make, "no CA key on the host: a certificate signed with the FEP's own key"


@scenario(
    1,
    "wan-eavesdrop",
    "a tap on the WAN between a terminal and the FEP recovers the meters' readings",
    (Protection.DATA, Protection.BOUNDARY),
    detectable=False,
)
def wan_eavesdrop(protected: bool) -> Outcome:
    clock, utility, station, fep = _system(protected)
    terminal = (
        utility.terminal_channel(GENUINE) if protected else _unprotected(ChannelRole.CLIENT, clock)
    )
    run = quiet(lambda: asyncio.run(_run(clock, fep, {GENUINE: terminal}, station, tap=True)))
    recovered = _readings_in(bytes(run.wire))
    sample = [f"{r.meter} {r.quantity} = {r.value}" for r in _largest(recovered)]
    return run.outcome(
        bool(recovered),
        f"{len(run.wire):,} bytes captured going up; {len(recovered)} reading(s) recovered "
        f"from them (the station stored {run.stored.get(GENUINE.hex(), 0)})",
        [f"captured: {bytes(run.wire[:48]).hex()}...", *sample],
    )


def _readings_in(wire: bytes) -> list[Reading]:
    """What an eavesdropper gets from the captured bytes: the frames, their reports, and the
    readings in them, opened the way the station opens them."""
    decoder = FrameDecoder()
    decoder.receive_data(wire)
    readings: list[Reading] = []
    for frame in decoder.frames():
        try:
            apdu = decode_apdu(frame.apdu)
        except DecodeError:
            continue
        if not isinstance(apdu, ReportNotificationTransData):
            continue
        for data in apdu.data:
            try:
                item = decode_item(data)
            except DecodeError:
                continue
            answer = open_exchange(item, PlainVerifier(), require_protection=False)
            if answer is not None:
                readings.extend(readings_of(item.meter, answer, item.at))
    return readings


def _largest(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda r: -float(r.value))[:3]
