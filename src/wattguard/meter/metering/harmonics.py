"""Harmonics as the metering chip reports them: the harmonic content of voltage and current per
order, and fundamental and harmonic active energy registered apart.

Theory of operation. In waveform mode each metrology window
(:func:`~wattguard.meter.metering.metrology.analyse_window`) gives the harmonic group RMS values
up to the 41st order and the fundamental active power P_1. The chip turns them into:

* :class:`HarmonicContent`: per order h = 2..``orders`` the content V_h / V_1 (and I_h / I_1)
  in percent, and the total (THD) in front, the layout of DL/T 698.45 interface class 5
  ("total and 2..n order content", objects 200D and 200E; 200B/200C hold the totals). It travels
  to the management module as a HARMONICS message after each window;
* :class:`HarmonicEnergy`: the fundamental active power P_1 and the harmonic active power
  P - P_1 accumulated apart, each forward or reverse by its own sign, total and per tariff
  (objects 0110/0120 fundamental, 0210/0220 harmonic; docs/protocol.md), sent as a
  HARMONIC_ENERGY message beside each ENERGY snapshot.

In profile mode no waveform is analysed: all active power is fundamental (a load profile
carries no harmonics), the chip sends neither HARMONICS nor HARMONIC_ENERGY (the management
module reads the split off the ENERGY snapshot), and the THD and content objects answer NULL
rather than a made-up 0 %. SPI payloads are DL/T 698.45 Data like the chip's others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from wattguard.errors import DecodeError
from wattguard.meter.metering.metrology import PhaseMeasurement, Samples
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = ["HARMONIC_ORDERS", "HarmonicContent", "HarmonicEnergy"]

_D = DataType
#: The highest order the chip reports (the window's analysis reaches it; object 400E).
HARMONIC_ORDERS = 41
_LIMIT = 0x7FFF  # a long's largest value: 327.67 %


@dataclass(frozen=True, slots=True)
class HarmonicContent:
    """Voltage and current harmonic content of one window, in percent of the fundamental:
    index 0 the total (THD), index k >= 1 order k + 1 (so the tuples are [total, 2..n])."""

    voltage: tuple[float, ...]
    current: tuple[float, ...]

    @property
    def orders(self) -> int:
        """The highest order held (n)."""
        return len(self.voltage)

    @classmethod
    def of(cls, phase: PhaseMeasurement, orders: int = HARMONIC_ORDERS) -> HarmonicContent:
        """The content of one analysed window, orders 2..``orders``."""

        def content(groups: Samples, thd: float) -> tuple[float, ...]:
            fundamental = float(groups[1])
            per_order = [
                100.0 * float(groups[h]) / fundamental if fundamental else 0.0
                for h in range(2, orders + 1)
            ]
            return (100.0 * thd, *per_order)

        return cls(
            content(phase.voltage_harmonics, phase.voltage_thd),
            content(phase.current_harmonics, phase.current_thd),
        )

    def column(self, which: str) -> Data:
        """``voltage`` or ``current`` as class 5 attribute 2: array of long, 0.01 %."""
        values = self.voltage if which == "voltage" else self.current
        return Data.array(*(Data(_D.LONG, min(_LIMIT, round(v * 100))) for v in values))

    def total(self, which: str) -> Data:
        """The THD of ``voltage`` or ``current`` as a long in 0.01 %."""
        values = self.voltage if which == "voltage" else self.current
        return Data(_D.LONG, min(_LIMIT, round(values[0] * 100)))

    def to_bytes(self) -> bytes:
        """The HARMONICS payload: structure {voltage column, current column}."""
        return encode_data(Data.structure(self.column("voltage"), self.column("current")))

    @classmethod
    def from_bytes(cls, payload: bytes) -> HarmonicContent:
        """The inverse of :meth:`to_bytes`; raises DecodeError on a malformed payload."""
        value = read_data(Reader(payload))
        if value.type != _D.STRUCTURE or len(value.value) != 2:
            raise DecodeError("HARMONICS is a structure of 2 arrays", offset=0)
        columns = []
        for column in value.value:
            if column.type != _D.ARRAY or not 2 <= len(column.value) <= 64:
                raise DecodeError("a HARMONICS column holds the total and orders 2..n", offset=0)
            if any(item.type != _D.LONG for item in column.value):
                raise DecodeError("harmonic content is long (0.01 %)", offset=0)
            columns.append(tuple(item.value / 100 for item in column.value))
        if len(columns[0]) != len(columns[1]):
            raise DecodeError("voltage and current hold the same orders", offset=0)
        return cls(columns[0], columns[1])


class HarmonicEnergy:
    """Fundamental and harmonic active energy, each forward and reverse, total and per
    tariff (watt-seconds, as :class:`EnergyRegisters` keeps them)."""

    #: object -> (which register, the EnergyRegisters column it reads as)
    OBJECTS: ClassVar[Mapping[int, tuple[str, int]]] = {
        0x0110: ("fundamental", 0x0010),
        0x0120: ("fundamental", 0x0020),
        0x0210: ("harmonic", 0x0010),
        0x0220: ("harmonic", 0x0020),
    }

    def __init__(self, tariffs: int = 4) -> None:
        self.fundamental = EnergyRegisters(tariffs)
        self.harmonic = EnergyRegisters(tariffs)

    @classmethod
    def all_fundamental(cls, registers: EnergyRegisters) -> HarmonicEnergy:
        """The split of a meter that analysed no waveform: all active energy fundamental."""
        energy = cls(registers.tariffs)
        energy.fundamental.forward_active = list(registers.forward_active)
        energy.fundamental.reverse_active = list(registers.reverse_active)
        return energy

    def accumulate(
        self, fundamental_w: float, harmonic_w: float, seconds: float, tariff: int
    ) -> None:
        """Add one step: each power to its own register, forward or reverse by its sign."""
        self.fundamental.accumulate(fundamental_w, 0.0, seconds, tariff)
        self.harmonic.accumulate(harmonic_w, 0.0, seconds, tariff)

    def to_data(self, oi: int, attribute: int = 2) -> Data:
        """Object 0110, 0120, 0210 or 0220 as the protocol carries it (attribute 2 in
        0.01 kWh, 4 in 0.0001 kWh, [total, tariff 1..n])."""
        which, column = self.OBJECTS[oi]
        registers = self.fundamental if which == "fundamental" else self.harmonic
        return registers.to_data(column, attribute)

    def to_bytes(self) -> bytes:
        """The HARMONIC_ENERGY payload: structure of 4 arrays [total, tariffs] of
        long64-unsigned watt-seconds: fundamental forward, reverse, harmonic forward, reverse."""
        columns = (
            self.fundamental.forward_active,
            self.fundamental.reverse_active,
            self.harmonic.forward_active,
            self.harmonic.reverse_active,
        )
        return encode_data(
            Data.structure(
                *(Data.array(*(Data(_D.LONG64_UNSIGNED, int(ws)) for ws in c)) for c in columns)
            )
        )

    @classmethod
    def from_bytes(cls, payload: bytes, tariffs: int) -> HarmonicEnergy:
        """The inverse of :meth:`to_bytes`; raises DecodeError when it does not fit."""
        value = read_data(Reader(payload))
        if value.type != _D.STRUCTURE or len(value.value) != 4:
            raise DecodeError("HARMONIC_ENERGY is a structure of 4 arrays", offset=0)
        columns = []
        for column in value.value:
            if column.type != _D.ARRAY or len(column.value) != tariffs + 1:
                raise DecodeError(f"a HARMONIC_ENERGY column has {tariffs + 1} registers", offset=0)
            if any(item.type != _D.LONG64_UNSIGNED for item in column.value):
                raise DecodeError("harmonic energy is long64-unsigned watt-seconds", offset=0)
            columns.append([float(item.value) for item in column.value])
        energy = cls(tariffs)
        energy.fundamental.forward_active, energy.fundamental.reverse_active = columns[:2]
        energy.harmonic.forward_active, energy.harmonic.reverse_active = columns[2:]
        return energy
