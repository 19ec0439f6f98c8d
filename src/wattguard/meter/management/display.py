"""The meter's LCD: the rotating list of items a real meter shows, rendered as text.

Each item is shown for ``dwell`` seconds in turn (5 s is the usual factory setting); the
list is the common default of a single-phase smart meter: date, time, combined and forward
active energy (total and per tariff), voltage, current, active power, relay state and, on a
prepaid meter, the remaining credit. Status symbols (alarm, relay open, protect) are shown on
every screen as a real LCD shows its annunciators, and a remote alarm's message (8000 method
127, e.g. "credit low") after them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from wattguard.meter.management.view import MeterView
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.objects import SYMBOLS, lookup

__all__ = ["Display"]

Item = tuple[str, Callable[[], str]]


class Display:
    """The meter's LCD as text: which of the rotating items is on screen at ``now``, rendered with
    the status annunciators (ALARM, OPEN, PROTECT)."""

    def __init__(self, module: MeterView, dwell: float = 5.0) -> None:
        self.module = module
        self.dwell = dwell
        self.items: list[Item] = self._default_items()

    def _default_items(self) -> list[Item]:
        m = self.module

        def kwh(oi: int, index: int) -> Callable[[], str]:
            return lambda: f"{m.registers.register(oi)[index] / 3.6e6:.2f} kWh"

        def measured(name: str, unit: str, digits: int) -> Callable[[], str]:
            def text() -> str:
                if m.measurement is None:
                    return "----"
                return f"{getattr(m.measurement, name):.{digits}f} {unit}"

            return text

        items: list[Item] = [
            ("date", lambda: self._calendar().strftime("%Y-%m-%d")),
            ("time", lambda: self._calendar().strftime("%H:%M:%S")),
            ("combined active energy", kwh(0x0000, 0)),
            ("forward active energy", kwh(0x0010, 0)),
        ]
        for tariff, name in zip(range(1, 5), ("peak", "flat", "valley", "tariff 4"), strict=False):
            if tariff <= m.registers.tariffs:
                items.append((f"forward active energy, {name}", kwh(0x0010, tariff)))
        items += [
            ("voltage", measured("voltage", "V", 1)),
            ("current", measured("current", "A", 3)),
            ("active power", measured("active_power", "W", 0)),
            ("relay", lambda: m.relay.state.value),
        ]
        if m.credit is not None:
            wallet = m.credit
            items.append(("credit", lambda: f"{wallet.balance() / 100:.2f} yuan"))
        return items

    def show(self, oads: tuple[OAD, ...]) -> None:
        """Rotate through ``oads`` (the station's display list, object F300) instead of the
        factory list; an empty list brings the factory list back."""
        if not oads:
            self.items = self._default_items()
            return
        self.items = [(_label(oad), self._value_of(oad)) for oad in oads]

    def _value_of(self, oad: OAD) -> Callable[[], str]:
        def text() -> str:
            value = self.module.model.get(oad)
            return "----" if not isinstance(value, Data) else _shown(oad, value)

        return text

    def _calendar(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.module.calendar(), dt.UTC)

    def current(self, now: float) -> int:
        """Index of the item on screen at ``now``."""
        return int(now // self.dwell) % len(self.items)

    def render(self, now: float) -> str:
        label, value = self.items[self.current(now)]
        flags = [
            flag
            for flag, on in (
                ("ALARM", self.module.relay.alarm),
                ("OPEN", not self.module.relay.supplying),
                ("PROTECT", self.module.relay.protected),
            )
            if on
        ]
        status = f" [{' '.join(flags)}]" if flags else ""
        message = self.module.relay.alarm_message if self.module.relay.alarm else ""
        return f"{label}: {value()}{status}" + (f" {message}" if message else "")


def _label(oad: OAD) -> str:
    info = lookup(oad.oi)
    return f"{oad.oi:04X}-{oad.attribute:02X}" if info is None else info.name


def _shown(oad: OAD, value: Data) -> str:
    """A value as an LCD shows it: the first element of an array, scaled, with its unit."""
    while value.type in (DataType.ARRAY, DataType.STRUCTURE) and value.value:
        value = value.value[0]
    if not isinstance(value.value, int) or isinstance(value.value, bool):
        return "----" if value.type == DataType.NULL else str(value.value)
    info = lookup(oad.oi)
    if info is None or info.scaler is None:
        return str(value.value)
    unit = "" if info.unit is None else f" {SYMBOLS[info.unit]}"
    return f"{value.value * 10.0**info.scaler:.{max(0, -info.scaler)}f}{unit}"
