"""The freezes of an assembled meter, read over DL/T 698.45 frames: the metering chip reports
energy over SPI, the management module freezes what it holds, a client's GET-Request-Record
gets the records back; and the freeze configuration is guarded by the security policy."""

from __future__ import annotations

from typing import Any

import pytest

from wattguard.events import EventKind
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.freeze import FreezeAssociation, FreezeObject, Freezer
from wattguard.protocol import CSD, MS, OAD, OMD, RCSD, RSD, Data, DataType
from wattguard.protocol.apdu.common import DAR, AResultRecord
from wattguard.protocol.apdu.get import GetRecord, GetRequestRecord, GetResponseRecord
from wattguard.protocol.data import MSChoice
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import Line, new_meter

ENERGY, VOLTAGE = OAD(0x0010, 2), OAD(0x2000, 2)
NUMBER, TIME = OAD(0x2023, 2), OAD(0x2021, 2)
START = T0 - T0 % 900  # a quarter-hour boundary of the calendar (clock offset 0)


def freezing_meter(config: MeterConfig, minutes: int) -> tuple[Meter, Freezer, list[Any]]:
    """A meter with freezes exposed, run ``minutes`` minutes; returns what the registers held
    at each step (calendar time, forward active energy in 0.01 kWh)."""
    meter = new_meter(ADDRESS, config=config)
    management = meter.management
    freezer = management.freezer  # the management module keeps and exposes the freezes
    meter.power_up(START)
    seen = []
    for minute in range(minutes):
        now = START + 60 * minute + 1
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)  # the management module freezes what is due
        seen.append((management.calendar(), management.registers.to_data(0x0010)))
    return meter, freezer, seen


def read_records(client: Line, request: GetRecord, now: float) -> AResultRecord:
    answer = client.exchange(GetRequestRecord(client.piid(), request), now)
    assert isinstance(answer, GetResponseRecord)
    return answer.result


def test_a_station_reads_the_minute_freezes_the_meter_metered() -> None:
    meter, _, seen = freezing_meter(MeterConfig(protected=False), 61)
    client = Line(meter)
    request = GetRecord(
        OAD(0x5002, 2), RSD(10, (4, MS(MSChoice.ALL_METERS))), RCSD((CSD(TIME), CSD(ENERGY)))
    )
    result = read_records(client, request, meter.now + 1)
    assert isinstance(result.result, tuple)
    got = [(row[0].value.to_posix(), row[1]) for row in result.result]
    assert [t for t, _ in got] == [START + 900 * k for k in range(1, 5)]
    # each row holds what the management module had from the metering chip at that boundary
    registers = {int(calendar) // 60 * 60: value for calendar, value in seen}
    for moment, energy in got:
        assert energy == registers[moment]
        # the step one second past the boundary had metered (moment - START) / 60 + 1 minutes
        minutes = (moment - START) // 60 + 1
        assert energy.value[0].value == 1900 * minutes * 60 // 36_000


def test_day_freeze_at_the_meters_midnight_read_over_698() -> None:
    meter, freezer, _ = freezing_meter(MeterConfig(protected=False), 3)
    management = meter.management
    midnight = START - START % 86400 + 86400
    management.set_calendar(midnight - 30, meter.now)
    now = meter.now + 60  # the clock set put the calendar at 23:59:30; a minute later ...
    meter.measure(HOUSE, 60.0, now)
    meter.handle_timer(now)
    freezer.step(management.calendar())  # ... midnight has passed and the day is frozen
    client = Line(meter)
    result = read_records(client, GetRecord(OAD(0x5004, 2), RSD(9, (1,)), RCSD(())), meter.now)
    assert [c.column for c in result.columns.columns] == [NUMBER, TIME, ENERGY, OAD(0x0020, 2)]
    (row,) = result.result  # type: ignore[misc]
    assert row[1].value.to_posix() == midnight
    assert row[2] == management.registers.to_data(0x0010)  # as held when midnight passed
    assert row[2].value[0].value == 1900 * 4 * 60 // 36_000  # 4 minutes at 1900 W


@pytest.mark.parametrize("protected", [True, False])
def test_plaintext_cannot_rewrite_or_wipe_the_freezes_of_a_protected_meter(
    protected: bool,
) -> None:
    meter, freezer, _ = freezing_meter(MeterConfig(protected=protected), 31)
    client = Line(meter)
    table = Data.array(FreezeAssociation(15, VOLTAGE, 1).to_data())
    set_dar = client.set(OAD(0x5002, 3), table, meter.now)
    reset_dar = client.action(OMD(0x5002, 1), Data(DataType.INTEGER, 0), meter.now)
    read = read_records(
        client, GetRecord(OAD(0x5002, 2), RSD(0), RCSD((CSD(TIME),))), meter.now
    ).result
    records = freezer.table(FreezeObject.MINUTE)
    if protected:
        assert set_dar == reset_dar == read == DAR.SECURITY_MISMATCH
        assert len(records.times()) == 3  # at 0, 15 and 30 minutes: intact
        assert records.entries[0].oad == ENERGY
        refused = [e for e in meter.log.security if e.kind == EventKind.UNAUTHORISED]
        assert len(refused) == 3 and all("5002" in e.detail for e in refused)
    else:  # the same plaintext requests succeed without the protection
        assert set_dar == reset_dar == DAR.SUCCESS
        assert read == () and len(records.times()) == 0
        assert records.entries == [FreezeAssociation(15, VOLTAGE, 1)]
