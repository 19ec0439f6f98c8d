"""Fixtures of the runtime's tests that start services: a JetStream-enabled nats-server of the
test's own, a stream prefix on the shared NATS server whose streams are deleted afterwards, and
a PostgreSQL schema dropped afterwards."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.testing.services import (
    NATS_URL,
    POSTGRES_URL,
    free_port,
    nats_reachable,
    nats_server,
    require,
)


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


@pytest.fixture
def prefix() -> Iterator[str]:
    """A prefix of this test's own for the JetStream streams on the NATS server at NATS_URL;
    the streams under it are deleted after the test."""
    pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")
    require(nats_reachable(), f"no NATS server at {NATS_URL} (set WATTGUARD_NATS_URL)")
    made = f"t{uuid.uuid4().hex[:12]}"
    yield made
    asyncio.run(_delete_streams(made))


async def _delete_streams(prefix: str) -> None:
    import nats

    connection = await nats.connect(NATS_URL)
    js = connection.jetstream()
    for info in await js.streams_info():
        if info.config.name.startswith(prefix + "_"):
            await js.delete_stream(info.config.name)
    await connection.close()
