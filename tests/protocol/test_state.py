"""The association and link tables, and who is blamed for a move they do not hold."""

from __future__ import annotations

from typing import Any

import pytest

from wattguard.errors import LocalProtocolError, RemoteProtocolError
from wattguard.protocol import (
    OAD,
    ClientConnection,
    Control,
    LinkFrame,
    ProtocolViolation,
    ServerAddress,
    ServerConnection,
)
from wattguard.protocol.apdu.connect import (
    ConnectMechanism,
    ConnectRequest,
    ConnectResponse,
    ConnectResponseInfo,
    ConnectResult,
    FactoryVersion,
    Negotiation,
    ReleaseNotification,
)
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.state import (
    ASSOCIATION,
    LINK,
    Association,
    ConnectionState,
    Event,
    Link,
    Side,
    transition,
)
from wattguard.protocol.values import DateTimeS

METER = ServerAddress.parse("000000000001")
NEGOTIATION = Negotiation(0x0016, bytes(8), bytes(16), 1024, 1024, 1, 2048, 7200)
FACTORY = FactoryVersion("WGRD", "0100", "261124", "0100", "261124", b"wattgrd0")
STAMP = DateTimeS(2026, 1, 1, 0, 0, 0)


def events(endpoint: Any) -> list[Any]:
    out = []
    while (event := endpoint.next_event()) is not None:
        out.append(event)
    return out


@pytest.mark.parametrize("table", [ASSOCIATION, LINK], ids=["association", "link"])
def test_both_sides_have_a_table_that_leads_only_to_its_own_states(table: Any) -> None:
    assert set(table) == set(Side)
    for states in table.values():
        targets = {target for moves in states.values() for target in moves.values()}
        assert targets <= set(states)


def test_our_move_raises_local_and_the_peers_raises_remote() -> None:
    client = ASSOCIATION[Side.CLIENT]
    with pytest.raises(LocalProtocolError, match="not allowed in state connecting") as ours:
        transition(client, Association.CONNECTING, Event.REQUEST, remote=False)
    assert str(ours.value).endswith("(we)")
    with pytest.raises(RemoteProtocolError, match=r"\(peer\)"):
        transition(client, Association.IDLE, Event.CONNECT_ACCEPTED, remote=True)


def test_the_server_moves_on_its_own_answers() -> None:
    state = ConnectionState(Side.SERVER)
    state.associate(Event.REQUEST, remote=True)
    assert state.association == Association.IDLE
    state.associate(Event.CONNECT_ACCEPTED, remote=False)
    assert state.association == Association.ASSOCIATED
    state.associate(Event.RELEASE_NOTIFIED, remote=False)
    assert state.association == Association.IDLE
    with pytest.raises(LocalProtocolError):
        state.associate(Event.SEND_CONNECT, remote=False)


def test_a_server_release_notification_ends_its_association() -> None:
    client, server = ClientConnection(METER), ServerConnection(METER)
    client.connect(ConnectRequest(1, NEGOTIATION, ConnectMechanism()), now=0.0)
    server.receive_data(client.data_to_send(), 0.0)
    (request,) = events(server)
    info = ConnectResponseInfo(ConnectResult.ACCEPTED)
    server.respond(request, ConnectResponse(1, FACTORY, NEGOTIATION, info))
    assert server.association == Association.ASSOCIATED
    server.data_to_send()
    server.notify(ReleaseNotification(2, STAMP, STAMP), 0.0)
    assert server.association == Association.IDLE
    assert server.data_to_send() != b""


def test_a_peers_move_out_of_place_is_an_event_and_changes_nothing() -> None:
    client = ClientConnection(METER)
    client.connect(ConnectRequest(1, NEGOTIATION, ConnectMechanism()), now=0.0)
    notice = ReleaseNotification(2, STAMP, STAMP).to_bytes()
    client.receive_data(LinkFrame(Control(True, False), METER, 0x10, notice).to_bytes(), 0.0)
    (violation,) = events(client)
    assert isinstance(violation, ProtocolViolation)
    assert "RELEASE-Notification is not allowed in state connecting (peer)" in str(violation.error)
    assert client.association == Association.CONNECTING
    with pytest.raises(LocalProtocolError):
        client.send_request(GetRequestNormal(3, OAD.parse("00100200")), now=0.0)


def test_the_master_records_logins_and_logouts() -> None:
    master, terminal = ClientConnection(METER), ServerConnection(METER, heartbeat=60.0)
    assert master.link == Link.OFFLINE
    terminal.login(0.0)
    master.receive_data(terminal.data_to_send(), 0.0)
    assert master.link == Link.ONLINE
    terminal.receive_data(master.data_to_send(), 0.0)
    assert terminal.link == Link.ONLINE
    terminal.logout(1.0)
    master.receive_data(terminal.data_to_send(), 1.0)
    assert master.link == terminal.link == Link.OFFLINE


def test_missed_heartbeats_count_until_the_limit_and_an_answer_restarts_the_count() -> None:
    state = ConnectionState(Side.SERVER)
    state.link_event(Event.LOGIN, remote=False)
    state.link_answered(login=True, accepted=True)
    assert not state.link_unanswered(login=False, missed_limit=2)
    state.link_answered(login=False, accepted=True)
    assert not state.link_unanswered(login=False, missed_limit=2)
    assert state.link == Link.ONLINE
    assert state.link_unanswered(login=False, missed_limit=2)
    assert state.link == Link.OFFLINE
