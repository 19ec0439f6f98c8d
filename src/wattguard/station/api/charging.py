"""``/api/charging/...``: the orderly-charging jobs of the districts (read: any known user;
a demand-response request, an EV plugged in or out: operator role or above).

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
from wattguard.station.charging import DistrictCharging, Replan
from wattguard.station.commands import Role, User

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


class SessionIn(BaseModel):
    """An EV plugged in at ``pile`` wanting ``energy_kwh`` by ``depart`` (POSIX seconds)."""

    model_config = ConfigDict(extra="forbid")
    pile: str = Field(pattern="^[0-9A-Fa-f]{12}$|^[A-Za-z0-9._-]{1,48}$")
    energy_kwh: float = Field(gt=0, le=500, description="kWh the EV needs")
    depart: float = Field(gt=0, lt=1e11, description="when it leaves (POSIX seconds)")


def _operator(caller: User, what: str) -> None:
    if caller.role < Role.OPERATOR:
        raise HTTPException(403, f"{what} needs the operator role")


def _replan(replan: Replan) -> dict[str, Any]:
    return {"interval": replan.interval, "reason": replan.reason,
            "unmet_kwh": replan.unmet_kwh, "peak_kw": replan.peak_kw}  # fmt: skip


@router.post("/api/charging/{district}/sessions")
async def plug_in(
    body: SessionIn,
    caller: Caller,
    station: CurrentStation,
    request: Request,
    district: str = Path(pattern=_DISTRICT),
) -> dict[str, Any]:
    """An EV plugs in at one of the district's piles: the plan is recomputed from now (its
    limits go out at the station's next tick). Operator role or above; audited."""
    _operator(caller, "plugging an EV in")
    job = _job(request, district)
    if body.pile not in job.piles:
        raise HTTPException(404, f"no pile {body.pile} in district {district}")
    now = station.clock.time()
    if body.depart <= now:
        raise HTTPException(422, "the EV must leave after now")
    job.plug_in(body.pile, body.energy_kwh, body.depart, now)
    station.audit("charging", f"EV at {body.pile} ({body.energy_kwh:g} kWh) by {caller.name}")
    return {"replan": _replan(job.replans[-1])}


@router.delete("/api/charging/{district}/sessions/{pile}")
async def unplug(
    pile: str,
    caller: Caller,
    station: CurrentStation,
    request: Request,
    district: str = Path(pattern=_DISTRICT),
) -> dict[str, Any]:
    """The EV at ``pile`` leaves now. Operator role or above; audited."""
    _operator(caller, "unplugging an EV")
    job = _job(request, district)
    if pile not in job.piles:
        raise HTTPException(404, f"no pile {pile} in district {district}")
    job.unplug(pile, station.clock.time())
    station.audit("charging", f"EV left {pile} by {caller.name}")
    return {"replan": _replan(job.replans[-1])}


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
