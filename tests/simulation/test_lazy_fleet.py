"""The lazy fleet answers as the assembled meter does: same frames, same decoded values (the
instantaneous voltage aside, which is noise in both), a MAC the station's cryptographic device
verifies; and its curve agrees with the assembled meter's in profile mode."""

from __future__ import annotations

import os

import numpy as np
import pytest

from wattguard.cipher.device import CryptoDevice
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.meter.device import Meter
from wattguard.meter.expansion import TariffSchedule
from wattguard.network.terminal import Collected, CollectionTask
from wattguard.protocol import (
    OAD,
    ClientConnection,
    Response,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormalList
from wattguard.protocol.apdu.security import SecurityResponse
from wattguard.runtime.factory import factory_meter
from wattguard.simulation.fleet import MeterFleet
from wattguard.simulation.lazy_fleet import SLOT, LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.profile import LoadModel
from wattguard.station.ingest import verify_exchange
from wattguard.testing.meter import Line

T0 = 1_780_000_000.0 - 1_780_000_000 % 86400  # a midnight, UTC
ADDRESSES = [bytes.fromhex(f"00000100{i:04d}") for i in range(1, 5)]
REALTIME = CollectionTask(
    "real-time", 900.0, (OAD(0x0010, 2, 0), OAD(0x2000, 2, 0), OAD(0x4000, 2, 0))
)
CURVE = CollectionTask(
    "curve", 900.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0), OAD(0x0020, 2, 0)),
    record=OAD(0x5002, 2, 0), interval=900.0, max_records=96,
)  # fmt: skip
DAILY = CollectionTask(
    "daily", 3600.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 4)), record=OAD(0x5004, 2, 0),
    interval=86400.0, max_records=7,
)  # fmt: skip


class Pair:
    """The same meters twice: assembled (ESAM fitted by the cryptographic device) and lazy,
    on the same load model, metered for ``hours``."""

    def __init__(self, hours: float) -> None:
        self.master = MasterKeys.generate(1, os.urandom)
        self.hsm = CryptoDevice(
            [self.master], ca_key=sm2.PrivateKey.generate(), clock=lambda: T0, random=os.urandom
        )
        self.full = [factory_meter(a, self.hsm) for a in ADDRESSES]
        model = LoadModel.mixed(len(ADDRESSES), seed=7)
        fleet = MeterFleet(self.full, model.source())
        fleet.power_up(T0)
        self.end = T0 + hours * 3600
        fleet.run_until(self.end)
        keys = diversified_mac_keys(self.master, ADDRESSES)
        self.lazy = LazyFleet(model, ADDRESSES, keys, T0)
        self.server = LazyServer(self.lazy)

    def ask_full(self, i: int, request: Structure, now: float) -> Structure:
        return Line(self.full[i]).exchange(request, now)

    def ask_lazy(self, i: int, request: Structure, now: float) -> tuple[Structure, list[bytes]]:
        connection = ClientConnection(ServerAddress(ADDRESSES[i]))
        connection.send_request(request, now)
        frames = self.server.receive(connection.data_to_send(), now)
        connection.receive_data(b"".join(frames), now)
        event = connection.next_event()
        assert isinstance(event, Response)
        return event.response, frames


@pytest.fixture(scope="module")
def pair() -> Pair:
    return Pair(hours=25.0)


def _inner(answer: Structure) -> Structure:
    assert isinstance(answer, SecurityResponse) and answer.mac is not None
    return decode_apdu(answer.payload.data)


@pytest.mark.parametrize("task", [CURVE, DAILY], ids=lambda t: t.name)
def test_records_equal_the_assembled_meters(pair: Pair, task: CollectionTask) -> None:
    now = pair.end + 5
    for i in range(len(ADDRESSES)):
        since = T0 if task.record == DAILY.record else pair.end - 12 * 3600
        request = wrap_with_rn(task.request(3, since, pair.end))
        full = _inner(pair.ask_full(i, request, now))
        lazy, _ = pair.ask_lazy(i, request, now)
        assert _inner(lazy) == full
        assert len(full.result.result) >= 1  # type: ignore[attr-defined]


def test_real_time_values_have_the_same_structure(pair: Pair) -> None:
    now = pair.end + 5
    request = wrap_with_rn(REALTIME.request(4, now, now))
    full = _inner(pair.ask_full(0, request, now))
    lazy, frames = pair.ask_lazy(0, request, now)
    inner = _inner(lazy)
    assert isinstance(inner, GetResponseNormalList) and isinstance(full, GetResponseNormalList)
    energy, voltage, clock = inner.results
    assert energy == full.results[0] and clock == full.results[2]
    assert voltage.result.type == full.results[1].result.type  # type: ignore[union-attr]
    assert len(voltage.result.value) == 1  # type: ignore[union-attr]
    assert abs(voltage.result.value[0].value - 2288) < 100  # type: ignore[union-attr]
    frame = decode_frame(frames[0])
    assert frame.control.from_server and frame.control.client_started


def test_the_station_verifies_the_lazy_meters_mac(pair: Pair) -> None:
    now = pair.end + 5
    request = wrap_with_rn(REALTIME.request(5, now, now))
    answer, _ = pair.ask_lazy(1, request, now)
    item = Collected(ADDRESSES[1], now, request.to_bytes(), answer.to_bytes())
    verified = verify_exchange(item, pair.hsm, now=now)
    assert verified is not None and verified.time == now
    # the same answer claimed for another meter (another key) does not verify
    forged = Collected(ADDRESSES[2], now, request.to_bytes(), answer.to_bytes())
    assert verify_exchange(forged, pair.hsm, now=now) is None
    # and a value changed on the way does not either
    tampered = bytearray(answer.to_bytes())
    tampered[12] ^= 1
    altered = Collected(ADDRESSES[1], now, request.to_bytes(), bytes(tampered))
    assert verify_exchange(altered, pair.hsm, now=now) is None


def test_a_curve_under_a_tariff_schedule_matches_within_one_unit() -> None:
    """With time-of-use tariffs the rebuilt frozen tariff registers come from float32 slot
    energies: stated tolerance one unit of 0.01 kWh (docs/protocol.md, "The lazy fleet")."""
    model = LoadModel.mixed(50, seed=3)
    keys = np.zeros((50, 16), dtype=np.uint8)
    addresses = [bytes.fromhex(f"0000020{i:05d}") for i in range(50)]
    schedule = TariffSchedule()
    lazy = LazyFleet(model, addresses, keys, T0, schedule=schedule)
    lazy.advance_to(T0 + 86400)
    exact = np.zeros((2, 5, 50))
    worst = 0.0
    for minute in range(1440):
        t = T0 + 60 * minute
        p, _ = model.power(t, 1)
        e = np.abs(p[0]) * 60
        forward = np.where(p[0] >= 0, e, 0.0)
        for row, added in ((0, forward), (1, e - forward)):
            exact[row, 0] += added
            exact[row, schedule.tariff(t)] += added
        boundary = t + 60
        if boundary % SLOT == 0 and boundary > T0 + 86400 - 99 * SLOT:
            for meter in range(0, 50, 7):
                frozen = lazy.frozen(meter, boundary)
                assert frozen is not None
                units = np.abs(frozen // 36000 - exact[:, :, meter] // 36000)
                worst = max(worst, float(units.max()))
    assert worst <= 1
    assert lazy.frozen(0, T0 + 86400 + SLOT) is None  # not frozen yet
    assert lazy.frozen(0, T0) is None  # the start is no freeze


def test_reads_advance_the_fleet_lazily() -> None:
    model = LoadModel.mixed(3, seed=1)
    lazy = LazyFleet(model, ADDRESSES[:3], np.zeros((3, 16), dtype=np.uint8), T0)
    server = LazyServer(lazy)
    assert lazy.minutes_metered == 0
    connection = ClientConnection(ServerAddress(ADDRESSES[0]))
    connection.send_request(GetRequestNormal(1, OAD(0x0010, 2, 0)), T0 + 3725)
    (frame,) = server.receive(connection.data_to_send(), T0 + 3725)
    assert lazy.now == T0 + 3720 and lazy.minutes_metered == 62
    connection.receive_data(frame, T0 + 3725)
    event = connection.next_event()
    assert isinstance(event, Response)
    assert event.response.result.result.value[0].value > 0  # type: ignore[attr-defined]


def test_bad_input_is_ignored_or_refused() -> None:
    model = LoadModel.mixed(2, seed=1)
    lazy = LazyFleet(model, ADDRESSES[:2], np.zeros((2, 16), dtype=np.uint8), T0)
    server = LazyServer(lazy)
    assert server.receive(b"\x68\x00garbage", T0) == []
    other = ClientConnection(ServerAddress(bytes.fromhex("999999999999")))
    other.send_request(GetRequestNormal(1, OAD(0x0010, 2, 0)), T0)
    assert server.receive(other.data_to_send(), T0) == []
    assert server.ignored == 2
    unknown = server.answer(0, GetRequestNormal(2, OAD(0x3000, 2, 0)), T0)
    assert unknown.result.result == DAR.OBJECT_UNDEFINED  # type: ignore[union-attr]
    with pytest.raises(ConfigError):
        LazyFleet(model, ADDRESSES[:1], np.zeros((2, 16), dtype=np.uint8), T0)
    with pytest.raises(ConfigError):
        LazyFleet(model, ADDRESSES[:2], np.zeros((2, 16), dtype=np.uint8), T0 + 60)


def test_state_is_well_under_two_kilobytes_a_meter() -> None:
    n = 1000
    addresses = [bytes.fromhex(f"0000030{i:05d}") for i in range(n)]
    lazy = LazyFleet(LoadModel.mixed(n, seed=1), addresses, np.zeros((n, 16), np.uint8), T0)
    lazy.advance_to(T0 + 86400)  # a day: the PV meters have exported (a reverse column each)
    exporters = int((lazy.energy[1, 0] > 0).sum())
    assert 0 < exporters < n / 2
    # the forward ring for every meter (400 B), the reverse one only for the exporters
    assert lazy.nbytes() / n < 600 + 400 * exporters / n
    assert lazy.index(addresses[417]) == 417 and lazy.address(417) == addresses[417]
    assert lazy.index(b"\x01" * 6) is None


def test_an_assembled_meter_is_still_a_meter(pair: Pair) -> None:
    assert isinstance(pair.full[0], Meter)
