"""``/api/meters/{meter}/readings``, ``/api/meters/{meter}/freezes`` and
``/api/readings/latest``: stored readings and frozen values.

Each row carries, beside its raw quantity code (the OAD, prefixed by the record object for a
frozen value) and its POSIX ``time``, the quantity's ``name`` and ``unit`` from the object
catalogue (:func:`wattguard.protocol.objects.lookup`), ``at``: the time in ISO 8601 UTC, and
its ``value`` rounded to the meter's own scaler (no float noise: 1.14, not
1.1400000000000001). ``start`` and ``end`` take ISO 8601 (a time without a zone is UTC) as
well as POSIX seconds. A meter's readings and freezes come newest first, a page at a time:
``{"readings": [...], "next": cursor}``, and ``?cursor=`` with that ``next`` gives the page
after (``next`` is ``null`` on the last page), so no row is silently left out."""

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from wattguard.protocol.objects import SYMBOLS, InterfaceClass, lookup
from wattguard.station.api._dependencies import INT64, Caller, CurrentStation, known_meter
from wattguard.station.api._models import ReadingOut, ReadingsPageOut
from wattguard.station.ingest import Reading
from wattguard.station.records import normalise_meter
from wattguard.station.storage import Storage

__all__ = ["COLUMNS", "described", "exported", "instant", "router", "shown"]

router = APIRouter()

_TIME = "POSIX seconds or ISO 8601 (UTC unless a zone is given)"


def instant(value: str | None, name: str) -> int | None:
    """``value`` (POSIX seconds or ISO 8601, UTC unless it names a zone) as POSIX seconds;
    422 naming ``name`` when it is neither, or beyond 64 bits."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = int(text) if text.lstrip("-").isdigit() else None
        if seconds is None:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
            seconds = int(when.timestamp())
    except (ValueError, OverflowError):
        raise _invalid(name, "give POSIX seconds or an ISO 8601 time") from None
    if not INT64[0] <= seconds <= INT64[1]:
        raise _invalid(name, "out of range (64-bit POSIX seconds)")
    return seconds


def _invalid(name: str, why: str) -> HTTPException:
    # the shape of the app's validation errors (422, where and what, never the input)
    return HTTPException(422, [{"loc": ["query", name], "msg": why}])


def _element(kind: InterfaceClass, element: int) -> str:
    # DL/T 698.45: an energy's array holds the total, then one value per tariff
    if element == 0:
        return ""
    if kind == InterfaceClass.ENERGY:
        return ", total" if element == 1 else f", tariff {element - 1}"
    return f" #{element}"


def described(quantity: str) -> tuple[str, str | None, int | None]:
    """The name, unit symbol and decimal places (from the scaler) of a stored ``quantity``:
    ``"00100201"`` or ``"50020200/00100201"``; an object the catalogue lacks is named by its
    code, with no unit and no rounding."""
    record, _, column = quantity.rpartition("/")
    oi, attribute, element = int(column[:4], 16), int(column[4:6], 16), int(column[6:8], 16)
    info = lookup(oi)
    if info is None:
        return f"object {column[:4]} attribute {attribute}", None, None
    name = info.name + _element(info.interface_class, element)
    if record:
        frozen = lookup(int(record[:4], 16))
        name += f" ({frozen.name if frozen is not None else 'record ' + record})"
    if info.scaler is None or info.unit is None:
        return name, None, None
    scaler = info.scaler - (2 if attribute == 4 and info.high_precision else 0)
    return name, SYMBOLS[info.unit], max(0, -scaler)


def shown(reading: Reading) -> dict[str, Any]:
    """A stored reading as the API gives it (see the module docstring)."""
    name, unit, places = described(reading.quantity)
    row = reading._asdict()
    value = reading.value if places is None else round(reading.value, places)
    at = datetime.fromtimestamp(reading.time, UTC).isoformat().replace("+00:00", "Z")
    row.update(name=name, unit=unit, value=value, at=at)
    return row


_CURSOR = "^-?[0-9]{1,19}/([0-9A-Fa-f]{8}/)?[0-9A-Fa-f]{8}$"
#: Where a first page starts: after every stored row.
_NEWEST = (INT64[1], "FFFFFFFF/FFFFFFFF")


def _page(
    station: CurrentStation,
    meter: str,
    quantity: str | None,
    span: tuple[str | None, str | None],
    limit: int,
    cursor: str | None,
) -> dict[str, Any]:
    """A page of a meter's readings, newest first, and ``next``: the cursor of the page after
    it (``None`` on the last page)."""
    before = _NEWEST
    if cursor is not None:
        time, _, after = cursor.partition("/")
        if not INT64[0] <= int(time) <= INT64[1]:
            raise _invalid("cursor", "out of range (64-bit POSIX seconds)")
        before = (int(time), after.upper())
    start, end = instant(span[0], "start"), instant(span[1], "end")
    rows = station.storage.readings(meter, quantity, start, end, limit, before=before)
    last = rows[-1] if len(rows) == limit else None
    return {
        "readings": [shown(r) for r in rows],
        "next": None if last is None else f"{last.time}/{last.quantity}",
    }


@router.get("/api/meters/{meter}/readings", response_model=ReadingsPageOut)
async def readings(
    meter: str,
    _: Caller,
    station: CurrentStation,
    quantity: str | None = Query(None, pattern="^([0-9A-Fa-f]{8}/)?[0-9A-Fa-f]{8}$"),
    start: str | None = Query(None, max_length=40, description=_TIME),
    end: str | None = Query(None, max_length=40, description=_TIME),
    limit: int = Query(1000, ge=1, le=100_000),
    cursor: str | None = Query(None, pattern=_CURSOR, description="the `next` of a page"),
) -> dict[str, Any]:
    """A meter's readings, newest first, ``limit`` to a page; ``next`` is the ``cursor`` that
    asks for the page after (``null`` on the last)."""
    meter = known_meter(station, meter)
    span = (start, end)
    return _page(station, meter, quantity.upper() if quantity else None, span, limit, cursor)


@router.get("/api/meters/{meter}/freezes", response_model=ReadingsPageOut)
async def freezes(
    meter: str,
    _: Caller,
    station: CurrentStation,
    object: str = Query("50020200", pattern="^50[0-9A-Fa-f]{2}0200$"),
    column: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
    start: str | None = Query(None, max_length=40, description=_TIME),
    end: str | None = Query(None, max_length=40, description=_TIME),
    limit: int = Query(1000, ge=1, le=100_000),
    cursor: str | None = Query(None, pattern=_CURSOR, description="the `next` of a page"),
) -> dict[str, Any]:
    """Frozen values, newest first, paged as readings are: ``object`` 50020200 the 15-minute
    curve, 50040200 the day freeze; ``column`` the value (00100201: total forward active
    energy, kWh)."""
    meter = known_meter(station, meter)
    quantity = f"{object.upper()}/{column.upper()}"
    return _page(station, meter, quantity, (start, end), limit, cursor)


@router.get("/api/readings/latest", response_model=list[ReadingOut])
async def latest(
    _: Caller,
    station: CurrentStation,
    quantity: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
) -> list[dict[str, Any]]:
    return [shown(r) for r in station.storage.latest(quantity.upper())]


#: The columns of an export (``/api/readings/export.csv``, ``wattguard export``), in order.
COLUMNS = ("meter", "quantity", "name", "unit", "at", "time", "value")
_EXPORT_PAGE = 5000


def exported(storage: Storage, meters: list[str], start: int, end: int) -> Iterator[dict[str, Any]]:
    """The readings of ``meters`` with ``start <= time < end``, meter by meter, newest first,
    as :func:`shown` gives them, read a page at a time."""
    for meter in meters:
        before = (end, "FFFFFFFF/FFFFFFFF")
        while True:
            page = storage.readings(meter, None, start, end, _EXPORT_PAGE, before=before)
            yield from (shown(r) for r in page)
            if len(page) < _EXPORT_PAGE:
                break
            before = (page[-1].time, page[-1].quantity)


def _csv(found: Iterator[dict[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in found:
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get("/api/readings/export.csv", response_class=StreamingResponse)
async def export(
    _: Caller,
    station: CurrentStation,
    start: str = Query(..., max_length=40, description=_TIME),
    end: str = Query(..., max_length=40, description=_TIME),
    meters: str | None = Query(None, max_length=13 * 1000, description="comma-separated"),
) -> StreamingResponse:
    """The readings between ``start`` (included) and ``end`` (excluded) as CSV, streamed, with
    names, units and ISO 8601 UTC times (every meter, or the comma-separated ``meters``)."""
    first, last = instant(start, "start") or 0, instant(end, "end") or 0  # both given
    if meters:
        chosen = [known_meter(station, m) for m in meters.split(",")]
    else:
        chosen = [address for address, _ in station.storage.meters()]
    rows = _csv(exported(station.storage, [normalise_meter(m) for m in chosen], first, last))
    headers = {"Content-Disposition": 'attachment; filename="readings.csv"'}
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers=headers)
