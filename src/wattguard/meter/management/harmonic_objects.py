"""The harmonic objects of DL/T 698.45 a wattguard meter answers, from what the metering chip
reported (:mod:`~wattguard.meter.metering.harmonics`).

* 200B / 200C voltage / current waveform distortion (THD), interface class 3: attribute 2
  array of long per phase (one element: single phase), 0.01 %; attribute 3 scaler_unit.
* 200D / 200E voltage / current harmonic content, interface class 5: attribute 2 phase A's
  array of long [total, order 2..n] in 0.01 % (element 1 the total, element k order k);
  attribute 5 the highest order n (unsigned); attribute 6 scaler_unit. A single-phase meter
  has no phase B and C (attributes 3 and 4 are not registered).
* 400E harmonic analysis order (interface class 8): attribute 2, unsigned n, read-only.
* 0110 / 0120 forward / reverse fundamental active energy and 0210 / 0220 forward / reverse
  harmonic active energy, interface class 1 like 0010: attribute 2 in 0.01 kWh, 4 in
  0.0001 kWh, [total, tariff 1..n].

Until the chip has analysed a waveform (profile mode) the harmonic values answer NULL: a load
profile carries no harmonics, and a meter should not claim a clean 0 %. The numbers and their
sources are in docs/protocol.md ("Harmonics").
"""

from __future__ import annotations

from typing import Protocol

from wattguard.meter.management.model import Getter, ObjectModel
from wattguard.meter.metering.harmonics import HARMONIC_ORDERS, HarmonicContent, HarmonicEnergy
from wattguard.protocol import Data, DataType, ScalerUnit
from wattguard.protocol.objects import Unit

__all__ = ["HARMONIC_OBJECTS", "HarmonicSource", "expose_harmonics"]

_D = DataType
#: Every object this module registers.
HARMONIC_OBJECTS = frozenset((0x200B, 0x200C, 0x200D, 0x200E, 0x400E, *HarmonicEnergy.OBJECTS))
_PERCENT = Data(_D.SCALER_UNIT, ScalerUnit(-2, int(Unit.PERCENT)))


class HarmonicSource(Protocol):
    """What the objects read: the last window's content and the harmonic energy registers."""

    harmonics: HarmonicContent | None

    @property
    def harmonic_energy(self) -> HarmonicEnergy: ...


def expose_harmonics(model: ObjectModel, source: HarmonicSource) -> None:
    """Register the harmonic objects (module docstring) on ``model``, read-only."""
    for oi, which in ((0x200B, "voltage"), (0x200C, "current")):
        model.add_attribute(oi, 2, _total(source, which))
        model.add_attribute(oi, 3, lambda: _PERCENT)
    for oi, which in ((0x200D, "voltage"), (0x200E, "current")):
        model.add_attribute(oi, 2, _content(source, which))
        model.add_attribute(oi, 5, lambda: Data(_D.UNSIGNED, _orders(source)))
        model.add_attribute(oi, 6, lambda: _PERCENT)
    model.add_attribute(0x400E, 2, lambda: Data(_D.UNSIGNED, _orders(source)))
    for oi in HarmonicEnergy.OBJECTS:
        for attribute in (2, 4):
            model.add_attribute(oi, attribute, _energy(source, oi, attribute))


def _orders(source: HarmonicSource) -> int:
    return HARMONIC_ORDERS if source.harmonics is None else source.harmonics.orders


def _total(source: HarmonicSource, which: str) -> Getter:
    def get() -> Data:
        if source.harmonics is None:
            return Data.array(Data(_D.NULL))
        return Data.array(source.harmonics.total(which))

    return get


def _content(source: HarmonicSource, which: str) -> Getter:
    def get() -> Data:
        if source.harmonics is None:
            return Data.array(*(Data(_D.NULL) for _ in range(HARMONIC_ORDERS)))
        return source.harmonics.column(which)

    return get


def _energy(source: HarmonicSource, oi: int, attribute: int) -> Getter:
    return lambda: source.harmonic_energy.to_data(oi, attribute)
