"""Scenario 13: clock manipulation, and tamper during an attack.

* ``clock-manipulation``: a customer sets their meter's calendar eight hours back with a SET of
  4000 (date-time) on the power line. The meter stamps its 15-minute curve and its freezes with
  its calendar, so the evening peak lands in the night valley at the station, and the daily
  freeze (the billing reading) moves. Protected, F101 wants ciphertext + MAC for every SET
  (DAR 20), the refusal is reported to the station; a clock set that did pass would be logged
  and reported as a clock event. Unprotected, the calendar moves.
* ``tamper-report-suppressed``: a thief opens the meter's cover (to reach the SPI bus, as in
  scenario 10) and holds a magnet to it, while a device on the power line drops every report
  the meter sends on its own, so the cover-open and magnetic-field events never reach the
  station. A report cannot be forged or altered (RN_MAC), but it can be dropped, and the meter
  does not know it was not heard. Protected, the terminal's real-time read includes the ESAM's
  counters (F100 attribute 7, under the reading's MAC) and the station's
  :class:`~wattguard.station.report_audit.ReportAudit` finds the meter's report counter ahead
  of what arrived: a tamper alert for that meter. Unprotected, nothing is missed.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    Rewrite,
    StationView,
    Tap,
    command_frame,
    fresh_deployment,
    hexed,
    meter_of,
    transmit,
)
from wattguard.events import EventKind
from wattguard.network.hplc import Direction
from wattguard.network.terminal import CollectionTask
from wattguard.protocol import OAD, Data, DataType, DateTimeS, decode_frame
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.runtime.deployment import REALTIME, Deployment
from wattguard.station.report_audit import ReportAudit

__all__ = ["clock_set", "report_dropper", "with_report_audit"]

SHIFT = -8 * 3600.0


def clock_set(posix: float) -> SetRequestNormal:
    """SET 4000-2 (the meter's date-time) to ``posix``."""
    return SetRequestNormal(
        4, OAD(0x4000, 2, 0), Data(DataType.DATE_TIME_S, DateTimeS.from_posix(posix))
    )


@scenario(
    13,
    "clock-manipulation",
    "a customer sets their meter's clock eight hours back on the power line (curve and freezes "
    "stamped in the wrong tariff period)",
    (Protection.IDENTITY, Protection.MONITORING),
)
def clock_manipulation(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    view = StationView(deployment)
    now = deployment.clock.time()
    frame = command_frame(meter.address, clock_set(now + SHIFT))
    transmit(deployment, net, meter.address, frame)
    deployment.run_virtual(900)
    skew = meter.management.calendar() - deployment.clock.time()
    outcome = Outcome(
        abs(skew) >= 3600,
        f"the meter's calendar is {skew / 3600:+.1f} h off after the forged clock set",
        evidence=[f"forged SET 4000: {hexed(frame)}"],
    )
    return view.into(outcome)


#: The real-time read with the ESAM's counters (F100 attribute 7) beside the readings.
REALTIME_WITH_COUNTERS = CollectionTask(
    REALTIME.name, REALTIME.period, (*REALTIME.oads, OAD(0xF100, 7, 0))
)


def with_report_audit(deployment: Deployment) -> ReportAudit:
    """Have every terminal read the ESAM's counters with the readings, and the station audit
    the meters' reports against them."""
    hsm = deployment.hsm
    if hsm is None:
        raise ValueError("the report audit needs the cryptographic device")
    for net in deployment.nets:
        net.terminal.tasks = tuple(
            REALTIME_WITH_COUNTERS if task.name == REALTIME.name else task
            for task in net.terminal.tasks
        )
    audit = ReportAudit(hsm.security.reports_heard, deployment.station.monitor)
    deployment.station.on_readings.append(audit.on_readings)
    return audit


def report_dropper(meter: bytes, dropped: list[bytes]) -> Rewrite:
    """A rewrite for :class:`Tap` that drops every frame ``meter`` sends on its own (its
    reports), keeping them in ``dropped``; its answers to the terminal pass."""

    def drop(direction: Direction, address: bytes, data: bytes) -> bytes | None:
        started_by_meter = not decode_frame(data).control.client_started
        if direction == Direction.UP and address == meter and started_by_meter:
            dropped.append(data)
            return b""
        return None

    return drop


@scenario(
    13,
    "tamper-report-suppressed",
    "cover opened and a magnet applied while the meter's tamper reports are dropped on the "
    "power line",
    (Protection.MONITORING, Protection.DATA),
)
def tamper_report_suppressed(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    if deployment.hsm is not None:
        with_report_audit(deployment)
    deployment.run_virtual(900)
    net, meter = meter_of(deployment)
    dropped: list[bytes] = []
    Tap(net, report_dropper(meter.address, dropped))
    view = StationView(deployment)
    now = deployment.clock.time()
    meter.management.cover_opened(now)
    meter.management.magnetic_field(now + 60)
    deployment.run_virtual(2 * 3600)
    source = f"meter {meter.address.hex()}"
    heard = [e for e in view.events() if e.kind == EventKind.TAMPER and e.source == source]
    learned = f"learned of it: {heard[0].detail}" if heard else "heard nothing"
    outcome = Outcome(
        not heard,
        f"cover opened and a magnet applied; {len(dropped)} report(s) of the meter dropped on "
        f"the line; the station {learned}",
        evidence=[f"dropped report: {hexed(frame)}" for frame in dropped[:2]],
    )
    return view.into(outcome)
