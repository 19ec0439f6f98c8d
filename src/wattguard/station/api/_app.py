"""The station's API app: the routers of :mod:`wattguard.station.api` put together, with the
handling every route shares (validation errors that never echo the input, refusals recorded as
security events)."""

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from wattguard.events import EventKind, SecurityEvent
from wattguard.station.api import (
    analytics,
    audit,
    commands,
    dashboard,
    events,
    meters,
    readings,
    summary,
    users,
)
from wattguard.station.api._dependencies import TokenLookup
from wattguard.station.service import Station

__all__ = ["create_app"]

#: Refusals that become security events (403s are recorded by the command rules).
_REFUSALS = {400: EventKind.MALFORMED, 401: EventKind.AUTHENTICATION, 422: EventKind.MALFORMED}
#: The routers, in the order their routes are matched and described.
_ROUTERS = (users, audit, summary, meters, readings, events, commands, analytics, dashboard)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes the input back, and answers 500 when that input is bytes
    # that are not UTF-8; say where and what, never echo.
    errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


async def _monitor_refusals(request: Request, call_next: Any) -> Response:
    response: Response = await call_next(request)
    kind = _REFUSALS.get(response.status_code)
    if kind is not None:
        station: Station = request.app.state.station
        host = request.client.host if request.client is not None else "unknown host"
        status = response.status_code
        detail = f"{host}: {request.method} {request.url.path[:80]} refused ({status})"
        station.events.record(SecurityEvent(kind, "station/api", detail, station.clock.time()))
    return response


def create_app(station: Station, users: TokenLookup | None = None) -> FastAPI:
    """The API of ``station``; tokens are checked against ``users`` (default: the station's
    own user directory, :attr:`Station.users`)."""
    app = FastAPI(
        title="wattguard master station",
        version="0.1",
        description="Meters, readings, freezes, security events, alerts and remote commands.",
    )
    app.state.station = station
    app.state.users = station.users if users is None else users
    app.exception_handler(RequestValidationError)(_invalid)
    app.middleware("http")(_monitor_refusals)
    for module in _ROUTERS:
        app.include_router(module.router)
    return app
