"""The station's meter listing in pages (keyset on the address, a prefix search) and the latest
reading of just the listed meters, on SQLite (memory and file) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from wattguard.station.ingest import Reading
from wattguard.station.storage import MAX_PAGE, InvalidRecord, SqliteStorage
from wattguard.testing.storage import BACKENDS, Backend, Store

ENERGY = "00100201"
TERMINALS = ("990000000001", "990000000002")
#: 250 meters over two terminals: decimal addresses in two ranges, and a few with hex digits
#: (which sort after the decimal ones with the same stem).
ADDRESSES = sorted(
    [f"0000010{k:05d}" for k in range(200)]
    + [f"0000020{k:05d}" for k in range(40)]
    + ["00000100009a", "0000010000a0", "0000010000ff", "00000f000001", "fffffffffff0"]
    + ["ffffffffffff", "000000000009", "0000000000f9", "09ffffffffff", "0a0000000000"]
)


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = Backend(request.param, tmp_path)
    yield backend.open()
    backend.cleanup()


@pytest.fixture
def fleet(storage: Store) -> Store:
    # registered out of order, some in upper case: the listing is by normalised address
    for k, address in enumerate(reversed(ADDRESSES)):
        spelt = address.upper() if k % 3 == 0 else address
        storage.register_meter(spelt, TERMINALS[k % 2], float(k))
    return storage


def every_page(storage: Store, prefix: str = "", limit: int = 100) -> list[list[tuple[str, str]]]:
    pages, after = [], None
    while True:
        page = storage.meters_page(prefix, after, limit)
        if not page:
            return pages
        assert after is None or page[0][0] > after, "the cursor did not move on"
        pages.append(page)
        after = page[-1][0]


def test_pages_follow_each_other_in_address_order(fleet: Store) -> None:
    assert len(ADDRESSES) == 250 == len(set(ADDRESSES))
    pages = every_page(fleet)
    assert [len(page) for page in pages] == [100, 100, 50]
    listed = [meter for page in pages for meter in page]
    assert listed == fleet.meters()
    assert [address for address, _ in listed] == ADDRESSES
    assert fleet.meters_page() == pages[0]  # a page of 100 from the start by default
    assert fleet.count_meters() == 250
    # the meters up to a page's cursor are the meters before the next page
    assert fleet.count_meters(upto=pages[0][-1][0]) == 100
    assert fleet.count_meters(upto=pages[1][-1][0]) == 200
    assert fleet.count_meters(upto="000000000000") == 0
    # one meter a page, and the largest page
    assert [m for page in every_page(fleet, limit=1) for m in page] == listed
    assert fleet.meters_page(limit=MAX_PAGE) == listed


def test_a_cursor_need_not_be_registered_and_past_the_end_gives_nothing(fleet: Store) -> None:
    after = fleet.meters_page(after="000001000150", limit=3)
    assert [a for a, _ in after] == ["000001000151", "000001000152", "000001000153"]
    between = fleet.meters_page(after="00000100015A", limit=2)
    assert [a for a, _ in between] == ["000001000160", "000001000161"]  # upper case is fine
    assert fleet.meters_page(after="ffffffffffff") == []
    assert fleet.meters_page("00000102", after="000001020039") == []
    assert fleet.meters_page("00000102", after="ffffffffffff") == []
    assert fleet.meters_page(after="000000000000", limit=1) == [("000000000009", TERMINALS[1])]
    # a meter registered behind the cursor shifts no later page
    first = fleet.meters_page(limit=5)
    fleet.register_meter("000000000001", TERMINALS[0], 300.0)
    assert fleet.meters_page(after=first[-1][0], limit=5) == fleet.meters()[6:11]


PREFIXES = [
    "", "0", "00000", "000001", "0000010", "00000100", "000001000", "0000010000",
    "00000100009", "000001000099", "0000010000a", "0000010000A", "0000010000f", "0000010000ff",
    "000001001", "0000010001", "000001000199", "0000020", "00000200003", "000003", "00000f",
    "09", "09f", "0a", "f", "fffffffffff", "ffffffffffff", "fffffffffffe", "1", "9",
]  # fmt: skip


def test_a_prefix_finds_the_addresses_that_start_with_it(fleet: Store) -> None:
    for prefix in PREFIXES:
        expected = [(a, t) for a, t in fleet.meters() if a.startswith(prefix.lower())]
        pages = every_page(fleet, prefix, limit=7)
        assert [m for page in pages for m in page] == expected, prefix
        assert fleet.count_meters(prefix) == len(expected), prefix
        if len(expected) > 7:
            assert fleet.count_meters(prefix, upto=pages[0][-1][0]) == 7, prefix
    assert fleet.count_meters("0000010000") == 100 + 3  # 000001000000-99, 9a, a0, ff
    assert fleet.count_meters("000003") == 0 and fleet.meters_page("000003") == []


BAD_PAGES: list[dict[str, Any]] = [
    {"limit": 0},
    {"limit": -1},
    {"limit": MAX_PAGE + 1},
    {"limit": True},
    {"limit": 1.5},
    {"limit": "10"},
    {"limit": None},
    {"prefix": "12x"},
    {"prefix": "0000000000001"},  # 13 digits
    {"prefix": "%"},
    {"prefix": "0_"},
    {"prefix": " 1"},
    {"prefix": "1' OR '1'='1"},
    {"prefix": None},
    {"prefix": 1},
    {"after": "12"},
    {"after": "00000100000g"},
    {"after": "0000010000001"},
    {"after": "' OR 1=1 --'"},
    {"after": 1},
    {"after": ""},
]


@pytest.mark.parametrize("bad", BAD_PAGES, ids=[str(b) for b in BAD_PAGES])
def test_a_bad_page_request_is_refused_with_the_reason(storage: Store, bad: dict[str, Any]) -> None:
    for address in ADDRESSES[:3]:
        storage.register_meter(address, TERMINALS[0], 1.0)
    name, value = next(iter(bad.items()))
    with pytest.raises(InvalidRecord) as refused:
        storage.meters_page(**bad)
    assert {"limit": "page size", "prefix": "search", "after": "cursor"}[name] in str(refused.value)
    if name == "prefix":
        with pytest.raises(InvalidRecord, match="search"):
            storage.count_meters(value)
    elif name == "after":
        with pytest.raises(InvalidRecord, match="cursor"):
            storage.count_meters(upto=value)
    assert storage.meters() == [(a, TERMINALS[0]) for a in ADDRESSES[:3]]  # nothing happened


def readings(storage: Store) -> None:
    batch = [
        Reading(ADDRESSES[0], ENERGY, 10, 1.0),
        Reading(ADDRESSES[0], ENERGY, 20, 2.0),
        Reading(ADDRESSES[1], ENERGY, 5, 7.0),
        Reading(ADDRESSES[1], "20000201", 50, 220.0),
        Reading(ADDRESSES[2], "20000201", 50, 221.0),  # no energy reading
        Reading(ADDRESSES[-1], ENERGY, 30, 3.5),
        Reading("123456789012", ENERGY, 40, 4.0),  # readings of a meter not registered
    ]
    batch += [Reading(ADDRESSES[3], ENERGY, t, t / 10) for t in range(0, 1000, 15)]
    storage.add_readings(batch)


def test_the_latest_reading_of_just_the_listed_meters(fleet: Store) -> None:
    readings(fleet)
    everyone = {r.meter: r for r in fleet.latest(ENERGY)}
    assert len(everyone) == 5
    page = [a for a, _ in fleet.meters_page(limit=4)]
    got = fleet.latest(ENERGY, meters=page)
    assert got == [everyone[a] for a in page if a in everyone]
    assert [(r.meter, r.time, r.value) for r in got] == [
        (ADDRESSES[0], 20, 2.0),
        (ADDRESSES[1], 5, 7.0),
        (ADDRESSES[3], 990, 99.0),
    ]
    # any order, repeats, upper case, an unknown meter: by meter, once each
    listed = [ADDRESSES[3], ADDRESSES[0].upper(), ADDRESSES[0], "000000000000", "123456789012"]
    assert fleet.latest(ENERGY, listed) == [
        everyone[ADDRESSES[0]], everyone[ADDRESSES[3]], everyone["123456789012"],
    ]  # fmt: skip
    assert fleet.latest("20000201", meters=page) == [
        Reading(ADDRESSES[1], "20000201", 50, 220.0),
        Reading(ADDRESSES[2], "20000201", 50, 221.0),
    ]
    assert fleet.latest(ENERGY, meters=[]) == []
    assert fleet.latest(ENERGY, meters=iter(page[:1])) == [everyone[ADDRESSES[0]]]


def test_a_list_longer_than_one_query_takes_several(fleet: Store) -> None:
    many = [f"7{k:011x}" for k in range(2 * MAX_PAGE + 500)]
    fleet.add_readings(Reading(meter, ENERGY, 60, k / 4) for k, meter in enumerate(many))
    readings(fleet)
    everyone = fleet.latest(ENERGY)
    assert len(everyone) == len(many) + 5
    assert fleet.latest(ENERGY, [*many, *ADDRESSES, "123456789012"]) == everyone
    tail = many[MAX_PAGE - 3 :]
    assert fleet.latest(ENERGY, tail) == [r for r in everyone if r.meter in tail]


@pytest.mark.parametrize(
    "meters",
    [ADDRESSES[0], [ADDRESSES[0], "12"], ["00000100000g"], [None], [b"000001000000"]],
    ids=["one string", "short", "not hex", "None", "bytes"],
)
def test_a_bad_list_of_meters_is_refused(fleet: Store, meters: Any) -> None:
    with pytest.raises(InvalidRecord):
        fleet.latest(ENERGY, meters)
    with pytest.raises(InvalidRecord, match="quantity"):
        fleet.latest("0010", [ADDRESSES[0]])


class Recorded(SqliteStorage):
    """A SQLite storage that keeps the statements it reads with (and runs them)."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        self.statements.append((sql, tuple(params)))
        return super()._query(sql, params)


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.meters_page("000001", after="000001000010", limit=5),
        lambda s: s.meters_page(after="000001000010"),
        lambda s: s.meters_page("00000100001"),
        lambda s: s.count_meters("000001", upto="000001000010"),
        lambda s: s.count_meters("00000200003"),
        lambda s: s.latest(ENERGY, ADDRESSES[:5]),
    ],
    ids=["page", "after", "prefix", "count", "count prefix", "latest"],
)
def test_a_page_is_a_range_of_the_primary_key(call: Callable[[Store], object]) -> None:
    """SQLite's plans: a page and a count search the address index, the latest readings of
    listed meters seek the readings' key; none reads a whole table."""
    storage = Recorded()
    call(storage)
    ((sql, params),) = storage.statements
    plan = [row[-1] for row in storage._db.execute("EXPLAIN QUERY PLAN " + sql, params)]
    table_steps = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert table_steps and any("INDEX sqlite_autoindex" in step for step in table_steps), plan
    # the only scans are of the listed meters, never of a table
    assert all(
        step.startswith("SEARCH") or step in ("SCAN m", "SCAN 5 CONSTANT ROWS")
        for step in table_steps
    ), plan
    storage.close()
