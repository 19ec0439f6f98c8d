"""External sensors that report to the meter over Bluetooth: what each kind reports, the meter's
copy of their latest readings, and the alarms they raise.

Theory of operation. A sensor pairs by a certificate of role SENSOR that the utility CA bound
to this meter and to one object (:mod:`wattguard.meter.bluetooth.certificate`); the Bluetooth
service lets its session send exactly one thing, SET-Request-Normal of attribute 2 of that
object (:mod:`wattguard.meter.bluetooth.access`). :meth:`Sensors.report` takes that request:
a value of the object's type and range is kept with the meter's calendar time (in the store,
so a restart keeps it) and answered DAR 0; anything else is answered with the DAR that says
why (8 out of range, 7 type mismatch, 4 object undefined) and recorded as a MALFORMED security
event.

Upward the readings go the ways the meter reports today (docs/bluetooth.md, "Other peers"):

* attribute 2 of each sensor object answers GET like any meter quantity, so a collection task
  naming it (``FF300200``) brings it to the station as a reading; attribute 3 is the time of
  the reading (date_time_s, null before the first);
* a report that enters a sensor's alarm value (a leak) opens a SENSOR_ALARM entry in the
  meter's log (vendor event object FF25, detail ``"water leak: 1"``), reported with the
  meter's other events and stored by the station as an operational event; the report that
  leaves it closes the entry (the 698 event's end time).

The objects are wattguard's, in the vendor range (docs/protocol.md): FF30 external temperature
(long, 0.1 °C), FF31 water leak (enum: 0 dry, 1 leak).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wattguard.errors import DecodeError
from wattguard.events import EventKind, SecurityEvent
from wattguard.meter.management.eventlog import LogEntry, MeterEventKind, MeterLog
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.storage import Store
from wattguard.protocol import Data, DataType, DateTimeS, decode_apdu
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.set import SetRequestNormal, SetResponseNormal

__all__ = ["EXTERNAL_TEMPERATURE", "SENSOR_KINDS", "WATER_LEAK", "SensorKind", "Sensors"]

EXTERNAL_TEMPERATURE = 0xFF30
WATER_LEAK = 0xFF31
_READING = struct.Struct(">qd")  # value, the meter's calendar time
_KEY = "ble/sensor/{:04X}"


@dataclass(frozen=True, slots=True)
class SensorKind:
    """What a sensor reports under attribute 2 of ``oi``: a ``type`` value within
    ``low``..``high``; ``alarm`` is the value that raises a SENSOR_ALARM (None: none)."""

    oi: int
    name: str
    type: DataType
    low: int
    high: int
    alarm: int | None = None


SENSOR_KINDS: dict[int, SensorKind] = {
    EXTERNAL_TEMPERATURE: SensorKind(
        EXTERNAL_TEMPERATURE, "external temperature", DataType.LONG, -400, 1250
    ),
    WATER_LEAK: SensorKind(WATER_LEAK, "water leak", DataType.ENUM, 0, 1, alarm=1),
}


class Sensors:
    """The meter's copy of its sensors' latest readings (see the module docstring);
    ``calendar`` turns the meter's ``now`` into its calendar time."""

    def __init__(self, log: MeterLog, store: Store | None, source: str) -> None:
        self.log = log
        self.store = store
        self.source = source
        self.readings: dict[int, tuple[int, float]] = {}
        self._alarms: dict[int, LogEntry] = {}
        for oi in SENSOR_KINDS:
            stored = store.get(_KEY.format(oi)) if store is not None else None
            if stored is not None and len(stored) == _READING.size:
                value, at = _READING.unpack(stored)
                self.readings[oi] = (value, at)

    def expose(self, model: ObjectModel) -> None:
        """Make attribute 2 (the reading) and 3 (its time) of each sensor object readable."""
        for oi in SENSOR_KINDS:
            model.add_attribute(oi, 2, lambda oi=oi: self.value(oi))  # type: ignore[misc]
            model.add_attribute(oi, 3, lambda oi=oi: self.time(oi))  # type: ignore[misc]

    def value(self, oi: int) -> Data:
        """The latest reading of the sensor object ``oi`` (null before the first)."""
        kind, reading = SENSOR_KINDS[oi], self.readings.get(oi)
        return Data(DataType.NULL) if reading is None else Data(kind.type, reading[0])

    def time(self, oi: int) -> Data:
        """When the latest reading of ``oi`` was taken, on the meter's calendar."""
        reading = self.readings.get(oi)
        if reading is None:
            return Data(DataType.NULL)
        return Data(DataType.DATE_TIME_S, DateTimeS.from_posix(reading[1]))

    def report(self, apdu: bytes, now: float, calendar: float) -> bytes:
        """A sensor's SET-Request-Normal (already judged by the Bluetooth service) in, the
        SET-Response-Normal out; never raises for what a sensor sends."""
        try:
            request = decode_apdu(apdu)
        except DecodeError as exc:
            self._refuse(f"undecodable report: {exc.reason}", now)
            return ErrorResponse(0, ErrorType.APDU_UNDECODABLE).to_bytes()
        if not isinstance(request, SetRequestNormal):
            self._refuse(f"{type(request).__name__} is not a sensor report", now)
            return ErrorResponse(getattr(request, "piid", 0), ErrorType.OTHER).to_bytes()
        dar = self._accept(request, now, calendar)
        return SetResponseNormal(request.piid, request.oad, dar).to_bytes()

    def _accept(self, request: SetRequestNormal, now: float, calendar: float) -> DAR:
        kind = SENSOR_KINDS.get(request.oad.oi)
        if kind is None or request.oad.attribute != 2:
            self._refuse(f"report of undefined object {request.oad}", now)
            return DAR.OBJECT_UNDEFINED
        value = request.data
        if value.type != kind.type or not isinstance(value.value, int):
            self._refuse(f"{kind.name}: a {value.type.name} is not a {kind.type.name}", now)
            return DAR.TYPE_MISMATCH
        if not kind.low <= value.value <= kind.high:
            self._refuse(f"{kind.name}: {value.value} is out of range", now)
            return DAR.OUT_OF_RANGE
        self.readings[kind.oi] = (value.value, calendar)
        if self.store is not None:
            self.store.put(_KEY.format(kind.oi), _READING.pack(value.value, calendar))
        self._alarm(kind, value.value, now)
        return DAR.SUCCESS

    def _alarm(self, kind: SensorKind, value: int, now: float) -> None:
        if kind.alarm is None:
            return
        open_entry = self._alarms.get(kind.oi)
        if value == kind.alarm and open_entry is None:
            detail = f"{kind.name}: {value}"
            self._alarms[kind.oi] = self.log.add(MeterEventKind.SENSOR_ALARM, now, detail)
        elif value != kind.alarm and open_entry is not None:
            self.log.close(self._alarms.pop(kind.oi), now)

    def _refuse(self, detail: str, now: float) -> None:
        self.log.record(SecurityEvent(EventKind.MALFORMED, self.source, detail, now))
