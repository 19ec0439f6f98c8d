"""The expansion module: the meter's least trusted part. It carries the HPLC modem towards the
collection terminal, the user-device port (a charging pile), cost control and local
monitoring, and reaches the management module only over the MAC'd UART channel, where
everything it asks is checked."""

from wattguard.meter.expansion.cost_control import CostControl, TariffSchedule
from wattguard.meter.expansion.module import ExpansionModule
from wattguard.meter.expansion.monitoring import LocalMonitor
from wattguard.meter.expansion.pile import ChargingPile

__all__ = ["ChargingPile", "CostControl", "ExpansionModule", "LocalMonitor", "TariffSchedule"]
