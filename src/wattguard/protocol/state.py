"""The state machines of a DL/T 698.45 connection, as tables, and the one object that moves them.

Theory of operation
===================

Two relationships run over one link:

* **Application association** (CONNECT / RELEASE, clause 7.2): the client (master station or
  terminal acting for it) opens it with CONNECT-Request; the server (meter or terminal) accepts
  or refuses; either may end it (RELEASE-Request, or the server's RELEASE-Notification when the
  negotiated timeout passes). Reads work without an association too (the default association
  with no security), so requests are legal in IDLE as well as ASSOCIATED.
* **Link management** (LINK, clause 7.1): a terminal (in the server role) logs in to the
  master, sends heartbeats at the agreed period and logs out. The master answers each.

Rule 1: every association and link transition lives here. :mod:`wattguard.protocol.connection`
only says which :class:`Event` a message is and whose move it was; it never assigns a state.
A :class:`ConnectionState` holds one side's view (its association and its link) and moves it
through :func:`transition`, and nothing else writes it.

Rule 2: the tables are keyed by role, the :class:`Side` of the connection a view belongs to,
as h11 keys its machines by client and server: ``{side: {state: {event: next_state}}}``. An
:class:`Event` names a protocol happening (a CONNECT-Request sent, a LINK login, a timeout),
not who caused it; each move says whether it was ours or the peer's (``remote``). The two
sides' views of one association differ:

* the **client** moves when it sends CONNECT or RELEASE (CONNECTING, RELEASING) and again when
  the answer comes or its timer runs out; while CONNECTING or RELEASING it sends no request;
* the **server** moves only on its own answers: it is ASSOCIATED from the moment it sends an
  accepting CONNECT-Response until it sends a RELEASE-Response or a RELEASE-Notification, or
  refuses a new CONNECT. A request, CONNECT-Request included, moves nothing: until the server
  answers, the association it had stands (our choice, see ``docs/protocol.md``).

For the link, the **server** (terminal) goes OFFLINE → LOGGING_IN → ONLINE; an unanswered login,
or ``missed_limit`` unanswered heartbeats in a row, take it OFFLINE (:meth:`ConnectionState.
link_unanswered`). The **client** (master) answers every LINK request it gets and only records
whether the terminal is logged in, so none of them is out of place there.

A transition not in its table raises: :class:`~wattguard.errors.LocalProtocolError` when our
side tried it (a bug in the application above us, which must hear of it), and
:class:`~wattguard.errors.RemoteProtocolError` when the peer's message would cause it, which
the connection turns into a ``ProtocolViolation`` event and carries on: a peer's violation is an
event, never an exception out of ``receive_data``.
"""

from __future__ import annotations

import enum
from typing import TypeVar

from wattguard.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ASSOCIATION",
    "LINK",
    "Association",
    "ConnectionState",
    "Event",
    "Link",
    "Side",
    "transition",
]


class Side(enum.Enum):
    """Which side of a connection a view belongs to: its role, client or server. (Not
    ``Role``: the station's users and the meter's Bluetooth peers have roles of their own.)"""

    CLIENT = "client"
    SERVER = "server"


class Association(enum.Enum):
    """The state of the application association (CONNECT / RELEASE)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    ASSOCIATED = "associated"
    RELEASING = "releasing"


class Link(enum.Enum):
    """The state of a terminal's link to its master (LINK login, heartbeat, logout)."""

    OFFLINE = "offline"
    LOGGING_IN = "logging in"
    ONLINE = "online"


class Event(enum.Enum):
    """A protocol happening that may move a state; who caused it is said beside it."""

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


#: The server's association view: both of its states take every one of its own answers.
_SERVER_ASSOCIATED = {
    Event.REQUEST: Association.ASSOCIATED,
    Event.CONNECT_ACCEPTED: Association.ASSOCIATED,
    Event.CONNECT_REFUSED: Association.IDLE,
    Event.RELEASED: Association.IDLE,
    Event.RELEASE_NOTIFIED: Association.IDLE,
}

ASSOCIATION: dict[Side, dict[Association, dict[Event, Association]]] = {
    Side.CLIENT: {
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
    },
    Side.SERVER: {
        Association.IDLE: {**_SERVER_ASSOCIATED, Event.REQUEST: Association.IDLE},
        Association.ASSOCIATED: _SERVER_ASSOCIATED,
    },
}

#: The master's link view: every LINK request is answered, and says where the terminal is.
_MASTER_LINK = {Event.LOGIN: Link.ONLINE, Event.HEARTBEAT: Link.ONLINE, Event.LOGOUT: Link.OFFLINE}

LINK: dict[Side, dict[Link, dict[Event, Link]]] = {
    Side.CLIENT: {Link.OFFLINE: _MASTER_LINK, Link.ONLINE: _MASTER_LINK},
    Side.SERVER: {
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
    },
}


S = TypeVar("S", Association, Link)


def transition(table: dict[S, dict[Event, S]], state: S, event: Event, *, remote: bool) -> S:
    """The state after ``event``; raise if the table has no such transition (see the module
    docstring for which error)."""
    try:
        return table[state][event]
    except KeyError:
        error = RemoteProtocolError if remote else LocalProtocolError
        who = "peer" if remote else "we"
        raise error(f"{event.value} is not allowed in state {state.value} ({who})") from None


class ConnectionState:
    """One side's view of a connection: its application association and its link.

    The connection says what happened (:meth:`associate`, :meth:`link_event`) and whose move
    it was; the tables of this module say where that leads, or raise.
    """

    __slots__ = ("association", "link", "missed", "side")

    def __init__(self, side: Side) -> None:
        self.side = side
        self.association = Association.IDLE
        self.link = Link.OFFLINE
        #: LINK requests of ours (heartbeats) left unanswered in a row.
        self.missed = 0

    def associate(self, event: Event, *, remote: bool) -> None:
        """Move the association on ``event`` (ours, or the peer's when ``remote``)."""
        table = ASSOCIATION[self.side]
        self.association = transition(table, self.association, event, remote=remote)

    def link_event(self, event: Event, *, remote: bool) -> None:
        """Move the link on ``event`` (ours, or the peer's when ``remote``)."""
        self.link = transition(LINK[self.side], self.link, event, remote=remote)

    def link_answered(self, *, login: bool, accepted: bool) -> None:
        """The master answered our login (``accepted`` or not) or one of our heartbeats; an
        answer restarts the count of missed heartbeats."""
        if not login:
            self.missed = 0
            self.link_event(Event.HEARTBEAT_ANSWERED, remote=True)
            return
        self.link_event(Event.LOGIN_ACCEPTED if accepted else Event.LOGIN_REFUSED, remote=True)
        if accepted:
            self.missed = 0

    def link_unanswered(self, *, login: bool, missed_limit: int) -> bool:
        """A LINK request of ours timed out. An unanswered login, or the ``missed_limit``-th
        unanswered heartbeat in a row, takes the link OFFLINE; True when it did."""
        self.missed += 1
        if not login and self.missed < missed_limit:
            return False
        self.link_event(Event.TIMEOUT, remote=False)
        return True
