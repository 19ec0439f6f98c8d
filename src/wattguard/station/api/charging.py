"""``/api/charging/...``: the orderly-charging jobs of the districts (read: any known user;
a demand-response request: operator role or above).

The jobs (:class:`wattguard.station.charging.DistrictCharging`, one per district) are kept in
``app.state.charging`` as ``{district: job}`` by whoever runs them (the deployment or the
demo); an app without them answers 404. A district's view holds the forecast against the
measured base load, the planned EV power against the capacity line, the sessions, the
re-plans and the demand responses with what the meters' readings showed afterwards.
"""

from typing import Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from wattguard.station.api._dependencies import Caller, CurrentStation
from wattguard.station.charging import DistrictCharging
from wattguard.station.commands import Role

__all__ = ["router"]

router = APIRouter(tags=["charging"])
_DISTRICT = "^[0-9a-fA-F]{12}$"


class DemandResponseIn(BaseModel):
    """Shed ``shed_kw`` in the district for ``hours`` from now, by lowering pile limits."""

    model_config = ConfigDict(extra="forbid")
    shed_kw: float = Field(gt=0, le=100_000, description="kW to shed")
    hours: float = Field(1.0, ge=0.25, le=24, description="for how long")


def _jobs(request: Request) -> dict[str, DistrictCharging]:
    jobs: dict[str, DistrictCharging] | None = getattr(request.app.state, "charging", None)
    return jobs or {}


def _job(request: Request, district: str) -> DistrictCharging:
    job = _jobs(request).get(district.lower())
    if job is None:
        raise HTTPException(404, f"no charging job for district {district}")
    return job


@router.get("/api/charging")
async def districts(_: Caller, request: Request) -> dict[str, Any]:
    """The districts with an orderly-charging job, each with its capacity and piles."""
    return {
        "districts": [
            {"district": name, "capacity_kw": job.capacity_kw, "piles": sorted(job.piles)}
            for name, job in sorted(_jobs(request).items())
        ]
    }


@router.get("/api/charging/{district}")
async def district(
    _: Caller, request: Request, district: str = Path(pattern=_DISTRICT)
) -> dict[str, Any]:
    """One district's job: forecast and actual base load (kW), planned and drawn EV power (kW)
    per interval against ``capacity_kw``, sessions, re-plans, demand responses."""
    return _job(request, district).view()


@router.post("/api/charging/{district}/demand-response")
async def demand_response(
    body: DemandResponseIn,
    caller: Caller,
    station: CurrentStation,
    request: Request,
    district: str = Path(pattern=_DISTRICT),
) -> dict[str, Any]:
    """Shed ``shed_kw`` for ``hours``: pile limits chosen with the least curtailed comfort,
    sent at once; the result (kW shed from the readings) appears in the district's view once
    the window has passed. Operator role or above (403 otherwise)."""
    if caller.role < Role.OPERATOR:
        raise HTTPException(403, "a demand response needs the operator role")
    job = _job(request, district)
    response = job.demand_response(body.shed_kw, station.clock.time(), body.hours)
    return {
        "asked_kw": response.asked_kw, "limits": response.limits, "cut": response.cut,
        "comfort": response.comfort, "first": response.first, "last": response.last,
        "shortfall_kw": max(response.asked_kw - sum(response.cut.values()), 0.0),
    }  # fmt: skip
