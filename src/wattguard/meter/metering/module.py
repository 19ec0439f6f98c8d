"""The metering module: the legal-metrology chip that measures, keeps the energy registers and
reports to the management module over SPI. It is never upgradable.

Each step it is given what it measured (from a waveform window through
:func:`~wattguard.meter.metering.metrology.analyse_window`, or a load profile in profile mode) and
for how long; it accumulates the registers and the demand, and queues the SPI messages to send:
a MEASUREMENT every step (after a HARMONICS in waveform mode) and an ENERGY snapshot every
``energy_every`` seconds, followed by HARMONIC_ENERGY once a waveform has been analysed
(before that all active energy is fundamental), and a DEMAND each time the sliding demand
window moves (:mod:`~wattguard.meter.metering.demand`)
(:mod:`~wattguard.meter.metering.harmonics`). Sans-IO, in the
shape of :class:`wattguard.sansio.Core` for a chip that only sends: its inputs are named ports
(:meth:`MeteringModule.measure`, :meth:`MeteringModule.measure_waveform`,
:meth:`MeteringModule.power_up`, and :meth:`MeteringModule.receive_spi` for the management
module's configuration: the demand window), its output is
:meth:`MeteringModule.spi_to_send` (whole MAC'd messages, one per SPI transfer); it has no
timers and no events. Payloads are
DL/T 698.45 Data (one codec for everything), in the units of the protocol objects:

* MEASUREMENT: structure {voltage long-unsigned 0.1 V, current double-long 0.001 A, neutral
  current double-long 0.001 A, P double-long 0.1 W, Q double-long 0.1 var, S double-long
  0.1 VA, power factor long 0.001, frequency long-unsigned 0.01 Hz, voltage THD and current
  THD long-unsigned 0.01 %};
* ENERGY: structure {forward, reverse, Q1, Q2, Q3, Q4}, each an array [total, tariff 1..n] of
  long64-unsigned watt-seconds, exact enough for any register read-out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattguard.errors import DecodeError, SecurityError
from wattguard.events import EventLog, EventSink
from wattguard.meter.links.spi import ConfigReceiver, ConfigType, MessageType, SpiSender
from wattguard.meter.metering.demand import DemandReport
from wattguard.meter.metering.harmonics import HarmonicContent, HarmonicEnergy
from wattguard.meter.metering.metrology import analyse_window
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = [
    "Measurement",
    "MeteringModule",
    "decode_energy",
    "decode_measurement",
    "encode_energy",
]

_D = DataType


@dataclass(frozen=True, slots=True)
class Measurement:
    """What the chip measured over one step (single phase)."""

    voltage: float
    current: float
    active_power: float
    reactive_power: float
    frequency: float = 50.0
    neutral_current: float | None = None  # None: equal to the phase current
    voltage_thd: float = 0.0
    current_thd: float = 0.0
    #: Of ``active_power``, what the harmonics carry (P - P_1; 0 in profile mode).
    harmonic_power: float = 0.0

    @property
    def apparent_power(self) -> float:
        return float(np.hypot(self.active_power, self.reactive_power))

    @property
    def power_factor(self) -> float:
        s = self.apparent_power
        return self.active_power / s if s else 1.0

    def without_load(self) -> Measurement:
        """The same supply with the load cut off (an open relay): the voltage and frequency
        stay, the current and the powers are zero."""
        return Measurement(self.voltage, 0.0, 0.0, 0.0, self.frequency, 0.0, self.voltage_thd, 0.0)

    def to_data(self) -> Data:
        neutral = self.current if self.neutral_current is None else self.neutral_current
        return Data.structure(
            Data(_D.LONG_UNSIGNED, min(0xFFFF, round(self.voltage * 10))),
            Data(_D.DOUBLE_LONG, round(self.current * 1000)),
            Data(_D.DOUBLE_LONG, round(neutral * 1000)),
            Data(_D.DOUBLE_LONG, round(self.active_power * 10)),
            Data(_D.DOUBLE_LONG, round(self.reactive_power * 10)),
            Data(_D.DOUBLE_LONG, round(self.apparent_power * 10)),
            Data(_D.LONG, round(self.power_factor * 1000)),
            Data(_D.LONG_UNSIGNED, round(self.frequency * 100)),
            Data(_D.LONG_UNSIGNED, min(0xFFFF, round(self.voltage_thd * 100))),
            Data(_D.LONG_UNSIGNED, min(0xFFFF, round(self.current_thd * 100))),
        )


def decode_measurement(payload: bytes) -> Measurement:
    """The inverse of ``Measurement.to_data``; raises DecodeError on a malformed payload."""
    value = read_data(Reader(payload))
    v = [item.value for item in value.value] if value.type == _D.STRUCTURE else []
    if len(v) != 10:
        raise DecodeError("a MEASUREMENT is a structure of 10 values", offset=0)
    return Measurement(
        voltage=v[0] / 10,
        current=v[1] / 1000,
        neutral_current=v[2] / 1000,
        active_power=v[3] / 10,
        reactive_power=v[4] / 10,
        frequency=v[7] / 100,
        voltage_thd=v[8] / 100,
        current_thd=v[9] / 100,
    )


def _energy_data(registers: EnergyRegisters) -> Data:
    columns = [registers.forward_active, registers.reverse_active] + [
        registers.reactive[q] for q in (1, 2, 3, 4)
    ]
    return Data.structure(
        *(Data.array(*(Data(_D.LONG64_UNSIGNED, int(ws)) for ws in c)) for c in columns)
    )


def encode_energy(registers: EnergyRegisters) -> bytes:
    """An ENERGY snapshot's payload (the inverse of :func:`decode_energy`)."""
    return encode_data(_energy_data(registers))


def decode_energy(payload: bytes, tariffs: int) -> EnergyRegisters:
    """Registers from an ENERGY snapshot; raises DecodeError when it does not fit."""
    value = read_data(Reader(payload))
    if value.type != _D.STRUCTURE or len(value.value) != 6:
        raise DecodeError("an ENERGY snapshot is a structure of 6 arrays", offset=0)
    columns = []
    for column in value.value:
        if column.type != _D.ARRAY or len(column.value) != tariffs + 1:
            raise DecodeError(f"an ENERGY column has {tariffs + 1} registers", offset=0)
        columns.append([float(item.value) for item in column.value])
    reactive = dict(zip((1, 2, 3, 4), columns[2:], strict=True))
    return EnergyRegisters(tariffs, columns[0], columns[1], reactive)


class MeteringModule:
    """The metering chip: registers, demand and its end of the SPI link."""

    def __init__(
        self,
        spi_key: bytes,
        *,
        tariffs: int = 4,
        energy_every: float = 60.0,
        events: EventSink | None = None,
        protected: bool = True,
    ) -> None:
        self.registers = EnergyRegisters(tariffs)
        #: The management module's configuration (the demand window); refusals go to ``events``.
        self.config = ConfigReceiver(
            spi_key,
            events if events is not None else EventLog(),
            "metering/SPI",
            protected=protected,
        )
        self.harmonic_energy = HarmonicEnergy(tariffs)
        self.waveform = False  # a waveform was analysed: harmonic energy is reported
        self.demand = DemandMeter(tariffs=tariffs)
        self.spi = SpiSender(spi_key)
        self.energy_every = energy_every
        self.last: Measurement | None = None
        self._since_energy = 0.0
        self._outbox: list[bytes] = []

    def power_up(self, epoch: bytes) -> None:
        """After power-up: the RESTART message (sequence numbers begin again); ``epoch`` is
        8 fresh random bytes (see :meth:`~wattguard.meter.links.channel.ChannelSender.restart`)."""
        self._since_energy = 0.0
        self._outbox.append(self.spi.restart(epoch))

    def measure(self, m: Measurement, seconds: float, tariff: int, now: float) -> None:
        """Account one step and queue the SPI messages it produces."""
        self.registers.accumulate(m.active_power, m.reactive_power, seconds, tariff)
        fundamental = m.active_power - m.harmonic_power
        self.harmonic_energy.accumulate(fundamental, m.harmonic_power, seconds, tariff)
        moved = self.demand.accumulate(m.active_power, seconds, tariff, now)
        self.last = m
        self._outbox.append(self.spi.encode(MessageType.MEASUREMENT, encode_data(m.to_data())))
        if moved:
            report = DemandReport.of(self.demand).to_bytes()
            self._outbox.append(self.spi.encode(MessageType.DEMAND, report))
        self._since_energy += seconds
        if self._since_energy + 1e-9 >= self.energy_every:
            self._since_energy = 0.0
            self._outbox.append(self.spi.encode(MessageType.ENERGY, encode_energy(self.registers)))
            if self.waveform:  # in profile mode all of it is fundamental: nothing to add
                self._outbox.append(
                    self.spi.encode(MessageType.HARMONIC_ENERGY, self.harmonic_energy.to_bytes())
                )

    def receive_spi(self, message: bytes, now: float) -> None:
        """One MAC'd configuration message from the management module: DEMAND_PERIOD moves
        the demand window to the period and slip time it carries (refusals are recorded by
        the channel and change nothing; a period out of range is ignored)."""
        try:
            kind, payload = self.config.receive(message, now)
        except (SecurityError, DecodeError):
            return
        if kind == ConfigType.DEMAND_PERIOD and len(payload) == 2:
            period, slip = payload
            if 0 < slip <= period <= 60 and period % slip == 0:
                self.demand.reconfigure(period * 60.0, slip * 60.0)

    def spi_to_send(self) -> list[bytes]:
        """The SPI messages to send, oldest first, each one whole (cleared once taken)."""
        out, self._outbox = self._outbox, []
        return out

    def measure_waveform(
        self,
        voltage: np.ndarray,
        current: np.ndarray,
        sample_rate: float,
        tariff: int,
        now: float,
        seconds: float | None = None,
    ) -> Measurement:
        """Waveform mode: analyse one window of samples (at least 10 cycles), report its
        harmonic content (HARMONICS) and account it for ``seconds`` (None: the window's own
        length; a longer step when one window stands for it). Returns what it measured."""
        phase = analyse_window(voltage, current, sample_rate)
        m = Measurement(
            voltage=phase.voltage,
            current=phase.current,
            active_power=phase.active_power,
            reactive_power=phase.reactive_power,
            frequency=phase.frequency,
            voltage_thd=phase.voltage_thd,
            current_thd=phase.current_thd,
            harmonic_power=phase.active_power - phase.fundamental_power,
        )
        self.waveform = True
        content = HarmonicContent.of(phase)
        self._outbox.append(self.spi.encode(MessageType.HARMONICS, content.to_bytes()))
        self.measure(m, phase.samples / sample_rate if seconds is None else seconds, tariff, now)
        return m
