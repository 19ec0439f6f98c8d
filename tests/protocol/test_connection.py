"""Client and server cores wired back to back on a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest

from wattguard.clock import VirtualClock
from wattguard.errors import LocalProtocolError
from wattguard.protocol import (
    OAD,
    ClientConnection,
    Data,
    DataType,
    IncomingRequest,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
    ServerAddress,
    ServerConnection,
)
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.connect import (
    ConnectMechanism,
    ConnectRequest,
    ConnectResponse,
    ConnectResponseInfo,
    ConnectResult,
    FactoryVersion,
    LinkRequest,
    LinkResponse,
    Negotiation,
    ReleaseRequest,
    ReleaseResponse,
)
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.report import ReportNotificationList, ReportResponseList
from wattguard.protocol.link import Control, LinkFrame
from wattguard.protocol.state import Association, Link

METER = ServerAddress.parse("000000000001")
ENERGY = OAD.parse("00100200")
NEGOTIATION = Negotiation(0x0016, bytes(8), bytes(16), 1024, 1024, 1, 2048, 7200)
FACTORY = FactoryVersion("WGRD", "0100", "261124", "0100", "261124", b"wattgrd0")


def pump(a: Any, b: Any) -> None:
    """Carry bytes both ways until both sides are quiet."""
    while True:
        ab, ba = a.data_to_send(), b.data_to_send()
        if not ab and not ba:
            return
        b.receive_data(ab, 0.0)
        a.receive_data(ba, 0.0)


def events(endpoint: Any) -> list[Any]:
    out = []
    while (event := endpoint.next_event()) is not None:
        out.append(event)
    return out


def serve(server: ServerConnection, answer: Any) -> None:
    for event in events(server):
        assert isinstance(event, IncomingRequest)
        server.respond(event, answer(event.apdu))


def test_get_round_trip() -> None:
    client, server = ClientConnection(METER), ServerConnection(METER)
    client.send_request(GetRequestNormal(5, ENERGY), now=0.0)
    pump(client, server)
    value = Data(DataType.DOUBLE_LONG_UNSIGNED, 12345)
    serve(server, lambda req: GetResponseNormal(req.piid, AResultNormal(req.oad, value)))
    pump(client, server)
    (response,) = events(client)
    assert isinstance(response, Response)
    assert response.request == GetRequestNormal(5, ENERGY)
    assert response.response.result.result == value
    assert client.get_timer() is None


def test_connect_then_release() -> None:
    client, server = ClientConnection(METER), ServerConnection(METER)
    client.connect(ConnectRequest(1, NEGOTIATION, ConnectMechanism()), now=0.0)
    assert client.association == Association.CONNECTING
    pump(client, server)
    info = ConnectResponseInfo(ConnectResult.ACCEPTED)
    serve(server, lambda req: ConnectResponse(req.piid, FACTORY, NEGOTIATION, info))
    pump(client, server)
    assert client.association == Association.ASSOCIATED == server.association
    assert isinstance(events(client)[0].response, ConnectResponse)
    client.release(ReleaseRequest(2), now=1.0)
    pump(client, server)
    serve(server, lambda req: ReleaseResponse(req.piid, 0))
    pump(client, server)
    assert client.association == Association.IDLE == server.association
    with pytest.raises(LocalProtocolError, match="not allowed in state idle"):
        client.release(ReleaseRequest(3), now=2.0)


def test_refused_connect_returns_to_idle() -> None:
    client, server = ClientConnection(METER), ServerConnection(METER)
    client.connect(ConnectRequest(1, NEGOTIATION, ConnectMechanism()), now=0.0)
    pump(client, server)
    info = ConnectResponseInfo(ConnectResult.SIGNATURE_ERROR)
    serve(server, lambda req: ConnectResponse(req.piid, FACTORY, NEGOTIATION, info))
    pump(client, server)
    assert client.association == Association.IDLE


def test_timeouts_fire_from_the_timer() -> None:
    clock = VirtualClock()
    client = ClientConnection(METER, timeout=5.0)
    client.send_request(GetRequestNormal(1, ENERGY), now=clock.monotonic())
    client.connect(ConnectRequest(2, NEGOTIATION, ConnectMechanism()), now=clock.monotonic())
    assert client.get_timer() == 5.0
    clock.advance(4.9)
    client.handle_timer(clock.monotonic())
    assert events(client) == []
    clock.advance(0.2)
    client.handle_timer(clock.monotonic())
    timed_out = events(client)
    assert {type(e) for e in timed_out} == {RequestTimedOut}
    assert len(timed_out) == 2 and client.association == Association.IDLE
    assert client.get_timer() is None


def test_duplicate_piid_is_our_error() -> None:
    client = ClientConnection(METER)
    client.send_request(GetRequestNormal(1, ENERGY), now=0.0)
    with pytest.raises(LocalProtocolError, match="already awaiting"):
        client.send_request(GetRequestNormal(1, ENERGY), now=0.0)


def test_unsolicited_response_is_a_violation_not_a_crash() -> None:
    client = ClientConnection(METER)
    stray = GetResponseNormal(9, AResultNormal(ENERGY, 4))
    client.receive_data(
        LinkFrame(Control(True, True), METER, 0x10, stray.to_bytes()).to_bytes(), 0.0
    )
    client.receive_data(b"\x68\x99garbage", 0.0)
    client.receive_data(LinkFrame(Control(True, True), METER, 0x10, b"\x77").to_bytes(), 0.0)
    found = events(client)
    assert all(isinstance(e, ProtocolViolation) for e in found)
    reasons = " | ".join(str(e.error) for e in found)
    assert "answers no pending request" in reasons
    assert "outside limits" in reasons
    assert "unknown APDU service 119" in reasons


def test_server_ignores_frames_for_other_meters_and_answers_wildcards() -> None:
    server = ServerConnection(METER)
    other = ClientConnection(ServerAddress.parse("000000000002"))
    other.send_request(GetRequestNormal(1, ENERGY), now=0.0)
    server.receive_data(other.data_to_send(), 0.0)
    assert events(server) == []
    from wattguard.protocol import AddressType

    wildcard = ClientConnection(ServerAddress.parse("0000000000AA", type=AddressType.WILDCARD))
    wildcard.send_request(GetRequestNormal(1, ENERGY), now=0.0)
    server.receive_data(wildcard.data_to_send(), 0.0)
    assert isinstance(events(server)[0], IncomingRequest)


def test_login_heartbeat_and_missed_heartbeats() -> None:
    clock = VirtualClock()
    master = ClientConnection(METER, calendar=lambda now: clock.time())
    terminal = ServerConnection(
        METER, heartbeat=60.0, timeout=10.0, calendar=lambda now: clock.time()
    )
    terminal.login(clock.monotonic())
    assert terminal.link == Link.LOGGING_IN
    pump(master, terminal)
    (login,) = events(master)
    assert isinstance(login, LinkEvent) and isinstance(login.apdu, LinkRequest)
    assert login.apdu.time.year == 2023  # the calendar clock, not the monotonic one
    assert terminal.link == Link.ONLINE
    answer = events(terminal)[0].apdu
    assert isinstance(answer, LinkResponse) and answer.result == 0x80
    assert terminal.get_timer() == 60.0
    clock.advance(60)
    terminal.handle_timer(clock.monotonic())
    pump(master, terminal)
    assert terminal.link == Link.ONLINE and len(events(master)) == 1
    events(terminal)
    # The master goes silent: three heartbeats go unanswered and the link drops.
    for _ in range(3):
        clock.advance(60)
        terminal.handle_timer(clock.monotonic())
        terminal.data_to_send()
        clock.advance(10)
        terminal.handle_timer(clock.monotonic())
    assert terminal.link == Link.OFFLINE
    assert terminal.get_timer() is None


def test_reports_are_acknowledged() -> None:
    client, server = ClientConnection(METER), ServerConnection(METER)
    report = ReportNotificationList(3, (AResultNormal(OAD.parse("30110200"), 0),))
    server.notify(report, now=0.0)
    pump(client, server)
    (notification,) = events(client)
    assert isinstance(notification, Notification) and notification.apdu == report
    (ack,) = events(server)
    assert isinstance(ack, Response) and isinstance(ack.response, ReportResponseList)
    assert ack.response.oads == (OAD.parse("30110200"),)


def test_large_responses_are_fragmented_and_reassembled() -> None:
    client = ClientConnection(METER, max_piece=64)
    server = ServerConnection(METER, max_piece=64)
    client.send_request(GetRequestNormal(7, ENERGY), now=0.0)
    pump(client, server)
    big = Data.array(*[Data(DataType.DOUBLE_LONG_UNSIGNED, i) for i in range(100)])
    serve(server, lambda req: GetResponseNormal(req.piid, AResultNormal(req.oad, big)))
    wire = server.data_to_send()
    assert wire.count(b"\x16\x68") >= 7  # many frames
    client.receive_data(wire, 0.0)
    (response,) = [e for e in events(client) if isinstance(e, Response)]
    assert response.response.result.result == big
    acks = client.data_to_send()
    assert acks  # every fragment acknowledged
    server.receive_data(acks, 0.0)
    assert events(server) == []


def test_application_blocks_are_fetched_and_joined() -> None:
    from wattguard.errors import RemoteProtocolError
    from wattguard.protocol.apdu.get import GetRequestNext, GetResponseNext

    client, server = ClientConnection(METER, timeout=5.0), ServerConnection(METER)
    client.send_request(GetRequestNormal(4, ENERGY), now=0.0)
    pump(client, server)
    parts = [AResultNormal(OAD(0x0010 + 0x10 * i, 2), Data(DataType.UNSIGNED, i)) for i in range(3)]
    served: list[Any] = []

    def blocks(req: Any) -> Any:
        served.append(req)
        number = 1 if isinstance(req, GetRequestNormal) else req.last_block + 1
        return GetResponseNext(req.piid, number == 3, number, (parts[number - 1],))

    for _ in range(3):
        serve(server, blocks)
        pump(client, server)
    assert [type(r) for r in served] == [GetRequestNormal, GetRequestNext, GetRequestNext]
    assert [r.last_block for r in served[1:]] == [1, 2]
    (response,) = events(client)
    assert isinstance(response, Response) and response.request == GetRequestNormal(4, ENERGY)
    assert response.response.answer == tuple(parts)
    assert client.get_timer() is None
    # A block out of order ends the transfer as the peer's error.
    client.send_request(GetRequestNormal(5, ENERGY), now=0.0)
    pump(client, server)
    serve(server, lambda req: GetResponseNext(req.piid, False, 1, (parts[0],)))
    pump(client, server)
    serve(server, lambda req: GetResponseNext(req.piid, False, 3, (parts[2],)))
    pump(client, server)
    (violation,) = events(client)
    assert isinstance(violation, ProtocolViolation)
    assert isinstance(violation.error, RemoteProtocolError) and "where 2 was due" in str(
        violation.error
    )
    client.handle_timer(100.0)
    (gave_up,) = events(client)
    assert isinstance(gave_up, RequestTimedOut) and gave_up.request == GetRequestNormal(5, ENERGY)
