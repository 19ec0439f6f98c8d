"""The states of one end of the WAN secure channel, as a table.

Theory of operation. A terminal (client) starts IDLE and sends its ClientHello; a FEP (server)
starts waiting for one. Each input names what happened (a message received, or our own
``send``); the table says where it leads. Anything not in the table raises: our own misuse is
a :class:`~wattguard.errors.LocalProtocolError`, a record the peer should not have sent a
:class:`~wattguard.errors.RemoteProtocolError`. An alert (sent or received), ``close()`` or a
failure moves any state to CLOSED; the channel does that directly, since it is always
allowed::

    IDLE               --initiate-->                  WAIT_SERVER_HELLO   (client)
    WAIT_SERVER_HELLO  --ServerHello-->               ESTABLISHED
    WAIT_CLIENT_HELLO  --ClientHello-->               WAIT_FINISHED       (server)
    WAIT_FINISHED      --Finished-->                  ESTABLISHED
    ESTABLISHED        --application, key update, send-->  ESTABLISHED
    any but CLOSED     --alert, close, failure-->     CLOSED
"""

from __future__ import annotations

import enum

from wattguard.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["TRANSITIONS", "Input", "State", "next_state"]


class State(enum.Enum):
    """The states of one end of the WAN secure channel (the table in the module docstring)."""

    IDLE = "idle"
    WAIT_SERVER_HELLO = "waiting for ServerHello"
    WAIT_CLIENT_HELLO = "waiting for ClientHello"
    WAIT_FINISHED = "waiting for Finished"
    ESTABLISHED = "established"
    CLOSED = "closed"


class Input(enum.Enum):
    """What moves a channel end between states: a handshake message or record from the peer, or our
    own ``initiate`` or ``send``."""

    INITIATE = "initiate"
    CLIENT_HELLO = "ClientHello"
    SERVER_HELLO = "ServerHello"
    FINISHED = "Finished"
    APPLICATION = "application data"
    KEY_UPDATE = "key update"
    SEND = "send"


TRANSITIONS: dict[State, dict[Input, State]] = {
    State.IDLE: {Input.INITIATE: State.WAIT_SERVER_HELLO},
    State.WAIT_SERVER_HELLO: {Input.SERVER_HELLO: State.ESTABLISHED},
    State.WAIT_CLIENT_HELLO: {Input.CLIENT_HELLO: State.WAIT_FINISHED},
    State.WAIT_FINISHED: {Input.FINISHED: State.ESTABLISHED},
    State.ESTABLISHED: {
        Input.APPLICATION: State.ESTABLISHED,
        Input.KEY_UPDATE: State.ESTABLISHED,
        Input.SEND: State.ESTABLISHED,
    },
    State.CLOSED: {},
}


def next_state(state: State, step: Input, *, local: bool) -> State:
    """Where ``step`` leads from ``state``; raises (Local|Remote)ProtocolError if nowhere."""
    following = TRANSITIONS[state].get(step)
    if following is None:
        error = LocalProtocolError if local else RemoteProtocolError
        raise error(f"{step.value} is not allowed when {state.value}")
    return following
