"""``/api/analytics/...``: the results of the station's analytics job (read role: any known
user). Per meter (daily energy, time-of-use split, maximum demand, load factor, base load,
typical days, cluster, anomaly score, estimated error; a day's 15-minute load curve), per
district (line loss per day, meters ranked from the most suspect) and for the fleet (top-N
lists, clusters). A meter or district the job has not taken in yet answers 404."""

from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from wattguard.station.analysis import AnalysisJob
from wattguard.station.analysis_views import district_view, fleet_view, load_curve, meter_view
from wattguard.station.api._dependencies import INT64, Caller, CurrentStation, known_meter

__all__ = ["router"]

router = APIRouter(tags=["analytics"])
_TERMINAL = "^[0-9a-fA-F]{12}$"


def _job(request: Request, station: CurrentStation) -> AnalysisJob:
    """The app's reader of the analytics tables (made once; it makes the tables if missing)."""
    job: AnalysisJob | None = getattr(request.app.state, "analysis", None)
    if job is None or job.storage is not station.storage:
        job = request.app.state.analysis = AnalysisJob(station.storage)
    return job


@router.get("/api/analytics/fleet")
async def fleet(
    _: Caller,
    station: CurrentStation,
    request: Request,
    n: int = Query(10, ge=1, le=1000, description="length of each top-N list"),
) -> dict[str, Any]:
    """The fleet: each district's latest line-loss rate, the top ``n`` meters by anomaly
    score, by size of estimated error and by energy on their latest day, and how many meters
    each cluster holds."""
    return fleet_view(_job(request, station), n)


@router.get("/api/analytics/meters/{address}")
async def meter(
    _: Caller, station: CurrentStation, request: Request, address: str = Path()
) -> dict[str, Any]:
    """A meter's consumption figures and mined results (energies in kWh, power in kW, the
    estimated error as reading / true - 1, times in POSIX seconds)."""
    view = meter_view(_job(request, station), known_meter(station, address))
    if view is None:
        raise HTTPException(404, f"meter {address} has not been analysed yet")
    return view


@router.get("/api/analytics/meters/{address}/curve")
async def curve(
    _: Caller,
    station: CurrentStation,
    request: Request,
    address: str = Path(),
    day: int = Query(..., ge=0, le=INT64[1] - 86400, description="a time in the UTC day wanted"),
) -> dict[str, Any]:
    """A meter's 15-minute load curve over one UTC day (kWh per interval, null where an
    interval is missing: never filled)."""
    return load_curve(_job(request, station), known_meter(station, address), day)


@router.get("/api/analytics/districts/{terminal}")
async def district(
    _: Caller,
    station: CurrentStation,
    request: Request,
    terminal: str = Path(pattern=_TERMINAL),
) -> dict[str, Any]:
    """A district's line loss per day (supply, loss energy and rate, intervals used) and its
    meters ranked from the most suspect (size of the estimated error, then anomaly score)."""
    view = district_view(_job(request, station), terminal.lower())
    if view is None:
        raise HTTPException(404, f"district {terminal} has not been analysed yet")
    return view
