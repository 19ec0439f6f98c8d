"""The station's SQLite database and its -wal and -shm files are 0600 from creation whatever
the umask; an older 0644 database is tightened, a group-writable one refused (issue #13
item 5)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wattguard.secretfile import UnprotectedSecretError
from wattguard.station.ingest import Reading
from wattguard.station.storage import open_storage
from wattguard.testing import ADDRESS, T0
from wattguard.testing.files import umask, watch_modes


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def write_one(url: str) -> None:
    storage = open_storage(url)
    try:
        storage.add_readings([Reading(ADDRESS.hex(), "00100200", int(T0), 1.5)])
        assert storage.count_readings() == 1
    finally:
        storage.close()


def test_the_database_and_its_wal_and_shm_are_0600_under_umask_0(tmp_path: Path) -> None:
    with umask(0), watch_modes(tmp_path) as watch:
        storage = open_storage(f"sqlite:///{tmp_path / 'station.db'}")
        storage.add_readings([Reading(ADDRESS.hex(), "00100200", int(T0), 1.5)])
        seen = modes(tmp_path)
        storage.close()
    assert {"station.db", "station.db-wal", "station.db-shm"} <= seen.keys()
    assert set(seen.values()) == {0o600}
    assert watch.loose() == []


def test_an_older_readable_database_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    write_one(f"sqlite:///{path}")
    for name in ("station.db", "station.db-wal", "station.db-shm"):
        if (tmp_path / name).exists():
            (tmp_path / name).chmod(0o644)
    write_one(f"sqlite:///{path}")
    assert set(modes(tmp_path).values()) == {0o600}


def test_a_database_others_can_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    write_one(f"sqlite:///{path}")
    path.chmod(0o666)
    with pytest.raises(UnprotectedSecretError, match="chmod 600"):
        open_storage(f"sqlite:///{path}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666  # refused, not silently changed
