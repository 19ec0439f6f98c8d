"""The analytics' own tables in the station database, and the bulk reads the job needs.

Theory of operation. The analyses of :mod:`wattguard.analytics` need curves in bulk: every
meter of a district over a time range at once, as arrays. :class:`AnalysisStore` reads them
with one query per district and quantity (``meter IN (...) AND quantity = ? AND time`` between
two bounds: the readings' primary key answers it with one range scan a meter, the meter's
other quantities skipped inside the index on PostgreSQL, where it is (meter, time, quantity):
:mod:`wattguard.station.partitions`) and turns the rows into columns. Its results live in
tables of their own, made by the station's numbered migration 9
(:mod:`wattguard.station._schema`), read and written through the SQL storage's public
:meth:`~wattguard.station._sql.SqlStorage.query` and
:meth:`~wattguard.station._sql.SqlStorage.transaction`:

* ``analysis_progress`` (district, day, state): the last complete day the job took in for each
  district and its incremental state (numpy arrays in ``.npz`` form, base64 text), so a
  restarted job goes on from there and never recomputes history;
* ``analysis_day`` (meter, day, ...): each meter's figures of each day: energy, where it came
  from (day freeze or curve), missing intervals, maximum demand and its interval, the night
  minimum, the time-of-use split, the day's anomaly score;
* ``analysis_loss`` (district, day, ...): supply, loss energy and rate, intervals used, and
  where the balance fit's feeders came from (records, inferred from voltages, or none);
* ``analysis_meter`` (meter, ...): the latest cluster (number and name), anomaly score and
  estimated meter error, and the day they are of.

The same SQL runs on SQLite and PostgreSQL (``?`` placeholders turned into ``%s``); every value
is a parameter.
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from wattguard.errors import ConfigError
from wattguard.station._sql import SqlStorage
from wattguard.station.records import InvalidRecord
from wattguard.station.storage import Storage

__all__ = ["AnalysisStore", "DayRow", "LossRow", "MeterResult"]

_DAY_COLUMNS = (
    "meter, day, district, energy, source, missing, peak, peak_step, night, tou_peak, "
    "tou_flat, tou_valley, score, tariff"
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class DayRow:
    """One meter's figures of one day (energy in kWh; ``peak`` in kWh per interval)."""

    meter: str
    day: int  # POSIX time of the day's start (UTC midnight)
    district: str
    energy: float | None
    source: str  # "freeze" (5004) or "curve" (5002)
    missing: int  # curve intervals missing
    peak: float | None
    peak_step: int | None
    night: float | None
    tou_peak: float | None
    tou_flat: float | None
    tou_valley: float | None
    score: float | None
    tariff: str | None = None  # "meter" (its own table) or "default" (the station's)


@dataclass(frozen=True, slots=True)
class LossRow:
    """A district's line loss on one day."""

    district: str
    day: int
    supplied: float | None
    loss: float | None
    rate: float | None
    intervals: int
    feeders: str | None = None  # "records", "inferred" (from voltages) or "none"


@dataclass(frozen=True, slots=True)
class MeterResult:
    """A meter's latest mined figures."""

    meter: str
    district: str
    day: int
    cluster: int | None
    cluster_name: str | None
    score: float | None
    error: float | None


def _opt(value: Any) -> float | None:
    """A stored number, or None for NaN and NULL (neither JSON nor SQL keeps NaN the same)."""
    if value is None:
        return None
    number = float(value)
    return None if number != number or number in (float("inf"), float("-inf")) else number


def encode_arrays(arrays: Mapping[str, npt.ArrayLike]) -> str:
    """Arrays as base64 text of an ``.npz`` file (no pickles)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_arrays(text: str) -> dict[str, npt.NDArray[Any]]:
    """What :func:`encode_arrays` wrote (loaded with ``allow_pickle=False``)."""
    with np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


class AnalysisStore:
    """The analytics tables and bulk reads over a station's SQL storage."""

    def __init__(self, storage: Storage) -> None:
        if not isinstance(storage, SqlStorage):
            raise ConfigError("the analyses need the station's SQL storage (SQLite or PostgreSQL)")
        self.storage = storage

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.storage.query(sql, params)

    # bulk reads

    def series(
        self, meters: Sequence[str], quantity: str, start: int, end: int
    ) -> dict[str, tuple[npt.NDArray[np.int64], FloatArray]]:
        """Each meter's (times, values) of ``quantity`` with ``start <= time <= end``, by time:
        one query for all of them."""
        out: dict[str, tuple[npt.NDArray[np.int64], FloatArray]] = {}
        for first in range(0, len(meters), 500):
            chunk = list(meters[first : first + 500])
            marks = ", ".join("?" * len(chunk))
            rows = self._query(
                f"SELECT meter, time, value FROM readings WHERE meter IN ({marks}) "
                "AND quantity = ? AND time >= ? AND time <= ? ORDER BY meter, time",
                [*chunk, quantity, start, end],
            )
            if not rows:
                continue
            names = [row[0] for row in rows]
            times = np.fromiter((row[1] for row in rows), np.int64, len(rows))
            values = np.fromiter((row[2] for row in rows), np.float64, len(rows))
            edges = [0, *(i for i in range(1, len(names)) if names[i] != names[i - 1]), len(names)]
            for a, b in itertools.pairwise(edges):
                out[names[a]] = (times[a:b], values[a:b])
        return out

    def grid(
        self, meters: Sequence[str], quantity: str, start: int, step: int, points: int
    ) -> FloatArray:
        """(meters, points) values of ``quantity`` at ``start + i * step`` (NaN where none)."""
        out = np.full((len(meters), points), np.nan)
        found = self.series(meters, quantity, start, start + (points - 1) * step)
        for row, meter in enumerate(meters):
            if meter not in found:
                continue
            times, values = found[meter]
            on_grid = (times - start) % step == 0
            out[row, (times[on_grid] - start) // step] = values[on_grid]
        return out

    def net_grid(
        self,
        meters: Sequence[str],
        quantities: tuple[str, str],
        start: int,
        step: int,
        points: int,
    ) -> FloatArray:
        """Like :meth:`grid`, of the forward minus the reverse energy (``quantities``): a
        meter with no reverse value in the range counts none (its terminal does not collect
        it, or it never exported), one with some has NaN where either is missing."""
        forward = self.grid(meters, quantities[0], start, step, points)
        reverse = self.grid(meters, quantities[1], start, step, points)
        has = ~np.isnan(reverse).all(axis=1)
        forward[has] -= reverse[has]
        return forward

    def latest_time(self, meters: Sequence[str], quantity: str) -> int | None:
        """The latest time any of ``meters`` has a value of ``quantity``."""
        if not meters:
            return None
        marks = ", ".join("?" * len(meters))
        rows = self._query(
            f"SELECT MAX(time) FROM readings WHERE meter IN ({marks}) AND quantity = ?",
            [*meters, quantity],
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def first_time(self, meters: Sequence[str], quantity: str) -> int | None:
        """The earliest time any of ``meters`` has a value of ``quantity``."""
        if not meters:
            return None
        marks = ", ".join("?" * len(meters))
        rows = self._query(
            f"SELECT MIN(time) FROM readings WHERE meter IN ({marks}) AND quantity = ?",
            [*meters, quantity],
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    def meter_classes(self) -> dict[str, str | None]:
        """Each registered meter's class (``"district"`` marks a district's supply meter)."""
        return dict(self._query("SELECT address, meter_class FROM meters"))

    # progress and results

    def progress(self, district: str) -> tuple[int, str] | None:
        """The last day the job took in for ``district`` and its state, if any."""
        rows = self._query(
            "SELECT day, state FROM analysis_progress WHERE district = ?", [district]
        )
        return None if not rows else (int(rows[0][0]), str(rows[0][1]))

    def save_day(
        self,
        district: str,
        day: int,
        state: str,
        rows: Sequence[DayRow],
        loss: LossRow | None,
        meters: Sequence[MeterResult],
    ) -> None:
        """A district's day, all at once: its meters' day figures, its loss, the meters'
        latest results and the job's progress (a failure stores none of it)."""
        with self.storage.transaction() as cur:
            cur.executemany(
                (
                    f"INSERT INTO analysis_day ({_DAY_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                ),
                [tuple(_stored(v) for v in _fields(row)) for row in rows],
            )
            if loss is not None:
                cur.execute(
                    (
                        "INSERT INTO analysis_loss (district, day, supplied, loss, rate, "
                        "intervals, feeders) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    ),
                    tuple(_stored(v) for v in _fields(loss)),
                )
            for result in meters:
                cur.execute("DELETE FROM analysis_meter WHERE meter = ?", (result.meter,))
                cur.execute(
                    (
                        "INSERT INTO analysis_meter (meter, district, day, cluster, "
                        "cluster_name, score, error) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    tuple(_stored(v) for v in _fields(result)),
                )
            cur.execute("DELETE FROM analysis_progress WHERE district = ?", (district,))
            cur.execute(
                "INSERT INTO analysis_progress (district, day, state) VALUES (?, ?, ?)",
                (district, day, state),
            )

    def set_tariff(self, meter: str, steps: npt.ArrayLike) -> None:
        """Record ``meter``'s own time-of-use table: the period (0 peak, 1 flat, 2 valley) of
        each of the day's 96 15-minute intervals (UTC). Days taken in from now on are split by
        it instead of the station's default."""
        table = np.asarray(steps)
        if table.shape != (96,) or not np.isin(table, (0, 1, 2)).all():
            raise InvalidRecord("a time-of-use table gives 96 periods, each 0, 1 or 2")
        with self.storage.transaction() as cur:
            cur.execute("DELETE FROM analysis_tariff WHERE meter = ?", (meter,))
            cur.execute(
                "INSERT INTO analysis_tariff (meter, steps) VALUES (?, ?)",
                (meter, "".join(str(int(p)) for p in table)),
            )

    def tariffs(self, meters: Sequence[str]) -> dict[str, npt.NDArray[np.intp]]:
        """The own time-of-use tables the station knows of ``meters`` (96 periods each)."""
        out: dict[str, npt.NDArray[np.intp]] = {}
        for first in range(0, len(meters), 500):
            chunk = list(meters[first : first + 500])
            marks = ", ".join("?" * len(chunk))
            for meter, steps in self._query(
                f"SELECT meter, steps FROM analysis_tariff WHERE meter IN ({marks})", chunk
            ):
                out[str(meter)] = np.array([int(c) for c in steps], dtype=np.intp)
        return out

    def set_feeders(self, feeders: Mapping[str, str]) -> None:
        """Record which low-voltage feeder each meter hangs on (meter -> feeder name, from
        the utility's network records): a district whose customers all have one gets its
        losses modelled feeder by feeder in the balance fit."""
        with self.storage.transaction() as cur:
            for meter, feeder in feeders.items():
                if not isinstance(feeder, str) or not feeder or len(feeder) > 64:
                    raise InvalidRecord("a feeder is named by 1 to 64 characters")
                cur.execute("DELETE FROM analysis_feeder WHERE meter = ?", (meter,))
                cur.execute(
                    "INSERT INTO analysis_feeder (meter, feeder) VALUES (?, ?)", (meter, feeder)
                )

    def feeders(self, meters: Sequence[str]) -> dict[str, str]:
        """The feeders known of ``meters``."""
        out: dict[str, str] = {}
        for first in range(0, len(meters), 500):
            chunk = list(meters[first : first + 500])
            marks = ", ".join("?" * len(chunk))
            for meter, feeder in self._query(
                f"SELECT meter, feeder FROM analysis_feeder WHERE meter IN ({marks})", chunk
            ):
                out[str(meter)] = str(feeder)
        return out

    def set_clusters(self, labels: Mapping[str, tuple[int, str]]) -> None:
        """Each meter's cluster number and name (the fleet is clustered as a whole)."""
        with self.storage.transaction() as cur:
            cur.executemany(
                ("UPDATE analysis_meter SET cluster = ?, cluster_name = ? WHERE meter = ?"),
                [(number, name, meter) for meter, (number, name) in labels.items()],
            )

    def days(self, meter: str, start: int | None = None, end: int | None = None) -> list[DayRow]:
        """A meter's day figures, by day (``start <= day < end``)."""
        sql = f"SELECT {_DAY_COLUMNS} FROM analysis_day WHERE meter = ?"
        params: list[Any] = [meter]
        if start is not None:
            sql += " AND day >= ?"
            params.append(start)
        if end is not None:
            sql += " AND day < ?"
            params.append(end)
        return [_day_row(row) for row in self._query(sql + " ORDER BY day", params)]

    def losses(self, district: str | None = None) -> list[LossRow]:
        """Line loss per day, of one district or all, by district and day."""
        sql = "SELECT district, day, supplied, loss, rate, intervals, feeders FROM analysis_loss"
        params: list[Any] = []
        if district is not None:
            sql += " WHERE district = ?"
            params.append(district)
        rows = self._query(sql + " ORDER BY district, day", params)
        return [
            LossRow(
                str(d),
                int(day),
                _opt(s),
                _opt(loss),
                _opt(r),
                int(n),
                None if f is None else str(f),
            )
            for d, day, s, loss, r, n, f in rows
        ]

    def results(self, district: str | None = None) -> list[MeterResult]:
        """The meters' latest mined figures, of one district or all, by meter."""
        sql = "SELECT meter, district, day, cluster, cluster_name, score, error FROM analysis_meter"
        params: list[Any] = []
        if district is not None:
            sql += " WHERE district = ?"
            params.append(district)
        return [
            MeterResult(
                str(m), str(d), int(day), None if c is None else int(c), name, _opt(s), _opt(e)
            )
            for m, d, day, c, name, s, e in self._query(sql + " ORDER BY meter", params)
        ]

    def districts(self) -> list[str]:
        """The districts the job has taken in, by name."""
        return [str(d) for (d,) in self._query("SELECT district FROM analysis_progress ORDER BY 1")]


def _fields(row: DayRow | LossRow | MeterResult) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in row.__slots__)


def _stored(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return _opt(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _day_row(row: Sequence[Any]) -> DayRow:
    meter, day, district, energy, source, missing, peak, step, night, tp, tf, tv, score, own = row
    return DayRow(
        str(meter), int(day), str(district), _opt(energy), str(source), int(missing), _opt(peak),
        None if step is None else int(step), _opt(night), _opt(tp), _opt(tf), _opt(tv),
        _opt(score), None if own is None else str(own),
    )  # fmt: skip
