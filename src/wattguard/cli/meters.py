"""``wattguard meters``: the station's register of meters (add, import, list, remove)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from wattguard.cli._common import DATABASE, Commands, existing_database
from wattguard.errors import ConfigError

if TYPE_CHECKING:
    from wattguard.station.records import MeterRecord

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``meters`` command."""
    meters = commands.add_parser(
        "meters",
        help="the station's meters: add, import FILE.csv, list, remove",
        description="Register meters behind their terminals. A running station also learns "
        "each meter from the first verified answer its terminal relays; a meter that then "
        "answers through another terminal is a security event until it is moved here.",
    )
    meters.add_argument("action", choices=("add", "import", "list", "remove"))
    meters.add_argument(
        "target", nargs="?", default=None,
        help="add, remove: the meter's 12 digits; import: a CSV file with the columns "
        "address,terminal[,class]",
    )  # fmt: skip
    meters.add_argument("--terminal", default=None, help="add: the terminal's 12 digits")
    meters.add_argument("--class", dest="meter_class", default=None, help="add: the meter's class")
    meters.add_argument(
        "--database", default=DATABASE, help=f"the station's storage URL ({DATABASE})"
    )
    meters.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the meters action on the station's storage."""
    from wattguard.clock import SystemClock
    from wattguard.station.register import MeterRegister
    from wattguard.station.storage import open_storage

    action, target = args.action, args.target
    if action != "list" and target is None:
        what = "a CSV FILE" if action == "import" else "a meter ADDRESS"
        raise ConfigError(f"wattguard meters {action} needs {what}")
    if action == "add" and args.terminal is None:
        raise ConfigError("wattguard meters add needs --terminal ADDRESS (12 digits)")
    text = ""
    if action == "import":
        try:
            text = Path(target).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read {target}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    url = args.database if action in ("add", "import") else existing_database(args.database)
    storage = open_storage(url)
    try:
        register = MeterRegister(storage, SystemClock().time)
        if action == "list":
            return _list(register.list(), url)
        if action == "remove":
            register.remove(target)
            print(f"meter {target} removed (its readings stay)")
            return 0
        changes = (
            register.import_csv(text)
            if action == "import"
            else [register.add(target, args.terminal, args.meter_class)]
        )
        for change in changes:
            moved = f" (from {change.previous})" if change.previous else ""
            print(f"{change.meter} behind {change.terminal}: {change.outcome}{moved}")
        if action == "import":
            counts = {o: sum(c.outcome == o for c in changes) for o in ("added", "moved")}
            print(f"{len(changes)} meters: {counts['added']} added, {counts['moved']} moved")
        return 0
    finally:
        storage.close()


def _list(records: list[MeterRecord], url: str) -> int:
    if not records:
        print(f"no meters in {url}; add one: wattguard meters add ADDRESS --terminal ADDRESS")
    for record in records:
        kind = record.meter_class or "-"
        print(f"{record.address}  terminal {record.terminal}  {kind:<10} {record.state.value}")
    return 0
