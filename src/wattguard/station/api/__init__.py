"""The master station's REST API (FastAPI; the OpenAPI description is served at
``/openapi.json`` and the interactive page at ``/docs``).

Reads (meters, readings, events, alerts, commands, a summary) need any known user; commands
need a user whose role allows them (:mod:`wattguard.station.commands`). Users authenticate with
``Authorization: Bearer <token>``; tokens belong to the station's users
(:mod:`wattguard.station.users`: ``wattguard users add`` makes one, ``wattguard demo`` makes
one per role and prints them), and ``/api/whoami`` says whose a token is. Errors are JSON
``{"detail": ...}`` with 400 (bad input), 401 (no or unknown token), 403 (refused by the
rules, with the reason), 404 (unknown meter or command), 413 (a body over the endpoint's cap).
An error quotes at most a few dozen characters of what was sent. Refusals of bad input (400,
413, 422) and of unknown or missing tokens (401) are security events at the station (MALFORMED
and AUTHENTICATION, with the client's address and the path, never the token), so token
guessing and probing raise alerts like any other refusal; one client's repeated refusals of one
status within a minute are one stored event that counts them. 403s are recorded by the command
rules themselves.

Every request passes the request guard (``_guard``) first: the token of an ``/api/`` path is
checked from the headers before any body is read, and bodies are capped per endpoint (256 KiB
for ``POST /api/commands``, 64 KiB for ``POST /api/rules``, 1 KiB for every other route, JSON
nested at most 8 deep), declared or streamed.

The web dashboard (:mod:`wattguard.station.api.dashboard`) is served by the same app at ``/``
(and ``/dashboard``): a page that needs no token to load and calls these endpoints with the
user's.

Endpoints are ``async``: they run on the event loop that also runs the station, so no state is
shared across threads.

Layout: one :class:`fastapi.APIRouter` per resource, each in its own module (``users``,
``audit``, ``summary``, ``meters``, ``ondemand``, ``readings``, ``events``, ``commands``,
``rules``, ``fleet``, ``dashboard``); the shapes of the main answers are Pydantic models
(``_models``);
what they share (the station, the caller, address checks) is in ``_dependencies``;
:func:`create_app` (``_app``) puts the station and the token lookup in ``app.state``, puts the
request guard in front, adds the error handling and includes the routers.
"""

from wattguard.station.api._app import create_app
from wattguard.station.api._dependencies import TokenLookup

__all__ = ["TokenLookup", "create_app"]
