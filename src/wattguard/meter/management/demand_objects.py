"""The maximum-demand objects a wattguard meter answers, from what the metering chip reported
(:mod:`~wattguard.meter.metering.demand`): 1010 / 1020 forward / reverse active maximum demand
(interface class 2) and 2017 current active demand, attribute 2 each. Before the chip's
window has filled once they answer NULL, as a meter without a demand yet does."""

from __future__ import annotations

from typing import Protocol

from wattguard.meter.management.model import Getter, ObjectModel
from wattguard.meter.metering.demand import DemandReport
from wattguard.protocol import Data, DataType

__all__ = ["DemandSource", "expose_demand"]


class DemandSource(Protocol):
    """What the objects read: the chip's last DEMAND and the calendar's offset."""

    @property
    def demand(self) -> DemandReport | None: ...
    @property
    def clock_offset(self) -> float: ...


def _maxima(source: DemandSource, forward: bool) -> Getter:
    def get() -> Data:
        if source.demand is None:
            return Data(DataType.NULL)
        return source.demand.maxima_data(forward, source.clock_offset)

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
