"""One database per test, on each backend: SQLite in memory, a SQLite file, and a fresh schema
on the PostgreSQL server (``WATTGUARD_POSTGRES_URL``, default the local test database),
dropped afterwards so that runs never collide.

For tests only: this module imports pytest (through :mod:`wattguard.testing.services`).
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from wattguard.errors import ConfigError
from wattguard.station.storage import PostgresStorage, SqliteStorage, open_storage
from wattguard.testing.services import POSTGRES_URL, require

__all__ = ["BACKENDS", "PERSISTENT", "Backend", "Store", "postgres_unreachable", "undo_after"]

BACKENDS = ["sqlite-memory", "sqlite-file", "postgresql"]
PERSISTENT = ["sqlite-file", "postgresql"]  # those a second process or a reopen can reach

Store = SqliteStorage | PostgresStorage


def postgres_unreachable() -> str | None:
    """Why the test PostgreSQL server cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'wattguard[postgres]')"
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); set WATTGUARD_POSTGRES_URL"
    return None


class Backend:
    """Opens storages on one database; :meth:`cleanup` closes them and drops the database."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.opened: list[Store] = []
        self.schema = f"t_{uuid.uuid4().hex[:16]}"
        if name == "postgresql":
            problem = postgres_unreachable()
            require(problem is None, problem or "")
            separator = "&" if "?" in POSTGRES_URL else "?"
            self.url = f"{POSTGRES_URL}{separator}schema={self.schema}"
        elif name == "sqlite-file":
            self.url = f"sqlite:///{tmp_path / 'station.db'}"
        else:
            self.url = "sqlite://"

    @property
    def persistent(self) -> bool:
        """Whether a second storage (or a reopen) reaches the same database."""
        return self.name != "sqlite-memory"

    def open(self) -> Store:
        """A storage on this backend's database (in memory: always the same one)."""
        if not self.persistent and self.opened:
            return self.opened[0]
        store = open_storage(self.url)
        self.opened.append(store)
        return store

    def raw(self, store: Store, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run SQL behind the storage's back, as someone with access to the database would."""
        if isinstance(store, PostgresStorage):
            with store._db.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []
        return list(store._db.execute(sql, params).fetchall())

    def refuse_value(self, store: Store, value: float = 666.5) -> None:
        """From now on, an insert of a reading of ``value`` fails (a trigger), as a full disk
        or a lost server would make a commit fail: the batch holding it is refused whole."""
        if isinstance(store, PostgresStorage):
            self.raw(
                store,
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN IF NEW.value = {float(value)!r} THEN RAISE EXCEPTION 'refused'; "
                "END IF; RETURN NEW; END $$",
            )
            self.raw(
                store,
                "CREATE TRIGGER refuse BEFORE INSERT ON readings "
                "FOR EACH ROW EXECUTE FUNCTION refuse()",
            )
        else:
            self.raw(
                store,
                f"CREATE TRIGGER refuse BEFORE INSERT ON readings WHEN NEW.value = "
                f"{float(value)!r} BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )

    def cleanup(self) -> None:
        """Close every storage opened here; drop the PostgreSQL schema."""
        for store in self.opened:
            with contextlib.suppress(Exception):
                store.close()
        if self.name == "postgresql":
            import psycopg

            try:
                with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3) as db:
                    db.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
            except psycopg.Error as exc:  # leave a note, never hide the test's own result
                raise ConfigError(f"could not drop test schema {self.schema}: {exc}") from exc


def undo_after(version: int) -> list[str]:
    """The statements that take a database of the current schema back to ``version`` (then
    delete the later ``schema_version`` rows): the later migrations' indexes dropped, the
    columns they added to older tables dropped, and the tables they created dropped, latest
    first, so that the later migrations run again on the next open. On both backends."""
    from wattguard.station._schema import MIGRATIONS

    undo: list[str] = []
    for migration in sorted(MIGRATIONS, key=lambda m: -m.version):
        if migration.version <= version:
            break
        for statement in reversed(migration.statements):
            words = statement.replace("IF NOT EXISTS ", "").split()
            if words[:2] == ["CREATE", "TABLE"]:
                undo.append(f"DROP TABLE IF EXISTS {words[2]}")
            elif words[:2] in (["CREATE", "INDEX"], ["CREATE", "UNIQUE"]):
                undo.append(f"DROP INDEX IF EXISTS {words[3 if words[1] == 'UNIQUE' else 2]}")
            elif words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"]:
                undo.append(f"ALTER TABLE {words[2]} DROP COLUMN {words[5]}")
    return undo
