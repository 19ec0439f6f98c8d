"""bench/chain.py at a tiny size: 50 meters for a simulated hour through terminals, FEP,
JetStream, two ingest workers and PostgreSQL; the database holds exactly what the meters
served, and a reading lost on the way is caught."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from wattguard.testing.services import NATS_SERVER, POSTGRES_URL, require

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _chain() -> ModuleType:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    try:
        import psycopg

        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except Exception as exc:
        require(False, f"no PostgreSQL at {POSTGRES_URL}: {exc}")
    return bench_module("chain_bench", "chain.py")


def bench_module(name: str, file: str) -> ModuleType:
    """A script of bench/ loaded as module ``name`` (bench/ on the path for its imports)."""
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_reading_served_is_stored_once_and_a_lost_one_is_caught() -> None:
    chain = _chain()
    good = chain.run_chain(50, 1.0, per_terminal=25, quiet=True)
    assert good.readings > 50 * 11 * 3
    assert good.mismatches == []
    assert chain.report([good], full=False) == 0
    lossy = chain.run_chain(50, 1.0, per_terminal=25, drop_item=7, quiet=True)
    assert any(m.startswith("meter 000001") for m in lossy.mismatches)
    assert any(m.startswith("checksum") for m in lossy.mismatches)
    assert chain.report([lossy], full=False) == 1


def test_two_fleet_processes_go_in_step_and_store_every_reading_once() -> None:
    """With the terminals shared by two fleet processes on one calendar, the database still
    holds exactly what the meters of both served (their ledgers merged), and a reading lost
    by the first fleet's first terminal is caught."""
    chain = _chain()
    two = chain.run_chain(50, 1.0, per_terminal=25, fleets=2, quiet=True)
    assert two.readings > 50 * 11 * 3
    assert two.mismatches == []
    assert set(two.cpu) >= {"fleet", "fep", "worker-1"}  # both fleets counted as the fleet
    lossy = chain.run_chain(50, 1.0, per_terminal=25, fleets=2, drop_item=7, quiet=True)
    assert any(m.startswith("meter 000001") for m in lossy.mismatches)


def test_the_calendar_is_the_earliest_fleet_not_done(tmp_path: Path) -> None:
    roles = bench_module("chain_roles_calendar", "chain_roles.py")
    path = tmp_path / "clock"
    roles.SharedCalendar.create(path, 100.0, 2)
    first, second = roles.SharedCalendar(path, slot=0), roles.SharedCalendar(path, slot=1)
    reader = roles.SharedCalendar(path)
    first.set(130.0)
    assert reader.time() == 100.0  # the second has not proposed 130 yet
    second.set(160.0)
    assert reader.time() == 130.0
    first.done(130.0)
    assert reader.time() == 160.0 == roles.calendar_time(path)  # done: holds no one back
    second.done(190.0)
    assert reader.time() == 190.0  # all done: the latest
    one = tmp_path / "one"
    one.write_bytes(roles.struct.pack("<d", 42.0))  # a single fleet's calendar, as before
    assert roles.SharedCalendar(one).time() == 42.0
