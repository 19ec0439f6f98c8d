"""wattguard.meter: the smart meter's three modules (metering, management, expansion), their
links, and the assembled meter. Sans-IO: driven with samples and ``now``."""

from wattguard.meter.metrology import PhaseMeasurement, analyse_window, estimate_frequency
from wattguard.meter.registers import DemandMeter, EnergyRegisters, Quadrant

__all__ = [
    "DemandMeter",
    "EnergyRegisters",
    "PhaseMeasurement",
    "Quadrant",
    "analyse_window",
    "estimate_frequency",
]
