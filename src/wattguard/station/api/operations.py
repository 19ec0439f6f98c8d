"""``/api/operational-events``: what meters reported that operations staff act on
(:mod:`wattguard.station.operations`: over-current, voltage, temperature, battery, the expansion
module's alarms), stored beside the security events; their alerts are in ``/api/alerts`` under
rules named ``operational: ...``."""

from typing import Any

from fastapi import APIRouter, HTTPException, Query

from wattguard.station.api._dependencies import Caller, CurrentStation, address
from wattguard.station.api._models import OperationalEventOut
from wattguard.station.records import OperationalKind, shown

__all__ = ["router"]

router = APIRouter()


def _kind(name: str | None) -> OperationalKind | None:
    if name is None:
        return None
    try:
        return OperationalKind[name.upper().replace(" ", "_").replace("-", "_")]
    except KeyError:
        names = ", ".join(k.name.lower() for k in OperationalKind)
        raise HTTPException(400, f"unknown kind {shown(name)}; one of {names}") from None


@router.get("/api/operational-events", response_model=list[OperationalEventOut])
async def operational_events(
    _: Caller,
    station: CurrentStation,
    kind: str | None = None,
    meter: str | None = None,
    since: float | None = Query(None, ge=-1e15, le=1e15),
    until: float | None = Query(None, ge=-1e15, le=1e15),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    wanted = _kind(kind)
    wanted_meter = None if meter is None else address(meter).lower()
    rows = station.storage.operational_events(wanted, wanted_meter, since, until, limit)
    return [
        {"id": e.id, "time": e.time, "kind": e.kind.name.lower(), "meter": e.meter,
         "detail": e.detail, "received": e.received}
        for e in rows
    ]  # fmt: skip
