"""PostgreSQL's bulk path (station._copy): the COPY text of checked rows reads back exactly,
a batch that would need escaping goes row by row, and a reconnect makes the staging table
again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.station._copy import copy_text
from wattguard.station.records import ReadingRow
from wattguard.station.storage import PostgresStorage
from wattguard.testing.storage import Backend

M1 = "0000000000a1"
ENERGY = "00100201"


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Backend]:
    made = Backend("postgresql", tmp_path)
    yield made
    made.cleanup()


VALUES = [0.1, 1e-300, -2.5e300, 123456789.12345679, 5e-324, 0.0, -0.0, 1 / 3]


def test_copy_text_is_one_line_a_row_with_null_for_no_receipt_time() -> None:
    rows: list[ReadingRow] = [(M1, ENERGY, 10, 0.1, None), (M1, "50020200/00100201", 20, 2.0, 1.5)]
    assert copy_text(rows) == (
        f"{M1}\t{ENERGY}\t10\t0.1\t\\N\n{M1}\t50020200/00100201\t20\t2.0\t1.5\n"
    )


@given(st.text(alphabet="ab\t\n\\\rN", min_size=1, max_size=6))
def test_a_field_that_would_need_escaping_is_not_put_in_the_buffer(odd: str) -> None:
    # reading_rows lets no such meter through; should one come, psycopg escapes it row by row
    if set(odd) <= set("abN"):
        assert copy_text([(odd, ENERGY, 1, 1.0, None)]) is not None
    else:
        assert copy_text([(odd, ENERGY, 1, 1.0, None)]) is None


def test_values_read_back_exactly_and_duplicates_count_as_not_new(postgres: Backend) -> None:
    store = postgres.open()
    rows: list[ReadingRow] = [
        (M1, ENERGY, 1_790_000_000 + k, value, None if k % 2 else 1_790_000_000.25)
        for k, value in enumerate(VALUES)
    ]
    assert store.add_rows(rows) == len(rows)
    assert store.add_rows(rows) == 0  # the same batch again: nothing new
    stored = postgres.raw(store, "SELECT time, value, received FROM readings ORDER BY time")
    assert [(t, v, r) for t, v, r in stored] == [(t, v, r) for _, _, t, v, r in rows]


def test_an_odd_row_goes_row_by_row_and_is_escaped(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    # behind the checks' back (add_rows takes checked rows): the slow path escapes it
    assert store.add_rows([("a\tb\\N", ENERGY, 1_790_000_000, 1.0, None)]) == 1
    assert postgres.raw(store, "SELECT meter FROM readings") == [("a\tb\\N",)]


def test_a_new_connection_makes_its_staging_table(postgres: Backend) -> None:
    store = postgres.open()
    assert isinstance(store, PostgresStorage)
    assert store.add_rows([(M1, ENERGY, 1_790_000_000, 1.0, None)]) == 1
    store._db.close()  # the connection is lost; the next write connects again
    assert store.add_rows([(M1, ENERGY, 1_790_000_060, 2.0, None)]) == 1
    assert store.count_readings() == 2
