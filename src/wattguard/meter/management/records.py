"""Reading record objects (freezes, events) with DL/T 698.45 GET-Request-Record: which rows
an RSD selects, which columns an RCSD asks for, and how large an answer may grow.

Theory of operation. A record object is seen here as a :class:`RecordTable`: rows in
ascending time, each with a time key (the freeze time 2021, or the event start 201E) and a
sequence number (2023 or 2022), and a value per column. :func:`select` turns a
:class:`~wattguard.protocol.apdu.get.GetRecord` into an
:class:`~wattguard.protocol.apdu.common.AResultRecord`:

* rows (DL/T 698.45-2017 clause 7.3.2, RSD): selector 0 every row; 1 the rows whose column
  equals a value; 2 the rows whose column lies in [start, end), on the grid start + k x TI
  when an interval is given (a NULL or zero interval takes every row); 3 the union of
  several selector-2 ranges; 9 the n-th last row; 10 the last n rows. The meter set (MS) of
  selectors 10 names meters behind a terminal; a meter is one meter and ignores it.
  Selectors 4-8 select by a terminal's collection times and meter sets: a meter answers
  them with DAR 3 (read/write denied), as ``dlt698``'s record store answers the selectors
  it does not serve (docs/protocol.md).
* columns: an empty RCSD means every column, and the answer names them; an OAD with an
  element index takes that element of the column; a column the table does not hold (or a
  ROAD, which a meter's records do not nest) is answered NULL in every row, since a record
  row carries one Data per column and has no place for a DAR.
* rows come oldest first. An answer is bounded to :data:`MAX_ANSWER_BYTES` of encoded
  A-ResultRecord (inside the negotiated APDU size of 2048 with room for the response header
  and a security wrapping): rows beyond it are left out, at least one row is always given,
  and a client continues with selector 2 from the time after the last row it received.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from wattguard.errors import ProtocolError
from wattguard.meter.management.model import refuse
from wattguard.protocol import CSD, OAD, RCSD, RSD, TI, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR, AResultRecord
from wattguard.protocol.apdu.get import GetRecord
from wattguard.protocol.axdr import encode_length
from wattguard.protocol.data import encode_data

__all__ = ["MAX_ANSWER_BYTES", "RecordTable", "select", "select_rows"]

#: Largest encoded A-ResultRecord an answer may reach (see the module docstring).
MAX_ANSWER_BYTES = 1900
#: TI units that are a fixed number of seconds: 0 s, 1 min, 2 h, 3 day.
_TI_SECONDS = {0: 1, 1: 60, 2: 3600, 3: 86400}
_INTEGERS = frozenset(
    (
        DataType.INTEGER,
        DataType.LONG,
        DataType.UNSIGNED,
        DataType.LONG_UNSIGNED,
        DataType.DOUBLE_LONG,
        DataType.DOUBLE_LONG_UNSIGNED,
        DataType.LONG64,
        DataType.LONG64_UNSIGNED,
        DataType.ENUM,
    )
)
_NULL = Data(DataType.NULL)


class RecordTable(Protocol):
    """Rows in ascending time, as :func:`select` reads them."""

    @property
    def time_column(self) -> OAD: ...

    @property
    def seq_column(self) -> OAD: ...

    def columns(self) -> tuple[OAD, ...]:
        """Every column, in the order an empty RCSD answers them (time and sequence too)."""
        ...

    def times(self) -> np.ndarray:
        """The time key of each row (calendar POSIX seconds, int64, ascending)."""
        ...

    def seqs(self) -> np.ndarray:
        """The sequence number of each row (int64)."""
        ...

    def cell(self, row: int, oad: OAD) -> Data:
        """The value of column ``oad`` (a column other than time and sequence) in ``row``."""
        ...


def select(table: RecordTable, request: GetRecord, budget: int = MAX_ANSWER_BYTES) -> AResultRecord:
    """The answer to ``request`` from ``table``: rows, columns, bounded to ``budget`` bytes."""
    columns = request.columns
    if not columns.columns:
        columns = RCSD(tuple(CSD(oad) for oad in table.columns()))
    try:
        rows = select_rows(table, request.rows)
    except ProtocolError as exc:
        return AResultRecord(request.oad, columns, exc.dar)
    return AResultRecord(request.oad, columns, _bounded(table, rows, columns, request, budget))


def select_rows(table: RecordTable, rsd: RSD) -> np.ndarray:
    """Indexes of the rows ``rsd`` selects, ascending; raises ProtocolError with the DAR."""
    count = len(table.times())
    everything = np.arange(count, dtype=np.int64)
    kind, fields = rsd.selector, rsd.fields
    if kind == 0:
        return everything
    if kind == 1:
        return _equal(table, fields[0], fields[1])
    if kind == 2:
        return _range(table, *fields)
    if kind == 3:
        parts = [_range(table, *item.fields) for item in fields[0]]
        return np.unique(np.concatenate(parts)) if parts else everything[:0]
    if kind == 9:
        n = int(fields[0])
        return everything[count - n : count - n + 1] if 1 <= n <= count else everything[:0]
    if kind == 10:
        n = int(fields[0])
        return everything[max(count - n, 0) :] if n else everything[:0]
    raise refuse(DAR.READ_WRITE_DENIED, f"RSD selector {kind} selects a terminal's collections")


def _equal(table: RecordTable, oad: OAD, value: Data) -> np.ndarray:
    if oad == table.time_column:
        return np.flatnonzero(table.times() == _time_bound(value))
    if oad == table.seq_column:
        return np.flatnonzero(table.seqs() == _int_bound(value))
    _known(table, oad)
    count = len(table.times())
    return np.array([row for row in range(count) if _value(table, row, oad) == value], np.int64)


def _range(table: RecordTable, oad: OAD, start: Data, end: Data, interval: Data) -> np.ndarray:
    if oad == table.time_column:
        low, high = _time_bound(start), _time_bound(end)
        times = table.times()
        rows = np.flatnonzero((times >= low) & (times < high))
        return _on_grid(times, rows, low, _interval(interval))
    if interval.type != DataType.NULL:
        raise refuse(DAR.TYPE_MISMATCH, "only the time column takes an interval")
    if oad == table.seq_column:
        seqs = table.seqs()
        return np.flatnonzero((seqs >= _int_bound(start)) & (seqs < _int_bound(end)))
    _known(table, oad)
    low, high = _int_bound(start), _int_bound(end)
    out = []
    for row in range(len(table.times())):
        cell = _value(table, row, oad)
        if cell.type in _INTEGERS and low <= cell.value < high:
            out.append(row)
    return np.array(out, np.int64)


def _known(table: RecordTable, oad: OAD) -> None:
    if OAD(oad.oi, oad.attribute) not in table.columns():
        raise refuse(DAR.OBJECT_UNDEFINED, f"{oad} is not a column of these records")


def _time_bound(value: Data) -> int:
    if value.type != DataType.DATE_TIME_S:
        raise refuse(DAR.TYPE_MISMATCH, "a time column is compared with a date_time_s")
    try:
        return int(value.value.to_posix())
    except ValueError:
        raise refuse(DAR.OUT_OF_RANGE, "not a calendar date") from None


def _int_bound(value: Data) -> int:
    if value.type not in _INTEGERS:
        raise refuse(DAR.TYPE_MISMATCH, "a number column is compared with a number")
    return int(value.value)


def _interval(value: Data) -> TI | None:
    if value.type == DataType.NULL:
        return None
    if value.type != DataType.TI:
        raise refuse(DAR.TYPE_MISMATCH, "the selector-2 interval is a TI")
    interval: TI = value.value
    return interval if interval.interval else None


def _on_grid(times: np.ndarray, rows: np.ndarray, start: int, interval: TI | None) -> np.ndarray:
    """The rows whose time is start + k x interval (k >= 0)."""
    if interval is None or not len(rows):
        return rows
    if interval.unit in _TI_SECONDS:
        step = _TI_SECONDS[interval.unit] * interval.interval
        kept: np.ndarray = rows[(times[rows] - start) % step == 0]
        return kept
    months = interval.interval * (12 if interval.unit == 5 else 1)
    origin = dt.datetime.fromtimestamp(start, dt.UTC)
    keep = []
    for row in rows:
        moment = dt.datetime.fromtimestamp(int(times[row]), dt.UTC)
        diff = (moment.year - origin.year) * 12 + moment.month - origin.month
        if diff % months == 0 and moment == add_months(origin, diff):
            keep.append(row)
    return np.array(keep, np.int64)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` moved by whole calendar months, the day kept or clamped to the month's end."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, _calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def _value(table: RecordTable, row: int, oad: OAD) -> Data:
    """A cell, with the time and sequence columns and element indexes handled here."""
    whole = OAD(oad.oi, oad.attribute)
    if whole == table.time_column:
        value = Data(DataType.DATE_TIME_S, DateTimeS.from_posix(int(table.times()[row])))
    elif whole == table.seq_column:
        value = Data(DataType.DOUBLE_LONG_UNSIGNED, int(table.seqs()[row]))
    else:
        value = table.cell(row, whole)
    if not oad.element:
        return value
    if value.type not in (DataType.ARRAY, DataType.STRUCTURE) or oad.element > len(value.value):
        return _NULL
    element: Data = value.value[oad.element - 1]
    return element


def _cells(table: RecordTable, rows: np.ndarray, columns: RCSD) -> Iterator[tuple[Data, ...]]:
    known = set(table.columns())
    wanted = [
        csd.column
        if isinstance(csd.column, OAD) and OAD(csd.column.oi, csd.column.attribute) in known
        else None
        for csd in columns.columns
    ]
    for row in rows:
        yield tuple(_NULL if oad is None else _value(table, int(row), oad) for oad in wanted)


def _bounded(
    table: RecordTable, rows: np.ndarray, columns: RCSD, request: GetRecord, budget: int
) -> tuple[tuple[Data, ...], ...]:
    size = len(request.oad.to_bytes()) + len(columns.to_bytes()) + 1 + len(encode_length(len(rows)))
    out: list[tuple[Data, ...]] = []
    for row in _cells(table, rows, columns):
        size += sum(len(encode_data(value)) for value in row)
        if out and size > budget:
            break
        out.append(row)
    return tuple(out)
