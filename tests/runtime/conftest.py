"""Fixtures of the runtime's tests that start services: a JetStream-enabled nats-server of the
test's own, and a PostgreSQL schema dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.testing.services import POSTGRES_URL, free_port, nats_server, require


@pytest.fixture
def jetstream_server(tmp_path: Path) -> Iterator[str]:
    """The URL of a nats-server with JetStream, storing in the test's folder."""
    pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")
    port = free_port()
    arguments = ["-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")]
    with nats_server(arguments, port) as url:
        yield url


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema's name on the PostgreSQL server (WATTGUARD_POSTGRES_URL), dropped after."""
    pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is absent")
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error:
        require(False, f"no PostgreSQL at {POSTGRES_URL} (set WATTGUARD_POSTGRES_URL)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
