"""Scenario 6, the meter's half: a rogue master station commanding a meter through its
terminal.

``rogue-station-meter``: an adversary has reached a collection terminal from the station side
(a compromised front-end processor, or a man in the middle on a WAN link without the secure
channel) and speaks DL/T 698.45 to it as if it were the master station. The terminal holds no
key and relays what the station side asks, so the adversary tries everything a station could:

1. a PROXY ACTION: the terminal trips the meter with a bare ACTION on its behalf;
2. a PROXY TransCommand carrying a trip wrapped as ciphertext + MAC under keys it made up;
3. a PROXY TransCommand carrying a CONNECT (signature mechanism) signed with its own SM2 key,
   to open an application association with the meter's ESAM;
4. a PROXY TransCommand carrying a SET of F101 attribute 2 = 0, switching the meter's security
   policy off, and then the PROXY ACTION again.

Protected, the meter is the end of the protection, not the terminal: F101 wants ciphertext +
MAC for ACTION and SET (DAR 20), the ESAM refuses MACs and signatures not under the meter's
keys and the station's certificate (DAR 22, CONNECT refused), and the meter reports each
refusal to the real station through the same terminal. Unprotected, the first PROXY ACTION
trips the meter.

``rogue-station-terminal``, the terminal's half: the adversary hijacks the route between a
terminal and its FEP (a DNS entry, a router in the WAN) and answers the terminal's next
connection itself, as a rogue FEP and station: it wants the readings the terminal forwards,
and to command the meters through it (a PROXY ACTION trip). Protected, the terminal reaches a
FEP only through the WAN secure channel (docs/wan.md): it checks the FEP's certificate
against the utility's CA, its role and its name, and the SM2 key exchange proves the FEP holds
the certified key. The rogue tries a certificate from its own CA, then the key and
certificate of another terminal it compromised (the utility's CA, the wrong role): the
terminal refuses both before a byte of 698 passes, and records why (a security event at the
station). Unprotected, the terminal logs in to the rogue, hands it its readings and carries
out its trip.
"""

from __future__ import annotations

import os

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    command_frame,
    fresh_deployment,
    hexed,
    meter_of,
)
from wattguard.attacks.scenarios.forgery import TRIP, forge_command, made_up_keys
from wattguard.crypto import sm2
from wattguard.esam import profile as p
from wattguard.meter.management.server import SERVER_NEGOTIATION
from wattguard.network import pki
from wattguard.network.channel import (
    ChannelClosed,
    ChannelCore,
    ChannelData,
    ChannelUp,
    PlainChannel,
    WanChannel,
)
from wattguard.network.utility import UtilityPki
from wattguard.network.wan import ChannelRole, SecureChannel
from wattguard.protocol import (
    OAD,
    TSA,
    ClientConnection,
    Data,
    DataType,
    Notification,
    ServerAddress,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionItem
from wattguard.protocol.apdu.connect import ConnectMechanism, ConnectRequest, Mechanism
from wattguard.protocol.apdu.proxy import (
    ProxyActionRequestList,
    ProxyActionTarget,
    ProxyTransCommandRequest,
)
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.protocol.objects import HPLC_PORT, HPLC_SERIAL
from wattguard.runtime.deployment import Deployment
from wattguard.runtime.simulation import Neighbourhood

__all__ = ["RogueFep", "RogueStation"]


class RogueStation:
    """A master station of the adversary's, on the station side of one terminal: its
    requests go into the terminal as the real station's do."""

    def __init__(self, deployment: Deployment, net: Neighbourhood) -> None:
        self.deployment = deployment
        self.net = net
        self.connection = ClientConnection(ServerAddress(net.terminal.address))
        self.sent: list[str] = []
        self._piid = 40  # clear of the real station's

    def request(self, apdu: Structure, label: str) -> None:
        self.connection.send_request(apdu, self.deployment.clock.monotonic())
        data = self.connection.data_to_send()
        self.sent.append(f"{label}: {hexed(data)}")
        self.net.from_upstream(data)
        self.deployment.run_virtual(120)

    def piid(self) -> int:
        self._piid = self._piid % 63 + 1
        return self._piid

    def proxy_action(self, meter: bytes, item: ActionItem) -> None:
        target = ProxyActionTarget(TSA(meter), 30, (item,))
        self.request(ProxyActionRequestList(self.piid(), 60, (target,)), "PROXY ACTION")

    def trans(self, meter: bytes, apdu: Structure, label: str) -> None:
        frame = command_frame(meter, apdu)
        request = ProxyTransCommandRequest(self.piid(), HPLC_PORT, HPLC_SERIAL, 30, 1, frame)
        self.request(request, f"PROXY TransCommand ({label})")


def _rogue_connect(meter: bytes) -> ConnectRequest:
    """A signature-mechanism CONNECT signed with the rogue station's own key."""
    rogue_key = sm2.PrivateKey.generate()
    ciphertext = os.urandom(p.RANDOM_SIZE + 97)  # where the ESAM's SM2 ciphertext would go
    signature = rogue_key.sign(p.signed_offer(meter, ciphertext))
    mechanism = ConnectMechanism(Mechanism.SIGNATURE, ciphertext=ciphertext, signature=signature)
    return ConnectRequest(1, SERVER_NEGOTIATION, mechanism)


@scenario(
    6,
    "rogue-station-meter",
    "a rogue master station behind the terminal trips a meter, opens a session with its ESAM, "
    "or switches its security policy off",
    (Protection.IDENTITY, Protection.MONITORING),
)
def rogue_station_meter(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    rogue = RogueStation(deployment, net)
    view = StationView(deployment)
    trip = ActionItem(TRIP.omd, TRIP.data)
    rogue.proxy_action(meter.address, trip)
    rogue.trans(meter.address, forge_command(made_up_keys(), meter.address, TRIP), "forged trip")
    rogue.trans(meter.address, _rogue_connect(meter.address), "CONNECT, rogue signature")
    policy_off = SetRequestNormal(3, OAD(0xF101, 2, 0), Data(DataType.ENUM, 0))
    rogue.trans(meter.address, policy_off, "SET F101 = 0")
    rogue.proxy_action(meter.address, trip)
    deployment.run_virtual(900)
    relay = meter.management.relay
    enforced = meter.management.policy.enforced
    outcome = Outcome(
        not relay.supplying,
        f"after the rogue station's five requests the meter's relay is {relay.state.value} and "
        f"its security policy is {'enforced' if enforced else 'off'}",
        evidence=rogue.sent,
    )
    return view.into(outcome)


class RogueFep:
    """The adversary's end of a hijacked terminal connection: a FEP channel (``rogue``) and,
    behind it, a master station speaking 698 to the terminal once the channel is up."""

    def __init__(
        self, deployment: Deployment, net: Neighbourhood, terminal: ChannelCore, rogue: ChannelCore
    ) -> None:
        self.deployment = deployment
        self.net = net
        self.terminal = terminal
        self.rogue = rogue
        self.station = ClientConnection(ServerAddress(net.terminal.address))
        self.up = False
        self.closed = ""
        self.readings = 0  # items of collected data the terminal handed over
        self._piid = 0
        net.upstream = self._from_terminal
        self._pump()

    def _from_terminal(self, data: bytes) -> None:
        self.terminal.send(data)
        self._pump()

    def _pump(self) -> None:
        for _ in range(100):
            moved = False
            for source, sink in ((self.terminal, self.rogue), (self.rogue, self.terminal)):
                data = source.data_to_send()
                if data:
                    sink.receive_data(data, self.deployment.clock.monotonic())
                    moved = True
            moved |= self._terminal_events() | self._rogue_events()
            if not moved:
                return

    def _terminal_events(self) -> bool:
        moved = False
        while (event := self.terminal.next_event()) is not None:
            moved = True
            now = self.deployment.clock.time()
            if isinstance(event, ChannelUp):
                self.net.connected(now)
            elif isinstance(event, ChannelData):
                self.net.from_upstream(event.data)
            elif isinstance(event, ChannelClosed):
                self.closed = self.closed or event.reason
        return moved

    def _rogue_events(self) -> bool:
        moved = False
        while (event := self.rogue.next_event()) is not None:
            moved = True
            if isinstance(event, ChannelUp):
                self.up = True
            elif isinstance(event, ChannelData):
                self.station.receive_data(event.data, self.deployment.clock.time())
                while (seen := self.station.next_event()) is not None:
                    if isinstance(seen, Notification) and isinstance(
                        seen.apdu, ReportNotificationTransData
                    ):
                        self.readings += len(seen.apdu.data)
                out = self.station.data_to_send()  # the acknowledgements
                if out:
                    self.rogue.send(out)
        return moved

    def command(self, apdu: ProxyActionRequestList) -> None:
        if not self.up:
            return
        self.station.send_request(apdu, self.deployment.clock.monotonic())
        self.rogue.send(self.station.data_to_send())
        self._pump()


def _rogue_feps(deployment: Deployment) -> list[tuple[str, ChannelCore]]:
    """What the adversary answers with, and the terminal's side of each connection."""
    if deployment.pki is None:
        return [("no certificate", PlainChannel())]
    clock = deployment.clock
    utility = deployment.pki
    # The utility's CA certificate and CRL are public: the rogue accepts any genuine terminal
    # with them, and presents a certificate of its own CA ...
    own = UtilityPki.create(clock, name="the adversary's CA").fep
    assert own is not None
    own_ca = WanChannel(
        SecureChannel(
            ChannelRole.SERVER, clock=clock, peer_role=pki.Role.TERMINAL, key=own.key,
            chain=[own.certificate], trust=utility.trust(),
        )
    )  # fmt: skip
    # ... or the key and certificate of a terminal it broke into (the utility's CA)
    lent = bytes.fromhex("990000000077")
    utility.enrol(lent)
    stolen = utility.channel(
        utility.terminals[lent], ChannelRole.SERVER, pki.Role.TERMINAL, None
    )()  # fmt: skip
    return [("a certificate of its own CA", own_ca), ("another terminal's key", stolen)]


@scenario(
    6,
    "rogue-station-terminal",
    "a rogue FEP and station on a hijacked WAN route: the terminal's readings, and a trip of "
    "its meters",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def rogue_station_terminal(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    address = net.terminal.address
    view = StationView(deployment)
    deployment.disconnect(address)  # the route now leads to the adversary
    tried = []
    readings = 0
    for label, rogue_side in _rogue_feps(deployment):
        terminal_side: ChannelCore = PlainChannel()
        if deployment.pki is not None:
            terminal_side = deployment.pki.terminal_channel(address, deployment.events)()
        rogue = RogueFep(deployment, net, terminal_side, rogue_side)
        deployment.run_virtual(900)
        target = ProxyActionTarget(TSA(meter.address), 30, (ActionItem(TRIP.omd, TRIP.data),))
        rogue.command(ProxyActionRequestList(9, 60, (target,)))
        deployment.run_virtual(900)
        readings += rogue.readings
        tried.append(
            f"rogue FEP with {label}: "
            + (f"terminal online, {rogue.readings} readings handed over" if rogue.up else
               f"refused by the terminal ({rogue.closed})")
        )  # fmt: skip
        if net.terminal.online:
            net.terminal.receive_data(b"", deployment.clock.time())
    outcome = Outcome(
        readings > 0 or not meter.management.relay.supplying,
        "; ".join(tried) + f"; the meter's relay is {meter.management.relay.state.value}",
        evidence=tried,
    )
    return view.into(outcome)
