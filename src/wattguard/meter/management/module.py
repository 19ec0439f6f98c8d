"""The management module: the meter's brain and its security core.

Theory of operation. The management module sits between the metering chip (SPI, trusted
but on a bus a tamperer can reach) and the expansion module (UART, least trusted). It keeps:

* what the metering chip reported (the last measurement and the energy registers), accepted
  only through the MAC'd, sequence-numbered SPI channel;
* the meter's calendar (the RTC: ``now`` plus an offset that a clock-set command moves),
  temperature, the relay, the display and the event log
  (:mod:`~wattguard.meter.management.eventlog`);
* the DL/T 698.45 server: a :class:`~wattguard.protocol.ServerConnection` (link layer) whose
  requests the :class:`~wattguard.meter.management.server.ApplicationServer` answers under the F101
  security policy, with the ESAM opening and sealing SECURITY APDUs;
* the UART end towards the expansion module, which it never obeys blindly. From the expansion
  module it accepts only: 698 frames (served like any other client's, so a relay command must
  pass the ESAM like one from the station), a local trip at zero credit (carried out only if
  the ESAM wallet itself says the credit is exhausted and the meter is not protected), alarms
  (logged), deductions no larger than the energy since the last one can cost, and the
  charging pile's energy no larger than a pile could draw (``pile_energy.py``). Anything else
  is refused and recorded as UNAUTHORISED.

Sans-IO, in the shape of :class:`wattguard.sansio.Core` with every port named, since each
carries whole MAC'd messages rather than a byte stream: ``receive_spi(message, now)`` and
``receive_uart(message, now)`` take one message each, ``uart_to_send()`` gives the messages
for the expansion module, ``serve_local(apdu, now)`` answers the Bluetooth port. Time is
``now`` (seconds of the host's clock, POSIX in a simulation or a runtime): ``get_timer()``
says when the module next needs to run (the relay's delayed operations, the 698 link's
timers, the next freeze boundary, the clock battery's next report, pending active reports)
and ``handle_timer(now)`` runs what is due. What the host should hear (the relay's moves,
security refusals) comes out of ``next_event()`` (:mod:`~wattguard.meter.management.host_events`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from wattguard.errors import DecodeError, SecurityError
from wattguard.esam.client import EsamClient
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.meter.links.spi import ConfigSender, MessageType, SpiReceiver
from wattguard.meter.links.uart import (
    FROM_EXPANSION,
    Alarm,
    LocalRelay,
    UartMessage,
    UartReceiver,
    UartSender,
)
from wattguard.meter.management import persistence
from wattguard.meter.management.demand_objects import expose_demand
from wattguard.meter.management.display import Display
from wattguard.meter.management.esam_objects import expose_esam
from wattguard.meter.management.eventlog import MeterEventKind, MeterLog
from wattguard.meter.management.exposure import expose, metrology_view
from wattguard.meter.management.freeze import expose_freezes
from wattguard.meter.management.harmonic_objects import expose_harmonics
from wattguard.meter.management.host_events import EventQueue, MeterEvent, RelaySwitched
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.overdraft import Overdraft
from wattguard.meter.management.parameters import MeterParameters, expose_parameters
from wattguard.meter.management.pile_energy import PileEnergy
from wattguard.meter.management.policy import SecurityPolicy
from wattguard.meter.management.power import expose_power
from wattguard.meter.management.prepayment import Prepayment
from wattguard.meter.management.quality import QualityMonitor, thresholds_by_kind
from wattguard.meter.management.relay import RelayState
from wattguard.meter.management.server import ApplicationServer, SecurityElement
from wattguard.meter.management.storage import MemoryStore, Store
from wattguard.meter.management.uart_payloads import read_enum, read_structure, readings
from wattguard.meter.metering.demand import DemandReport
from wattguard.meter.metering.harmonics import HarmonicContent, HarmonicEnergy
from wattguard.meter.metering.module import Measurement, decode_energy, decode_measurement
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import (
    OAD,
    Data,
    DataType,
    IncomingRequest,
    ProtocolViolation,
    ServerAddress,
    ServerConnection,
)
from wattguard.protocol.apdu import decode_apdu
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.report import ReportNotificationList
from wattguard.protocol.data import encode_data

__all__ = ["LinkKeys", "ManagementModule", "Wallet"]

log = logging.getLogger(__name__)

#: The factory event thresholds (objects 3001/3002 attribute 5, which the station may set).
UNDER_VOLTAGE, OVER_VOLTAGE = 0.78, 1.15  # of the rated voltage
OVER_TEMPERATURE = 85.0  # °C inside the case
#: Events per report (a REPORT stays well inside one frame).
_REPORT_BATCH = 8


class Wallet(Protocol):
    """The ESAM's prepaid wallet as the management module uses it."""

    def balance(self) -> int: ...

    def deduct(self, amount: int) -> int: ...


@dataclass(frozen=True, slots=True)
class LinkKeys:
    """The SM4 keys the chips share on their MAC'd links, provisioned at manufacture (the
    meter never makes its own: the provisioning caller supplies them)."""

    spi: bytes
    uart_up: bytes  # expansion -> management
    uart_down: bytes  # management -> expansion

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes]) -> LinkKeys:
        """Fresh keys from ``random_bytes`` (``os.urandom`` at provisioning, a seeded
        source in a reproducible test)."""
        return cls(random_bytes(16), random_bytes(16), random_bytes(16))


class ManagementModule(Prepayment):
    """The management module of one meter (see the module docstring): it keeps what the
    metering chip reported, serves DL/T 698.45 under the F101 policy, guards the relay and
    the wallet against the expansion module, and runs the meter's timers."""

    def __init__(
        self,
        address: bytes,
        keys: LinkKeys,
        *,
        events: EventSink | None = None,
        esam: SecurityElement | None = None,
        wallet: Wallet | None = None,
        tariffs: int = 4,
        rated_voltage: float = 220.0,
        protected: bool = True,
        password: str | None = None,
        active_reports: bool = False,
        store: Store | None = None,
    ) -> None:
        self.address = address
        self.store: Store = store if store is not None else MemoryStore()
        self.name = f"meter {address.hex()}"
        self._events = EventQueue(events)
        self.log = MeterLog(self._events)
        self.policy = SecurityPolicy(enforced=protected)
        self.protected = protected
        self.spi = SpiReceiver(
            keys.spi, self.log, f"{self.name} management/SPI", protected=protected
        )
        self.uart_in = UartReceiver(
            keys.uart_up, self.log, f"{self.name} management/UART", protected=protected
        )
        self.uart_out = UartSender(keys.uart_down)
        self.spi_down = ConfigSender(keys.spi)  # the chip's configuration (the demand window)
        self._to_metering: list[bytes] = []
        self.demand: DemandReport | None = None
        self._to_expansion: list[bytes] = []
        self.esam = esam
        self.wallet = wallet
        self.relay = persistence.restore_relay(self.store, self.name)
        self.registers = EnergyRegisters(tariffs)
        self.measurement: Measurement | None = None
        self.harmonics: HarmonicContent | None = None  # the last waveform window's
        self._harmonic_energy: HarmonicEnergy | None = None  # none reported: profile mode
        self.rated_voltage = rated_voltage
        self.temperature = 25.0
        self.clock_offset = 0.0
        self.now = 0.0
        self.power_limit = 0
        self.active_reports = active_reports
        self._report_piid = 0
        self._hot = False
        self._deducted_wh = 0.0
        self._servers(esam, password)
        self.display = Display(self)
        self.violations: list[ProtocolViolation] = []
        expose(self)
        # what the station sets (tariff table, thresholds, display list...): parameters.py
        self.parameters = MeterParameters(
            tariffs, under_voltage=(round(UNDER_VOLTAGE * rated_voltage * 10), 60),
            over_voltage=(round(OVER_VOLTAGE * rated_voltage * 10), 60),
        )  # fmt: skip
        self.parameters.on_change.append(self._parameter_changed)
        persistence.restore_parameters(self.store, self.parameters, self.name)
        self._parameter_changed("display")
        self.parameters.on_saved.append(
            lambda: persistence.save_parameters(self.store, self.parameters)
        )
        expose_parameters(self.model, self.parameters, self.calendar)
        p = self.parameters
        self.quality = QualityMonitor(
            self.log, self.name, rated_voltage,
            lambda: thresholds_by_kind(p.under_voltage, p.over_voltage, p.quality),
            lambda: p.may_export,
        )  # fmt: skip
        self._restore_and_expose(esam)

    def _servers(self, esam: SecurityElement | None, password: str | None) -> None:
        """The object model, and the 698 servers on it: the power line's (under the F101
        policy, behind its link-layer connection) and the Bluetooth port's."""
        self.model = ObjectModel()
        self.server = ApplicationServer(
            self.model, self.policy, self.log, f"{self.name} management/698",
            esam=esam, password=password,
        )  # fmt: skip
        self.connection = ServerConnection(ServerAddress(self.address), calendar=self._calendar_at)
        # The Bluetooth port: requests arrive already authenticated and role-checked by the
        # Bluetooth service (its session is their protection), so F101 is not applied twice.
        self.local_server = ApplicationServer(
            self.model, SecurityPolicy(enforced=False), self.log, f"{self.name} management/BLE"
        )

    def _restore_and_expose(self, esam: SecurityElement | None) -> None:
        """What survives a power loss, restored from the store; the objects that need it,
        the ESAM's, and logical address 1's server (the metering module's values)."""
        # What survives a power loss lives in the store: the freezes (saved as each freeze
        # is taken) and the power module's state with the calendar offset (saved at power
        # fail). A module built on a store that holds them carries on from there.
        self.power = persistence.restore_power(self.store, self, self.now)
        self.overdraft = Overdraft.restore(self.store)
        self.model.add_attribute(  # 202D: the overdraft amount, fen
            0x202D, 2, lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, self.overdraft.owed)
        )
        self.power.on_power_fail.append(self.save)
        self.pile = PileEnergy.restore(self.store)  # the pile's energy, FF13 / FF14
        self.pile.expose(self.model)
        self.freezer = persistence.restore_freezer(self.store, self.model.get, self.name)
        expose_freezes(self.model, self.freezer, self.calendar)
        expose_power(self.model, self.power)
        if isinstance(esam, EsamClient):
            # F100 (the ESAM object) and 202C (the wallet); the ESAM's refusals go to our log.
            expose_esam(
                self.model, esam, self.log, source=f"{self.name} ESAM", clock=lambda: self.now,
                on_balance=self._topped_up, hoarding=lambda: self.parameters.credit_limits[1],
            )  # fmt: skip
        # Logical address 1 names the metering module: its legal-metrology values, read-only,
        # as the metering chip reported them over SPI (module docstring of exposure.py).
        self.metering_model = metrology_view(self.model)
        expose_harmonics(self.model, self)
        expose_demand(self.model, self)
        expose_harmonics(self.metering_model, self)
        expose_demand(self.metering_model, self)  # the chip computes the demand too
        self.metering_server = ApplicationServer(
            self.metering_model, self.policy, self.log, f"{self.name} metering/698", esam=esam
        )

    @property
    def _credit_trip(self) -> bool:
        """Whether the relay is open because the credit ran out (kept with the relay)."""
        return self.relay.credit_trip

    @_credit_trip.setter
    def _credit_trip(self, on: bool) -> None:
        self.relay.set_credit_trip(on)

    @property
    def harmonic_energy(self) -> HarmonicEnergy:
        """Fundamental and harmonic active energy as the chip reported them; before it reports
        any (profile mode: no waveform analysed) all active energy is fundamental."""
        if self._harmonic_energy is not None:
            return self._harmonic_energy
        return HarmonicEnergy.all_fundamental(self.registers)

    @property
    def credit(self) -> Wallet | None:
        """The prepaid wallet, if the meter has one (what the display shows as credit)."""
        return self.wallet

    # time

    def calendar(self) -> float:
        """The meter's calendar clock (POSIX seconds)."""
        return self._calendar_at(self.now)

    def _calendar_at(self, now: float) -> float:
        return now + self.clock_offset

    def set_calendar(self, posix: float, now: float) -> None:
        """Clock set (object 4000): logged, with the size of the jump."""
        jump = posix - self.calendar()
        self.clock_offset = posix - now
        self.log.calendar_offset = self.clock_offset
        self.log.add(MeterEventKind.CLOCK_SET, now, f"clock moved by {jump:+.0f} s")

    def power_up(self, epoch: bytes) -> None:
        """After power-up: the UART RESTART message, carrying ``epoch`` (8 fresh random bytes)."""
        self._to_expansion.append(self.uart_out.restart(epoch))
        self._to_metering.append(self.spi_down.restart(epoch))
        self.pile.power_up()
        self._parameter_changed("demand")  # the chip starts with the factory window
        for what in self.parameters.for_expansion():  # what the station set, restored
            self._parameter_changed(what)

    def next_event(self) -> MeterEvent | None:
        """The next thing the host should hear (a relay move, a security refusal), or None."""
        return self._events.next_event()

    def spi_to_send(self) -> list[bytes]:
        """The SPI configuration messages for the metering chip, oldest first (cleared once
        taken)."""
        out, self._to_metering = self._to_metering, []
        return out

    def uart_to_send(self) -> list[bytes]:
        """The UART messages for the expansion module, oldest first, each one whole (cleared
        once taken)."""
        out, self._to_expansion = self._to_expansion, []
        return out

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next run: the earliest of the relay's delayed
        operations, the 698 link's timers, the next freeze boundary, the clock battery's next
        report and, with active reports on, now while events wait to be reported. None while
        the mains is absent (only the RTC runs)."""
        if not self.power.mains:
            return None
        timers = [
            self.relay.get_timer(),
            self.connection.get_timer(),
            self._freeze_timer(),
            self.power.next_check(),
        ]
        if self.active_reports and self.log.unreported:
            timers.append(self.now)
        return min((t for t in timers if t is not None), default=None)

    def _freeze_timer(self) -> float | None:
        due = self.freezer.next_due()
        if due is None:
            return None
        if due == -math.inf:
            return self.now  # a new freeze group counts from its first step: now
        # the calendar is now + clock_offset: the first `now` whose calendar reaches `due`
        at = due - self.clock_offset
        while at + self.clock_offset < due:
            at = math.nextafter(at, math.inf)
        return at

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now``: the battery's discharge and check, the freezes, the
        relay's delayed operations, the link layer's timers and the active reports."""
        self.now = now
        self.power.step(now)
        if self.power.mains:
            self.freezer.step(self.calendar())
        before = self.relay.state
        self.relay.handle_timer(now)
        if self.relay.state != before:
            self._relay_changed(before, now)
        timer = self.connection.get_timer()
        if timer is not None and timer <= now:
            self.connection.handle_timer(now)
        if self.active_reports and self.log.unreported:
            self.report(now)
        self._flush_link(now)

    def report(self, now: float) -> None:
        """Report the events not yet reported (REPORT-Notification-List, one result per event
        under its event object), wrapped with RN_MAC by the ESAM when one is fitted."""
        entries = self.log.take_unreported()[-_REPORT_BATCH:]
        if not entries:
            return
        self._report_piid = (self._report_piid + 1) % 64
        results = tuple(AResultNormal(OAD(e.kind.oi, 2), e.to_data()) for e in entries)
        report = ReportNotificationList(self._report_piid, results)
        if self.esam is None:
            self.connection.notify(report, now)
        else:
            wrapped = self.esam.protect_report(report.to_bytes(), now)
            self.connection.notify(wrapped, now, answers=report)

    def serve_local(self, apdu: bytes, now: float) -> bytes:
        """Answer an APDU from the Bluetooth port (never raises for what a peer sends)."""
        self.now = now
        try:
            request = decode_apdu(apdu)
        except DecodeError as exc:
            self.log.record(
                SecurityEvent(EventKind.MALFORMED, f"{self.name} management/BLE", str(exc), now)
            )
            return ErrorResponse(0, ErrorType.APDU_UNDECODABLE).to_bytes()
        answer = self.local_server.handle(request, now)
        return b"" if answer is None else answer.to_bytes()

    # non-volatile state

    def save(self) -> None:
        """Write what must survive a power loss (run by the power-fail hook)."""
        persistence.save(self.store, self.power, self.freezer)
        self.pile.save()

    # SPI: the metering chip

    def receive_spi(self, message: bytes, now: float) -> None:
        """One MAC'd message from the metering chip (refusals are recorded, change nothing)."""
        self.now = now
        try:
            kind, payload = self.spi.receive(message, now)
            if kind == MessageType.MEASUREMENT:
                self._measured(decode_measurement(payload), now)
            elif kind == MessageType.ENERGY:
                self.registers = decode_energy(payload, self.registers.tariffs)
            elif kind == MessageType.HARMONICS:
                self.harmonics = HarmonicContent.from_bytes(payload)
            elif kind == MessageType.DEMAND:
                self.demand = DemandReport.from_bytes(payload, self.registers.tariffs)
            elif kind == MessageType.HARMONIC_ENERGY:
                tariffs = self.registers.tariffs
                self._harmonic_energy = HarmonicEnergy.from_bytes(payload, tariffs)
        except (SecurityError, DecodeError) as exc:
            log.info("%s: SPI message refused: %s", self.name, exc)

    def _measured(self, m: Measurement, now: float) -> None:
        self.measurement = m
        self.quality.step(m, now)
        self._credit_restored(now)
        tariff = self.parameters.tariff_at(self.calendar())  # the station's table, if set
        self.send_to_expansion(UartMessage.READINGS, readings(m, self.registers, now, tariff))

    def _parameter_changed(self, what: str) -> None:
        """A parameter the expansion module or the display uses changed: tell them."""
        p = self.parameters
        if what == "alarm levels":
            levels = Data.structure(
                *(Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in p.alarm_levels)
            )
            self.send_to_expansion(UartMessage.ALARM_LEVELS, levels)
        elif what == "over current":
            limit = Data(DataType.DOUBLE_LONG_UNSIGNED, p.over_current[0] // 10)  # mA
            self.send_to_expansion(UartMessage.OVER_CURRENT, limit)
        elif what == "display":
            self.display.show(p.display)
        elif what == "may export":
            self.send_to_expansion(UartMessage.MAY_EXPORT, Data(DataType.BOOL, p.may_export))
        elif what == "overdraft":
            limit = Data(DataType.DOUBLE_LONG_UNSIGNED, p.credit_limits[0])
            self.send_to_expansion(UartMessage.OVERDRAFT, limit)
        elif what == "demand":
            self._to_metering.append(self.spi_down.demand(p.demand_period, p.demand_slide))
        elif what == "prices":
            prices = Data.array(*(Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in p.current_prices))
            self.send_to_expansion(UartMessage.PRICES, prices)

    # UART: the expansion module

    def receive_uart(self, message: bytes, now: float) -> None:
        """One MAC'd message from the expansion module, checked as the module docstring says."""
        self.now = now
        try:
            kind, payload = self.uart_in.receive(message, now)
        except (SecurityError, DecodeError) as exc:
            log.info("%s: UART message refused: %s", self.name, exc)
            return
        if kind not in FROM_EXPANSION:
            self._refuse(f"the expansion module may not send {kind.name}", now)
            return
        try:
            if kind == UartMessage.FRAME:
                self.connection.receive_data(payload, now)
                self._flush_link(now)
            elif kind == UartMessage.LOCAL_RELAY:
                self._local_relay(LocalRelay(read_enum(payload)), now)
            elif kind == UartMessage.DEDUCT:
                amount, energy_wh = (item.value for item in read_structure(payload, 2))
                self._deduct(amount, energy_wh, now)
            elif kind == UartMessage.ALARM:
                code, value = (item.value for item in read_structure(payload, 2))
                self._alarm(Alarm(code), value, now)
            elif kind == UartMessage.PILE_ENERGY:
                delta, power = (int(item.value) for item in read_structure(payload, 2))
                self._pile_energy(delta, power, now)
        except (DecodeError, ValueError, TypeError) as exc:
            self.log.record(
                SecurityEvent(EventKind.MALFORMED, f"{self.name} management/UART", str(exc), now)
            )

    def _pile_energy(self, delta_mwh: int, power_w: int, now: float) -> None:
        if not self.pile.plausible(delta_mwh, now):
            self._refuse(f"pile energy of {delta_mwh} mWh is more than a pile can draw", now)
            return
        self.pile.add(delta_mwh, power_w, now)

    def _alarm(self, alarm: Alarm, value: int, now: float) -> None:
        kind = (
            MeterEventKind.OVER_CURRENT
            if alarm == Alarm.OVER_CURRENT
            else (MeterEventKind.LOCAL_ALARM)
        )
        self.log.add(kind, now, f"{alarm.name.lower().replace('_', ' ')}: {value}")
        if alarm == Alarm.BYPASS_SUSPECTED:
            self.log.record(SecurityEvent(EventKind.TAMPER, self.name, "bypass suspected", now))

    # the relay, as the server's methods and the local guard drive it

    def trip(self, now: float, delay: float = 0.0, duration: float = 0.0, reason: str = "") -> None:
        self._credit_trip = False  # a station's trip is not undone by a top-up
        before = self.relay.state
        self.relay.trip(now, delay, duration)
        if self.relay.state != before:
            self._relay_changed(before, now, reason)

    def close(self, now: float, direct: bool) -> None:
        before = self.relay.state
        self.relay.close(now, direct)
        if self.relay.state != before:
            self._relay_changed(before, now)

    def press_button(self, now: float) -> None:
        """The customer's button: closes the relay after a close-allowed."""
        before = self.relay.state
        self.relay.press_button(now)
        if self.relay.state != before:
            self._relay_changed(before, now, "button pressed")

    def _relay_changed(self, before: RelayState, now: float, reason: str = "") -> None:
        tripped = not self.relay.supplying
        kind = MeterEventKind.RELAY_TRIP if tripped else MeterEventKind.RELAY_CLOSE
        self.log.add(kind, now, f"{before.value} -> {self.relay.state.value} {reason}".strip())
        self._events.put(RelaySwitched(now, before, self.relay.state, reason))
        states = list(RelayState)
        self.send_to_expansion(
            UartMessage.RELAY_STATE, Data(DataType.ENUM, states.index(self.relay.state))
        )

    # sensors

    def set_temperature(self, celsius: float, now: float) -> None:
        self.temperature = celsius
        hot = celsius > OVER_TEMPERATURE
        if hot and not self._hot:
            self.log.add(MeterEventKind.OVER_TEMPERATURE, now, f"{celsius:.1f} °C")
        self._hot = hot

    def cover_opened(self, now: float) -> None:
        self.log.add(MeterEventKind.COVER_OPEN, now)
        self.log.record(SecurityEvent(EventKind.TAMPER, self.name, "meter cover opened", now))

    def magnetic_field(self, now: float) -> None:
        self.log.add(MeterEventKind.MAGNETIC, now)
        self.log.record(SecurityEvent(EventKind.TAMPER, self.name, "constant magnetic field", now))

    # the 698 link

    def _flush_link(self, now: float) -> None:
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, IncomingRequest):
                server = self._server_for(event.address)
                answer = server.handle(event.apdu, now) if server is not None else None
                if answer is not None:
                    self.connection.respond(event, answer)
            elif isinstance(event, ProtocolViolation):
                self.violations.append(event)
                self.log.record(
                    SecurityEvent(EventKind.MALFORMED, f"{self.name} management/698",
                                  str(event.error), now)
                )  # fmt: skip
        out = self.connection.data_to_send()
        if out:
            self._send_raw(UartMessage.FRAME, out)

    def _server_for(self, address: ServerAddress) -> ApplicationServer | None:
        """The module a request is for: logical 0 the management module, logical 1 the
        metering module; an extended logical address names no module of this meter."""
        if address.extended_logical is not None:
            return None
        return self.metering_server if address.logical == 1 else self.server

    def send_to_expansion(self, kind: UartMessage, value: Data) -> None:
        """Send one message over the UART to the expansion module."""
        self._send_raw(kind, encode_data(value))

    def _send_raw(self, kind: UartMessage, payload: bytes) -> None:
        self._to_expansion.append(self.uart_out.encode(kind, payload))

    def _refuse(self, detail: str, now: float) -> None:
        self.log.record(
            SecurityEvent(EventKind.UNAUTHORISED, f"{self.name} management/UART", detail, now)
        )
