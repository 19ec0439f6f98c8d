"""The station's storage errors sit in the one tree (public names: tests/test_public_names.py)."""

from __future__ import annotations

import wattguard.station as station
from wattguard.errors import ConfigError, WattguardError


def test_storage_errors_are_wattguard_errors() -> None:
    assert issubclass(station.StorageError, WattguardError)
    assert issubclass(station.InvalidRecord, station.StorageError)
    assert issubclass(station.InvalidRecord, ValueError)
    assert issubclass(station.StorageUnavailable, station.StorageError)
    assert not issubclass(station.StorageError, ConfigError)
