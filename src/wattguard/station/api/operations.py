"""``/api/operational-events``: what meters reported that operations staff act on
(:mod:`wattguard.station.operations`: over-current, voltage, temperature, battery, the expansion
module's alarms), stored beside the security events; their alerts are in ``/api/alerts`` under
rules named ``operational: ...``."""

from typing import Any

from fastapi import APIRouter

from wattguard.station.api._dependencies import (
    Caller,
    CurrentStation,
    Limit,
    Moment,
    address,
    member,
)
from wattguard.station.api._models import OperationalEventOut
from wattguard.station.records import OperationalKind

__all__ = ["router"]

router = APIRouter()


@router.get("/api/operational-events", response_model=list[OperationalEventOut])
async def operational_events(
    _: Caller,
    station: CurrentStation,
    kind: str | None = None,
    meter: str | None = None,
    since: Moment = None,
    until: Moment = None,
    limit: Limit = 100,
) -> list[dict[str, Any]]:
    wanted = member(OperationalKind, kind, "kind")
    wanted_meter = None if meter is None else address(meter).lower()
    rows = station.storage.operational_events(wanted, wanted_meter, since, until, limit)
    return [
        {"id": e.id, "time": e.time, "kind": e.kind.name.lower(), "meter": e.meter,
         "detail": e.detail, "received": e.received, "number": e.number, "ended": e.ended}
        for e in rows
    ]  # fmt: skip
