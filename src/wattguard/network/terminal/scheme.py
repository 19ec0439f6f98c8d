"""The terminal's collection configuration as the station sets it: the task configuration
table (object 6012) and the normal collection schemes (object 6014), DL/T 698.45-2017 clause
8 (collection monitoring class objects, interface class 11 "collection monitoring").

Theory of operation. The station adds tasks and schemes with ACTION method 127 (Add) of 6012
and 6014, takes them out with 128 (Delete, by number) and empties a table with 129 (Clear);
GET of attribute 2 reads a table back. Each enabled task whose scheme exists becomes one
:class:`~wattguard.network.terminal.tasks.CollectionTask` the terminal runs against every meter
of its archive. The layouts, as this profile carries them (docs/protocol.md, "Collection tasks
and schemes (6012/6014)")::

    task (6012-2 unit) = structure {
        task id unsigned, frequency TI, scheme type enum (1 normal collection),
        scheme number unsigned, start date_time_s, end date_time_s, delay TI,
        priority unsigned, state enum (1 normal, 2 disabled) }
    scheme (6014-2 unit) = structure {
        scheme number unsigned, depth long-unsigned,
        collection type structure { type unsigned, data },
        columns array CSD, meters MS, storage time enum }

Collection type 0 (current data) reads the OAD columns as real-time values; type 3 (by time
interval, data a TI) reads the one ROAD column's records with selector 2 at that interval, at
most ``min(depth, 96)`` records per read; type 2 (by freeze time) does the same with the task's
frequency as the interval. The meter set is "all meters" (MS choice 1: the terminal's whole
archive) or a list of meter addresses (MS choice 3, e.g. the meters with a charging pile,
whose curve carries the pile's energy FF13). Anything else is refused with a DAR and changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.network.terminal.tasks import CollectionTask
from wattguard.protocol import CSD, MS, OAD, OMD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.data import MSChoice
from wattguard.protocol.values import ROAD, TI, TSA, DateTimeS

__all__ = ["NormalScheme", "SchemeTable", "TaskConfig"]

_D = DataType
TASKS, SCHEMES = 0x6012, 0x6014
_ADD, _DELETE, _CLEAR = 127, 128, 129
_NORMAL_SCHEME = 1
_ENABLED, _DISABLED = 1, 2
_CURRENT, _BY_FREEZE, _BY_INTERVAL = 0, 2, 3
_TI_SECONDS = {0: 1, 1: 60, 2: 3600, 3: 86400}
_MAX_RECORDS = 96


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """One unit of 6012 attribute 2 (see the module docstring)."""

    task: int
    frequency: TI
    scheme: int
    start: float = 0.0
    end: float = 4_102_444_800.0  # 2100-01-01
    enabled: bool = True

    def to_data(self) -> Data:
        """The unit as 6012 carries it."""
        return Data.structure(
            Data(_D.UNSIGNED, self.task), Data(_D.TI, self.frequency),
            Data(_D.ENUM, _NORMAL_SCHEME), Data(_D.UNSIGNED, self.scheme),
            Data(_D.DATE_TIME_S, DateTimeS.from_posix(self.start)),
            Data(_D.DATE_TIME_S, DateTimeS.from_posix(self.end)),
            Data(_D.TI, TI(0, 0)), Data(_D.UNSIGNED, 1),
            Data(_D.ENUM, _ENABLED if self.enabled else _DISABLED),
        )  # fmt: skip

    @classmethod
    def from_data(cls, value: Data) -> TaskConfig:
        """The unit a station sent; ValueError when it does not fit."""
        fields = _fields(value, 9)
        task, frequency, kind, scheme, start, end, _delay, _priority, state = fields
        _expect(task, _D.UNSIGNED), _expect(frequency, _D.TI), _expect(kind, _D.ENUM)
        _expect(scheme, _D.UNSIGNED), _expect(start, _D.DATE_TIME_S), _expect(state, _D.ENUM)
        _expect(end, _D.DATE_TIME_S)
        if kind.value != _NORMAL_SCHEME or state.value not in (_ENABLED, _DISABLED):
            raise ValueError("only normal-collection tasks, normal or disabled, are served")
        _seconds(frequency.value)
        return cls(
            task.value, frequency.value, scheme.value, float(start.value.to_posix()),
            float(end.value.to_posix()), state.value == _ENABLED,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class NormalScheme:
    """One unit of 6014 attribute 2 (see the module docstring)."""

    scheme: int
    depth: int
    kind: int
    columns: tuple[CSD, ...]
    interval: TI | None = None
    meters: frozenset[bytes] | None = None  # None: all meters

    def to_data(self) -> Data:
        """The unit as 6014 carries it."""
        data = Data(_D.NULL) if self.interval is None else Data(_D.TI, self.interval)
        meters = (
            MS(MSChoice.ALL_METERS) if self.meters is None
            else MS(MSChoice.ADDRESSES, tuple(TSA(a) for a in sorted(self.meters)))
        )  # fmt: skip
        return Data.structure(
            Data(_D.UNSIGNED, self.scheme), Data(_D.LONG_UNSIGNED, self.depth),
            Data.structure(Data(_D.UNSIGNED, self.kind), data),
            Data.array(*(Data(_D.CSD, column) for column in self.columns)),
            Data(_D.MS, meters), Data(_D.ENUM, 1),
        )  # fmt: skip

    @classmethod
    def from_data(cls, value: Data) -> NormalScheme:
        """The unit a station sent; ValueError when it does not fit."""
        number, depth, kind, columns, meters, _storage = _fields(value, 6)
        _expect(number, _D.UNSIGNED), _expect(depth, _D.LONG_UNSIGNED), _expect(meters, _D.MS)
        _expect(columns, _D.ARRAY)
        kind_number, kind_data = _fields(kind, 2)
        _expect(kind_number, _D.UNSIGNED)
        csds = tuple(_expect(c, _D.CSD).value for c in columns.value)
        interval = kind_data.value if kind_data.type == _D.TI else None
        scheme = cls(number.value, depth.value, kind_number.value, csds, interval,
                     _meter_set(meters.value))  # fmt: skip
        scheme.check()
        return scheme

    def check(self) -> None:
        """ValueError unless the terminal can run this scheme."""
        roads = [c.column for c in self.columns if isinstance(c.column, ROAD)]
        if self.kind == _CURRENT:
            if roads or not self.columns:
                raise ValueError("collecting current data takes OAD columns only")
        elif self.kind in (_BY_FREEZE, _BY_INTERVAL):
            if len(roads) != 1 or len(self.columns) != 1:
                raise ValueError("collecting records takes one ROAD column")
            if self.kind == _BY_INTERVAL:
                if self.interval is None:
                    raise ValueError("collecting by interval needs the interval (TI)")
                _seconds(self.interval)
        else:
            raise ValueError(f"collection type {self.kind} is not served")


class SchemeTable:
    """The terminal's 6012 and 6014 tables; :meth:`tasks` gives what they make it collect."""

    def __init__(self) -> None:
        self.tasks_by_id: dict[int, TaskConfig] = {}
        self.schemes: dict[int, NormalScheme] = {}

    def action(self, omd: OMD, value: Data) -> DAR:
        """Run method ``omd`` of 6012 or 6014 with ``value``: DAR SUCCESS, or why not (and
        then nothing changed)."""
        if omd.oi not in (TASKS, SCHEMES) or omd.method not in (_ADD, _DELETE, _CLEAR):
            return DAR.OBJECT_UNDEFINED
        table: dict[int, object] = self.tasks_by_id if omd.oi == TASKS else self.schemes  # type: ignore[assignment]
        try:
            if omd.method == _CLEAR:
                table.clear()
            elif value.type != _D.ARRAY:
                return DAR.TYPE_MISMATCH
            elif omd.method == _DELETE:
                numbers = [_expect(item, _D.UNSIGNED).value for item in value.value]
                for number in numbers:
                    table.pop(number, None)
            else:
                decode = TaskConfig.from_data if omd.oi == TASKS else NormalScheme.from_data
                units = [decode(item) for item in value.value]
                for unit in units:
                    table[unit.task if isinstance(unit, TaskConfig) else unit.scheme] = unit
        except (ValueError, TypeError, AttributeError):
            return DAR.TYPE_MISMATCH
        return DAR.SUCCESS

    def attribute(self, oi: int) -> Data:
        """Attribute 2 of 6012 or 6014: the table, in number order."""
        table = self.tasks_by_id if oi == TASKS else self.schemes
        return Data.array(*(table[k].to_data() for k in sorted(table)))

    def tasks(self, now: float) -> tuple[CollectionTask, ...]:
        """The collection tasks in force at ``now``: enabled, started, not ended, with their
        scheme present."""
        out = []
        for config in (self.tasks_by_id[k] for k in sorted(self.tasks_by_id)):
            scheme = self.schemes.get(config.scheme)
            if config.enabled and config.start <= now < config.end and scheme is not None:
                out.append(collection_task(config, scheme))
        return tuple(out)


def collection_task(config: TaskConfig, scheme: NormalScheme) -> CollectionTask:
    """What the terminal runs for a task and its scheme (see the module docstring)."""
    period = _seconds(config.frequency)
    name = f"6012-{config.task}"
    if scheme.kind == _CURRENT:
        oads = tuple(c.column for c in scheme.columns if isinstance(c.column, OAD))
        return CollectionTask(name, period, oads, meters=scheme.meters)
    road = scheme.columns[0].column
    assert isinstance(road, ROAD)
    interval = period if scheme.interval is None else _seconds(scheme.interval)
    return CollectionTask(
        name, period, road.columns, record=road.oad, interval=interval,
        max_records=max(1, min(scheme.depth, _MAX_RECORDS)), meters=scheme.meters,
    )  # fmt: skip


def _meter_set(ms: MS) -> frozenset[bytes] | None:
    """The meters an MS names: None for all; ValueError for a set the terminal does not serve."""
    if ms.choice == MSChoice.ALL_METERS:
        return None
    if ms.choice == MSChoice.ADDRESSES and ms.items:
        return frozenset(tsa.address for tsa in ms.items)
    raise ValueError("a scheme covers all meters (MS 1) or a list of addresses (MS 3)")


def _seconds(ti: TI) -> float:
    if not isinstance(ti, TI) or ti.unit not in _TI_SECONDS or ti.interval < 1:
        raise ValueError("a frequency or interval is a TI of seconds to days, at least 1")
    return float(_TI_SECONDS[ti.unit] * ti.interval)


def _fields(value: Data, count: int) -> tuple[Data, ...]:
    if value.type != _D.STRUCTURE or len(value.value) != count:
        raise ValueError(f"expected a structure of {count} fields")
    return tuple(value.value)


def _expect(value: Data, kind: DataType) -> Data:
    if value.type != kind:
        raise ValueError(f"expected {kind.name}, got {value.type.name}")
    return value
