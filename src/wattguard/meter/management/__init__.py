"""The management module: the meter's brain and security core. The DL/T 698.45 server with
its object model and security policy, the ESAM objects, the event log, the relay, the power
module and clock battery, crash-safe storage, freezes, the display, and signed upgrades."""

from wattguard.meter.management.firmware import (
    FirmwareBuilder,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Refusal,
    Version,
)
from wattguard.meter.management.freeze import (
    FreezeAssociation,
    FreezeObject,
    Freezer,
    expose_freezes,
)
from wattguard.meter.management.host_events import MeterEvent, RelaySwitched, SecurityAlert
from wattguard.meter.management.module import LinkKeys, ManagementModule, Wallet
from wattguard.meter.management.power import Battery, Outage, PowerModule, expose_power
from wattguard.meter.management.relay import Relay, RelayCommand, RelayState
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

__all__ = [
    "Battery",
    "BootResult",
    "FirmwareBuilder",
    "FirmwareImage",
    "FirmwareRefused",
    "FreezeAssociation",
    "FreezeObject",
    "Freezer",
    "LinkKeys",
    "ManagementModule",
    "MemoryStore",
    "MeterEvent",
    "Module",
    "NonVolatileStore",
    "Outage",
    "PowerModule",
    "Refusal",
    "Relay",
    "RelayCommand",
    "RelayState",
    "RelaySwitched",
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
    "Wallet",
    "expose_freezes",
    "expose_power",
]
