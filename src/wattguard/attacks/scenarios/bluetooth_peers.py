"""Scenario 8 (continued): the Bluetooth peers other than a technician's handheld.

The utility's Bluetooth CA issues a phone's and a sensor's certificates bound to one meter
(docs/bluetooth.md, "Other peers"). The adversary is a customer with the app on their own phone,
or anyone in radio range with a laptop that speaks the pairing frames.

* ``bluetooth-phone-other-meter``: a customer pairs their phone (a genuine certificate, bound
  to their own meter) with the neighbour's meter, reads its consumption and trips its relay;
* ``bluetooth-phone-set-clock``: a customer's phone, paired with its own meter, sets the
  meter's clock back eight hours (the evening peak then falls in the cheap night tariff);
* ``bluetooth-forged-sensor``: a laptop posing as the household's water-leak sensor, with a
  certificate it made itself, reports a leak (an operations crew is sent out for nothing; a
  stream of them buries the real alarms);
* ``bluetooth-rogue-concentrator``: a laptop with a self-made CONCENTRATOR certificate reads
  the meter's consumption over Bluetooth, as a concentrator would.

Unprotected: the meter's Bluetooth service checks no certificate, binding or role
(``MeterConfig(protected=False)``).
"""

from __future__ import annotations

from collections.abc import Callable

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import ADDRESS, HOUSE, T0
from wattguard.attacks.scenarios.rigs import CA
from wattguard.crypto import sm2, sm3
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.concentrator import ConcentratorRadio
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.sensors import WATER_LEAK
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.protocol import OAD, OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.set import SetRequestNormal, SetResponseNormal
from wattguard.protocol.link import Control, LinkFrame, ServerAddress, decode_frame
from wattguard.protocol.values import DateTimeS
from wattguard.randomness import seeded
from wattguard.testing.meter import new_meter

NEIGHBOUR = bytes.fromhex("000000000099")
NOW = T0 + 3600.0
HOUR = 3600.0
ENERGY = OAD(0x0010, 2, 0)
YEAR = 365 * 86400


def _meter(protected: bool, address: bytes = ADDRESS) -> Meter:
    meter = new_meter(address, config=MeterConfig(protected=protected, handheld_ca=CA.public_key))
    meter.power_up(T0)
    for minute in range(1, 61):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter


def _peer(
    role: Role, name: str, ca: sm2.PrivateKey, meter: bytes | None, scope: int = 0
) -> Handheld:
    key = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: " + name.encode()))
    certificate = HandheldCertificate.issue(
        ca, serial=4242, handheld_id=name, role=role, public_key=key.public_key,
        valid_from=int(T0 - 86400), valid_until=int(T0 + YEAR), meter=meter, scope=scope,
    )  # fmt: skip
    return Handheld(name, private_key=key, certificate=certificate, random=seeded(name.encode()))


def _radio(meter: Meter, sent: list[str]) -> Callable[[bytes], bytes]:
    def transport(frame: bytes) -> bytes:
        sent.append(frame.hex()[:64] + ("..." if len(frame) > 32 else ""))
        return meter.receive_bluetooth(frame, NOW)

    return transport


def _events(meter: Meter, outcome: Outcome) -> Outcome:
    return outcome.saw(list(meter.log.security))


@scenario(
    8,
    "bluetooth-phone-other-meter",
    "a customer's phone reads the neighbour's meter and trips it",
    (Protection.IDENTITY, Protection.MONITORING),
)
def phone_other_meter(protected: bool) -> Outcome:
    neighbour = _meter(protected, NEIGHBOUR)
    phone = _peer(Role.CUSTOMER, "phone-000000000001", CA, ADDRESS)  # bound to their own meter
    sent: list[str] = []
    radio = _radio(neighbour, sent)
    try:
        phone.pair_certificate(radio)
    except PairingRefused as refused:
        return _events(neighbour, Outcome(False, f"pairing refused: {refused}", evidence=sent))
    read = decode_apdu(phone.request(radio, GetRequestNormal(1, ENERGY).to_bytes()))
    trip = ActionRequest(2, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes()
    tripped = decode_apdu(phone.request(radio, trip))
    neighbour.handle_timer(NOW + 60)
    energy = None
    if isinstance(read, GetResponseNormal) and isinstance(read.result.result, Data):
        energy = read.result.result.value[0].value
    dar = tripped.result.dar if isinstance(tripped, ActionResponseNormal) else None
    state = neighbour.management.relay.state
    outcome = Outcome(
        energy is not None or state != RelayState.CLOSED,
        f"read the neighbour's energy: {energy} (0.01 kWh); trip answered DAR {dar}, "
        f"the relay is {state.name}",
        evidence=sent,
    )
    return _events(neighbour, outcome)


@scenario(
    8,
    "bluetooth-phone-set-clock",
    "a customer's phone sets its own meter's clock back eight hours",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def phone_set_clock(protected: bool) -> Outcome:
    meter = _meter(protected)
    phone = _peer(Role.CUSTOMER, "phone-000000000001", CA, ADDRESS)
    sent: list[str] = []
    radio = _radio(meter, sent)
    phone.pair_certificate(radio)
    value = Data(DataType.DATE_TIME_S, DateTimeS.from_posix(NOW - 8 * HOUR))
    answer = decode_apdu(
        phone.request(radio, SetRequestNormal(3, OAD(0x4000, 2, 0), value).to_bytes())
    )
    moved = meter.management.calendar() - meter.now
    dar = answer.dar if isinstance(answer, SetResponseNormal) else None
    outcome = Outcome(
        moved < -HOUR,
        f"paired as CUSTOMER; SET 4000 answered DAR {dar}; the clock moved by {moved:+.0f} s",
        evidence=sent,
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-forged-sensor",
    "a laptop posing as the water-leak sensor reports a leak",
    (Protection.IDENTITY, Protection.MONITORING),
)
def forged_sensor(protected: bool) -> Outcome:
    meter = _meter(protected)
    own_ca = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: a CA of one's own"))
    fake = _peer(Role.SENSOR, "leak-sensor", own_ca, ADDRESS, WATER_LEAK)
    sent: list[str] = []
    radio = _radio(meter, sent)
    report = SetRequestNormal(1, OAD(WATER_LEAK, 2, 0), Data(DataType.ENUM, 1)).to_bytes()
    refused = ""
    try:
        fake.pair_certificate(radio)
        fake.request(radio, report)
    except PairingRefused as exc:
        refused = f"refused ({exc}); "
    alarms = meter.log.of_kind(MeterEventKind.SENSOR_ALARM)
    detail = alarms[0].detail if alarms else "none"
    outcome = Outcome(
        bool(alarms),
        f"{refused}leak alarms in the meter's log (reported to operations): {detail}",
        evidence=sent,
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-rogue-concentrator",
    "a laptop with a self-made concentrator certificate reads the meter over Bluetooth",
    (Protection.IDENTITY, Protection.MONITORING),
)
def rogue_concentrator(protected: bool) -> Outcome:
    meter = _meter(protected)
    own_ca = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: a CA of one's own"))
    key = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: rogue concentrator"))
    certificate = HandheldCertificate.issue(
        own_ca, serial=7, handheld_id="TERMINAL-ROGUE", role=Role.CONCENTRATOR,
        public_key=key.public_key, valid_from=int(T0 - 86400), valid_until=int(T0 + YEAR),
    )  # fmt: skip
    rogue = ConcentratorRadio(key, certificate, random=seeded(b"rogue concentrator"))
    sent: list[str] = []
    request = GetRequestNormal(1, ENERGY).to_bytes()
    frame = LinkFrame(Control(False, True), ServerAddress(ADDRESS), 0x10, request).to_bytes()
    try:
        answer = rogue.exchange(ADDRESS, frame, _radio(meter, sent))
    except PairingRefused as refused:
        return _events(meter, Outcome(False, f"pairing refused: {refused}", evidence=sent))
    energy = None
    reply = decode_apdu(decode_frame(answer).apdu) if answer else None
    if isinstance(reply, GetResponseNormal) and isinstance(reply.result.result, Data):
        energy = reply.result.result.value[0].value
    outcome = Outcome(
        energy is not None, f"read forward active energy {energy} (0.01 kWh)", evidence=sent
    )
    return _events(meter, outcome)
