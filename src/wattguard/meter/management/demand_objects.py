"""The maximum-demand objects a wattguard meter answers, from what the metering chip reported
(:mod:`~wattguard.meter.metering.demand`): 1010 / 1020 forward / reverse active maximum demand
(interface class 2) and 2017 current active demand, attribute 2 each. Before the chip's
window has filled once 2017 answers NULL and 1010 / 1020 a maximum of 0 per tariff at the time
read (the standard's type for 1010 has no null element; docs/protocol.md)."""

from __future__ import annotations

from typing import Protocol

from wattguard.meter.management.model import Getter, ObjectModel
from wattguard.meter.metering.demand import DemandReport, maximum_data
from wattguard.meter.metering.registers import EnergyRegisters
from wattguard.protocol import Data, DataType

__all__ = ["DemandSource", "expose_demand"]


class DemandSource(Protocol):
    """What the objects read: the chip's last DEMAND and the calendar's offset."""

    @property
    def demand(self) -> DemandReport | None: ...
    @property
    def clock_offset(self) -> float: ...
    @property
    def registers(self) -> EnergyRegisters: ...

    def calendar(self) -> float:
        """The meter's calendar clock (POSIX seconds)."""


def _maxima(source: DemandSource, forward: bool) -> Getter:
    def get() -> Data:
        now = source.calendar()
        if source.demand is None:  # [total, tariff 1..n], none yet: 0 as of now
            return Data.array(
                *(maximum_data(0.0, now) for _ in range(source.registers.tariffs + 1))
            )
        return source.demand.maxima_data(forward, source.clock_offset, now)

    return get


def expose_demand(model: ObjectModel, source: DemandSource) -> None:
    """Register 1010, 1020 and 2017 attribute 2 on ``model``, read-only."""
    model.add_attribute(0x1010, 2, _maxima(source, True))
    model.add_attribute(0x1020, 2, _maxima(source, False))
    model.add_attribute(
        0x2017,
        2,
        lambda: Data(DataType.NULL) if source.demand is None else source.demand.current_data(),
    )
