"""The demand the metering chip reports over SPI (DEMAND), and how the meter reads it out.

The chip computes the demand over the sliding window the station set (4100 period, 4101 slip
time; :class:`~wattguard.meter.metering.registers.DemandMeter`) and, each time the window
moves, sends: structure {current demand double-long W x 10^-1 (0.1 W), forward maxima, reverse
maxima}, each maxima an array [total, tariff 1..n] of structure {demand double-long-unsigned
0.1 W, time double-long-unsigned (the chip's seconds)} or null where none occurred yet.

Read out over DL/T 698.45 (interface class 2, DL/T 698.45-2017): 1010 (forward active) and 1020
(reverse active) attribute 2, array [total, tariff 1..n] of structure {maximum demand
double-long-unsigned 0.0001 kW, time date_time_s} (a tariff without one yet: 0 at the time
read, since the standard's type has no null there); 2017
attribute 2, the current active demand, double-long 0.0001 kW.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.errors import DecodeError
from wattguard.meter.metering.registers import DemandMeter
from wattguard.protocol import Data, DataType, DateTimeS
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import encode_data, read_data

__all__ = ["DemandReport", "maximum_data"]

_D = DataType
#: One maximum: (W, when: the chip's seconds), or None.
Maximum = tuple[float, float] | None


def maximum_data(watts: float, calendar: float) -> Data:
    """One maximum demand as 1010 / 1020 carry it: structure {double-long-unsigned
    0.0001 kW (= 0.1 W), date_time_s}."""
    return Data.structure(
        Data(_D.DOUBLE_LONG_UNSIGNED, round(abs(watts) * 10)),
        Data(_D.DATE_TIME_S, DateTimeS.from_posix(calendar)),
    )


@dataclass(frozen=True, slots=True)
class DemandReport:
    """The demand as the chip last reported it: the current demand (W, signed) and the
    forward and reverse maxima, [total, tariff 1..n]."""

    current: float
    forward: tuple[Maximum, ...]
    reverse: tuple[Maximum, ...]

    @classmethod
    def of(cls, meter: DemandMeter) -> DemandReport:
        """The report of ``meter``'s state."""

        def maxima(direction: str) -> tuple[Maximum, ...]:
            return tuple(meter.maximum.get((direction, t)) for t in range(meter.tariffs + 1))

        return cls(meter.current, maxima("forward"), maxima("reverse"))

    def to_bytes(self) -> bytes:
        """The DEMAND message's payload (module docstring)."""

        def maxima(values: tuple[Maximum, ...]) -> Data:
            return Data.array(
                *(
                    Data(_D.NULL)
                    if m is None
                    else Data.structure(
                        Data(_D.DOUBLE_LONG_UNSIGNED, round(abs(m[0]) * 10)),
                        Data(_D.DOUBLE_LONG_UNSIGNED, int(m[1])),
                    )
                    for m in values
                )
            )

        current = Data(_D.DOUBLE_LONG, round(self.current * 10))
        return encode_data(Data.structure(current, maxima(self.forward), maxima(self.reverse)))

    @classmethod
    def from_bytes(cls, payload: bytes, tariffs: int) -> DemandReport:
        """The inverse of :meth:`to_bytes`; DecodeError when it does not fit."""
        value = read_data(Reader(payload))
        if value.type != _D.STRUCTURE or len(value.value) != 3:
            raise DecodeError("a DEMAND is a structure of 3 values", offset=0)
        current, forward, reverse = value.value

        def maxima(column: Data, sign: int) -> tuple[Maximum, ...]:
            if column.type != _D.ARRAY or len(column.value) != tariffs + 1:
                raise DecodeError(f"DEMAND maxima are {tariffs + 1} values", offset=0)
            return tuple(
                None
                if item.type == _D.NULL
                else (sign * item.value[0].value / 10, float(item.value[1].value))
                for item in column.value
            )

        return cls(current.value / 10, maxima(forward, 1), maxima(reverse, -1))

    def maxima_data(self, forward: bool, calendar_offset: float, calendar_now: float) -> Data:
        """Attribute 2 of 1010 (``forward``) or 1020, the times on the meter's calendar; a
        tariff without a maximum yet answers 0 at ``calendar_now`` (docs/protocol.md)."""
        values = self.forward if forward else self.reverse
        return Data.array(
            *(
                maximum_data(0.0, calendar_now)
                if m is None
                else maximum_data(m[0], m[1] + calendar_offset)
                for m in values
            )
        )

    def current_data(self) -> Data:
        """Attribute 2 of 2017: the current active demand, 0.0001 kW."""
        return Data(_D.DOUBLE_LONG, round(self.current * 10))
