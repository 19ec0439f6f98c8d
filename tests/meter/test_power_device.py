"""Power loss and return of an assembled meter, with its state in a crash-safe file."""

from __future__ import annotations

from pathlib import Path

from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.storage import NonVolatileStore
from wattguard.protocol import MS, OAD, RCSD, RSD
from wattguard.protocol.apdu.get import GetRecord, GetRequestRecord, GetResponseRecord
from wattguard.protocol.data import MSChoice
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import Line, new_meter

UNPROTECTED = MeterConfig(protected=False)
DAY = 86400
MIDNIGHT = T0 - T0 % DAY


def run(meter: Meter, start: float, minutes: int) -> float:
    now = start
    for _ in range(minutes):
        now += 60
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)
    return now


def last_records(meter: Meter, oi: int, n: int, now: float) -> tuple:  # type: ignore[type-arg]
    client = Line(meter)
    request = GetRecord(OAD(oi, 2), RSD(10, (n, MS(MSChoice.ALL_METERS))), RCSD(()))
    answer = client.exchange(GetRequestRecord(client.piid(), request), now)
    assert isinstance(answer, GetResponseRecord)
    assert isinstance(answer.result.result, tuple), answer.result.result
    return answer.result.result


def test_an_outage_is_recorded_with_its_duration_and_the_meter_is_dark_meanwhile() -> None:
    meter = new_meter(ADDRESS, config=UNPROTECTED)
    meter.power_up(MIDNIGHT + 3600)
    now = run(meter, MIDNIGHT + 3600, 30)
    energy = meter.management.registers.combined_active()[0]
    meter.mains_lost(now)
    assert not meter.powered
    run(meter, now, 120)  # measuring and asking while dark changes nothing
    meter.receive_data(b"\x68\x17\x00", now + 600)
    assert meter.data_to_send() == b""
    assert meter.management.registers.combined_active()[0] == energy
    meter.mains_restored(now + 2 * 3600)
    rows = last_records(meter, 0x3011, 1, now + 2 * 3600 + 1)
    # columns: 2022 record number, 201E start time, 2020 end time, 2024 source
    start, end = (v.value.to_posix() for v in rows[0][1:3])
    assert end - start == 2 * 3600


def test_frozen_data_and_the_clock_survive_a_power_loss_that_wipes_the_ram(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meter.nv"
    store = NonVolatileStore(path)
    meter = new_meter(ADDRESS, config=UNPROTECTED, store=store)
    meter.power_up(MIDNIGHT - 3600)
    now = run(meter, MIDNIGHT - 3600, 2 * 60 + 5)  # past midnight: one day freeze
    meter.management.set_calendar(meter.management.calendar() + 30, now)  # a clock set
    before = last_records(meter, 0x5004, 1, now)
    curve = last_records(meter, 0x5002, 4, now)
    meter.mains_lost(now)
    store.close()

    # three days later the mains returns; the RAM is gone, the file is not
    store = NonVolatileStore(path)
    reborn = new_meter(ADDRESS, config=UNPROTECTED, store=store)
    back = now + 3 * DAY
    reborn.mains_lost(now)  # the state it wakes in: the power had failed at `now`
    reborn.mains_restored(back)
    assert reborn.management.clock_offset == meter.management.clock_offset
    assert last_records(reborn, 0x5002, 4, back + 1) == curve
    days = last_records(reborn, 0x5004, 4, back + 1)
    assert days[0] == before[0]  # the freeze taken before the outage, unchanged
    assert len(days) == 4  # and the three midnights of the outage, filled at power return
    store.close()
