"""The station package's public names do not drift."""

from __future__ import annotations

import wattguard.station as station
from wattguard.errors import ConfigError, WattguardError


def test_exported_members_do_not_drift() -> None:
    assert sorted(station.__all__) == [
        "Alert",
        "AuditRow",
        "Checkpoint",
        "DEFAULT_RULES",
        "InvalidRecord",
        "MeterRecord",
        "MeterState",
        "PostgresStorage",
        "Rule",
        "SCHEMA_VERSION",
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
    for name in station.__all__:
        assert hasattr(station, name), f"wattguard.station.{name} is exported but missing"


def test_storage_errors_are_wattguard_errors() -> None:
    assert issubclass(station.StorageError, WattguardError)
    assert issubclass(station.InvalidRecord, station.StorageError)
    assert issubclass(station.InvalidRecord, ValueError)
    assert issubclass(station.StorageUnavailable, station.StorageError)
    assert not issubclass(station.StorageError, ConfigError)
