"""ESAM test rigs: fixed test keys, a provisioned chip with its client and the station that
knows its keys, and a meter with the ESAM fitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wattguard.crypto import sm2, sm3
from wattguard.esam.certificate import Certificate
from wattguard.esam.chip import Esam
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.esam.provisioning import provision, station_certificate
from wattguard.esam.station import StationSecurity
from wattguard.events import EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.testing import ADDRESS, T0, seeded
from wattguard.testing.meter import running_meter

__all__ = [
    "CA_KEY",
    "DEVICE_KEY",
    "MASTER",
    "MASTER_2",
    "STATION_CERTIFICATE",
    "STATION_KEY",
    "Rig",
    "fitted_meter",
    "make_esam",
    "rig",
]

#: Test master keys: every byte of key k is k (version 1), or k + 0x10 (version 2).
MASTER = MasterKeys(1, {k: bytes([k]) * 16 for k in KeyId})
MASTER_2 = MasterKeys(2, {k: bytes([k + 0x10]) * 16 for k in KeyId})
CA_KEY = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard test CA"))
STATION_KEY = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard test station"))
#: The key that seals an ESAM's state at rest.
DEVICE_KEY = bytes(range(16))
STATION_CERTIFICATE: Certificate = station_certificate(CA_KEY, STATION_KEY.public_key, now=T0)


@dataclass
class Rig:
    """A provisioned ESAM, its client (as the meter holds it) and the station's side."""

    esam: Esam
    client: EsamClient
    station: StationSecurity
    events: EventLog


def make_esam(address: bytes = ADDRESS, **kwargs: Any) -> Esam:
    """An ESAM provisioned at :data:`T0` under :data:`MASTER`, its randomness seeded by its
    address."""
    kwargs.setdefault("station_certificate", STATION_CERTIFICATE)
    kwargs.setdefault("device_key", DEVICE_KEY)
    kwargs.setdefault("random", seeded(address))
    return provision(address, MASTER, CA_KEY, now=T0, **kwargs)


def rig(address: bytes = ADDRESS, **kwargs: Any) -> Rig:
    """A fresh ESAM (``kwargs`` go to :func:`make_esam`) and a station that has registered it
    at key version 1 and knows both test master key versions."""
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


def fitted_meter(
    address: bytes = ADDRESS, *, fitted: bool = True, config: MeterConfig | None = None,
    **kwargs: Any,
) -> tuple[Meter, EsamClient | None]:  # fmt: skip
    """A :func:`~wattguard.testing.meter.running_meter`; with ``fitted`` its ESAM is
    provisioned (:func:`make_esam`), and the management module exposes F100 and 202C."""
    client = EsamClient(make_esam(address)) if fitted else None
    meter = running_meter(
        address, esam=client, wallet=client, config=config or MeterConfig(), **kwargs
    )
    return meter, client
