"""The display alarm over DL/T 698.45: 8000 method 127 sounds it (NULL, as the standard has
it, or with a message, our extension), the display shows it, FF12 reads it back, 128 and a
close release it; a wrong parameter changes nothing and says why (DAR)."""

from __future__ import annotations

from wattguard.meter.device import MeterConfig
from wattguard.protocol import OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.testing import T0
from wattguard.testing.meter import Line, running_meter

_D = DataType
ALARM, RELEASE, CLOSE = OMD(0x8000, 127), OMD(0x8000, 128), OMD(0x8000, 130)
READ_BACK = OAD(0xFF12, 2)
UNPROTECTED = MeterConfig(protected=False)  # the security policy is tested elsewhere


def shown(line: Line, now: float) -> list[object]:
    """FF12 attribute 2 as read: [alarm, message]."""
    value = line.get(READ_BACK, now)
    assert isinstance(value, Data) and value.type == _D.STRUCTURE
    return [field.value for field in value.value]


def test_the_alarm_and_its_message_show_and_read_back_until_released() -> None:
    meter = running_meter(config=UNPROTECTED)
    line, now = Line(meter), T0 + 60
    assert shown(line, now) == [False, ""]
    assert line.action(ALARM, Data(_D.VISIBLE_STRING, "credit low"), now) == DAR.SUCCESS
    assert shown(line, now) == [True, "credit low"]
    screen = meter.management.display.render(now)
    assert "[ALARM]" in screen and screen.endswith(" credit low")
    assert line.action(RELEASE, Data(_D.NULL), now) == DAR.SUCCESS
    assert shown(line, now) == [False, ""]
    assert "ALARM" not in meter.management.display.render(now)
    # the standard's NULL: the annunciator alone; a close releases it too
    assert line.action(ALARM, Data(_D.NULL), now) == DAR.SUCCESS
    assert shown(line, now) == [True, ""]
    assert "[ALARM]" in meter.management.display.render(now)
    assert line.action(CLOSE, Data.array(), now) == DAR.SUCCESS
    assert shown(line, now) == [False, ""]


def test_a_wrong_alarm_parameter_changes_nothing() -> None:
    meter = running_meter(config=UNPROTECTED)
    line, now = Line(meter), T0 + 60
    too_long = Data(_D.VISIBLE_STRING, "x" * 17)
    assert line.action(ALARM, too_long, now) == DAR.OUT_OF_RANGE
    assert line.action(ALARM, Data(_D.UNSIGNED, 1), now) == DAR.TYPE_MISMATCH
    assert shown(line, now) == [False, ""]
    assert not meter.management.relay.alarm
