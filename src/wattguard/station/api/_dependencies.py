"""What the routes of the station's API share: the station they serve, the caller (from the
bearer token) and the checks of a meter address. An error quotes what the client sent only through
:func:`wattguard.station.records.shown` (cut, escaped).

``create_app`` keeps the station and the token lookup in ``app.state``; the dependencies here
read them from the request, so a route module holds plain functions and one router that any
number of apps can include.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency aliases (`Caller`,
# `CurrentStation`) from the live annotations.

import enum
import re
from typing import Annotated, Protocol, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wattguard.station.commands import User
from wattguard.station.records import shown
from wattguard.station.service import Station

__all__ = [
    "CALLER",
    "INT64",
    "Caller",
    "CurrentStation",
    "Limit",
    "Moment",
    "TokenLookup",
    "address",
    "bearer",
    "known_meter",
    "member",
]

_ADDRESS = re.compile(r"[0-9]{12}")
#: Where :class:`~wattguard.station.api._guard.RequestGuard` leaves the user it authenticated
#: in the request's ASGI scope.
CALLER = "wattguard.caller"
#: The range of a stored time (SQLite and PostgreSQL integers are 64-bit).
INT64 = (-(2**63), 2**63 - 1)


class TokenLookup(Protocol):
    """Who a bearer token belongs to: a station's :class:`~wattguard.station.users.
    UserDirectory`, or a plain ``{token: User}`` dict."""

    def get(self, token: str, /) -> User | None: ...


def station(request: Request) -> Station:
    """The station the app serves."""
    served: Station = request.app.state.station
    return served


def bearer(lookup: TokenLookup, authorization: str | None) -> User:
    """The user an ``Authorization`` header's bearer token belongs to; 401 without a token or
    with an unknown one."""
    if authorization is None or not authorization.startswith("Bearer "):
        raise HTTPException(401, "send Authorization: Bearer <token>")
    found = lookup.get(authorization.removeprefix("Bearer ").strip())
    if found is None:
        raise HTTPException(401, "unknown token")
    return found


#: The bearer scheme, declared in the OpenAPI description (the Authorize button of ``/docs``);
#: :func:`user` does the checking, with the request guard's answers.
_SCHEME = HTTPBearer(auto_error=False, description="a station user's token")


def user(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_SCHEME)] = None,
) -> User:
    """The user the bearer token belongs to (as the request guard found it before the body
    was read); 401 without a token or with an unknown one."""
    checked = request.scope.get(CALLER)
    if isinstance(checked, User):
        return checked
    return bearer(request.app.state.users, request.headers.get("authorization"))


Caller = Annotated[User, Depends(user)]
CurrentStation = Annotated[Station, Depends(station)]


def address(value: str) -> str:
    """``value`` if it is a meter address (12 digits, nothing else); 400 if not."""
    if not _ADDRESS.fullmatch(value):
        raise HTTPException(400, f"a meter address is 12 digits, not {shown(value)}")
    return value


#: A time filter of a listing (POSIX seconds); bounded so that a huge number is a 422.
Moment = Annotated[float | None, Query(ge=-1e15, le=1e15)]
#: How many rows a listing returns at most.
Limit = Annotated[int, Query(ge=1, le=10_000)]

_Kind = TypeVar("_Kind", bound=enum.Enum)


def member(kinds: type[_Kind], name: str | None, what: str) -> _Kind | None:
    """The member of ``kinds`` named ``name`` (any case, '-' or ' ' for '_'), None for None;
    400 naming every member if there is none."""
    if name is None:
        return None
    try:
        return kinds[name.upper().replace(" ", "_").replace("-", "_")]
    except KeyError:
        names = ", ".join(k.name.lower() for k in kinds)
        raise HTTPException(400, f"unknown {what} {shown(name)}; one of {names}") from None


def known_meter(served: Station, value: str) -> str:
    """``value`` if it is the address of a meter of the station; 400 or 404 if not."""
    meter = address(value)
    if served.registered_terminal(meter) is None:
        raise HTTPException(404, f"no meter {meter}")
    return meter
