"""The expansion module's alarms that were defined but never raised: a charging pile over the
limit the station set, and the credit falling to its alarm level; each is logged by the
management module (FF24) and goes out with the meter's active reports."""

from __future__ import annotations

from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion import CostControl
from wattguard.meter.links.uart import Alarm
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.protocol import OAD, Data, DataType
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line, running_meter

HOUR = 3600.0


def test_a_pile_over_its_limit_raises_an_alarm_once_per_episode() -> None:
    meter = running_meter(config=MeterConfig(protected=False, active_reports=True))
    assert Line(meter).set(OAD(0xFF10, 2), Data(DataType.DOUBLE_LONG_UNSIGNED, 7000)) == 0
    meter.pile_drawn(7200.0, T0 + HOUR)  # within the tolerance
    assert not meter.log.of_kind(MeterEventKind.LOCAL_ALARM)
    for minute in range(3):
        meter.pile_drawn(11000.0, T0 + HOUR + 60 * minute)
    alarms = meter.log.of_kind(MeterEventKind.LOCAL_ALARM)
    assert len(alarms) == 1 and "pile over limit: 11000" in alarms[0].detail
    meter.pile_drawn(6000.0, T0 + 2 * HOUR)
    meter.pile_drawn(9000.0, T0 + 2 * HOUR + 60)  # a new episode
    assert len(meter.log.of_kind(MeterEventKind.LOCAL_ALARM)) == 2
    assert [a for _, a, _ in meter.expansion.alarms] == [Alarm.PILE_OVER_LIMIT] * 2


def test_without_a_limit_a_pile_is_never_over_it() -> None:
    meter = running_meter(config=MeterConfig(protected=False))
    meter.pile_drawn(22000.0, T0 + HOUR)
    assert not meter.log.of_kind(MeterEventKind.LOCAL_ALARM)


def test_credit_low_is_raised_when_the_credit_falls_to_the_alarm_level() -> None:
    meter, wallet = fitted_meter(cost=CostControl(alarm_levels=(300, 100)))
    assert wallet is not None
    station = rig().station
    station.register(ADDRESS, key_version=1)
    # the first hour ran the empty wallet's credit-low: one alarm so far
    assert [a for _, a, _ in meter.expansion.alarms].count(Alarm.CREDIT_LOW) == 1
    amount, protected = (item.value for item in station.top_up(ADDRESS, 400).value)
    wallet.top_up(amount, protected.sid, protected.mac, T0 + HOUR)
    now = T0 + HOUR
    meter.measure(HOUSE, 60.0, now)
    meter.press_button(now)
    for minute in range(1, 240):
        meter.measure(HOUSE, 60.0, now + 60 * minute)
        if wallet.balance() < 250:
            break
    credit_low = [d for _, a, d in meter.expansion.alarms if a == Alarm.CREDIT_LOW]
    assert len(credit_low) == 2 and 0 < credit_low[1] <= 300
    logged = [e.detail for e in meter.log.of_kind(MeterEventKind.LOCAL_ALARM)]
    assert any(d.startswith("credit low") for d in logged)
