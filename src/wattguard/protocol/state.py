"""The state machines of a DL/T 698.45 connection, as tables.

Theory of operation. Two relationships run over one link:

* **Application association** (CONNECT / RELEASE, clause 7.2): the client (master station or
  terminal acting for it) opens it with CONNECT-Request; the server (meter or terminal) accepts
  or refuses; either may end it (RELEASE-Request, or the server's RELEASE-Notification when the
  negotiated timeout passes). Reads work without an association too (the default association
  with no security), so requests are legal in IDLE as well as ASSOCIATED.
* **Link management** (LINK, clause 7.1): a terminal (in the server role) logs in to the
  master, sends heartbeats at the agreed period and logs out. The master answers each.

A transition not in its table raises: :class:`~wattguard.errors.LocalProtocolError` when our
side tried it, :class:`~wattguard.errors.RemoteProtocolError` when the peer's message would
cause it. So the error says who broke the protocol.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from wattguard.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ASSOCIATION", "LINK", "Association", "Event", "Link", "transition"]


class Association(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    ASSOCIATED = "associated"
    RELEASING = "releasing"


class Link(enum.Enum):
    OFFLINE = "offline"
    LOGGING_IN = "logging in"
    ONLINE = "online"


class Event(enum.Enum):
    SEND_CONNECT = "send CONNECT-Request"
    CONNECT_ACCEPTED = "CONNECT accepted"
    CONNECT_REFUSED = "CONNECT refused"
    SEND_RELEASE = "send RELEASE-Request"
    RELEASED = "RELEASE-Response"
    RELEASE_NOTIFIED = "RELEASE-Notification"
    REQUEST = "request"
    TIMEOUT = "timeout"
    LOGIN = "login"
    LOGIN_ACCEPTED = "login accepted"
    LOGIN_REFUSED = "login refused"
    HEARTBEAT = "heartbeat"
    HEARTBEAT_ANSWERED = "heartbeat answered"
    LOGOUT = "logout"


ASSOCIATION: dict[Association, dict[Event, Association]] = {
    Association.IDLE: {
        Event.SEND_CONNECT: Association.CONNECTING,
        Event.REQUEST: Association.IDLE,
        Event.RELEASE_NOTIFIED: Association.IDLE,
    },
    Association.CONNECTING: {
        Event.CONNECT_ACCEPTED: Association.ASSOCIATED,
        Event.CONNECT_REFUSED: Association.IDLE,
        Event.TIMEOUT: Association.IDLE,
    },
    Association.ASSOCIATED: {
        Event.REQUEST: Association.ASSOCIATED,
        Event.SEND_RELEASE: Association.RELEASING,
        Event.RELEASE_NOTIFIED: Association.IDLE,
        Event.SEND_CONNECT: Association.CONNECTING,
    },
    Association.RELEASING: {
        Event.RELEASED: Association.IDLE,
        Event.RELEASE_NOTIFIED: Association.IDLE,
        Event.TIMEOUT: Association.IDLE,
    },
}

LINK: dict[Link, dict[Event, Link]] = {
    Link.OFFLINE: {Event.LOGIN: Link.LOGGING_IN},
    Link.LOGGING_IN: {
        Event.LOGIN_ACCEPTED: Link.ONLINE,
        Event.LOGIN_REFUSED: Link.OFFLINE,
        Event.TIMEOUT: Link.OFFLINE,
    },
    Link.ONLINE: {
        Event.HEARTBEAT: Link.ONLINE,
        Event.HEARTBEAT_ANSWERED: Link.ONLINE,
        Event.TIMEOUT: Link.OFFLINE,
        Event.LOGOUT: Link.OFFLINE,
        Event.LOGIN: Link.LOGGING_IN,
    },
}


S = TypeVar("S", Association, Link)


def transition(table: dict[S, dict[Event, S]], state: S, event: Event, *, remote: bool) -> S:
    """The state after ``event``; raise if the table has no such transition."""
    try:
        return table[state][event]
    except KeyError:
        error = RemoteProtocolError if remote else LocalProtocolError
        who = "peer" if remote else "we"
        raise error(f"{event.value} is not allowed in state {state.value} ({who})") from None
