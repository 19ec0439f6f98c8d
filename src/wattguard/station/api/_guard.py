"""The request guard: the ASGI middleware in front of every route of the station's API.

Theory of operation. An HTTP request reaches the routes only through :class:`RequestGuard`,
which decides from the request line and headers alone, before a byte of the body is read:

1. **Token first.** A path under ``/api/`` needs a known bearer token; without one the answer
   is 401 at once, and the body (whatever its size) is never read, parsed or kept. The user
   found is left in the scope (:data:`~wattguard.station.api._dependencies.CALLER`) for the
   routes. The dashboard's files and the OpenAPI description need no token.
2. **Size before reading.** Each endpoint has a body cap (:data:`BODY_LIMITS`, and
   :data:`DEFAULT_BODY_LIMIT` for every other route, none of which takes a body). A declared
   ``Content-Length`` above the cap is refused with 413 before reading; a chunked body is
   counted while it streams and refused with 413 as soon as it passes the cap, so the guard
   never holds more than the cap.
3. **Bounded parsing.** A body within its cap is checked for JSON nesting deeper than
   :data:`MAX_DEPTH` (400) by a linear scan, before the framework parses it; the routes then
   see the body the guard read.

So the work an unauthenticated client can cause is a header parse and one refusal, and an
authenticated one can make the station read and parse at most the cap of the endpoint it
calls: no request stalls the event loop that the collector shares.

Every refusal the API answers (by the guard or by a route: 400, 401, 413, 422) is a security
event of ``station/api`` with the client's address, the method and the path (never the token,
never the body), recorded with
:meth:`~wattguard.station.monitor.SecurityMonitor.record_repeated` keyed on the client's
address and the status, so a client refused a thousand times a minute is one event whose
count, first and last times grow, and the monitor's rules still count every refusal.

``RequestGuard(..., enforce=False)`` only records refusals: the API as it was before the guard
(the body read and parsed before the token is checked), kept for the attack harness's
unprotected baseline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from wattguard.events import EventKind, SecurityEvent
from wattguard.station.api._dependencies import CALLER, TokenLookup, bearer
from wattguard.station.service import Station

__all__ = [
    "BODY_LIMITS",
    "DEFAULT_BODY_LIMIT",
    "MAX_DEPTH",
    "REFUSAL_WINDOW",
    "BodyLimit",
    "RequestGuard",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """The largest body (bytes) a request of ``method`` to a path matching ``path`` (whole)
    may send."""

    method: str
    path: re.Pattern[str]
    size: int


#: The endpoints that take a body, and their caps: a command names at most 10,000 meters of 12
#: digits (about 160 KB of JSON); a rule at most 1,000 in its condition and 1,000 in its action.
BODY_LIMITS: tuple[BodyLimit, ...] = (
    BodyLimit("POST", re.compile(r"/api/commands"), 256 * 1024),
    BodyLimit("POST", re.compile(r"/api/rules"), 64 * 1024),
    # a campaign: meters and districts, and a certificate; an image: 4 MiB as base64
    BodyLimit("POST", re.compile(r"/api/campaigns"), 256 * 1024),
    BodyLimit("POST", re.compile(r"/api/firmware"), 6 * 1024 * 1024),
)
#: The cap of every other request (no other route reads a body).
DEFAULT_BODY_LIMIT = 1024
#: How deep a JSON body may nest (a command is an object holding a list of strings: 2).
MAX_DEPTH = 8
#: Refusals of one client with one status within this many seconds are one stored event.
REFUSAL_WINDOW = 60.0
#: Refusals that become security events (403s are recorded by the command rules).
_REFUSALS = {
    400: EventKind.MALFORMED,
    401: EventKind.AUTHENTICATION,
    413: EventKind.MALFORMED,
    422: EventKind.MALFORMED,
}
#: What JSON nesting is made of, once strings are taken out.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Gone(Exception):
    """The client went away before its body was complete."""


def body_limit(method: str, path: str) -> int:
    """The body cap of a request (:data:`BODY_LIMITS`, else :data:`DEFAULT_BODY_LIMIT`)."""
    for limit in BODY_LIMITS:
        if limit.method == method and limit.path.fullmatch(path):
            return limit.size
    return DEFAULT_BODY_LIMIT


def too_deep(body: bytes, depth: int = MAX_DEPTH) -> bool:
    """Whether JSON ``body`` nests deeper than ``depth`` (a linear scan, no parse)."""
    level = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", body)):
        level += 1 if bracket in (b"[", b"{") else -1
        if level > depth:
            return True
    return False


class RequestGuard:
    """The ASGI middleware of the station's API (see the module docstring): token before body,
    body caps before reading, bounded JSON, and every refusal a (counted) security event."""

    def __init__(
        self, app: Asgi, *, station: Station, users: TokenLookup, enforce: bool = True
    ) -> None:
        self.app = app
        self.station = station
        self.users = users
        self.enforce = enforce

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._recording(scope, send)
        if not self.enforce:
            await self.app(scope, receive, send)
            return
        try:
            if scope["path"].startswith("/api/"):
                scope[CALLER] = bearer(self.users, _header(scope, b"authorization"))
            body = await _read(scope, receive, body_limit(scope["method"], scope["path"]))
        except HTTPException as refused:
            await _answer(send, refused.status_code, str(refused.detail))
            return
        except _Refused as refused:
            await _answer(send, refused.status, refused.detail)
            return
        except _Gone:
            return
        await self.app(scope, _replay(body, receive), send)

    def _recording(self, scope: Scope, send: Send) -> Send:
        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._refused(scope, int(message["status"]))
            await send(message)

        return recording

    def _refused(self, scope: Scope, status: int) -> None:
        kind = _REFUSALS.get(status)
        if kind is None:
            return
        client = scope.get("client")
        host = str(client[0]) if client else "unknown host"
        path = str(scope.get("path", ""))[:80]
        detail = f"{host}: {scope.get('method', '?')} {path} refused ({status})"
        event = SecurityEvent(kind, "station/api", detail, self.station.clock.time())
        self.station.monitor.record_repeated(event, f"{host} {status}", REFUSAL_WINDOW)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _read(scope: Scope, receive: Receive, cap: int) -> bytes:
    declared = _header(scope, b"content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _Refused(400, "Content-Length is not a number")
        if int(declared) > cap:
            raise _Refused(413, f"this endpoint takes a body of at most {cap} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _Gone
        body += message.get("body", b"")
        if len(body) > cap:
            raise _Refused(413, f"this endpoint takes a body of at most {cap} bytes")
        if not message.get("more_body", False):
            break
    if too_deep(bytes(body)):
        raise _Refused(400, f"the body nests deeper than {MAX_DEPTH} levels")
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The guard's ``receive`` for the routes: the body it read, then the client's own
    (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


async def _answer(send: Send, status: int, detail: str) -> None:
    content = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})
