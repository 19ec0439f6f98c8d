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
trips the meter. (The terminal's half, the rogue station against the terminal's WAN secure
channel, belongs to the WAN scenarios.)
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
from wattguard.meter.server import SERVER_NEGOTIATION
from wattguard.protocol import OAD, TSA, ClientConnection, Data, DataType, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionItem
from wattguard.protocol.apdu.connect import ConnectMechanism, ConnectRequest, Mechanism
from wattguard.protocol.apdu.proxy import (
    ProxyActionRequestList,
    ProxyActionTarget,
    ProxyTransCommandRequest,
)
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.protocol.values import COMDCB
from wattguard.runtime.deployment import Deployment
from wattguard.runtime.simulation import Neighbourhood

__all__ = ["RogueStation"]

_HPLC_PORT = OAD(0xF209, 2, 1)
_SERIAL = COMDCB(6, 2, 8, 1, 0)


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
        request = ProxyTransCommandRequest(self.piid(), _HPLC_PORT, _SERIAL, 30, 1, frame)
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
