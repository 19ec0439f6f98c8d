"""``/api/meters`` and ``/api/meters/page``: the station's meters, all at once or a page at a
time with each one's latest reading."""

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from wattguard.station.api._dependencies import Caller, CurrentStation
from wattguard.station.api._models import MeterOut, MetersPageOut
from wattguard.station.records import InvalidRecord
from wattguard.station.storage import MAX_PAGE

__all__ = ["router"]

router = APIRouter()


@router.get("/api/meters", response_model=list[MeterOut])
async def meters(_: Caller, station: CurrentStation) -> list[dict[str, str]]:
    """Every meter, by address, with its terminal and its relay state as last learnt (a
    trip or close it confirmed, a relay event it reported, or a read of 8000; ``unknown``
    before); for a large fleet,
    ``/api/meters/page`` answers a page."""
    relay = station.relays.state
    return [{"address": a, "terminal": t, "relay": relay(a)} for a, t in station.storage.meters()]


@router.get("/api/meters/page", response_model=MetersPageOut)
async def meters_page(
    _: Caller,
    station: CurrentStation,
    q: str = Query("", description="the first digits of the addresses wanted"),
    after: str | None = Query(None, description="the `next` of the previous page"),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    quantity: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
) -> dict[str, Any]:
    """One page of meters by address, each with its latest reading of ``quantity`` (or
    null): ``{"meters": [{"address", "terminal", "latest": {"time", "value"}}], "total",
    "offset", "next"}``. ``q`` keeps the meters whose address starts with those digits
    (terminals are not searched); ``total`` counts them, ``offset`` is how many of them
    come before this page, ``next`` is the ``after`` of the following page (null on the
    last). Pages are keyed on the address, so a page costs the same anywhere in a fleet of
    any size, and a meter registered meanwhile shifts no page. A ``q`` or ``after`` that
    is not hex digits is refused with 400 and the reason."""
    storage = station.storage
    try:
        page = storage.meters_page(q, after, limit)
        total = storage.count_meters(q)
        offset = 0 if after is None else storage.count_meters(q, upto=after)
        latest = storage.latest(quantity.upper(), [address for address, _ in page])
    except InvalidRecord as refused:
        raise HTTPException(400, str(refused)) from None
    readings = {r.meter: {"time": r.time, "value": r.value} for r in latest}
    relay = station.relays.state
    rows = [
        {"address": a, "terminal": t, "relay": relay(a), "latest": readings.get(a)} for a, t in page
    ]
    more = page and offset + len(page) < total
    return {"meters": rows, "total": total, "offset": offset,
            "next": page[-1][0] if more else None}  # fmt: skip
