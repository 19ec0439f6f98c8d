"""The leader lock when the leader's PostgreSQL session ends under it (its connection dropped
or terminated): the leader takes the lock again when it is free, steps down when a standby
took it, and the standby leads only after a grace longer than the leader needs to notice, so
two leaders never run at once (runtime/station_roles.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from wattguard.errors import ConfigError
from wattguard.runtime.station_roles import (
    LeaderLock,
    keep_leading,
    lead,
    serve_while_leading,
)
from wattguard.testing.services import POSTGRES_URL, require


@pytest.fixture
def database() -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is absent")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error:
        require(False, f"no PostgreSQL at {POSTGRES_URL} (set WATTGUARD_POSTGRES_URL)")
    yield f"{POSTGRES_URL}?schema=leader_{uuid.uuid4().hex[:8]}"


def _cut(lock: LeaderLock) -> None:
    """End ``lock``'s session from another connection, as an administrator would."""
    import psycopg

    pid = lock._held.info.backend_pid
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_leader_whose_session_ended_takes_the_free_lock_again(database: str) -> None:
    async def scenario() -> bool:
        lock = LeaderLock(database)
        assert lock.try_acquire() and lock.holds()
        watch = asyncio.create_task(keep_leading(lock, every=0.1))
        _cut(lock)
        await asyncio.sleep(0.6)
        still = not watch.done() and lock.holds()
        watch.cancel()
        lock.release()
        return still

    assert asyncio.run(scenario()), "the leader took its lock again and goes on leading"


def test_a_leader_steps_down_before_the_standby_leads(database: str) -> None:
    order: list[str] = []

    async def serving() -> None:
        await asyncio.sleep(3600)

    async def old_leader(lock: LeaderLock) -> None:
        try:
            await serve_while_leading(serving(), lock)
        except ConfigError as exc:
            assert "stepped down" in str(exc)
            order.append("old leader stepped down")

    async def standby() -> None:
        lock = await lead(database, grace=2.5)  # the old leader checks every second
        order.append("standby leads")
        lock.release()

    async def scenario() -> None:
        lock = LeaderLock(database)
        assert lock.try_acquire()
        stepping = asyncio.create_task(old_leader(lock))
        await asyncio.sleep(0.5)
        _cut(lock)
        # a standby (or a process starting now) takes the lock before the leader notices
        waiting = asyncio.create_task(standby())
        await asyncio.wait_for(asyncio.gather(stepping, waiting), 10)
        lock.release()

    asyncio.run(scenario())
    assert order == ["old leader stepped down", "standby leads"], "never two leaders"
