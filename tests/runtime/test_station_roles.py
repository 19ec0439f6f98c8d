"""The station's roles in one process: which frames an ingest worker hands to the leader (real
DL/T 698.45 frames), what each role subscribes to, and the leader lock on SQLite and
PostgreSQL (a second holder is refused until the first lets go)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from wattguard.errors import ConfigError
from wattguard.network.bus import InProcessBus
from wattguard.protocol.link import Control, LinkFrame, ServerAddress
from wattguard.runtime.station_roles import LeaderLock, RoleBus, StationRole, is_answer
from wattguard.testing.services import POSTGRES_URL, require

TERMINAL = bytes.fromhex("990000000042")


def _frame(client_started: bool) -> bytes:
    control = Control(from_server=True, client_started=client_started)
    return LinkFrame(control, ServerAddress(TERMINAL), 0x10, b"\x85\x01\x01").to_bytes()


ANSWER, REPORT = _frame(True), _frame(False)


def test_an_answer_is_told_from_a_report_by_the_control_byte() -> None:
    assert is_answer(ANSWER)
    assert not is_answer(REPORT)
    assert not is_answer(b"\x68\x01")  # too short to say
    assert not is_answer(b"\xfe" + ANSWER)  # not a frame as the FEP forwards it


def _wired(role: StationRole, bus: InProcessBus) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    RoleBus(bus, role).subscribe("up.*", lambda subject, data: got.append((subject, data)))
    return got


def test_the_ingest_worker_hands_answers_to_the_leader_and_keeps_reports() -> None:
    bus = InProcessBus()
    ingest, api = _wired(StationRole.INGEST, bus), _wired(StationRole.API, bus)
    subject = f"up.{TERMINAL.hex()}"
    bus.publish(subject, REPORT)
    bus.publish(subject, ANSWER)
    assert ingest == [(subject, REPORT)]
    assert api == [(subject, ANSWER)], "the leader's link gets its answer, as if from up.*"


def test_the_api_role_takes_no_reports_and_no_fep_events() -> None:
    bus = InProcessBus()
    role_bus = RoleBus(bus, StationRole.API)
    events: list[bytes] = []
    role_bus.subscribe("events.*", lambda _s, data: events.append(data))
    api = _wired(StationRole.API, bus)
    bus.publish(f"up.{TERMINAL.hex()}", REPORT)
    bus.publish("events.fep-1", b"x")
    assert api == [] and events == []


def test_the_all_role_handles_both_itself() -> None:
    bus = InProcessBus()
    everything = _wired(StationRole.ALL, bus)
    bus.publish(f"up.{TERMINAL.hex()}", REPORT)
    bus.publish(f"up.{TERMINAL.hex()}", ANSWER)
    bus.publish(f"answers.{TERMINAL.hex()}", ANSWER)  # forwarded by an ingest worker
    assert [data for _s, data in everything] == [REPORT, ANSWER, ANSWER]


def _exclusive(database: str) -> None:
    first, second = LeaderLock(database), LeaderLock(database)
    assert first.try_acquire()
    assert not second.try_acquire(), "two leaders at once"
    first.release()
    assert second.try_acquire(), "the standby takes over once the leader lets go"
    second.release()


def test_the_leader_lock_on_sqlite(tmp_path: Path) -> None:
    _exclusive(f"sqlite:///{tmp_path / 'station.db'}")


def test_the_leader_lock_on_postgresql() -> None:
    psycopg = pytest.importorskip("psycopg", reason="the postgres extra (psycopg) is absent")
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error:
        require(False, f"no PostgreSQL at {POSTGRES_URL} (set WATTGUARD_POSTGRES_URL)")
    database = f"{POSTGRES_URL}?schema=lock_{uuid.uuid4().hex[:8]}"
    _exclusive(database)
    other = LeaderLock(f"{POSTGRES_URL}?schema=lock_{uuid.uuid4().hex[:8]}")
    assert LeaderLock(database).try_acquire() and other.try_acquire(), "one lock per schema"


def test_an_unknown_database_has_no_lock() -> None:
    with pytest.raises(ConfigError):
        LeaderLock("mysql://x").try_acquire()
