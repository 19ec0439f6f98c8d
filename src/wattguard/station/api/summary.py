"""``/api/summary``: the station in a few numbers (the dashboard's header)."""

from typing import Any

from fastapi import APIRouter

from wattguard.station.api._dependencies import Caller, CurrentStation
from wattguard.station.api._models import SummaryOut

__all__ = ["router"]

router = APIRouter()


@router.get("/api/summary", response_model=SummaryOut)
async def summary(_: Caller, station: CurrentStation) -> dict[str, Any]:
    links = station.collector.links.values()
    return {
        "meters": station.storage.count_meters(),
        "terminals_online": station.collector.online(),
        "readings_stored": station.storage.count_readings(),
        "security_events": station.storage.count_events(),
        "open_alerts": len(station.storage.alerts(open_only=True)),
        "verified": None if station.hsm is None else station.hsm.verified,
        "refused": sum(link.refused for link in links),
    }
