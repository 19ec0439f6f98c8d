"""wattguard.station: the master station: commands and their authorisation, storage (SQLite by
default, PostgreSQL), the SM3-chained audit trail, the security monitor, collection, ingestion
and the API.

The station itself (:class:`Station`) and the storage, audit and monitor names are exported
here; the collector and the API are imported from their modules (the API needs the optional
FastAPI).
"""

from wattguard.station.audit import Checkpoint, StationAudit
from wattguard.station.monitor import DEFAULT_RULES, Rule, SecurityMonitor
from wattguard.station.records import (
    Alert,
    AuditRow,
    InvalidRecord,
    MeterRecord,
    MeterState,
    StorageError,
    StorageUnavailable,
    StoredEvent,
)
from wattguard.station.service import Station
from wattguard.station.storage import (
    SCHEMA_VERSION,
    PostgresStorage,
    SqliteStorage,
    Storage,
    open_storage,
)

__all__ = [
    "DEFAULT_RULES",
    "SCHEMA_VERSION",
    "Alert",
    "AuditRow",
    "Checkpoint",
    "InvalidRecord",
    "MeterRecord",
    "MeterState",
    "PostgresStorage",
    "Rule",
    "SecurityMonitor",
    "SqliteStorage",
    "Station",
    "StationAudit",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "StoredEvent",
    "open_storage",
]
