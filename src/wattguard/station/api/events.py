"""``/api/events`` and ``/api/alerts``: the security events the station stored, and the alerts
its monitor raised from them."""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from wattguard.events import EventKind
from wattguard.station.api._dependencies import Caller, CurrentStation, address
from wattguard.station.api._models import AlertOut, EventOut
from wattguard.station.records import shown

__all__ = ["router"]

router = APIRouter()


def _kind(name: str | None) -> EventKind | None:
    if name is None:
        return None
    try:
        return EventKind[name.upper()]
    except KeyError:
        names = ", ".join(k.name.lower() for k in EventKind)
        raise HTTPException(400, f"unknown event kind {shown(name)}; one of {names}") from None


@router.get("/api/events", response_model=list[EventOut])
async def events(
    _: Caller,
    station: CurrentStation,
    kind: str | None = None,
    source: str | None = None,
    since: float | None = Query(None, ge=-1e15, le=1e15),
    limit: int = Query(100, ge=1, le=10_000),
    meter: str | None = None,
    until: float | None = Query(None, ge=-1e15, le=1e15),
) -> list[dict[str, Any]]:
    wanted = _kind(kind)
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
