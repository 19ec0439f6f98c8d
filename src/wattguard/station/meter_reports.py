"""A meter's own reports of its events (REPORT-NotificationList, verified like a reading) at
the station: the security-relevant ones become security events under the meter's name, the
operational ones (:mod:`wattguard.station.operations`) operational events with their rules,
and the relay's trip and close events the meter's word on its relay state."""

from __future__ import annotations

from typing import Protocol

from wattguard.events import EventKind, SecurityEvent
from wattguard.protocol import Data, DataType
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.report import ReportNotificationList
from wattguard.station.monitor import SecurityMonitor
from wattguard.station.ondemand import RelayBook
from wattguard.station.operations import (
    OperationsMonitor,
    operational_kind,
    record_end,
    record_number,
)
from wattguard.station.records import OperationalEvent
from wattguard.station.rule_book import RuleBook
from wattguard.station.rules import EventFact

__all__ = ["ReportTaker", "take_meter_report"]

#: The relay's trip and close events: the meter's own word on its relay state.
_RELAY_EVENTS = frozenset((0x301F, 0x3020))
#: Meter event objects whose reports are security events at the station (FF20: a refusal
#: inside the meter, its kind named in the detail).
_REPORTED = {
    0x301B: EventKind.TAMPER,  # meter cover opened
    0x302A: EventKind.TAMPER,  # constant magnetic field
    0x3011: EventKind.POWER,  # power down
    0x3016: EventKind.CLOCK,  # clock set
    0x302E: EventKind.CLOCK,  # clock fault
    0xFF23: EventKind.FIRMWARE,  # software upgrade or rollback
    0xFF20: EventKind.UNAUTHORISED,
}


class ReportTaker(Protocol):
    """What taking a meter's report needs of the station."""

    relays: RelayBook
    operations: OperationsMonitor
    rules: RuleBook
    monitor: SecurityMonitor


def take_meter_report(station: ReportTaker, meter: bytes, report: Structure, at: float) -> None:
    """A meter's own report of its events (verified like a reading): the security-relevant
    ones become security events at the station, under the meter's name; the operational
    ones (station.operations) operational events."""
    if not isinstance(report, ReportNotificationList):
        return
    for result in report.results:
        value = result.result
        if not isinstance(value, Data) or value.type != DataType.STRUCTURE:
            continue
        fields = value.value
        detail = str(fields[3].value) if len(fields) > 3 else ""
        if result.oad.oi in _RELAY_EVENTS:
            station.relays.reported(meter.hex(), detail)
        operational = operational_kind(result.oad.oi, detail)
        if operational is not None:
            number, ended = record_number(fields), record_end(fields)
            event = OperationalEvent(at, operational, meter.hex(), detail, number=number,
                                     ended=ended)  # fmt: skip
            station.operations.record(event)
            fact = EventFact("operational", operational.value, meter.hex(), detail, at, meter.hex())
            station.rules.observe_event(fact)
        kind = _REPORTED.get(result.oad.oi)
        if kind is None:
            continue
        if result.oad.oi == 0xFF20:  # a refusal inside the meter: "<kind>: <detail>"
            name = detail.split(":", 1)[0]
            kind = next((k for k in EventKind if k.value == name), EventKind.UNAUTHORISED)
        station.monitor.record(
            SecurityEvent(kind, f"meter {meter.hex()}", f"reported: {detail}", at)
        )
