"""``wattguard export``: a span of the station's readings as CSV, JSON lines or Parquet, each
row with its quantity's name and unit, its value rounded to the meter's scaler and its time in
ISO 8601 UTC (the rows of the API, :mod:`wattguard.station.api.readings`). Rows are read a page
at a time and written as they come, so an export of any size holds one page in memory (Parquet:
one row group of :data:`PARQUET_ROWS` rows). Parquet is written by ``pyarrow``, the
``parquet`` extra; without it the command says how to install it."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from wattguard.cli._common import DATABASE, Commands, existing_database
from wattguard.errors import ConfigError
from wattguard.station.api.readings import COLUMNS, exported

__all__ = ["PARQUET_ROWS", "add", "run", "utc_seconds"]

#: Rows per Parquet row group: what an export holds in memory at once.
PARQUET_ROWS = 50_000


def add(commands: Commands) -> None:
    """Add the ``export`` command."""
    export = commands.add_parser(
        "export",
        help="the station's readings between two times, as CSV or JSON lines",
        description="Write the readings stored between --from (included) and --to (excluded) "
        "to standard output, or --output FILE, with names, units and ISO 8601 UTC times.",
    )
    export.add_argument("--database", default=DATABASE, help=f"the storage URL ({DATABASE})")
    export.add_argument("--from", dest="start", required=True, help="ISO 8601 (UTC if no zone)")
    export.add_argument("--to", dest="end", required=True, help="ISO 8601 (UTC if no zone)")
    export.add_argument("--meters", nargs="*", default=None, help="only these meters (12 digits)")
    export.add_argument("--format", choices=("csv", "json", "parquet"), default="csv")
    export.add_argument(
        "--output", default=None, help="a file to write (default: stdout; parquet needs a file)"
    )
    export.set_defaults(run=run)


def utc_seconds(text: str, option: str) -> int:
    """``text`` (ISO 8601, UTC unless it names a zone, or POSIX seconds) as POSIX seconds."""
    value = text.strip()
    try:
        if value.lstrip("-").isdigit():
            return int(value)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option}: {value[:40]!r} is not an ISO 8601 time") from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def _write(out: TextIO, found: Iterator[dict[str, Any]], form: str) -> int:
    count = 0
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    if form == "csv":
        writer.writeheader()
    for row in found:
        if form == "csv":
            writer.writerow(row)
        else:
            out.write(json.dumps({k: row[k] for k in COLUMNS}) + "\n")
        count += 1
    return count


def _parquet_module() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError(
            "--format parquet needs pyarrow: pip install 'wattguard[parquet]' "
            "(or choose --format csv or json)"
        ) from None
    return pyarrow


def _write_parquet(path: str, found: Iterator[dict[str, Any]]) -> int:
    pa = _parquet_module()
    schema = pa.schema(
        [("meter", pa.string()), ("quantity", pa.string()), ("name", pa.string()),
         ("unit", pa.string()), ("at", pa.string()), ("time", pa.int64()),
         ("value", pa.float64())]
    )  # fmt: skip
    count = 0
    with pa.parquet.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for row in found:
            batch.append(row)
            if len(batch) == PARQUET_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def run(args: argparse.Namespace) -> int:
    """Write the export; its exit status."""
    from wattguard.station.records import normalise_meter
    from wattguard.station.storage import open_storage

    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    if end <= start:
        raise ConfigError("--to must come after --from")
    if args.format == "parquet":
        if args.output is None:
            raise ConfigError("--format parquet writes a file: give --output FILE.parquet")
        _parquet_module()  # before the database is opened: say what is missing first
    storage = open_storage(existing_database(args.database))
    try:
        wanted = args.meters or [address for address, _ in storage.meters()]
        meters = [normalise_meter(m) for m in wanted]
        if args.format == "parquet":
            count = _write_parquet(args.output, exported(storage, meters, start, end))
        elif args.output is None:
            count = _write(sys.stdout, exported(storage, meters, start, end), args.format)
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = _write(out, exported(storage, meters, start, end), args.format)
    finally:
        storage.close()
    print(f"exported {count} readings", file=sys.stderr)
    return 0
