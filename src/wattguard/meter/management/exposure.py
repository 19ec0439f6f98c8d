"""What the management module exposes through DL/T 698.45: the attributes and methods of a
wattguard meter, registered on its :class:`~wattguard.meter.management.model.ObjectModel`.

Values use the scalers and units of the catalogue (``wattguard.protocol.objects``): voltage
0.1 V, current 0.001 A, powers 0.1 W/var/VA, power factor 0.001, frequency 0.01 Hz,
temperature 0.1 °C. A single-phase meter answers the phase arrays with one element (powers:
[total, phase A]). The remote-control methods follow DL/T 698.45 class 8 as we read it
(docs/protocol.md): 8000 method 127 alarm, 128 alarm release, 129 trip with
array of structure {relay OAD, alarm delay unsigned (minutes), trip duration long-unsigned
(minutes, 0 = until closed), auto close bool}, 130 close with array of structure
{relay OAD, enum 0 close allowed / 1 direct close}; 8001 method 127 protect, 128 release.
FF10 (vendor range) attribute 2 is the charging-pile power limit in W, passed to the
expansion module once the command has passed the ESAM. 8000 method 127 may carry a
visible-string message (our extension) that the display shows with its ALARM annunciator;
FF12 (vendor range) attribute 2 reads the alarm back: structure {alarm bool, message}.
"""

from __future__ import annotations

from wattguard.meter.links.uart import UartMessage
from wattguard.meter.management.model import Getter, Method, ObjectModel, Setter, refuse
from wattguard.meter.management.relay import ProtectedError, RelayState
from wattguard.meter.management.view import MeterView
from wattguard.protocol import Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR

__all__ = [
    "CHARGING_PILE_LIMIT",
    "DISPLAY_ALARM",
    "MAX_ALARM_MESSAGE",
    "METROLOGY",
    "expose",
    "metrology_view",
]

_D = DataType
CHARGING_PILE_LIMIT = 0xFF10
#: The display's remote alarm and its message, read back (vendor object, docs/protocol.md).
DISPLAY_ALARM = 0xFF12
#: The longest alarm message the display shows (a 16-character LCD line).
MAX_ALARM_MESSAGE = 16
_ENERGY = (0x0000, 0x0010, 0x0020, 0x0030, 0x0040, 0x0050, 0x0060, 0x0070, 0x0080)


def expose(m: MeterView) -> None:
    """Register every object of the meter on ``m.model``."""
    model = m.model
    for oi in _ENERGY:
        for attribute in (2, 4):
            model.add_attribute(oi, attribute, _energy(m, oi, attribute))
    model.add_attribute(0x2000, 2, _phase(m, "voltage", _D.LONG_UNSIGNED, 10))
    model.add_attribute(0x2001, 2, _phase(m, "current", _D.DOUBLE_LONG, 1000))
    model.add_attribute(0x2004, 2, _power(m, "active_power"))
    model.add_attribute(0x2005, 2, _power(m, "reactive_power"))
    model.add_attribute(0x2006, 2, _power(m, "apparent_power"))
    model.add_attribute(0x200A, 2, _power_factor(m))
    model.add_attribute(0x200F, 2, _frequency(m))
    model.add_attribute(0x2010, 2, lambda: Data(_D.LONG, round(m.temperature * 10)))
    model.add_attribute(0x4000, 2, _date_time(m), _set_date_time(m))
    model.add_attribute(0x4001, 2, lambda: Data(_D.OCTET_STRING, m.address))
    model.add_attribute(0xF101, 2, lambda: m.policy.attribute(2), _set_policy(m, 2))
    model.add_attribute(0xF101, 3, lambda: m.policy.attribute(3), _set_policy(m, 3))
    model.add_attribute(0x8000, 2, lambda: Data(_D.ENUM, list(RelayState).index(m.relay.state)))
    model.add_method(0x8000, 127, _alarm(m, True))
    model.add_method(0x8000, 128, _alarm(m, False))
    model.add_method(0x8000, 129, _trip(m))
    model.add_method(0x8000, 130, _close(m))
    model.add_attribute(DISPLAY_ALARM, 2, _display_alarm(m))
    model.add_attribute(0x8001, 2, lambda: Data(_D.ENUM, int(m.relay.protected)))
    model.add_method(0x8001, 127, _protect(m, True))
    model.add_method(0x8001, 128, _protect(m, False))
    model.add_attribute(
        CHARGING_PILE_LIMIT,
        2,
        lambda: Data(_D.DOUBLE_LONG_UNSIGNED, m.power_limit),
        _set_power_limit(m),
    )


#: What the metering module (logical address 1) answers for: energies, instantaneous values.
METROLOGY = frozenset((*_ENERGY, 0x2000, 0x2001, 0x2004, 0x2005, 0x2006, 0x200A, 0x200F))


def metrology_view(model: ObjectModel) -> ObjectModel:
    """The metering module's objects, read-only: the attributes of ``model`` in METROLOGY."""
    view = ObjectModel()
    for (oi, attribute), entry in model.attributes():
        if oi in METROLOGY:
            view.add_attribute(oi, attribute, entry)
    return view


def _energy(m: MeterView, oi: int, attribute: int) -> Getter:
    return lambda: m.registers.to_data(oi, attribute)


def _phase(m: MeterView, name: str, kind: DataType, scale: int) -> Getter:
    def get() -> Data:
        if m.measurement is None:
            return Data.array(Data(_D.NULL))
        return Data.array(Data(kind, round(getattr(m.measurement, name) * scale)))

    return get


def _power(m: MeterView, name: str) -> Getter:
    def get() -> Data:
        if m.measurement is None:
            return Data.array(Data(_D.NULL), Data(_D.NULL))
        value = Data(_D.DOUBLE_LONG, round(getattr(m.measurement, name) * 10))
        return Data.array(value, value)

    return get


def _power_factor(m: MeterView) -> Getter:
    def get() -> Data:
        if m.measurement is None:
            return Data.array(Data(_D.NULL), Data(_D.NULL))
        value = Data(_D.LONG, round(m.measurement.power_factor * 1000))
        return Data.array(value, value)

    return get


def _frequency(m: MeterView) -> Getter:
    def get() -> Data:
        if m.measurement is None:
            return Data(_D.NULL)
        return Data(_D.LONG_UNSIGNED, round(m.measurement.frequency * 100))

    return get


def _date_time(m: MeterView) -> Getter:
    def get() -> Data:
        return Data(_D.DATE_TIME_S, DateTimeS.from_posix(m.calendar()))

    return get


def _set_date_time(m: MeterView) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.DATE_TIME_S:
            raise refuse(DAR.TYPE_MISMATCH, "4000 is a date_time_s")
        try:
            posix = value.value.to_posix()
        except ValueError:
            raise refuse(DAR.OUT_OF_RANGE, "not a calendar date") from None
        m.set_calendar(float(posix), m.now)

    return set_


def _set_policy(m: MeterView, attribute: int) -> Setter:
    def set_(value: Data) -> None:
        dar = m.policy.set_attribute(attribute, value)
        if dar != DAR.SUCCESS:
            raise refuse(dar, "F101 value of the wrong shape")

    return set_


def _relay_items(value: Data, width: int) -> list[tuple[Data, ...]]:
    """The array of structures a relay method carries (a lone structure is accepted too)."""
    if value.type == _D.NULL:
        return []
    items = value.value if value.type == _D.ARRAY else [value]
    out = []
    for item in items:
        if item.type != _D.STRUCTURE or len(item.value) != width:
            raise refuse(DAR.TYPE_MISMATCH, f"a relay parameter is a structure of {width}")
        out.append(tuple(item.value))
    return out


def _alarm(m: MeterView, on: bool) -> Method:
    """8000 method 127 (alarm) / 128 (alarm release). 127's parameter is NULL in the
    standard; a visible-string of at most :data:`MAX_ALARM_MESSAGE` characters is our
    extension, the message the display shows with the alarm (docs/protocol.md)."""

    def act(value: Data) -> None:
        message = ""
        if on and value.type == _D.VISIBLE_STRING:
            message = str(value.value)
            if len(message) > MAX_ALARM_MESSAGE:
                raise refuse(DAR.OUT_OF_RANGE, f"at most {MAX_ALARM_MESSAGE} characters")
        elif value.type != _D.NULL:
            raise refuse(DAR.TYPE_MISMATCH, "the alarm takes NULL or a visible-string message")
        m.relay.set_alarm(on, m.now, message)

    return act


def _display_alarm(m: MeterView) -> Getter:
    """FF12 attribute 2: structure {alarm bool, message visible-string}."""
    return lambda: Data.structure(
        Data(_D.BOOL, m.relay.alarm), Data(_D.VISIBLE_STRING, m.relay.alarm_message)
    )


def _trip(m: MeterView) -> Method:
    def act(value: Data) -> None:
        delay = duration = 0.0
        for _, alarm_delay, limit, _auto in _relay_items(value, 4):
            delay, duration = float(alarm_delay.value) * 60, float(limit.value) * 60
        try:
            m.trip(m.now, delay, duration, reason="remote command")
        except ProtectedError as exc:
            raise refuse(DAR.TEMPORARY_FAILURE, str(exc)) from None

    return act


def _close(m: MeterView) -> Method:
    def act(value: Data) -> None:
        direct = False
        for _, command in _relay_items(value, 2):
            direct = command.value == 1
        m.close(m.now, direct)

    return act


def _protect(m: MeterView, on: bool) -> Method:
    def act(_: Data) -> None:
        m.relay.set_protected(on, m.now)

    return act


def _set_power_limit(m: MeterView) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.DOUBLE_LONG_UNSIGNED:
            raise refuse(DAR.TYPE_MISMATCH, "the power limit is double-long-unsigned W")
        m.power_limit = int(value.value)
        m.send_to_expansion(UartMessage.POWER_LIMIT, value)

    return set_
