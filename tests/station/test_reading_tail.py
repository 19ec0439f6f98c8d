"""The leader's tail of the readings table (station.reading_tail): every reading other
processes commit is read back once, in commit order, even when transactions commit out of the
order they began in; and a leader beside ingest workers runs its energy balance, a reading
rule and the reporting watch on what the workers stored (runtime/station_roles.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.clock import VirtualClock
from wattguard.network.bus import InProcessBus
from wattguard.runtime.station_roles import LeaderStation, StationRole, station_for
from wattguard.station.balance import CURVE_ENERGY
from wattguard.station.commands import Role, User
from wattguard.station.ingest import Reading
from wattguard.station.reading_tail import ReadingTail
from wattguard.testing.storage import PERSISTENT, Backend

T0 = 1_700_006_400  # a whole hour
SUN = User("sun", Role.SUPERVISOR)
TERMINAL, TOTAL, M1, M2 = "0000000000f1", "000000000009", "000000000001", "000000000002"


@pytest.fixture(params=PERSISTENT)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = Backend(request.param, tmp_path)
    yield made
    made.cleanup()


def _volts(meter: str, t: int, value: float) -> Reading:
    return Reading(meter, "20000201", T0 + t, value)


def _poll_until(tail: ReadingTail, count: int, seconds: float = 20.0) -> list[Reading]:
    """Poll until ``count`` readings came (or the time is up): the tail reads only below the
    oldest transaction running on the whole server, so another client's open transaction
    (another test run, a benchmark) delays it, and a test must wait rather than look once."""
    got: list[Reading] = []
    deadline = time.monotonic() + seconds
    while len(got) < count and time.monotonic() < deadline:
        page = tail.poll()
        got.extend(page)
        if not page:
            time.sleep(0.05)
    return got


def _keys(readings: list[Reading]) -> list[tuple[str, str, int, float]]:
    """``readings`` in a fixed order, each once as often as it came."""
    return sorted((r.meter, r.quantity, r.time, r.value) for r in readings)


def test_each_committed_reading_is_read_once_whoever_stored_it(backend: Backend) -> None:
    leader, worker_1, worker_2 = backend.open(), backend.open(), backend.open()
    worker_1.add_readings([_volts(M1, 0, 230.0)])  # before the tail: not replayed
    tail = ReadingTail(leader)
    assert tail.poll() == []
    worker_1.add_readings([_volts(M1, 60, 231.0), _volts(M2, 60, 232.0)])
    worker_2.add_readings([_volts(M1, 60, 231.0), _volts(M1, 120, 233.0)])  # one redelivered
    assert _keys(_poll_until(tail, 3)) == _keys(
        [_volts(M1, 60, 231.0), _volts(M2, 60, 232.0), _volts(M1, 120, 233.0)]
    )
    assert tail.poll() == [] and tail.seen == 3


def test_a_backlog_is_read_a_page_at_a_time_each_transaction_whole(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattguard.station import reading_tail

    monkeypatch.setattr(reading_tail, "PAGE", 3)
    leader, worker = backend.open(), backend.open()
    tail = ReadingTail(leader)
    batches = [
        [_volts(M1, 60 * k + i, 230.0 + i) for i in range(n)] for k, n in enumerate((2, 5, 1, 2))
    ]
    for batch in batches:
        worker.add_readings(batch)
    polls = []
    deadline = time.monotonic() + 20.0
    while sum(map(len, polls)) < 10 and time.monotonic() < deadline:
        polls.append(tail.poll())
    assert _keys([r for got in polls for r in got]) == _keys([r for b in batches for r in b])
    assert all(len(got) <= 5 for got in polls) and tail.poll() == []


def test_a_transaction_that_commits_late_is_not_skipped(postgres: Backend) -> None:
    """Two workers' transactions commit in the other order than they began: a tail that
    followed an increasing number would step over the late one's rows for good (PostgreSQL
    only: SQLite has one writer at a time, so commits cannot overtake each other there)."""
    backend = postgres
    import psycopg

    leader, worker = backend.open(), backend.open()
    worker.add_readings([_volts(M1, 0, 230.0)])  # the day's partition exists
    tail = ReadingTail(leader)
    url = backend.url.partition("?")[0]
    with psycopg.connect(url) as slow:
        slow.execute(f'SET search_path TO "{backend.schema}"')
        slow.execute(  # begins first (the older transaction), commits last
            "INSERT INTO readings (meter, quantity, time, value) VALUES (%s, %s, %s, %s)",
            (M2, "20000201", T0 + 60, 240.0),
        )
        worker.add_readings([_volts(M1, 60, 231.0)])  # a younger transaction, committed
        assert tail.poll() == [], "nothing is read past a transaction still running"
        slow.commit()
    with psycopg.connect(url) as aborted:  # a rolled-back transaction leaves nothing to read
        aborted.execute(f'SET search_path TO "{backend.schema}"')
        aborted.execute(
            "INSERT INTO readings (meter, quantity, time, value) VALUES (%s, %s, %s, %s)",
            (M2, "20000201", T0 + 120, 1.0),
        )
        aborted.rollback()
    worker.add_readings([_volts(M1, 180, 232.0)])
    assert _keys(_poll_until(tail, 3)) == _keys(
        [_volts(M2, 60, 240.0), _volts(M1, 60, 231.0), _volts(M1, 180, 232.0)]
    )


def test_the_leader_checks_what_the_ingest_workers_stored(backend: Backend) -> None:
    clock = VirtualClock(float(T0 + 3700))
    leader = station_for(StationRole.API, backend.open(), InProcessBus(), clock, tail=True)
    assert isinstance(leader, LeaderStation)
    leader.users.ensure({"sun-token-123456": SUN})
    for meter in (M1, M2):
        leader.register_meter(bytes.fromhex(meter), bytes.fromhex(TERMINAL))
    leader.register_total_meter(bytes.fromhex(TOTAL), bytes.fromhex(TERMINAL))
    rule = leader.rules.create(
        SUN, "volts", {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 60}},
        {"alert": {"severity": "warning", "message": "over-voltage"}},
    )  # fmt: skip
    tail = ReadingTail(leader.storage)
    workers = [backend.open(), backend.open()]
    # the district: 10 kWh supplied in the hour, 6 billed: 40 % unaccounted
    curve = [(TOTAL, 100.0, 110.0), (M1, 50.0, 53.0), (M2, 20.0, 23.0)]
    workers[0].add_readings([Reading(m, CURVE_ENERGY, T0, a) for m, a, _ in curve])
    workers[1].add_readings([Reading(m, CURVE_ENERGY, T0 + 3600, b) for m, _, b in curve])
    workers[0].add_readings([_volts(M1, 3600, 255.0)])
    workers[1].add_readings([_volts(M1, 3660, 256.0)])
    assert leader.balance is not None and leader.balance.results == []
    assert leader.watch.last == {}, "the leader stored nothing itself"
    leader.observe(_poll_until(tail, 8))
    [balance] = leader.balance.results
    assert (balance.supplied, balance.billed) == (10.0, 6.0)
    assert set(leader.watch.last) == {TOTAL, M1, M2}
    clock.advance(70)
    leader.tick()
    [firing] = leader.storage.firings(rule.id)
    assert firing.meters == (M1,)
    assert leader.tailed == 8
