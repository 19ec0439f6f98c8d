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

from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import LockoutPolicy
from wattguard.meter.bluetooth.service import BluetoothService, Handler
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.firmware import (
    FirmwareBuilder,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Refusal,
    Version,
)
from wattguard.meter.management.freeze import Association, FreezeObject, Freezer, expose_freezes
from wattguard.meter.management.host_events import MeterEvent, RelaySwitched, SecurityAlert
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.management.power import Battery, Outage, PowerModule, expose_power
from wattguard.meter.management.storage import (
    MemoryStore,
    NonVolatileStore,
    Store,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    SyncPolicy,
)
from wattguard.meter.management.upgrade import (
    BootResult,
    TransferError,
    Upgrader,
    UpgradeStateError,
)
from wattguard.meter.metering.metrology import PhaseMeasurement, analyse_window, estimate_frequency
from wattguard.meter.metering.module import Measurement
from wattguard.meter.metering.registers import DemandMeter, EnergyRegisters, Quadrant

__all__ = [
    "Association",
    "Battery",
    "BluetoothService",
    "BootResult",
    "DemandMeter",
    "EnergyRegisters",
    "FirmwareBuilder",
    "FirmwareImage",
    "FirmwareRefused",
    "FreezeObject",
    "Freezer",
    "Handheld",
    "HandheldCertificate",
    "Handler",
    "LinkKeys",
    "LockoutPolicy",
    "Measurement",
    "MemoryStore",
    "Meter",
    "MeterConfig",
    "MeterEvent",
    "Module",
    "NonVolatileStore",
    "Outage",
    "PairingRefused",
    "PhaseMeasurement",
    "PowerModule",
    "Quadrant",
    "Refusal",
    "RelaySwitched",
    "Role",
    "SecurityAlert",
    "Store",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "SyncPolicy",
    "TransferError",
    "UpgradeStateError",
    "Upgrader",
    "Version",
    "analyse_window",
    "estimate_frequency",
    "expose_freezes",
    "expose_power",
]
