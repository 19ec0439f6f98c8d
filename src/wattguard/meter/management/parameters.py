"""The meter's settable parameters (DL/T 698.45 interface class 8 and the event objects' class 7
configuration), as the station writes them and reads them back.

Theory of operation. :class:`MeterParameters` holds the values; :func:`expose_parameters`
registers them on the management module's object model, each SET checked for shape and range
(a wrong shape answers DAR 7, a value out of range DAR 8; nothing changes then). The F101
policy decides first in which security mode a SET must come (the default word: ciphertext +
MAC). Object numbers, as DL/T 698.45-2017's parameter and event tables give them (see
docs/protocol.md, "Commands the station sends"):

======  ====  =================================================================================
OI      attr  value
======  ====  =================================================================================
4009    2     switch-over time of the backup day-period table, date_time_s (null: none)
4016    2     current day-period tables, read-only: array of day table, a day table an array of
              structure {hour unsigned, minute unsigned, tariff unsigned}
4017    2     backup day-period tables (the same shape), written by the station
400A    2     switch-over time of the backup tariff prices, date_time_s (null: none)
4018    2     current tariff prices, read-only: array of double-long-unsigned, 0.0001 yuan/kWh,
              one per tariff (tariff 1 first)
4019    2     backup tariff prices (the same shape), written by the station
4100    2     maximum demand period, unsigned minutes (1, 2, 3, 5, 10, 15, 30 or 60)
4101    2     sliding (slip) time of the demand window, unsigned minutes, dividing the period
401E    2     amount limits: structure {alarm level 1, alarm level 2} double-long-unsigned fen
401F    2     other amount limits: structure {overdraft credit, hoarding limit, close-allowed
              limit} double-long-unsigned fen (hoarding 0: the ESAM's own wallet limit)
3001    5     under-voltage: structure {upper limit long-unsigned 0.1 V, delay unsigned s}
3002    5     over-voltage: structure {lower limit long-unsigned 0.1 V, delay unsigned s}
3005    5     over-current: structure {lower limit double-long 0.0001 A, delay unsigned s}
3007    5     power reversal: structure {active power limit double-long 0.1 W, delay unsigned s}
3008    5     overload: structure {active power limit double-long 0.1 W, delay unsigned s}
300C    6     power factor below limit: structure {lower limit long 0.1 %, delay unsigned s}
FF26    5     frequency deviation (vendor): structure {limit long-unsigned 0.01 Hz, delay s}
FF27    5     voltage THD over limit (vendor): structure {limit long-unsigned 0.01 %, delay s}
FF28    5     current THD over limit (vendor): structure {limit long-unsigned 0.01 %, delay s}
FF11    2     export permitted (vendor): bool; true for a customer allowed to feed energy back
F300    2     automatic display rotation: array of structure {object OAD, screen unsigned}
======  ====  =================================================================================

The backup day-period table (and the backup prices) become the current ones when the meter's
calendar reaches their switch-over time (checked whenever the table is used or read, so no
timer is needed); the tariff in force is the one of the last period that began at or before
the calendar's time of day (UTC). The prices, and the tariff in force with each reading, go to
the expansion module, which prices the energy and deducts it from the wallet. The alarm
levels and the over-current limit go to the expansion module over the UART (it raises those
alarms); the voltage limits are the management module's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.meter.management.model import Getter, ObjectModel, Setter, refuse
from wattguard.meter.management.quality import QUALITY_FACTORY, QUALITY_OBJECTS
from wattguard.protocol import OAD, Data, DataType, DateTimeS
from wattguard.protocol.apdu.common import DAR

__all__ = [
    "DEMAND_PERIODS",
    "MAX_DISPLAY_ITEMS",
    "MAX_PERIODS",
    "MAX_PRICE",
    "MAY_EXPORT",
    "MeterParameters",
    "expose_parameters",
]

_D = DataType
#: The demand periods a meter accepts, minutes (DL/T 698.45 4100; the usual meter range).
DEMAND_PERIODS = frozenset((1, 2, 3, 5, 10, 15, 30, 60))
#: The vendor object whose attribute 2 says the customer may export (docs/protocol.md).
MAY_EXPORT = 0xFF11
#: At most this many periods in a day table (a wattguard bound, 14 as common meters allow).
MAX_PERIODS = 14
#: At most this many screens in the display rotation.
MAX_DISPLAY_ITEMS = 32
#: A day table: (hour, minute, tariff) per period, in time order.
DayTable = tuple[tuple[int, int, int], ...]


@dataclass
class MeterParameters:
    """What the station may set on a meter (values in the units of the table in the module
    docstring, kept as the meter holds them)."""

    tariffs: int = 4
    current_table: DayTable = ()  # empty: the expansion module's default schedule decides
    backup_table: DayTable = ()
    switch_at: float | None = None  # POSIX, the meter's calendar
    current_prices: tuple[int, ...] = ()  # 0.0001 yuan/kWh per tariff; empty: the factory's
    backup_prices: tuple[int, ...] = ()
    prices_at: float | None = None
    demand_period: int = 15  # minutes
    alarm_levels: tuple[int, int] = (2000, 500)  # fen
    credit_limits: tuple[int, int, int] = (0, 0, 0)  # overdraft, hoarding, close allowed
    under_voltage: tuple[int, int] = (1716, 60)  # 0.1 V (78 % of 220 V), s
    over_voltage: tuple[int, int] = (2530, 60)  # 0.1 V (115 % of 220 V), s
    over_current: tuple[int, int] = (600_000, 60)  # 0.0001 A (60 A), s
    display: tuple[OAD, ...] = ()  # empty: the factory rotation
    demand_slide: int = 1  # minutes (4101)
    may_export: bool = False  # FF11
    #: The power-quality thresholds, event OI -> (limit, delay s) (quality.py).
    quality: dict[int, tuple[int, int]] = field(default_factory=lambda: dict(QUALITY_FACTORY))
    #: Told when a value the expansion module uses changes (alarm levels, over-current).
    on_change: list[Callable[[str], None]] = field(default_factory=list)
    #: Told after every change (a SET, a switch-over): the module saves them then.
    on_saved: list[Callable[[], None]] = field(default_factory=list)

    def to_data(self) -> Data:
        """Everything the station set, as one value (for the meter's non-volatile store)."""

        def times(*at: float | None) -> list[Data]:
            return [
                Data(_D.NULL) if t is None else Data(_D.DOUBLE_LONG_UNSIGNED, int(t)) for t in at
            ]

        def numbers(values: tuple[int, ...]) -> Data:
            return Data.array(*(Data(_D.DOUBLE_LONG, v) for v in values))

        tables = [
            Data.array(*(numbers(period) for period in t))
            for t in (self.current_table, self.backup_table)
        ]
        return Data.structure(
            *tables, *times(self.switch_at, self.prices_at),
            numbers(self.current_prices), numbers(self.backup_prices),
            numbers((self.demand_period, *self.alarm_levels, *self.credit_limits,
                     *self.under_voltage, *self.over_voltage, *self.over_current)),
            Data.array(*(Data(_D.OAD, oad) for oad in self.display)),
            self._added_data(),
        )  # fmt: skip

    def _added_data(self) -> Data:
        """What was added after the first layout (a 9th item; a store without it is read as
        the factory's values): export permitted, the demand slide, the quality thresholds."""
        quality = (
            Data.structure(*(Data(_D.DOUBLE_LONG, v) for v in (oi, limit, delay)))
            for oi, (limit, delay) in sorted(self.quality.items())
        )
        return Data.structure(
            Data(_D.BOOL, self.may_export),
            Data(_D.UNSIGNED, self.demand_slide),
            Data.array(*quality),
        )

    def _load_added(self, value: Data) -> None:
        export, slide, quality = value.value
        thresholds = {}
        for item in quality.value:
            oi, limit, delay = (int(f.value) for f in item.value)
            if oi not in QUALITY_OBJECTS:
                raise ValueError(f"no quality threshold of object {oi:04X}")
            thresholds[oi] = (limit, delay)
        self.may_export, self.demand_slide = bool(export.value), int(slide.value)
        self.quality = {**QUALITY_FACTORY, **thresholds}

    def load(self, value: Data) -> None:
        """Take back what :meth:`to_data` saved (ValueError, TypeError or IndexError if it
        is not such a value; nothing is changed then)."""
        cur, bak, switch, prices_at, current, backup, scalars, display = value.value[:8]
        if len(value.value) > 9:
            raise ValueError("saved parameters of another shape")
        if len(value.value) == 9:
            self._load_added(value.value[8])

        def ints(v: Data) -> tuple[int, ...]:
            return tuple(int(x.value) for x in v.value)

        def table(v: Data) -> DayTable:
            return tuple((h, m, t) for h, m, t in (ints(p) for p in v.value))

        s = ints(scalars)
        if len(s) != 12 or any(not isinstance(item.value, OAD) for item in display.value):
            raise ValueError("saved parameters of another shape")
        loaded = (
            table(cur),
            table(bak),
            switch.value,
            prices_at.value,
            ints(current),
            ints(backup),
        )
        oads = tuple(item.value for item in display.value)
        (
            self.current_table,
            self.backup_table,
            self.switch_at,
            self.prices_at,
            self.current_prices,
            self.backup_prices,
        ) = loaded
        self.demand_period = s[0]
        self.alarm_levels, self.credit_limits = (s[1], s[2]), (s[3], s[4], s[5])
        self.under_voltage, self.over_voltage, self.over_current = (
            (s[6], s[7]), (s[8], s[9]), (s[10], s[11])
        )  # fmt: skip
        self.display = oads

    def switch_if_due(self, calendar: float) -> None:
        """Make the backup table and the backup prices current once the calendar reaches
        their switch-over times."""
        if self.switch_at is not None and calendar >= self.switch_at and self.backup_table:
            self.current_table, self.switch_at = self.backup_table, None
            self.saved()
        if self.prices_at is not None and calendar >= self.prices_at and self.backup_prices:
            self.current_prices, self.prices_at = self.backup_prices, None
            self._changed("prices")
            self.saved()

    def tariff_at(self, calendar: float) -> int | None:
        """The tariff the day-period table puts in force at ``calendar`` (None: no table)."""
        self.switch_if_due(calendar)
        if not self.current_table:
            return None
        moment = dt.datetime.fromtimestamp(calendar, dt.UTC)
        minute = moment.hour * 60 + moment.minute
        tariff = self.current_table[-1][2]  # before the first period: the day's last one
        for hour, start, number in self.current_table:
            if hour * 60 + start <= minute:
                tariff = number
        return tariff

    def _changed(self, what: str) -> None:
        for hook in self.on_change:
            hook(what)

    def for_expansion(self) -> list[str]:
        """What the expansion module must be told again after a restart: the values it uses
        that the station set (the factory's it has already)."""
        factory = MeterParameters(self.tariffs)
        told = {
            "may export": self.may_export,
            "alarm levels": self.alarm_levels != factory.alarm_levels,
            "over current": self.over_current != factory.over_current,
            "prices": bool(self.current_prices),
            "overdraft": self.credit_limits[0] != 0,
        }
        return [what for what, differs in told.items() if differs]

    def saved(self) -> None:
        """Tell the store hooks that a value changed."""
        for hook in self.on_saved:
            hook()


def expose_parameters(
    model: ObjectModel, p: MeterParameters, calendar: Callable[[], float]
) -> None:
    """Register the parameter objects of the module docstring on ``model``; a SET that
    succeeds is saved (:attr:`MeterParameters.on_saved`)."""

    def add(oi: int, attribute: int, getter: Getter, setter: Setter | None = None) -> None:
        def saving(value: Data) -> None:
            assert setter is not None
            setter(value)
            p.saved()

        model.add_attribute(oi, attribute, getter, None if setter is None else saving)

    add(0x4009, 2, _switch_time(p, "switch_at"), _set_switch_time(p, "switch_at"))
    add(0x4016, 2, lambda: _tables(p, calendar, current=True))
    add(0x4017, 2, lambda: _tables(p, calendar, current=False), _set_backup(p))
    add(0x400A, 2, _switch_time(p, "prices_at"), _set_switch_time(p, "prices_at"))
    add(0x4018, 2, lambda: _prices(p, calendar, current=True))
    add(0x4019, 2, lambda: _prices(p, calendar, current=False), _set_prices(p))
    add(0x4100, 2, lambda: Data(_D.UNSIGNED, p.demand_period), _set_demand_period(p))
    add(0x4101, 2, lambda: Data(_D.UNSIGNED, p.demand_slide), _set_demand_slide(p))
    add(MAY_EXPORT, 2, lambda: Data(_D.BOOL, p.may_export), _set_may_export(p))
    add(0x401E, 2, lambda: _amounts(p.alarm_levels), _set_alarm_levels(p))
    add(0x401F, 2, lambda: _amounts(p.credit_limits), _set_credit_limits(p))
    for oi, name, kind in (
        (0x3001, "under_voltage", _D.LONG_UNSIGNED),
        (0x3002, "over_voltage", _D.LONG_UNSIGNED),
        (0x3005, "over_current", _D.DOUBLE_LONG),
    ):
        add(oi, 5, _threshold(p, name, kind), _set_threshold(p, name, kind))
    add(0xF300, 2, lambda: _display(p), _set_display(p))
    for oi, (attribute, kind) in QUALITY_OBJECTS.items():
        add(oi, attribute, _quality(p, oi, kind), _set_quality(p, oi, kind))


def _quality(p: MeterParameters, oi: int, kind: DataType) -> Getter:
    def get() -> Data:
        limit, delay = p.quality[oi]
        return Data.structure(Data(kind, limit), Data(_D.UNSIGNED, delay))

    return get


def _set_quality(p: MeterParameters, oi: int, kind: DataType) -> Setter:
    def set_(value: Data) -> None:
        limit, delay = _fields(value, kind, _D.UNSIGNED)
        if limit <= 0:
            raise refuse(DAR.OUT_OF_RANGE, "an event threshold is above zero")
        p.quality = {**p.quality, oi: (limit, delay)}

    return set_


def _set_demand_slide(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.UNSIGNED:
            raise refuse(DAR.TYPE_MISMATCH, "4101 is unsigned minutes")
        if not value.value or p.demand_period % value.value:
            raise refuse(DAR.OUT_OF_RANGE, "the slip time divides the demand period")
        p.demand_slide = int(value.value)
        p._changed("demand")

    return set_


def _set_may_export(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.BOOL:
            raise refuse(DAR.TYPE_MISMATCH, "export permitted is a bool")
        p.may_export = bool(value.value)
        p._changed("may export")

    return set_


def _tables(p: MeterParameters, calendar: Callable[[], float], *, current: bool) -> Data:
    p.switch_if_due(calendar())
    table = p.current_table if current else p.backup_table
    if not table:
        return Data.array()
    periods = (
        Data.structure(Data(_D.UNSIGNED, h), Data(_D.UNSIGNED, m), Data(_D.UNSIGNED, t))
        for h, m, t in table
    )
    return Data.array(Data.array(*periods))


def _set_backup(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        p.backup_table = day_table(value, p.tariffs)

    return set_


def day_table(value: Data, tariffs: int) -> DayTable:
    """The first day table of a 4016/4017 value, checked (the meter keeps one day table)."""
    if value.type != _D.ARRAY or len(value.value) != 1 or value.value[0].type != _D.ARRAY:
        raise refuse(DAR.TYPE_MISMATCH, "a day-period table set is an array of one day table")
    periods: list[tuple[int, int, int]] = []
    for item in value.value[0].value:
        if item.type != _D.STRUCTURE or [f.type for f in item.value] != [_D.UNSIGNED] * 3:
            raise refuse(DAR.TYPE_MISMATCH, "a period is structure {hour, minute, tariff}")
        hour, minute, tariff = (int(f.value) for f in item.value)
        if hour > 23 or minute > 59:
            raise refuse(DAR.OUT_OF_RANGE, "a period starts at hh:mm of a day")
        if not 1 <= tariff <= tariffs:
            raise refuse(DAR.TARIFFS_EXCEEDED, f"this meter has tariffs 1 to {tariffs}")
        periods.append((hour, minute, tariff))
    if not 1 <= len(periods) <= MAX_PERIODS:
        raise refuse(DAR.DAY_SEGMENTS_EXCEEDED, f"a day table has 1 to {MAX_PERIODS} periods")
    starts = [h * 60 + m for h, m, _ in periods]
    if starts != sorted(set(starts)):
        raise refuse(DAR.OUT_OF_RANGE, "periods are in time order, each starting once")
    return tuple(periods)


def _switch_time(p: MeterParameters, name: str) -> Getter:
    def get() -> Data:
        at = getattr(p, name)
        return Data(_D.NULL) if at is None else Data(_D.DATE_TIME_S, DateTimeS.from_posix(at))

    return get


def _set_switch_time(p: MeterParameters, name: str) -> Setter:
    def set_(value: Data) -> None:
        if value.type == _D.NULL:
            setattr(p, name, None)
            return
        if value.type != _D.DATE_TIME_S:
            raise refuse(DAR.TYPE_MISMATCH, "a switch-over time is a date_time_s")
        try:
            setattr(p, name, float(value.value.to_posix()))
        except ValueError:
            raise refuse(DAR.OUT_OF_RANGE, "not a calendar date") from None

    return set_


#: The dearest price a meter takes, 0.0001 yuan/kWh (10 yuan; a bound, not a price).
MAX_PRICE = 100_000


def _prices(p: MeterParameters, calendar: Callable[[], float], *, current: bool) -> Data:
    p.switch_if_due(calendar())
    prices = p.current_prices if current else p.backup_prices
    return Data.array(*(Data(_D.DOUBLE_LONG_UNSIGNED, v) for v in prices))


def _set_prices(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.ARRAY or any(v.type != _D.DOUBLE_LONG_UNSIGNED for v in value.value):
            raise refuse(DAR.TYPE_MISMATCH, "prices are an array of double-long-unsigned")
        if not 1 <= len(value.value) <= p.tariffs:
            raise refuse(DAR.TARIFFS_EXCEEDED, f"this meter has tariffs 1 to {p.tariffs}")
        if any(not 0 < v.value <= MAX_PRICE for v in value.value):
            raise refuse(DAR.OUT_OF_RANGE, "a price is above 0 and at most 10 yuan/kWh")
        p.backup_prices = tuple(int(v.value) for v in value.value)

    return set_


def _set_demand_period(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.UNSIGNED:
            raise refuse(DAR.TYPE_MISMATCH, "4100 is unsigned minutes")
        if value.value not in DEMAND_PERIODS:
            raise refuse(DAR.OUT_OF_RANGE, f"a demand period is one of {sorted(DEMAND_PERIODS)}")
        if value.value % p.demand_slide:
            raise refuse(DAR.OUT_OF_RANGE, "the slip time (4101) divides the demand period")
        p.demand_period = int(value.value)
        p._changed("demand")

    return set_


def _amounts(values: tuple[int, ...]) -> Data:
    return Data.structure(*(Data(_D.DOUBLE_LONG_UNSIGNED, v) for v in values))


def _fields(value: Data, *types: DataType) -> tuple[int, ...]:
    if value.type != _D.STRUCTURE or tuple(f.type for f in value.value) != types:
        raise refuse(DAR.TYPE_MISMATCH, "parameter of the wrong shape")
    return tuple(int(f.value) for f in value.value)


def _set_alarm_levels(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        first, second = _fields(value, _D.DOUBLE_LONG_UNSIGNED, _D.DOUBLE_LONG_UNSIGNED)
        if first < second:
            raise refuse(DAR.OUT_OF_RANGE, "alarm level 1 is at least alarm level 2")
        p.alarm_levels = (first, second)
        p._changed("alarm levels")

    return set_


def _set_credit_limits(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        overdraft, hoarding, close_allowed = _fields(value, *(_D.DOUBLE_LONG_UNSIGNED,) * 3)
        if hoarding and close_allowed > hoarding:
            raise refuse(DAR.OUT_OF_RANGE, "the close-allowed limit is above the hoarding limit")
        p.credit_limits = (overdraft, hoarding, close_allowed)
        p._changed("overdraft")

    return set_


def _threshold(p: MeterParameters, name: str, kind: DataType) -> Getter:
    def get() -> Data:
        limit, delay = getattr(p, name)
        return Data.structure(Data(kind, limit), Data(_D.UNSIGNED, delay))

    return get


def _set_threshold(p: MeterParameters, name: str, kind: DataType) -> Setter:
    def set_(value: Data) -> None:
        limit, delay = _fields(value, kind, _D.UNSIGNED)
        if limit <= 0:
            raise refuse(DAR.OUT_OF_RANGE, "an event threshold is above zero")
        setattr(p, name, (limit, delay))
        p._changed(name.replace("_", " "))

    return set_


def _display(p: MeterParameters) -> Data:
    return Data.array(
        *(
            Data.structure(Data(_D.OAD, oad), Data(_D.UNSIGNED, screen))
            for screen, oad in enumerate(p.display, start=1)
        )
    )


def _set_display(p: MeterParameters) -> Setter:
    def set_(value: Data) -> None:
        if value.type != _D.ARRAY or not 1 <= len(value.value) <= MAX_DISPLAY_ITEMS:
            raise refuse(
                DAR.TYPE_MISMATCH, f"a display list is an array of 1 to {MAX_DISPLAY_ITEMS}"
            )
        oads = []
        for item in value.value:
            if item.type != _D.STRUCTURE or [f.type for f in item.value] != [_D.OAD, _D.UNSIGNED]:
                raise refuse(DAR.TYPE_MISMATCH, "a screen is structure {OAD, screen unsigned}")
            oads.append(item.value[0].value)
        p.display = tuple(oads)
        p._changed("display")

    return set_
