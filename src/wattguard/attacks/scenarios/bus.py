"""Scenario 15: an adversary on the bus between the front-end processor and the station.

``bus-forgery``: the adversary reached the bus (the NATS server inside the utility's network,
or a stolen NATS credential) and speaks on it without being a service of it. It wants what the
issue's black-box test got: the station to believe a forged FEP security event (a TAMPER,
which opens a critical alert), a terminal to carry out a request the station never sent (a
PROXY ACTION tripping a meter, relayed onto the power line), and a genuine command of the
station's to be carried out again (the trip message re-published, after the utility closed
the relay).

Protected, every message on the bus is an envelope signed by its publisher's own SM2 key
(:mod:`wattguard.network.sealed_bus`) and the consumer checks it against the directory of
the services' keys, the subject, the publisher's role and a freshness window: the bare event
and the bare request are refused as malformed, the adversary's own signatures in the names of
fep-1 and of the station as not authenticated, and the re-published trip as a replay; each a
security event at the station. Nothing reaches the terminal or the monitor. (The transport
half, NATS users and permissions per role, is tested against a real nats-server in
``tests/runtime/test_bus_auth.py``; here the bus is the in-process one, as in the demo.)
Unprotected, the bus is as it was: the forged TAMPER is stored and opens the alert, and the
terminal relays both the forged trip and the replayed one onto the power line. Everything else
is protected in both runs (WAN channel, ESAMs, MACs): only the bus's protection differs.
"""

from __future__ import annotations

import json

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    Tap,
    apdu_of,
    fresh_deployment,
    hexed,
    meter_of,
    trip,
)
from wattguard.attacks.scenarios.forgery import TRIP
from wattguard.crypto import sm2
from wattguard.events import EventKind
from wattguard.network.bus import down_subject
from wattguard.network.hplc import Direction
from wattguard.network.sealed_bus import BusIdentity, BusRole
from wattguard.protocol import TSA, ClientConnection, ServerAddress
from wattguard.protocol.apdu.action import ActionItem, ActionRequest, ActionRequestList
from wattguard.protocol.apdu.proxy import ProxyActionRequestList, ProxyActionTarget
from wattguard.station.commands import CommandKind

__all__: list[str] = []

_DETAIL = "meter case opened (forged on the bus)"


def _forged_event(at: float) -> bytes:
    return json.dumps({"kind": "TAMPER", "source": "fep-1 10.9.9.9:4711", "detail": _DETAIL,
                       "at": at}).encode()  # fmt: skip


@scenario(
    15,
    "bus-forgery",
    "an adversary on the FEP-station bus forges an FEP's TAMPER event, sends a trip down to a "
    "terminal, and replays the station's own trip",
    (Protection.BOUNDARY, Protection.IDENTITY, Protection.MONITORING),
)
def bus_forgery(protected: bool) -> Outcome:
    deployment = fresh_deployment(True, sealed_bus=protected)
    net, meter = meter_of(deployment)
    wire, now = deployment.bus, deployment.clock.time
    view = StationView(deployment)
    tap = Tap(net)
    evidence: list[str] = []
    sequence = int(now() * 1_000_000)
    # 1. a forged FEP security event: bare, and signed with a key of the adversary's own
    event = _forged_event(now())
    wire.publish("events.fep-1", event)
    impostor = BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate())
    wire.publish("events.fep-1", impostor.seal("events.fep-1", event, sequence).to_bytes())
    evidence.append(f"events.fep-1: {event.decode()} (bare, and signed as fep-1)")
    # 2. a PROXY ACTION trip down to the terminal, bare and signed as the station
    terminal = net.terminal.address
    connection = ClientConnection(ServerAddress(terminal))
    target = ProxyActionTarget(TSA(meter.address), 30, (ActionItem(TRIP.omd, TRIP.data),))
    connection.send_request(ProxyActionRequestList(41, 60, (target,)), deployment.clock.monotonic())
    request = connection.data_to_send()
    wire.publish(down_subject(terminal), request)
    rogue = BusIdentity("station", BusRole.STATION, sm2.PrivateKey.generate())
    forged = rogue.seal(down_subject(terminal), request, sequence + 1)
    wire.publish(down_subject(terminal), forged.to_bytes())
    evidence.append(f"{down_subject(terminal)}: PROXY ACTION trip {hexed(request)}")
    deployment.run_virtual(120)
    relayed = [f for f in tap.down(meter.address) if isinstance(apdu_of(f), _ACTIONS)]
    # 3. the station's own trip, captured on the bus and re-published after a close
    captured: list[bytes] = []
    stop = wire.subscribe(down_subject(terminal), lambda subject, data: captured.append(data))
    began = len(tap.frames)
    trip(deployment, meter.address)
    stop()
    commands = {f for way, a, f in tap.frames[began:] if way == DOWN and a == meter.address}
    trip(deployment, meter.address, CommandKind.CLOSE)
    after = len(tap.frames)
    for data in captured:
        wire.publish(down_subject(terminal), data)
    deployment.run_virtual(120)
    again = [f for way, a, f in tap.frames[after:] if way == DOWN and f in commands]
    evidence.append(f"re-published {len(captured)} messages the station sent for its trip")
    tampers = [e for e in view.events() if e.kind == EventKind.TAMPER and _DETAIL in e.detail]
    alerts = [a for a in view.alerts() if a.startswith("tamper")]
    outcome = Outcome(
        bool(tampers or relayed or again),
        f"forged TAMPER stored {len(tampers)}x ({len(alerts)} alerts); forged trip relayed to "
        f"the meter {len(relayed)}x; the station's trip carried out again {len(again)}x",
        evidence=evidence,
    )
    return view.into(outcome)


_ACTIONS = (ActionRequest, ActionRequestList)
DOWN = Direction.DOWN
