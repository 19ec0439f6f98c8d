"""The readings table by day: which partition a reading goes to, which days a retention
policy removes.

Theory of operation. On PostgreSQL the readings table is partitioned by range of ``time``
(declarative partitioning, schema version 7): one partition per UTC day, named
``readings_d<day>`` where ``<day>`` is the day's number since 1970-01-01 (``time // 86400``;
``readings_d20428`` holds 2025-12-06), holding ``day * 86400 <= time < (day + 1) * 86400``.
A day's partition is created on demand, in its own short transaction under an advisory lock
(two ingest workers never race to create one), before the first batch that needs it, and the
station's runtime creates the next days' ahead of time (:meth:`maintain`), so the batch that
crosses midnight pays no DDL. Retention drops whole partitions: a day of readings goes in one
``DROP TABLE``, without deleting rows one by one or leaving dead rows to vacuum.

A day is one partition because one day is the unit retention removes and what the station
writes to at once (today's curves and real-time values); a utility-scale day (100 million
readings) is a table PostgreSQL handles well, a month would not be.

On SQLite there is one table: partitioning does not apply, and retention deletes the rows of
the days before the cutoff. Both give the same answer: the days removed.

Which query uses which index. On PostgreSQL the primary key is ``(meter, time, quantity)``
(schema version 15), in the order the readings arrive in: a terminal's report brings each
meter's values of one time together (its real-time values, a curve row's columns), and they
go to one place of the index. Keyed ``(meter, quantity, time)`` they went to one place per
quantity, and once a day's partition outgrew the server's buffers nearly every row dirtied an
index page of its own: at 100,000 meters the insert cost grew from 6.7 to 14.9 us a row of
server CPU over a day, against 4.6 to about 6 with this order (``bench/pg_day.py``). So:

* the primary key: the idempotent insert (``ON CONFLICT DO NOTHING``); a meter's readings by
  time, of every quantity (the API's readings page, newest first, and the CSV export) or of
  one (``GET /api/meters/{m}/readings?quantity=``, :meth:`~wattguard.station.storage.Storage.
  readings` with a quantity: the meter's range in time order, the other quantities skipped
  inside the index); the latest value per meter (:meth:`~wattguard.station.storage.Storage.
  latest`, a skip scan over the meters, then each meter's entries newest first until one of
  the quantity: a handful when the meter reports it at each collection, every entry of the
  meter when it has none); every analytics read (``station.analysis_store``: ``meter IN
  (...) AND quantity = ? AND time`` range, by meter and time; ``MAX``/``MIN(time)``, which
  the partitions answer newest or oldest first, one day's entries at most when it has one);
* on SQLite the primary key stays ``(meter, quantity, time)``: a file's table does not grow
  to where the order matters, and a meter's readings of every quantity are sorted by time
  (the page's rows, a few thousand);
* the curve's partial index (time first): the fleet's aggregates (``station._fleet_sql``);
* ``readings_txid`` (PostgreSQL): the reading tail (``station.reading_tail``);
* the partition bounds: any query with a time range reads only the days it names.

Here the only text formatted into a statement is a partition's name and bounds, computed from
whole numbers (DDL takes no parameters).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AHEAD",
    "DAY",
    "create_partition",
    "day_of",
    "days_of",
    "partition_day",
    "partition_name",
]

#: Seconds in a partition.
DAY = 86_400
#: Days after today whose partitions :meth:`~wattguard.station.storage.PostgresStorage.maintain`
#: creates ahead.
AHEAD = 2
_PREFIX = "readings_d"


def day_of(time: float) -> int:
    """The day number (since 1970-01-01, UTC) ``time`` falls in."""
    return int(time // DAY)


def partition_name(day: int) -> str:
    """The name of day ``day``'s partition."""
    return f"{_PREFIX}{int(day)}"


def partition_day(name: str) -> int | None:
    """The day of a partition named ``name`` (None: not a day's partition)."""
    digits = name[len(_PREFIX) :]
    return int(digits) if name.startswith(_PREFIX) and digits.isdigit() else None


def create_partition(day: int) -> str:
    """The statement that creates day ``day``'s partition, unless it exists."""
    day = int(day)
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition_name(day)}" PARTITION OF readings '
        f"FOR VALUES FROM ({day * DAY}) TO ({(day + 1) * DAY})"
    )


def days_of(times: Iterable[int]) -> set[int]:
    """The days a batch's times fall in."""
    return {time // DAY for time in times}
