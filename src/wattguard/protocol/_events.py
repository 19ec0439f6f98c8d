"""What a DL/T 698.45 connection hands out: the events of
:class:`~wattguard.protocol.connection.ClientConnection` and
:class:`~wattguard.protocol.connection.ServerConnection`, and their union
:data:`ConnectionEvent`. Import them from :mod:`wattguard.protocol`."""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.errors import ProtocolError
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.connect import LinkRequest, LinkResponse
from wattguard.protocol.link import ServerAddress

__all__ = [
    "ConnectionEvent",
    "IncomingRequest",
    "LinkEvent",
    "Notification",
    "ProtocolViolation",
    "RequestTimedOut",
    "Response",
]


@dataclass(frozen=True, slots=True)
class Response:
    """A response matched to the request it answers; ``raw`` is the response APDU as it
    arrived (b"": not kept, e.g. blocks joined into one), for those that forward it as it
    travelled rather than encode it again."""

    request: Structure
    response: Structure
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """A request of ours that got no answer within the connection's ``timeout``."""

    request: Structure


@dataclass(frozen=True, slots=True)
class Notification:
    """Something the server reported on its own (already acknowledged)."""

    apdu: Structure


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A login, heartbeat or logout (at the master), or its answer (at the terminal)."""

    apdu: LinkRequest | LinkResponse


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """A request for the server application to answer with ``ServerConnection.respond``;
    the answer goes back to the client address the request came from."""

    apdu: Structure
    address: ServerAddress
    client_address: int = 0x10


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer sent something undecodable or out of place; the connection carries on."""

    error: ProtocolError


#: Everything a connection's ``next_event()`` can hand out.
ConnectionEvent = (
    Response | RequestTimedOut | Notification | LinkEvent | IncomingRequest | ProtocolViolation
)
