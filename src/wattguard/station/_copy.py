"""PostgreSQL's bulk path for a batch of readings: one COPY of a text buffer, one INSERT.

A batch of checked rows (:func:`~wattguard.station.records.reading_rows`) goes into the
session's temporary table ``incoming`` with ``COPY ... FROM STDIN`` and from there into the
readings with ``INSERT ... ON CONFLICT DO NOTHING`` (the server checks the key; the count of
rows inserted is what was new). The table is made once per connection, outside any
transaction (:data:`INCOMING`, run when the storage connects), not once per batch: a batch then
costs the transaction's BEGIN and COMMIT, the COPY and the INSERT.

The COPY data is built in one pass as PostgreSQL's text format (tab-separated columns, ``\\N``
for NULL, one line a row): checked rows need no escaping (a meter is 12 hex digits, a quantity
hex digits and ``/``, times are integers, values finite floats whose ``repr`` reads back
exactly). :func:`copy_text` checks that by counting separators, and a batch that would need
escaping (none from ``reading_rows`` does) goes row by row through psycopg, which escapes.
"""

from __future__ import annotations

from typing import Any

from wattguard.station.records import ReadingRow

__all__ = ["INCOMING", "copy_text", "insert_readings"]

#: The session's staging table (temporary: each connection has its own, emptied at commit).
INCOMING = (
    "CREATE TEMP TABLE IF NOT EXISTS incoming (meter TEXT, quantity TEXT, time BIGINT, "
    "value DOUBLE PRECISION, received DOUBLE PRECISION) ON COMMIT DELETE ROWS"
)
_COPY = "COPY incoming (meter, quantity, time, value, received) FROM STDIN"
_INSERT = (
    "INSERT INTO readings (meter, quantity, time, value, received) "
    "SELECT meter, quantity, time, value, received FROM incoming ON CONFLICT DO NOTHING"
)
_NULL = "\\N"


def copy_text(rows: list[ReadingRow]) -> str | None:
    """``rows`` in COPY's text format, or None when a field would need escaping."""
    text = "".join(
        [
            f"{meter}\t{quantity}\t{time}\t{value!r}\t{_NULL if received is None else repr(received)}\n"  # noqa: E501
            for meter, quantity, time, value, received in rows
        ]
    )
    lines = len(rows)
    if text.count("\n") != lines or text.count("\t") != 4 * lines:
        return None
    nulls = sum(1 for row in rows if row[4] is None)
    if text.count("\\") != nulls or "\r" in text:
        return None
    return text


def insert_readings(cur: Any, rows: list[ReadingRow]) -> int:
    """Store ``rows`` through ``incoming`` in the cursor's transaction; how many were new.
    The connection must have run :data:`INCOMING`."""
    text = copy_text(rows)
    with cur.copy(_COPY) as copy:
        if text is not None:
            copy.write(text)
        else:
            for row in rows:
                copy.write_row(row)
    cur.execute(_INSERT)
    return int(cur.rowcount)
