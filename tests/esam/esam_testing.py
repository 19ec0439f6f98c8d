"""Helpers for the ESAM tests: fixed test keys, a seeded random source, a provisioned chip
with its client and the station that knows its keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattguard_testing import new_meter

from wattguard.crypto import sm2, sm3
from wattguard.esam.certificate import Certificate
from wattguard.esam.chip import Esam
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys, Random
from wattguard.esam.provisioning import provision, station_certificate
from wattguard.esam.station import StationSecurity
from wattguard.events import EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import Apdu, ClientConnection, Response, ServerAddress

ADDRESS = bytes.fromhex("000000000001")
OTHER = bytes.fromhex("000000000002")
NOW = 1_790_000_000.0
#: Test master keys: every byte of key k is k (version 1), or k + 0x10 (version 2).
MASTER = MasterKeys(1, {k: bytes([k]) * 16 for k in KeyId})
MASTER_2 = MasterKeys(2, {k: bytes([k + 0x10]) * 16 for k in KeyId})
CA_KEY = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard test CA"))
STATION_KEY = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard test station"))
DEVICE_KEY = bytes(range(16))


def seeded(seed: bytes = b"seed") -> Random:
    """A reproducible random source (SM3 in counter mode): tests see the same bytes each run."""
    counter = 0

    def draw(size: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < size:
            counter += 1
            out += sm3.hash(seed + counter.to_bytes(8, "big"))
        return out[:size]

    return draw


STATION_CERTIFICATE: Certificate = station_certificate(CA_KEY, STATION_KEY.public_key, now=NOW)


@dataclass
class Rig:
    esam: Esam
    client: EsamClient
    station: StationSecurity
    events: EventLog


def make_esam(address: bytes = ADDRESS, **kwargs: Any) -> Esam:
    kwargs.setdefault("station_certificate", STATION_CERTIFICATE)
    kwargs.setdefault("device_key", DEVICE_KEY)
    kwargs.setdefault("random", seeded(address))
    return provision(address, MASTER, CA_KEY, now=NOW, **kwargs)


def rig(address: bytes = ADDRESS, **kwargs: Any) -> Rig:
    esam = make_esam(address, **kwargs)
    events = EventLog()
    client = EsamClient(esam, events=events, source=f"meter {address.hex()} ESAM")
    station = StationSecurity(
        [MASTER, MASTER_2],
        identity=STATION_KEY,
        ca_public=CA_KEY.public_key,
        random=seeded(b"station"),
    )
    station.register(address, key_version=1)
    return Rig(esam, client, station, events)


# an assembled meter with the ESAM fitted, and a 698 client on its HPLC side

T0 = NOW
HOUSE = Measurement(voltage=229.5, current=8.7, active_power=1900.0, reactive_power=400.0)


class Line:
    """The station's (or terminal's) side of one meter's power line."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.connection = ClientConnection(ServerAddress(meter.address))

    def exchange(self, apdu: Apdu, now: float = T0) -> Apdu:
        self.connection.send_request(apdu, now)
        self.meter.receive_data(self.connection.data_to_send(), now)
        self.connection.receive_data(self.meter.data_to_send(), now)
        event = self.connection.next_event()
        assert isinstance(event, Response), event
        answer: Apdu = event.response
        return answer


def running_meter(
    address: bytes = ADDRESS, *, fitted: bool = True, config: MeterConfig | None = None,
    **kwargs: Any,
) -> tuple[Meter, EsamClient | None]:  # fmt: skip
    """A powered meter that has measured an hour of a household's load; with ``fitted`` its
    ESAM is provisioned and its F100 and 202C objects exposed."""
    client = EsamClient(make_esam(address)) if fitted else None
    # the management module exposes F100 and 202C itself when its ESAM is an EsamClient
    meter = new_meter(address, esam=client, wallet=client, config=config or MeterConfig(), **kwargs)
    meter.power_up(T0)
    for minute in range(60):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter, client
