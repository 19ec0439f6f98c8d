"""wattguard.meter: the smart meter's three modules (metering, management, expansion), their
links, storage, freezes, power and battery, signed upgrades, the Bluetooth service, and the
assembled meter. Sans-IO: driven with samples and ``now``."""

from wattguard.meter.access import Role
from wattguard.meter.bluetooth import BluetoothService, Handler
from wattguard.meter.certificate import HandheldCertificate
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.firmware import (
    FirmwareBuilder,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Refusal,
    Version,
)
from wattguard.meter.fleet import MeterFleet
from wattguard.meter.freeze import Association, FreezeObject, Freezer, expose_freezes
from wattguard.meter.handheld import Handheld, PairingRefused
from wattguard.meter.lockout import LockoutPolicy
from wattguard.meter.metering import Measurement
from wattguard.meter.metrology import PhaseMeasurement, analyse_window, estimate_frequency
from wattguard.meter.power import Battery, Outage, PowerModule, expose_power
from wattguard.meter.profile import DEFAULT_MIX, LoadClass, LoadModel
from wattguard.meter.profile_fleet import BlockLoad, ProfileFleet
from wattguard.meter.registers import DemandMeter, EnergyRegisters, Quadrant
from wattguard.meter.storage import (
    MemoryStore,
    NonVolatileStore,
    Store,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    SyncPolicy,
)
from wattguard.meter.upgrade import BootResult, TransferError, Upgrader, UpgradeStateError

__all__ = [
    "DEFAULT_MIX",
    "Association",
    "Battery",
    "BlockLoad",
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
    "LoadClass",
    "LoadModel",
    "LockoutPolicy",
    "Measurement",
    "MemoryStore",
    "Meter",
    "MeterConfig",
    "MeterFleet",
    "Module",
    "NonVolatileStore",
    "Outage",
    "PairingRefused",
    "PhaseMeasurement",
    "PowerModule",
    "ProfileFleet",
    "Quadrant",
    "Refusal",
    "Role",
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
