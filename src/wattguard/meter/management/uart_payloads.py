"""The UART payloads the management module builds and opens (the table in
:mod:`wattguard.meter.links.uart`): READINGS towards the expansion module, and the enum and
structures that come back from it. Opening raises DecodeError on a payload of the wrong shape;
the caller records it as a malformed message."""

from __future__ import annotations

from wattguard.errors import DecodeError
from wattguard.meter.metering.module import Measurement
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import Data, DataType
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data

__all__ = ["read_enum", "read_structure", "readings"]


def readings(
    m: Measurement, registers: EnergyRegisters, now: float, tariff: int | None = None
) -> Data:
    """READINGS: {time s, forward Wh, P 0.1 W, current mA, neutral mA[, tariff unsigned]}
    (the tariff in force when the station set a day table; without one, the expansion
    module's own schedule decides)."""
    neutral = m.current if m.neutral_current is None else m.neutral_current
    extra = () if tariff is None else (Data(DataType.UNSIGNED, tariff),)
    return Data.structure(
        Data(DataType.DOUBLE_LONG_UNSIGNED, int(now) & 0xFFFFFFFF),
        Data(DataType.LONG64_UNSIGNED, int(registers.forward_active[0] // 3600)),
        Data(DataType.DOUBLE_LONG, round(m.active_power * 10)),
        Data(DataType.DOUBLE_LONG, round(m.current * 1000)),
        Data(DataType.DOUBLE_LONG, round(neutral * 1000)),
        *extra,
    )


def read_enum(payload: bytes) -> int:
    """The single value of a payload (LOCAL_RELAY's enum)."""
    value: int = read_data(Reader(payload)).value
    return value


def read_structure(payload: bytes, size: int) -> tuple[Data, ...]:
    """The ``size`` items of a structure payload (DEDUCT, ALARM)."""
    value = read_data(Reader(payload))
    if value.type != DataType.STRUCTURE or len(value.value) != size:
        raise DecodeError(f"expected a structure of {size} values", offset=0)
    items: tuple[Data, ...] = value.value
    return items
