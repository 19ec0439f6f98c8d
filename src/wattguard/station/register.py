"""The administrator's register of meters: which meter sits behind which terminal.

A station learns its meters from what its terminals relay (a verified answer on a terminal's
link registers the meter behind that terminal: :meth:`Station._meter_seen
<wattguard.station.service.Station>`); an administrator adds, imports, moves and removes
them here (``wattguard meters``), before the terminals report or to confirm a meter that
moved. Every change is an entry in the station's SM3-chained audit trail.

A CSV file to import has a header naming the columns ``address`` and ``terminal`` (and
optionally ``class``), then one meter a line, 12 digits each. The whole file is checked
before anything is stored: one bad line and nothing is imported, and the error names the
line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from wattguard.errors import ConfigError
from wattguard.station.audit import StationAudit
from wattguard.station.records import InvalidRecord, MeterRecord, normalise_meter
from wattguard.station.storage import Storage

__all__ = ["MeterRegister", "RegisterChange"]

#: The columns a CSV file to import may have (``class`` is optional).
_COLUMNS = ("address", "terminal", "class")


@dataclass(frozen=True, slots=True)
class RegisterChange:
    """What :meth:`MeterRegister.add` did to one meter: ``"added"``, ``"moved"`` (from
    ``previous``) or ``"unchanged"``."""

    meter: str
    terminal: str
    outcome: str
    previous: str | None = None


class MeterRegister:
    """The station's meters as the administrator sees them (see the module docstring)."""

    def __init__(self, storage: Storage, clock: Callable[[], float]) -> None:
        self.storage = storage
        self.clock = clock
        self.audit = StationAudit(storage, clock)

    def add(self, meter: str, terminal: str, meter_class: str | None = None) -> RegisterChange:
        """Register ``meter`` behind ``terminal`` (12 digits each), or move it there."""
        address, behind = _address(meter, "meter"), _address(terminal, "terminal")
        known = self.storage.meter(address)
        if (
            known is not None
            and known.terminal == behind
            and meter_class in (None, known.meter_class)
        ):
            return RegisterChange(address, behind, "unchanged")
        self.storage.register_meter(address, behind, self.clock(), meter_class)
        if known is None:
            self.audit("meter added", f"{address} behind terminal {behind}")
            return RegisterChange(address, behind, "added")
        if known.terminal == behind:
            self.audit("meter class", f"{address}: {meter_class}")
            return RegisterChange(address, behind, "unchanged")
        self.audit("meter moved", f"{address} from terminal {known.terminal} to {behind}")
        return RegisterChange(address, behind, "moved", known.terminal)

    def import_csv(self, text: str) -> list[RegisterChange]:
        """Add every meter of a CSV file's ``text`` (see the module docstring); nothing if a
        line is wrong (ConfigError naming it)."""
        rows = list(csv.reader(io.StringIO(text)))
        while rows and not any(cell.strip() for cell in rows[0]):
            rows.pop(0)
        if not rows:
            raise ConfigError(
                "the CSV file is empty: its first line names the columns address,terminal"
            )
        header = [cell.strip().lower() for cell in rows[0]]
        if "address" not in header or "terminal" not in header:
            raise ConfigError(
                f"the CSV file's first line must name the columns address and terminal "
                f"(and optionally class), not {','.join(header)!r}"
            )
        unknown = [name for name in header if name not in _COLUMNS]
        if unknown:
            raise ConfigError(f"the CSV file has unknown column(s) {', '.join(unknown)}")
        wanted: list[tuple[str, str, str | None]] = []
        seen: dict[str, int] = {}
        for number, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise ConfigError(f"line {number}: {len(row)} fields, the header has {len(header)}")
            fields = dict(zip(header, (cell.strip() for cell in row), strict=True))
            try:
                meter = _address(fields["address"], "meter")
                terminal = _address(fields["terminal"], "terminal")
            except ConfigError as exc:
                raise ConfigError(f"line {number}: {exc}") from None
            if meter in seen:
                raise ConfigError(
                    f"line {number}: meter {meter} again (first on line {seen[meter]})"
                )
            seen[meter] = number
            wanted.append((meter, terminal, fields.get("class") or None))
        return self._add_all(wanted)

    def _add_all(self, wanted: list[tuple[str, str, str | None]]) -> list[RegisterChange]:
        """:meth:`add` for each (meter, terminal, class), the changes stored in one
        transaction and audited in another (an archive of 100,000 meters takes seconds, not
        the minutes of a transaction and an audit entry each)."""
        where = dict(self.storage.meters())
        changes: list[RegisterChange] = []
        rows: list[tuple[str, str, str | None]] = []
        entries: list[tuple[str, str]] = []
        for meter, terminal, meter_class in wanted:
            known = where.get(meter)
            if known is None:
                entries.append(("meter added", f"{meter} behind terminal {terminal}"))
                changes.append(RegisterChange(meter, terminal, "added"))
            elif known != terminal:
                entries.append(("meter moved", f"{meter} from terminal {known} to {terminal}"))
                changes.append(RegisterChange(meter, terminal, "moved", known))
            else:
                record = None if meter_class is None else self.storage.meter(meter)
                changes.append(RegisterChange(meter, terminal, "unchanged"))
                if record is None or record.meter_class == meter_class:
                    continue
                entries.append(("meter class", f"{meter}: {meter_class}"))
            rows.append((meter, terminal, meter_class))
        self.storage.register_meters(rows, self.clock())
        self.audit.append_many(entries)
        return changes

    def remove(self, meter: str) -> None:
        """Take ``meter`` out of the register (its readings and events stay). A meter that
        still reports is learnt again behind the terminal that relays it."""
        address = _address(meter, "meter")
        if not self.storage.remove_meter(address):
            raise ConfigError(f"no meter {address} in the register (wattguard meters list)")
        self.audit("meter removed", address)

    def list(self) -> list[MeterRecord]:
        """Every registered meter, by address."""
        found = [self.storage.meter(address) for address, _ in self.storage.meters()]
        return [record for record in found if record is not None]


def _address(text: str, what: str) -> str:
    try:
        return normalise_meter(text.strip(), what=what)
    except InvalidRecord:
        raise ConfigError(
            f"a {what} address is 12 digits, e.g. 000000000001, not {text!r}"
        ) from None
