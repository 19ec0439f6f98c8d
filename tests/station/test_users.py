"""The station's API users: tokens stored only as digests, reissued, disabled, audited; on
SQLite and PostgreSQL; through the API and the `wattguard users` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wattguard.cli import main
from wattguard.clock import VirtualClock
from wattguard.errors import ConfigError
from wattguard.events import EventKind
from wattguard.network.bus import InProcessBus
from wattguard.station import Station
from wattguard.station.api import create_app
from wattguard.station.audit import StationAudit
from wattguard.station.commands import Role, User
from wattguard.station.storage import open_storage
from wattguard.station.users import UserDirectory, new_token, token_digest
from wattguard.testing.storage import PERSISTENT, Backend, Store


def directory(store: Store, clock: VirtualClock) -> UserDirectory:
    return UserDirectory(store, clock.time, audit=StationAudit(store, clock.time))


def test_a_token_works_for_its_user_and_is_never_stored(backend: Backend) -> None:
    store = backend.open()
    users = directory(store, VirtualClock(1000.0))
    token = new_token()
    assert len(token) == 32 and token != new_token()
    assert users.add("otto", "operator", token) == User("otto", Role.OPERATOR)
    assert users.get(token) == User("otto", Role.OPERATOR)
    assert users.get(token + "x") is None and users.get("") is None
    # what someone with the database holds: the digest, never the token
    rows = backend.raw(store, "SELECT * FROM users")
    assert rows and not any(token in str(value) for row in rows for value in row)
    assert store.user("otto") is not None
    assert store.user("otto").token_digest == token_digest(token)  # type: ignore[union-attr]


def test_reissue_ends_the_old_token_and_disable_ends_access(backend: Backend) -> None:
    store = backend.open()
    clock = VirtualClock(1000.0)
    users = directory(store, clock)
    old, new = new_token(), new_token()
    users.add("sun", Role.SUPERVISOR, old)
    users.reissue("sun", new)
    assert users.get(old) is None
    assert users.get(new) == User("sun", Role.SUPERVISOR)
    clock.advance(60)
    users.disable("sun")
    assert users.get(new) is None
    (record,) = users.list()
    assert (record.name, record.role, record.disabled) == ("sun", "SUPERVISOR", 1060.0)
    users.reissue("sun", new_token())  # a new token re-enables
    assert users.list()[0].disabled is None
    audit = StationAudit(store, clock.time)
    assert [row.action for row in store.audit()] == [
        "user added", "user token reissued", "user disabled", "user token reissued",
    ]  # fmt: skip
    assert audit.verify() is None


@pytest.mark.parametrize(
    ("name", "role", "token", "reason"),
    [
        ("Otto", "operator", "t" * 32, "a user name is"),
        ("otto; drop", "operator", "t" * 32, "a user name is"),
        ("otto", "admin", "t" * 32, "unknown role 'admin'"),
        ("otto", "operator", "short", "at least 12"),
        ("otto", "operator", "has a space in it", "without spaces"),
    ],
)
def test_bad_users_are_refused_with_the_reason(
    name: str, role: str, token: str, reason: str
) -> None:
    users = directory(Backend("sqlite-memory", Path()).open(), VirtualClock(0.0))
    with pytest.raises(ConfigError, match=reason):
        users.add(name, role, token)
    assert users.list() == []


def test_names_and_tokens_are_not_shared() -> None:
    users = directory(Backend("sqlite-memory", Path()).open(), VirtualClock(0.0))
    token = new_token()
    users.add("otto", "operator", token)
    with pytest.raises(ConfigError, match="exists"):
        users.add("otto", "viewer", new_token())
    with pytest.raises(ConfigError, match="already some user's"):
        users.add("vera", "viewer", token)
    with pytest.raises(ConfigError, match="no user 'nobody'"):
        users.disable("nobody")
    assert [u.name for u in users.list()] == ["otto"]


@pytest.mark.parametrize("persistent", PERSISTENT)
def test_users_outlive_the_station(persistent: str, tmp_path: Path) -> None:
    backend = Backend(persistent, tmp_path)
    try:
        token = new_token()
        clock = VirtualClock(0.0)
        Station(backend.open(), InProcessBus(), clock).users.add("otto", "operator", token)
        again = Station(backend.open(), InProcessBus(), clock)
        assert again.users.get(token) == User("otto", Role.OPERATOR)
    finally:
        backend.cleanup()


def test_the_api_answers_to_the_directory_and_says_whose_a_token_is() -> None:
    station = Station(Backend("sqlite-memory", Path()).open(), InProcessBus(), VirtualClock(0.0))
    token = new_token()
    station.users.add("otto", "operator", token)
    api = TestClient(create_app(station))
    me = api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json() == {"name": "otto", "role": "operator"}
    station.users.disable("otto")
    refused = api.get("/api/whoami", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    events = station.storage.events(kind=EventKind.AUTHENTICATION)
    assert events and token not in events[0].detail


def test_the_users_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = f"sqlite:///{tmp_path / 'station.db'}"
    assert main(["users", "list", "--database", database]) == 2  # no database is made by asking
    assert "no station database" in capsys.readouterr().err
    open_storage(database).close()  # an empty station database
    assert main(["users", "list", "--database", database]) == 0
    assert "no users" in capsys.readouterr().out
    assert main(["users", "add", "otto", "--role", "operator", "--database", database]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert main(["users", "add", "otto", "--role", "viewer", "--database", database]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["users", "add", "vera", "--database", database]) == 2
    assert "needs --role" in capsys.readouterr().err
    assert main(["users", "token", "otto", "--database", database]) == 0
    reissued = capsys.readouterr().out.splitlines()[-1]
    assert main(["users", "disable", "otto", "--database", database]) == 0
    assert main(["users", "list", "--database", database]) == 0
    listing = capsys.readouterr().out
    assert "otto" in listing and "operator" in listing and "disabled" in listing
    assert token not in listing and reissued not in listing and token != reissued
    store = Backend("sqlite-file", tmp_path).open()
    assert UserDirectory(store, lambda: 0.0).get(reissued) is None  # disabled
    assert store.user("otto").token_digest == token_digest(reissued)  # type: ignore[union-attr]


def test_the_users_command_refuses_an_unknown_action() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "users", "promote", "otto"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 2 and "invalid choice" in result.stderr
