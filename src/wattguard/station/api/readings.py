"""``/api/meters/{meter}/readings``, ``/api/meters/{meter}/freezes`` and
``/api/readings/latest``: stored readings and frozen values."""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query

from wattguard.station.api._dependencies import INT64, Caller, CurrentStation, known_meter

__all__ = ["router"]

router = APIRouter()


@router.get("/api/meters/{meter}/readings")
async def readings(
    meter: str,
    _: Caller,
    station: CurrentStation,
    quantity: str | None = Query(None, pattern="^([0-9A-Fa-f]{8}/)?[0-9A-Fa-f]{8}$"),
    start: int | None = Query(None, ge=INT64[0], le=INT64[1]),
    end: int | None = Query(None, ge=INT64[0], le=INT64[1]),
    limit: int = Query(1000, ge=1, le=100_000),
) -> list[dict[str, Any]]:
    meter = known_meter(station, meter)
    rows = station.storage.readings(
        meter, quantity.upper() if quantity else None, start, end, limit
    )
    return [asdict(r) for r in rows]


@router.get("/api/meters/{meter}/freezes")
async def freezes(
    meter: str,
    _: Caller,
    station: CurrentStation,
    object: str = Query("50020200", pattern="^50[0-9A-Fa-f]{2}0200$"),
    column: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
    start: int | None = Query(None, ge=INT64[0], le=INT64[1]),
    end: int | None = Query(None, ge=INT64[0], le=INT64[1]),
    limit: int = Query(1000, ge=1, le=100_000),
) -> list[dict[str, Any]]:
    """Frozen values: ``object`` 50020200 the 15-minute curve, 50040200 the day freeze;
    ``column`` the value (00100201: total forward active energy, kWh)."""
    meter = known_meter(station, meter)
    quantity = f"{object.upper()}/{column.upper()}"
    return [asdict(r) for r in station.storage.readings(meter, quantity, start, end, limit)]


@router.get("/api/readings/latest")
async def latest(
    _: Caller,
    station: CurrentStation,
    quantity: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
) -> list[dict[str, Any]]:
    return [asdict(r) for r in station.storage.latest(quantity.upper())]
