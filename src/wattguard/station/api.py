"""The master station's REST API (FastAPI; the OpenAPI description is served at
``/openapi.json`` and the interactive page at ``/docs``).

Reads (meters, readings, events, alerts, commands, a summary) need any known user; commands
need a user whose role allows them (:mod:`wattguard.station.commands`). Users authenticate with
``Authorization: Bearer <token>``; tokens belong to the station's users
(:mod:`wattguard.station.users`: ``wattguard users add`` makes one, ``wattguard demo`` makes
one per role and prints them), and ``/api/whoami`` says whose a token is. Errors are JSON
``{"detail": ...}`` with 400 (bad input), 401 (no or unknown token), 403 (refused by the
rules, with the reason), 404 (unknown meter or command). Refusals of bad input (400, 422) and
of unknown or missing tokens (401) are security events at the station (MALFORMED and
AUTHENTICATION, with the client's address and the path, never the token), so token guessing
and probing raise alerts like any other refusal; 403s are recorded by the command rules
themselves.

The web dashboard (:mod:`wattguard.station.web`) is served by the same app at ``/`` (and
``/dashboard``): a page that needs no token to load and calls these endpoints with the user's.

Endpoints are ``async``: they run on the event loop that also runs the station, so no state is
shared across threads.
"""

# No `from __future__ import annotations`: FastAPI reads the local dependency aliases
# (`Caller`) from the live annotations.

import re
from dataclasses import asdict
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from wattguard.events import EventKind, SecurityEvent
from wattguard.station.commands import Command, CommandKind, CommandRefused, User
from wattguard.station.records import InvalidRecord
from wattguard.station.service import Station
from wattguard.station.storage import MAX_PAGE
from wattguard.station.web import add_dashboard

__all__ = ["create_app"]

_ADDRESS = re.compile(r"^[0-9]{12}$")
#: Refusals that become security events (403s are recorded by the command rules).
_REFUSALS = {400: EventKind.MALFORMED, 401: EventKind.AUTHENTICATION, 422: EventKind.MALFORMED}
#: The range of a stored time (SQLite and PostgreSQL integers are 64-bit).
_INT64 = (-(2**63), 2**63 - 1)


class CommandIn(BaseModel):
    kind: str = Field(description="trip or close")
    meters: list[str] = Field(min_length=1, max_length=10_000, description="12-digit addresses")
    argument: str = ""


def _command(command: Command) -> dict[str, Any]:
    out = asdict(command)
    out["kind"] = command.kind.value
    out["state"] = command.state.value
    out["results"] = dict(command.results)
    return out


class TokenLookup(Protocol):
    """Who a bearer token belongs to: a station's :class:`~wattguard.station.users.
    UserDirectory`, or a plain ``{token: User}`` dict."""

    def get(self, token: str, /) -> User | None: ...


def create_app(station: Station, users: TokenLookup | None = None) -> FastAPI:
    """The API of ``station``; tokens are checked against ``users`` (default: the station's
    own user directory, :attr:`Station.users`)."""
    lookup: TokenLookup = station.users if users is None else users
    app = FastAPI(
        title="wattguard master station",
        version="0.1",
        description="Meters, readings, freezes, security events, alerts and remote commands.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and answers 500 when that input is
        # bytes that are not UTF-8; say where and what, never echo.
        errors = [
            {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.middleware("http")
    async def monitor_refusals(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        kind = _REFUSALS.get(response.status_code)
        if kind is not None:
            host = request.client.host if request.client is not None else "unknown host"
            detail = (
                f"{host}: {request.method} {request.url.path[:80]} refused ({response.status_code})"
            )
            station.events.record(SecurityEvent(kind, "station/api", detail, station.clock.time()))
        return response

    def user(authorization: Annotated[str | None, Header()] = None) -> User:
        if authorization is None or not authorization.startswith("Bearer "):
            raise HTTPException(401, "send Authorization: Bearer <token>")
        found = lookup.get(authorization.removeprefix("Bearer ").strip())
        if found is None:
            raise HTTPException(401, "unknown token")
        return found

    Caller = Annotated[User, Depends(user)]

    def address(value: str) -> str:
        if not _ADDRESS.match(value):
            raise HTTPException(400, f"a meter address is 12 digits, not {value!r}")
        return value

    @app.get("/api/whoami")
    async def whoami(caller: Caller) -> dict[str, str]:
        """The user the token belongs to, and their role."""
        return {"name": caller.name, "role": caller.role.name.lower()}

    @app.get("/api/audit")
    async def audit(_: Caller) -> dict[str, Any]:
        """The audit trail checked now: its length, the first entry that does not hold (or
        null), and the last entry the cryptographic device witnessed (or null)."""
        broken, witnessed = station.check_audit()
        return {
            "entries": len(station.storage.audit()),
            "broken_at": broken,
            "witnessed": None if witnessed is None else witnessed[0],
        }

    @app.get("/api/summary")
    async def summary(_: Caller) -> dict[str, Any]:
        links = station.collector.links.values()
        return {
            "meters": len(station.terminal_of),
            "terminals_online": sum(1 for link in links if link.logged_in),
            "readings_stored": station.storage.count_readings(),
            "security_events": station.storage.count_events(),
            "open_alerts": len(station.storage.alerts(open_only=True)),
            "verified": None if station.hsm is None else station.hsm.verified,
            "refused": sum(link.refused for link in links),
        }

    @app.get("/api/meters")
    async def meters(_: Caller) -> list[dict[str, str]]:
        """Every meter, by address; for a large fleet, ``/api/meters/page`` answers a page."""
        return [{"address": a, "terminal": t} for a, t in station.storage.meters()]

    @app.get("/api/meters/page")
    async def meters_page(
        _: Caller,
        q: str = Query("", description="the first digits of the addresses wanted"),
        after: str | None = Query(None, description="the `next` of the previous page"),
        limit: int = Query(50, ge=1, le=MAX_PAGE),
        quantity: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
    ) -> dict[str, Any]:
        """One page of meters by address, each with its latest reading of ``quantity`` (or
        null): ``{"meters": [{"address", "terminal", "latest": {"time", "value"}}], "total",
        "offset", "next"}``. ``q`` keeps the meters whose address starts with those digits
        (terminals are not searched); ``total`` counts them, ``offset`` is how many of them
        come before this page, ``next`` is the ``after`` of the following page (null on the
        last). Pages are keyed on the address, so a page costs the same anywhere in a fleet of
        any size, and a meter registered meanwhile shifts no page. A ``q`` or ``after`` that
        is not hex digits is refused with 400 and the reason."""
        storage = station.storage
        try:
            page = storage.meters_page(q, after, limit)
            total = storage.count_meters(q)
            offset = 0 if after is None else storage.count_meters(q, upto=after)
            latest = storage.latest(quantity.upper(), [address for address, _ in page])
        except InvalidRecord as refused:
            raise HTTPException(400, str(refused)) from None
        readings = {r.meter: {"time": r.time, "value": r.value} for r in latest}
        rows = [{"address": a, "terminal": t, "latest": readings.get(a)} for a, t in page]
        more = page and offset + len(page) < total
        return {"meters": rows, "total": total, "offset": offset,
                "next": page[-1][0] if more else None}  # fmt: skip

    @app.get("/api/meters/{meter}/readings")
    async def readings(
        meter: str,
        _: Caller,
        quantity: str | None = Query(None, pattern="^([0-9A-Fa-f]{8}/)?[0-9A-Fa-f]{8}$"),
        start: int | None = Query(None, ge=_INT64[0], le=_INT64[1]),
        end: int | None = Query(None, ge=_INT64[0], le=_INT64[1]),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> list[dict[str, Any]]:
        meter = address(meter)
        if meter not in station.terminal_of:
            raise HTTPException(404, f"no meter {meter}")
        rows = station.storage.readings(
            meter, quantity.upper() if quantity else None, start, end, limit
        )
        return [asdict(r) for r in rows]

    @app.get("/api/meters/{meter}/freezes")
    async def freezes(
        meter: str,
        _: Caller,
        object: str = Query("50020200", pattern="^50[0-9A-Fa-f]{2}0200$"),
        column: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$"),
        start: int | None = Query(None, ge=_INT64[0], le=_INT64[1]),
        end: int | None = Query(None, ge=_INT64[0], le=_INT64[1]),
        limit: int = Query(1000, ge=1, le=100_000),
    ) -> list[dict[str, Any]]:
        """Frozen values: ``object`` 50020200 the 15-minute curve, 50040200 the day freeze;
        ``column`` the value (00100201: total forward active energy, kWh)."""
        meter = address(meter)
        if meter not in station.terminal_of:
            raise HTTPException(404, f"no meter {meter}")
        quantity = f"{object.upper()}/{column.upper()}"
        return [asdict(r) for r in station.storage.readings(meter, quantity, start, end, limit)]

    @app.get("/api/readings/latest")
    async def latest(
        _: Caller, quantity: str = Query("00100201", pattern="^[0-9A-Fa-f]{8}$")
    ) -> list[dict[str, Any]]:
        return [asdict(r) for r in station.storage.latest(quantity.upper())]

    @app.get("/api/events")
    async def events(
        _: Caller,
        kind: str | None = None,
        source: str | None = None,
        since: float | None = Query(None, ge=-1e15, le=1e15),
        limit: int = Query(100, ge=1, le=10_000),
        meter: str | None = None,
        until: float | None = Query(None, ge=-1e15, le=1e15),
    ) -> list[dict[str, Any]]:
        wanted = None
        if kind is not None:
            try:
                wanted = EventKind[kind.upper()]
            except KeyError:
                names = ", ".join(k.name.lower() for k in EventKind)
                raise HTTPException(400, f"unknown event kind {kind!r}; one of {names}") from None
        wanted_meter = None if meter is None else address(meter).lower()
        rows = station.storage.events(wanted, source, since, limit, meter=wanted_meter, until=until)
        return [
            {"id": e.id, "time": e.time, "kind": e.kind.name.lower(), "source": e.source,
             "detail": e.detail, "meter": e.meter, "received": e.received}
            for e in rows
        ]  # fmt: skip

    @app.get("/api/alerts")
    async def alerts(_: Caller, open: bool = False) -> list[dict[str, Any]]:
        return [asdict(a) for a in station.storage.alerts(open_only=open)]

    @app.get("/api/commands")
    async def commands(_: Caller) -> list[dict[str, Any]]:
        return [_command(c) for c in station.storage.commands(limit=1000)]

    @app.get("/api/commands/{command_id}")
    async def command(command_id: int, _: Caller) -> dict[str, Any]:
        try:
            return _command(station.commands.get(command_id))
        except CommandRefused:
            raise HTTPException(404, f"no command {command_id}") from None

    @app.post("/api/commands", status_code=201)
    async def issue(body: CommandIn, caller: Caller) -> dict[str, Any]:
        try:
            kind = CommandKind(body.kind.lower())
        except ValueError:
            raise HTTPException(400, f"unknown command kind {body.kind!r}") from None
        meters = tuple(address(m) for m in body.meters)
        try:
            return _command(station.issue(caller, kind, meters, body.argument))
        except CommandRefused as refused:
            raise HTTPException(403, refused.reason) from None

    @app.post("/api/commands/{command_id}/approve")
    async def approve(command_id: int, caller: Caller) -> dict[str, Any]:
        try:
            return _command(station.approve(caller, command_id))
        except CommandRefused as refused:
            status = 404 if refused.reason.startswith("no command") else 403
            raise HTTPException(status, refused.reason) from None

    @app.post("/api/commands/{command_id}/reject")
    async def reject(command_id: int, caller: Caller) -> dict[str, Any]:
        try:
            return _command(station.reject(caller, command_id))
        except CommandRefused as refused:
            status = 404 if refused.reason.startswith("no command") else 403
            raise HTTPException(status, refused.reason) from None

    add_dashboard(app)
    return app
