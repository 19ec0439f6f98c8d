"""wattguard.meter: the smart meter as the paper builds it, one subpackage a part:

* :mod:`wattguard.meter.metering`: the metering module (metrology, energy and demand registers);
* :mod:`wattguard.meter.management`: the management module (698 server, object model and
  security policy, ESAM objects, event log, relay, power, storage, freezes, display, upgrade);
* :mod:`wattguard.meter.expansion`: the expansion module (cost control, charging pile, local
  monitoring, the HPLC modem side);
* :mod:`wattguard.meter.links`: the MAC'd SPI and UART links between them;
* :mod:`wattguard.meter.bluetooth`: the Bluetooth service for handhelds;
* :class:`Meter` (``device.py``): the three assembled around one ESAM.

Sans-IO: a :class:`Meter` has the one core shape (:class:`wattguard.sansio.Core`) on its
power line and hands its host events (:data:`MeterEvent`); it is given its :class:`LinkKeys`
and its random source. Loads come from :mod:`wattguard.simulation`."""

from wattguard.meter import bluetooth, expansion, links, management, metering
from wattguard.meter.device import Meter, MeterConfig

__all__ = ["Meter", "MeterConfig", "bluetooth", "expansion", "links", "management", "metering"]
