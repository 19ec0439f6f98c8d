"""Maximum demand follows the window the station sets: 4100 (period) and 4101 (slip time) go
to the metering chip over the MAC'd SPI configuration direction, the chip computes the demand
over that sliding window, and 1010 / 2017 read it out over DL/T 698.45."""

from __future__ import annotations

from wattguard.events import EventKind, EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.links.spi import ConfigSender
from wattguard.meter.metering.module import Measurement, MeteringModule
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter

_D = DataType
UNPROTECTED = MeterConfig(protected=False)  # the F101 policy is tested elsewhere
BASE = Measurement(229.0, 4.5, 1000.0, 0.0)
PEAK = Measurement(229.0, 44.0, 10_000.0, 0.0)
KEY = bytes(range(16))


def fresh(period: int | None = None, slip: int | None = None) -> tuple[Meter, Line]:
    meter = new_meter(config=UNPROTECTED)
    meter.power_up(T0)
    line = Line(meter)
    if slip is not None:
        assert line.set(OAD(0x4101, 2), Data(_D.UNSIGNED, slip), T0) == DAR.SUCCESS
    if period is not None:
        assert line.set(OAD(0x4100, 2), Data(_D.UNSIGNED, period), T0) == DAR.SUCCESS
    return meter, line


def run(meter: Meter, start_minute: int, minutes: int, m: Measurement) -> None:
    for minute in range(start_minute + 1, start_minute + minutes + 1):
        meter.measure(m, 60.0, T0 + 60 * minute)


def forward_maximum(line: Line) -> int:
    """1010 attribute 2, the total's maximum demand in 0.0001 kW."""
    total = line.get(OAD(0x1010, 2), T0 + 7200).value[0]
    assert total.type == _D.STRUCTURE
    assert total.value[1].type == _D.DATE_TIME_S
    return int(total.value[0].value)


def test_the_demand_is_computed_over_the_period_the_station_set() -> None:
    meter, line = fresh()
    assert [m.value[0].value for m in line.get(OAD(0x1010, 2), T0).value] == [0] * 5  # none yet
    run(meter, 0, 14, BASE)
    run(meter, 14, 1, PEAK)  # one minute at 10 kW in a 15-minute window
    assert forward_maximum(line) == (14 * 1000 + 10_000) * 10 // 15  # 1600 W
    meter, line = fresh(period=1)
    run(meter, 0, 14, BASE)
    run(meter, 14, 1, PEAK)
    assert forward_maximum(line) == 100_000  # 10 kW: the 1-minute window saw the peak whole
    assert line.get(OAD(0x2017, 2), T0 + 7200) == Data(_D.DOUBLE_LONG, 100_000)


def test_a_period_changed_in_service_moves_the_window_of_the_chip() -> None:
    meter, line = fresh()
    run(meter, 0, 20, BASE)
    assert line.set(OAD(0x4100, 2), Data(_D.UNSIGNED, 5), T0 + 1200) == DAR.SUCCESS
    assert line.get(OAD(0x4100, 2), T0 + 1200) == Data(_D.UNSIGNED, 5)
    assert meter.metering.demand.period == 300.0
    run(meter, 20, 4, BASE)
    run(meter, 24, 1, PEAK)
    assert forward_maximum(line) == (4 * 1000 + 10_000) * 10 // 5  # 2800 W over 5 minutes


def test_the_slip_time_sets_how_often_the_window_moves() -> None:
    meter, line = fresh(period=15, slip=5)
    run(meter, 0, 15, BASE)  # the first window: demand 1000 W at minute 15
    run(meter, 15, 3, PEAK)  # the window moves again only at minute 20
    assert line.get(OAD(0x2017, 2), T0 + 1100) == Data(_D.DOUBLE_LONG, 10_000)
    run(meter, 18, 2, PEAK)
    assert line.get(OAD(0x2017, 2), T0 + 1300) == Data(_D.DOUBLE_LONG, 40_000)  # 4 kW


def test_a_slip_time_that_does_not_divide_the_period_is_refused() -> None:
    meter, line = fresh()
    assert line.set(OAD(0x4101, 2), Data(_D.UNSIGNED, 4), T0) == DAR.OUT_OF_RANGE
    assert line.set(OAD(0x4101, 2), Data(_D.UNSIGNED, 0), T0) == DAR.OUT_OF_RANGE
    assert line.set(OAD(0x4101, 2), Data(_D.UNSIGNED, 5), T0) == DAR.SUCCESS
    assert line.set(OAD(0x4100, 2), Data(_D.UNSIGNED, 2), T0) == DAR.OUT_OF_RANGE
    assert meter.metering.demand.slide == 300.0 and meter.metering.demand.period == 900.0


def forge(message: bytes) -> bytes:
    """A DEMAND_PERIOD altered on the SPI wires: the period byte set to 1 minute."""
    return message[:8] + bytes((1,)) + message[9:]


def test_a_forged_window_on_the_spi_wires_is_refused_by_the_chip() -> None:
    for protected, period in ((True, 900.0), (False, 60.0)):
        events = EventLog()
        chip = MeteringModule(KEY, events=events, protected=protected)
        management = ConfigSender(KEY)
        chip.receive_spi(management.restart(bytes(8)), T0)
        chip.receive_spi(forge(management.demand(30, 1)), T0)
        # protected, the altered message fails its MAC (a security event) and the window stays;
        # without the link's protection the forgery would shrink the window to one minute
        assert chip.demand.period == period
        assert [e.kind for e in events.events] == ([EventKind.BAD_MAC] if protected else [])
    chip = MeteringModule(KEY, events=EventLog())
    chip.receive_spi(management.restart(bytes(7) + b"\x01"), T0)
    chip.receive_spi(management.demand(30, 5), T0)
    assert (chip.demand.period, chip.demand.slide) == (1800.0, 300.0)
