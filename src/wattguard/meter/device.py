"""The assembled meter: the metering, management and expansion modules, the ESAM, and the
in-memory SPI and UART links between them.

Theory of operation. :class:`Meter` owns three in-memory links
(:class:`~wattguard.meter.links.link.Link`: SPI one way, UART both ways), each with its
``manipulate`` hook for tests and the attack harness. It is a sans-IO core of the one shape
(:class:`wattguard.sansio.Core`) on its primary port, the power line; ``now`` is the host's
clock in POSIX seconds (virtual in a simulation, the wall clock in the runtime):

* :meth:`Meter.receive_data` feeds bytes from the power line and :meth:`Meter.data_to_send`
  gives the bytes the meter puts on it (the expansion module carries the modem);
* :meth:`Meter.get_timer` says when the meter next needs to run without new input (a delayed
  relay operation, the 698 link's timers, the next freeze boundary, the clock battery's next
  report, active reports waiting) and :meth:`Meter.handle_timer` runs what is due;
* :meth:`Meter.next_event` hands the host what it should hear
  (:data:`~wattguard.meter.management.host_events.MeterEvent`: the relay's moves and the
  security refusals, in order).

The other ports are named: :meth:`Meter.measure` (one metering step, a :class:`Measurement`
for ``seconds``: profile mode), :meth:`Meter.measure_waveform` (a window of samples: waveform
mode, with harmonics), :meth:`Meter.press_button` (the customer's button),
:meth:`Meter.receive_bluetooth` (a Bluetooth peer's frame: a handheld, the customer's phone, a
sensor, a concentrator), :meth:`Meter.power_up`,
:meth:`Meter.mains_lost` and :meth:`Meter.mains_restored` (the supply), :meth:`Meter.restart`.

Inside, each module has the same shape towards the others: named input ports taking one
message and ``now``, an output method the meter takes the messages from (``spi_to_send``,
``uart_to_send``), and the management module's timers and events. After each input the
meter moves the modules' messages over the links until none is in flight, so it is always
quiescent between calls. The meter answers DL/T 698.45 at its address; the extended logical
address (AF bit 5) names its modules (logical 0 the management module's server).

The meter makes no keys and draws no random numbers of its own: the provisioning caller gives
it its :class:`~wattguard.meter.management.module.LinkKeys` and a source of random bytes (for
the links' RESTART epochs and the Bluetooth pairing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from wattguard.crypto import sm2
from wattguard.events import EventSink
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.lockout import LockoutPolicy
from wattguard.meter.bluetooth.sensors import Sensors
from wattguard.meter.bluetooth.service import BluetoothService
from wattguard.meter.expansion import CostControl, ExpansionModule
from wattguard.meter.links.channel import EPOCH_SIZE
from wattguard.meter.links.link import Link, Manipulator
from wattguard.meter.management.eventlog import MeterEventKind, MeterLog
from wattguard.meter.management.host_events import MeterEvent
from wattguard.meter.management.module import LinkKeys, ManagementModule, Wallet
from wattguard.meter.management.server import SecurityElement
from wattguard.meter.management.storage import Store
from wattguard.meter.management.upgrade import BootResult, Upgrader
from wattguard.meter.management.upgrade_objects import expose_upgrade
from wattguard.meter.metering.module import Measurement, MeteringModule

__all__ = ["Meter", "MeterConfig"]


def _deliver(message: bytes) -> list[bytes]:
    return [message]


@dataclass(frozen=True, slots=True)
class MeterConfig:
    """How a meter is built: its tariffs and rated voltage, whether its security is on,
    the 698 password, active reports, Bluetooth, and the vendor key for upgrades."""

    tariffs: int = 4
    rated_voltage: float = 220.0
    protected: bool = True
    password: str | None = None
    active_reports: bool = False
    #: Bluetooth: a 6-digit PIN (a handheld's read-only role) and/or the utility's Bluetooth
    #: CA (certificate pairing of handhelds, phones, sensors and concentrators, in the role the
    #: certificate names; docs/bluetooth.md). Neither: no Bluetooth.
    bluetooth_pin: str | None = None
    handheld_ca: sm2.PublicKey | None = None
    #: The Bluetooth pairing lockout (None: the default policy, 5 failures then 60 s doubling).
    bluetooth_lockout: LockoutPolicy | None = None
    #: The vendor's key that signs management-module images (None: no upgrade over F001).
    vendor_key: sm2.PublicKey | None = None
    vendor_id: str = "WTGD"
    #: The critical voltage, as a share of ``rated_voltage``: a measured supply below it is a
    #: power-down (the meter's own supply fails), one at or above it a power return (60 %:
    #: docs/protocol.md, "The supply the meter measures").
    critical_voltage: float = 0.6
    #: The household's contracted power (W) the expansion module's load distribution shares
    #: among the pile and the device ports (0: no local distribution).
    contracted_w: float = 0.0
    #: Commissioned for a customer who may export (rooftop PV): FF11's value until the station
    #: sets it (a meter whose store holds the station's parameters keeps those).
    may_export: bool = False


class Meter:
    """A smart meter as the network sees it: a sans-IO core on its power-line port (see the
    module docstring). ``keys`` are its chips' link keys and ``random`` its source of random
    bytes (``os.urandom``, or a seeded one for a reproducible run), both from the caller."""

    def __init__(
        self,
        address: bytes,
        *,
        keys: LinkKeys,
        random: Callable[[int], bytes],
        esam: SecurityElement | None = None,
        wallet: Wallet | None = None,
        events: EventSink | None = None,
        config: MeterConfig = MeterConfig(),
        cost: CostControl | None = None,
        spi_manipulate: Manipulator = _deliver,
        uart_manipulate: Manipulator = _deliver,
        store: Store | None = None,
    ) -> None:
        if len(address) != 6:
            raise ValueError("a meter address is 6 bytes (12 BCD digits)")
        self.address = address
        self._random = random
        self._critical = config.critical_voltage * config.rated_voltage
        self._dark_by_voltage = False  # a power-down the measured voltage caused
        self.metering = MeteringModule(
            keys.spi, tariffs=config.tariffs, events=events, protected=config.protected
        )
        self.management = ManagementModule(
            address,
            keys,
            events=events,
            esam=esam,
            wallet=wallet,
            tariffs=config.tariffs,
            rated_voltage=config.rated_voltage,
            protected=config.protected,
            password=config.password,
            active_reports=config.active_reports,
            store=store,
        )
        if config.may_export and self.management.store.get("parameters") is None:
            self.management.parameters.may_export = True  # told to the expansion at power-up
        self.expansion = ExpansionModule(
            keys.uart_up,
            keys.uart_down,
            self.management.log,
            self.management.name,
            cost=cost,
            protected=config.protected,
            contracted_w=config.contracted_w,
        )
        self.upgrader: Upgrader | None = None
        if config.vendor_key is not None:
            management = self.management
            self.upgrader = Upgrader(
                management.store, config.vendor_key, management.log, config.protected,
                vendor_id=config.vendor_id,
            )  # fmt: skip
            expose_upgrade(management.model, self.upgrader, lambda: management.now)
        self.bluetooth: BluetoothService | None = None
        self.sensors: Sensors | None = None
        if config.bluetooth_pin is not None or config.handheld_ca is not None:
            self.sensors = Sensors(self.management.log, self.management.store, "management/BLE")
            self.sensors.expose(self.management.model)
            self.bluetooth = BluetoothService(
                address,
                self._bluetooth_request,
                self.management.log,
                ca_public_key=config.handheld_ca,
                pin=config.bluetooth_pin,
                store=self.management.store,
                protected=config.protected,
                lockout=config.bluetooth_lockout,
                random=random,
            )
        self.spi = Link("SPI", spi_manipulate)
        self.spi_down = Link("SPI management->metering", spi_manipulate)
        self.uart_up = Link("UART expansion->management", uart_manipulate)
        self.uart_down = Link("UART management->expansion", uart_manipulate)
        self.now = 0.0

    @property
    def log(self) -> MeterLog:
        """The meter's event log (the management module's)."""
        return self.management.log

    def power_up(self, now: float) -> None:
        """The modules start: each link begins again with a RESTART under a fresh epoch."""
        self.now = now
        self.metering.power_up(self._random(EPOCH_SIZE))
        self.expansion.power_up(self._random(EPOCH_SIZE))
        self.management.power_up(self._random(EPOCH_SIZE))
        self._pump(now)

    @property
    def powered(self) -> bool:
        """Whether the mains is present (without it the meter measures and answers nothing)."""
        return self.management.power.mains

    def mains_lost(self, now: float) -> None:
        """Power fail: the management module saves what must survive and logs the outage;
        until the mains returns the meter measures nothing and answers nothing (its clock runs
        on the battery)."""
        self.now = now
        self._dark_by_voltage = False
        self.management.power.mains_lost(now)

    def mains_restored(self, now: float) -> None:
        """Power return: the outage is closed with its duration, missed day and month
        freezes are filled, and the modules resynchronise their links."""
        self.now = now
        self._dark_by_voltage = False
        self.management.power.mains_restored(now)
        self.power_up(now)
        self.management.handle_timer(now)
        self._pump(now)

    def restart(self, now: float, self_test_ok: bool = True) -> BootResult | None:
        """Restart the management module (after an upgrade, or a watchdog): the upgrader
        picks the image to run; a new image runs on trial and is kept once its self-test
        passes, while a failed self-test rolls back to the previous one. Each outcome is in
        the meter's event log; the modules then resynchronise their links."""
        result = None
        if self.upgrader is not None:
            result = self.upgrader.boot(self_test_ok, now)
            log = self.management.log
            if result.rolled_back:
                log.add(MeterEventKind.UPGRADE, now, f"rolled back to {result.version}: "
                        f"{result.reason}")  # fmt: skip
            elif result.trial and self_test_ok:
                version = self.upgrader.confirm(now)
                log.add(MeterEventKind.UPGRADE, now, f"upgraded to {version}")
        self.power_up(now)
        return result

    def receive_bluetooth(self, frame: bytes, now: float) -> bytes:
        """One frame from a handheld over Bluetooth; the answer frame (empty: no radio)."""
        if self.bluetooth is None or not self.powered:
            return b""
        self.now = now
        answer = self.bluetooth.receive(frame, now)
        self._pump(now)
        return answer

    def bluetooth_to_send(self, now: float) -> bytes:
        """What the meter sends on its own (an active report) when a concentrator reads it
        over Bluetooth: sealed in the concentrator's session as a notification; ``b""`` when
        there is nothing or no concentrator session (the bytes then wait for its next
        request, whose answer carries them)."""
        if self.bluetooth is None or not self.powered or not self.bluetooth.can_notify(now):
            return b""
        out = self.expansion.data_to_send()
        return (self.bluetooth.notify(out, now) or b"") if out else b""

    def _bluetooth_request(self, apdu: bytes, role: Role) -> bytes:
        # The Bluetooth service has authenticated the peer and checked its role for this APDU.
        # A concentrator's link frames take the power line's way in and out (the same 698
        # server, F101 policy and ESAM); a sensor's report goes to the sensors' store; a
        # handheld's or a phone's APDU to the management module's Bluetooth port.
        if role == Role.CONCENTRATOR:
            self.expansion.receive_data(apdu, self.now)
            self._pump(self.now)
            return self.expansion.data_to_send()
        if role == Role.SENSOR and self.sensors is not None:
            return self.sensors.report(apdu, self.now, self.management.calendar())
        return self.management.serve_local(apdu, self.now)

    def measure(self, measurement: Measurement, seconds: float, now: float) -> None:
        """One metering step at the tariff the expansion module's schedule puts in force.

        ``measurement`` is what the supply and the load would give with the relay closed:
        the meter applies its own physics. A supply voltage below the critical voltage is a
        power-down (:meth:`mains_lost`, with its 3011 event; the clock runs on the battery)
        and the first step back at or above it a power return; while the relay is open the
        load has no supply, so the chip sees the voltage but no current and registers no
        energy."""
        if not self._supply(measurement.voltage, now):
            return
        self.now = now
        if not self.management.relay.supplying:
            measurement = measurement.without_load()
        # The tariff in force when the step began (as the profile-mode fleet charges a minute
        # at the tariff of its start), so a step never straddles into the next period.
        tariff = self._tariff(now - seconds)
        self.metering.measure(measurement, seconds, tariff, now)
        self._pump(now)

    def measure_waveform(
        self,
        voltage: NDArray[np.float64],
        current: NDArray[np.float64],
        sample_rate: float,
        now: float,
        seconds: float | None = None,
    ) -> None:
        """Waveform mode: one window of samples (at least 10 cycles) of the supply voltage and
        of the current the load would draw, standing for ``seconds`` (None: the window's own
        length). The meter's physics as in :meth:`measure`: a supply below the critical
        voltage is a power-down, and an open relay leaves the current at zero."""
        volts = np.asarray(voltage, dtype=np.float64)
        rms = float(np.sqrt(np.mean(volts * volts))) if len(volts) else 0.0
        if not self._supply(rms, now):
            return
        self.now = now
        amps = np.asarray(current, dtype=np.float64)
        if not self.management.relay.supplying:
            amps = np.zeros_like(amps)
        length = len(volts) / sample_rate
        step = length if seconds is None else seconds
        tariff = self._tariff(now - step)
        self.metering.measure_waveform(volts, amps, sample_rate, tariff, now, seconds)
        self._pump(now)

    def pile_drawn(self, watts: float, now: float) -> None:
        """The charging pile on the expansion module's user-device port reports its draw
        (over its limit: an alarm the meter logs and reports)."""
        if not self.powered:
            return
        self.now = now
        self.expansion.pile_drawn(watts, now)
        self._pump(now)

    def press_button(self, now: float) -> None:
        """The customer presses the meter's button: after a close-allowed it closes the relay
        (the supply returns); otherwise it changes nothing."""
        if not self.powered:
            return
        self.now = now
        self.management.press_button(now)
        self._pump(now)

    def _supply(self, voltage: float, now: float) -> bool:
        """Whether the meter runs for a step whose supply measures ``voltage``: the mains
        lost or restored by the voltage (see :meth:`measure`). A power-down the host declared
        with :meth:`mains_lost` ends only with :meth:`mains_restored`."""
        if voltage < self._critical:
            if self.powered:
                self.mains_lost(now)
                self._dark_by_voltage = True
            return False
        if not self.powered and self._dark_by_voltage:
            self.mains_restored(now)
        return self.powered

    # the power line: the primary port, in the shape of wattguard.sansio.Core

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the power line at ``now`` (nothing while the mains is absent: the modem
        is dark). ``b""``, a stream that ended, leaves the line as it is: the power line of a
        meter never closes."""
        if not self.powered:
            return
        self.now = now
        self.expansion.receive_data(data, now)
        self._pump(now)

    def next_event(self) -> MeterEvent | None:
        """The next thing the host should hear: a relay move or a security refusal."""
        return self.management.next_event()

    def data_to_send(self) -> bytes:
        """The bytes for the power line (cleared once taken)."""
        return self.expansion.data_to_send()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next run (None: not until new input, and never
        while the mains is absent)."""
        if not self.powered:
            return None
        return self.management.get_timer()

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (the meter's timers; see the module docstring)."""
        if not self.powered:
            return
        self.now = now
        self.management.handle_timer(now)
        self.expansion.handle_timer(now)
        self._pump(now)

    def _tariff(self, now: float) -> int:
        # the station's day-period table (4016) when it set one, else the expansion module's
        # schedule, on the meter's calendar
        management = self.management
        tariff = management.parameters.tariff_at(now + management.clock_offset)
        if tariff is not None:
            return min(tariff, self.metering.registers.tariffs)
        cost = self.expansion.cost
        tariff = cost.schedule.tariff(now) if cost is not None else 1
        return min(tariff, self.metering.registers.tariffs)

    def _pump(self, now: float) -> None:
        management, expansion = self.management, self.expansion
        outputs = (
            (self.metering.spi_to_send, self.spi),
            (management.spi_to_send, self.spi_down),
            (expansion.uart_to_send, self.uart_up),
            (management.uart_to_send, self.uart_down),
        )
        inputs = (
            (self.spi, management.receive_spi),
            (self.spi_down, self.metering.receive_spi),
            (self.uart_up, management.receive_uart),
            (self.uart_down, expansion.receive_uart),
        )
        for _ in range(1000):  # a bound, in case a manipulator keeps multiplying messages
            for take, link in outputs:
                for message in take():
                    link.send(message)
            moved = False
            for link, receive in inputs:
                while (arrived := link.receive()) is not None:
                    receive(arrived, now)
                    moved = True
            if not moved:
                return
