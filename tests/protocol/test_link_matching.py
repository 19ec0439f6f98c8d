"""Answers match requests by service and PIID: a late REPORT acknowledgement never consumes a
login with the same PIID, and a login always has a deadline (issue #13, item 4)."""

from __future__ import annotations

from typing import Any

from wattguard.protocol import (
    ClientConnection,
    LinkEvent,
    ProtocolViolation,
    RequestTimedOut,
    Response,
    ServerAddress,
    ServerConnection,
)
from wattguard.protocol.apdu.connect import LinkRequest, LinkResponse
from wattguard.protocol.apdu.report import ReportNotificationTransData, ReportResponseTransData
from wattguard.protocol.link import Control, FunctionCode, LinkFrame
from wattguard.protocol.objects import HPLC_PORT
from wattguard.protocol.state import Link
from wattguard.protocol.values import DateTime

TERMINAL = ServerAddress.parse("990000000001")


def events(endpoint: Any) -> list[Any]:
    out = []
    while (event := endpoint.next_event()) is not None:
        out.append(event)
    return out


def online_terminal() -> tuple[ClientConnection, ServerConnection]:
    master = ClientConnection(TERMINAL, timeout=10.0)
    terminal = ServerConnection(TERMINAL, timeout=10.0, heartbeat=60.0)
    terminal.login(0.0)  # LINK PIID 1
    master.receive_data(terminal.data_to_send(), 0.0)
    terminal.receive_data(master.data_to_send(), 0.0)
    assert terminal.link == Link.ONLINE
    events(master), events(terminal)
    return master, terminal


def test_a_late_report_acknowledgement_does_not_consume_the_login() -> None:
    master, terminal = online_terminal()
    # A batch goes up under PIID 5; the terminal then stalls (a frozen event loop) past the
    # batch's timeout, and its three heartbeats' (LINK PIIDs 2-4): the link drops and the
    # terminal logs in again under the LINK PIID 5.
    terminal.notify(ReportNotificationTransData(5, HPLC_PORT, (b"item",)), 1.0)
    master.receive_data(terminal.data_to_send(), 1.0)
    events(master)
    late_ack = master.data_to_send()  # the station acknowledged it, but the bytes wait
    timed_out = []
    while terminal.link != Link.OFFLINE:
        timer = terminal.get_timer()
        assert timer is not None
        terminal.handle_timer(timer)
        terminal.data_to_send()  # heartbeats that get no answer
        timed_out += [e.request for e in events(terminal) if isinstance(e, RequestTimedOut)]
    assert isinstance(timed_out[0], ReportNotificationTransData)
    terminal.login(200.0)
    login = terminal.data_to_send()
    # The stale acknowledgement arrives first: it answers no report now.
    terminal.receive_data(late_ack, 200.5)
    (violation,) = events(terminal)
    assert isinstance(violation, ProtocolViolation)
    assert terminal.link == Link.LOGGING_IN and terminal.get_timer() == 210.0
    # ... and the station's answer to the login still completes it.
    master.receive_data(login, 201.0)
    (seen,) = events(master)
    assert isinstance(seen, LinkEvent) and isinstance(seen.apdu, LinkRequest)
    assert seen.apdu.piid & 0x3F == 5  # the batch's PIID
    terminal.receive_data(master.data_to_send(), 201.0)
    (answer,) = events(terminal)
    assert isinstance(answer, LinkEvent) and isinstance(answer.apdu, LinkResponse)
    assert terminal.link == Link.ONLINE


def test_an_answer_of_another_service_is_a_violation_not_a_response() -> None:
    _, terminal = online_terminal()
    terminal.notify(ReportNotificationTransData(5, HPLC_PORT, (b"item",)), 1.0)
    # A LINK-Response carrying the report's PIID answers no login or heartbeat.
    time = DateTime.from_posix(0.0)
    wrong = LinkResponse(5, 0x80, time, time, time)
    control = Control(False, False, FunctionCode.LINK_MANAGEMENT)
    terminal.receive_data(LinkFrame(control, TERMINAL, 0x10, wrong.to_bytes()).to_bytes(), 2.0)
    (violation,) = events(terminal)
    assert isinstance(violation, ProtocolViolation)
    # The report is still pending: its own acknowledgement completes it.
    ack = LinkFrame(Control(False, False), TERMINAL, 0x10, ReportResponseTransData(5).to_bytes())
    terminal.receive_data(ack.to_bytes(), 2.0)
    (response,) = events(terminal)
    assert isinstance(response, Response)
    assert isinstance(response.request, ReportNotificationTransData)


def test_a_login_without_a_pending_request_still_has_a_deadline() -> None:
    _, terminal = online_terminal()
    terminal.login(100.0)
    terminal._pending.clear()  # however the request went missing, the state keeps a timer
    assert terminal.link == Link.LOGGING_IN and terminal.get_timer() == 110.0
    terminal.handle_timer(110.0)
    assert terminal.link == Link.OFFLINE
    (timed_out,) = events(terminal)
    assert isinstance(timed_out, RequestTimedOut) and isinstance(timed_out.request, LinkRequest)
