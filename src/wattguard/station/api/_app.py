"""The station's API app: the routers of :mod:`wattguard.station.api` put together behind the
request guard (:mod:`._guard`: token before body, body caps, refusals recorded as security
events), with the handling every route shares (validation errors that never echo the input, a
row the storage refuses answered 400, not 500)."""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from wattguard.station.api import (
    analytics,
    audit,
    campaigns,
    charging,
    commands,
    dashboard,
    events,
    fleet,
    meters,
    ondemand,
    operations,
    readings,
    rules,
    summary,
    users,
)
from wattguard.station.api._dependencies import TokenLookup
from wattguard.station.api._guard import RequestGuard
from wattguard.station.records import InvalidRecord
from wattguard.station.service import Station

__all__ = ["create_app"]

#: The routers, in the order their routes are matched and described.
_ROUTERS = (
    users,
    audit,
    summary,
    meters,
    ondemand,
    readings,
    events,
    operations,
    commands,
    campaigns,
    fleet,
    rules,
    analytics,
    charging,
    dashboard,
)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes the input back, and answers 500 when that input is bytes
    # that are not UTF-8; say where and what, never echo.
    errors = [
        {"loc": [str(part)[:64] for part in e.get("loc", ())], "msg": str(e.get("msg", ""))[:200]}
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


async def _invalid_row(request: Request, exc: Exception) -> JSONResponse:
    # A value a route let through and the storage refused is still the client's bad input.
    return JSONResponse(status_code=400, content={"detail": str(exc)[:300]})


def create_app(
    station: Station, users: TokenLookup | None = None, *, guard: bool = True
) -> FastAPI:
    """The API of ``station``; tokens are checked against ``users`` (default: the station's
    own user directory, :attr:`Station.users`). ``guard=False`` leaves out the request
    guard's checks before the body (refusals are still recorded): the unprotected baseline of
    the attack harness, never a deployment."""
    app = FastAPI(
        title="wattguard master station",
        version="0.1",
        description="Meters, readings, freezes, security events, alerts and remote commands.",
        docs_url=None,  # served from the package by the dashboard's router, no CDN
        redoc_url=None,
    )
    app.state.station = station
    app.state.users = station.users if users is None else users
    app.state.charging = station.charging  # the jobs the runtime registers (the same dict)
    app.exception_handler(RequestValidationError)(_invalid)
    app.exception_handler(InvalidRecord)(_invalid_row)
    app.add_middleware(RequestGuard, station=station, users=app.state.users, enforce=guard)
    for module in _ROUTERS:
        app.include_router(module.router)
    return app
