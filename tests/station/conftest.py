"""Fixtures of the station's tests: a fresh database on each storage backend
(:mod:`wattguard.testing.storage`), dropped after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.testing.storage import BACKENDS, PERSISTENT, Backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A database on each backend: SQLite in memory and in a file, and PostgreSQL."""
    made = Backend(request.param, tmp_path)
    yield made
    made.cleanup()


@pytest.fixture(params=PERSISTENT)
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A database a second storage (or a reopen) reaches: a SQLite file, and PostgreSQL."""
    made = Backend(request.param, tmp_path)
    yield made
    made.cleanup()


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Backend]:
    """A database on PostgreSQL only (what SQLite cannot show: partitions, concurrent writers)."""
    made = Backend("postgresql", tmp_path)
    yield made
    made.cleanup()
