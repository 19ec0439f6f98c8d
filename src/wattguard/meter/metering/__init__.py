"""The metering module: the legal-metrology chip. Waveform metrology (RMS, powers, harmonics),
the four-quadrant energy and demand registers, and the readings it sends over the MAC'd SPI
link to the management module."""

from wattguard.meter.metering.metrology import PhaseMeasurement, analyse_window, estimate_frequency
from wattguard.meter.metering.module import Measurement, MeteringModule
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters, Quadrant

__all__ = [
    "DemandMeter",
    "EnergyRegisters",
    "Measurement",
    "MeteringModule",
    "PhaseMeasurement",
    "Quadrant",
    "analyse_window",
    "estimate_frequency",
]
