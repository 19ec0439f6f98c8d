"""The WAN secure channel end to end, over loopback TCP, through the FEP's runtime
(:class:`~wattguard.runtime.fep.FepServer`) and the terminals' (:class:`TerminalClient`).

Protected, only a terminal with a certificate from the utility's CA, in force and not revoked,
reaches the station, and only under the address its certificate names; every rogue is refused
with its own reason, recorded at the FEP and told to the rogue. With the protection off the
FEP asks for nothing and the same rogues (each speaking whatever the FEP accepts) get their
readings in. An eavesdropper on the wire reads the DL/T 698.45 frames only when the protection
is off; a rogue FEP gets nothing from a genuine terminal unless the protection is off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from wattguard.attacks.scenarios.rigs import recording_relay
from wattguard.crypto import sm2
from wattguard.events import EventLog
from wattguard.meter.device import MeterConfig
from wattguard.network import pki
from wattguard.network.bus import InProcessBus
from wattguard.network.channel import (
    ChannelClosed,
    ChannelCore,
    ChannelEvent,
    PlainChannel,
    WanChannel,
)
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.network.utility import FEP_NAME, UtilityPki
from wattguard.network.wan import ChannelRole, SecureChannel
from wattguard.protocol import OAD
from wattguard.protocol.stream import FrameDecoder
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading
from wattguard.testing import DAY, T0
from wattguard.testing.meter import new_meter

SPEED = 600.0  # simulated seconds per real second: a reading every half second
TASK = CollectionTask("real-time", 300.0, (OAD(0x0010, 2, 0),))
Factory = Callable[[], ChannelCore]

GOOD, FOREIGN, REVOKED, EXPIRED, NO_CERT, DOWNGRADE, SPOOF, LENT = (
    bytes.fromhex(f"9900000000{k:02d}") for k in range(1, 9)
)


def neighbourhood(address: bytes, clock: PacedClock) -> Neighbourhood:
    """One terminal and one meter (``<terminal's last 3 bytes> 000001``)."""
    channel = HplcChannel(seed=address[-1])
    terminal = Terminal(address, channel, tasks=(TASK,), start=clock.time())
    meter = new_meter(address[3:] + b"\x00\x00\x01", config=MeterConfig(protected=False))
    terminal.add_meter(meter.address)

    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(1, 500.0), np.full(1, 50.0)

    net = Neighbourhood(terminal, channel, [meter], load)
    net.power_up(clock.time())
    return net


class Recording:
    """A channel core that remembers why it was closed (what the peer's alert said)."""

    def __init__(self, inner: ChannelCore, reasons: list[str]) -> None:
        self.inner, self.reasons = inner, reasons

    def receive_data(self, data: bytes, now: float) -> None:
        self.inner.receive_data(data, now)

    def data_to_send(self) -> bytes:
        return self.inner.data_to_send()

    def get_timer(self) -> float | None:
        return self.inner.get_timer()

    def handle_timer(self, now: float) -> None:
        self.inner.handle_timer(now)

    def send(self, data: bytes) -> None:
        self.inner.send(data)

    def next_event(self) -> ChannelEvent | None:
        event = self.inner.next_event()
        if isinstance(event, ChannelClosed):
            self.reasons.append(event.reason)
        return event


def channel_of(
    utility: UtilityPki,
    role: ChannelRole,
    key: sm2.PrivateKey,
    certificate: pki.Certificate,
    events: EventLog | None = None,
) -> Factory:
    """A protected channel for any key and certificate, checked against ``utility``'s CA."""
    peer_role, pin = (pki.Role.FEP, FEP_NAME) if role is ChannelRole.CLIENT else (
        pki.Role.TERMINAL, None)  # fmt: skip

    def make() -> ChannelCore:
        return WanChannel(
            SecureChannel(
                role, clock=utility.clock, peer_role=peer_role, key=key, chain=[certificate],
                trust=utility.trust(), peer_name=pin, events=events,
            )
        )  # fmt: skip

    return make


def unprotected(role: ChannelRole, clock: PacedClock, events: EventLog | None = None) -> Factory:
    """The WAN channel with the protection off: no certificate asked for or checked."""
    peer_role = pki.Role.FEP if role is ChannelRole.CLIENT else pki.Role.TERMINAL

    def make() -> ChannelCore:
        return WanChannel(
            SecureChannel(role, clock=clock, peer_role=peer_role, protected=False, events=events)
        )

    return make


@dataclass
class Run:
    seen: set[bytes]  # terminals whose meter's readings reached the station
    logged_in: set[bytes]  # terminals the station saw log in
    events: EventLog  # recorded at the FEP (channel and session)
    told: dict[bytes, list[str]]  # why each terminal's channel was closed
    upstream: bytearray = field(default_factory=bytearray)  # a tap's view, terminals -> FEP


async def _run(
    clock: PacedClock,
    fep_channel: Factory,
    terminals: dict[bytes, Factory],
    *,
    tap: bool = False,
    seconds: float = 2.5,
) -> Run:
    bus, events = InProcessBus(), EventLog()
    run = Run(set(), set(), events, {t: [] for t in terminals})
    by_meter = {t[3:].hex(): t for t in terminals}

    def sink(readings: list[Reading]) -> None:
        run.seen.update(by_meter[r.meter[:6]] for r in readings)

    collector = Collector(bus, clock, PlainVerifier(), sink, require_protection=False)
    fep = FepServer(
        bus, clock=clock, events=events, channel=fep_channel, limits=FepLimits(login_timeout=600)
    )
    port = await fep.start()
    relay: asyncio.Server | None = None
    if tap:
        relay, port = await recording_relay(port, run.upstream)

    def recorded(address: bytes, factory: Factory) -> Factory:
        return lambda: Recording(factory(), run.told[address])

    clients = [
        TerminalClient(neighbourhood(t, clock), clock, "127.0.0.1", port,
                       channel=recorded(t, factory))
        for t, factory in terminals.items()
    ]  # fmt: skip
    tasks = [asyncio.create_task(c.run()) for c in clients]
    await asyncio.sleep(seconds)
    for client in clients:
        client.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if relay is not None:
        relay.close()
    await fep.close()
    run.logged_in = {t for t, link in collector.links.items() if link.logged_in}
    return run


def _details(events: EventLog) -> str:
    return " | ".join(e.detail for e in events.events).lower()


# --- rogue terminals at the FEP --------------------------------------------------------------


def test_only_certified_unrevoked_terminals_get_through() -> None:
    clock = PacedClock(T0, SPEED)
    utility = UtilityPki.create(clock)
    someone_else = UtilityPki.create(clock, name="someone else's CA")
    utility.enrol(REVOKED)
    utility.revoke(REVOKED)
    old_key = sm2.PrivateKey.generate()
    expired = utility.ca.issue(
        EXPIRED.hex(), pki.Role.TERMINAL, old_key.public_key, T0, not_before=T0 - 3 * DAY,
        validity=DAY,
    )  # fmt: skip
    terminals = {
        GOOD: utility.terminal_channel(GOOD),
        FOREIGN: someone_else.terminal_channel(FOREIGN),  # a certificate, but not our CA's
        REVOKED: utility.terminal_channel(REVOKED),
        EXPIRED: channel_of(utility, ChannelRole.CLIENT, old_key, expired),
        NO_CERT: PlainChannel,  # bare DL/T 698.45 frames, no handshake at all
        DOWNGRADE: unprotected(ChannelRole.CLIENT, clock),  # the channel, without certificate
        SPOOF: utility.terminal_channel(LENT),  # a genuine certificate of another terminal
    }
    run = asyncio.run(_run(clock, utility.fep_channel(), terminals))

    assert run.seen == {GOOD}
    assert run.logged_in == {GOOD}
    details = _details(run.events)
    for reason in ("revoked", "unknown issuer", "expired", "unprotected", "record",
                   f"terminal {LENT.hex()} sent a frame as {SPOOF.hex()}"):  # fmt: skip
        assert reason in details, reason
    # the rogues that speak the channel were told why (the FEP's alert)
    assert run.told[GOOD] == []
    assert "revoked" in " ".join(run.told[REVOKED]).lower()
    assert "expired" in " ".join(run.told[EXPIRED]).lower()
    assert "unknown issuer" in " ".join(run.told[FOREIGN]).lower()
    assert run.told[DOWNGRADE]


def test_with_the_protection_off_the_same_rogues_get_in() -> None:
    clock = PacedClock(T0, SPEED)
    rogues = (GOOD, FOREIGN, REVOKED, EXPIRED, NO_CERT, DOWNGRADE, SPOOF)
    terminals = {t: unprotected(ChannelRole.CLIENT, clock) for t in rogues}
    run = asyncio.run(_run(clock, unprotected(ChannelRole.SERVER, clock), terminals))

    assert run.seen == set(rogues)
    assert run.logged_in == set(rogues)
    assert not any(run.told.values())


# --- an eavesdropper on the WAN ----------------------------------------------------------------


@pytest.mark.parametrize("protected", [True, False])
def test_an_eavesdropper_reads_frames_only_without_protection(protected: bool) -> None:
    clock = PacedClock(T0, SPEED)
    utility = UtilityPki.create(clock)
    if protected:
        fep, terminal = utility.fep_channel(), utility.terminal_channel(GOOD)
    else:
        fep, terminal = (unprotected(r, clock) for r in (ChannelRole.SERVER, ChannelRole.CLIENT))
    run = asyncio.run(_run(clock, fep, {GOOD: terminal}, tap=True, seconds=2.0))

    assert run.seen == {GOOD}  # readings did cross the tapped link
    decoder = FrameDecoder()
    decoder.receive_data(bytes(run.upstream))
    frames = list(iter(decoder.next_frame, None))
    if protected:
        assert frames == []
        assert GOOD[::-1] not in run.upstream and GOOD not in run.upstream
    else:
        assert {f.address.address for f in frames} == {GOOD}
        assert len(frames) >= 3  # the login and readings, in clear


# --- a rogue FEP -------------------------------------------------------------------------------


@pytest.mark.parametrize("rogue", ["foreign CA", "a terminal's certificate", "unprotected"])
def test_a_genuine_terminal_gives_a_rogue_fep_nothing(rogue: str) -> None:
    clock = PacedClock(T0, SPEED)
    utility = UtilityPki.create(clock)
    terminal = utility.terminal_channel(GOOD)
    if rogue == "foreign CA":
        fep = UtilityPki.create(clock, name="someone else's CA").fep_channel()
    elif rogue == "a terminal's certificate":  # a stolen terminal key, from the right CA
        utility.enrol(LENT)
        lent = utility.terminals[LENT]
        fep = channel_of(utility, ChannelRole.SERVER, lent.key, lent.certificate)
    else:  # the baseline: the terminal does not ask
        terminal = unprotected(ChannelRole.CLIENT, clock)
        fep = unprotected(ChannelRole.SERVER, clock)
    run = asyncio.run(_run(clock, fep, {GOOD: terminal}, seconds=2.0))

    if rogue == "unprotected":
        assert run.seen == {GOOD} and run.logged_in == {GOOD}
        return
    assert run.seen == set() and run.logged_in == set()
    told = " ".join(run.told[GOOD]).lower()
    assert ("unknown issuer" if rogue == "foreign CA" else "role") in told
