"""``/api/events`` and ``/api/alerts``: the security events the station stored, and the alerts
its monitor raised from them."""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from wattguard.events import EventKind
from wattguard.station.api._dependencies import (
    Caller,
    CurrentStation,
    Limit,
    Moment,
    address,
    member,
)
from wattguard.station.api._models import AlertOut, EventOut

__all__ = ["router"]

router = APIRouter()


@router.get("/api/events", response_model=list[EventOut])
async def events(
    _: Caller,
    station: CurrentStation,
    kind: str | None = None,
    source: str | None = None,
    since: Moment = None,
    limit: Limit = 100,
    meter: str | None = None,
    until: Moment = None,
) -> list[dict[str, Any]]:
    wanted = member(EventKind, kind, "event kind")
    wanted_meter = None if meter is None else address(meter).lower()
    rows = station.storage.events(wanted, source, since, limit, meter=wanted_meter, until=until)
    return [
        {"id": e.id, "time": e.time, "kind": e.kind.name.lower(), "source": e.source,
         "detail": e.detail, "meter": e.meter, "received": e.received}
        for e in rows
    ]  # fmt: skip


@router.get("/api/alerts", response_model=list[AlertOut])
async def alerts(_: Caller, station: CurrentStation, open: bool = False) -> list[dict[str, Any]]:
    return [asdict(a) for a in station.storage.alerts(open_only=open)]
