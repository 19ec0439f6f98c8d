"""A terminal's link to its station never waits without a timer: a refused or unanswered login
is tried again with a back-off, and a late REPORT acknowledgement carrying the new login's
PIID leaves the login to its own answer (issue #13, item 4)."""

from __future__ import annotations

import itertools

from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Offline, Online, Terminal
from wattguard.network.terminal.tasks import Collected
from wattguard.protocol import (
    ClientConnection,
    Control,
    FunctionCode,
    LinkFrame,
    ServerAddress,
    decode_apdu,
)
from wattguard.protocol.apdu.connect import LinkRequest, LinkRequestType, LinkResponse
from wattguard.protocol.apdu.report import ReportResponseTransData
from wattguard.protocol.state import Link
from wattguard.protocol.stream import FrameDecoder
from wattguard.protocol.values import DateTime
from wattguard.testing import T0

TERMINAL = bytes.fromhex("990000000001")


def new_terminal() -> Terminal:
    return Terminal(TERMINAL, HplcChannel(seed=1), upstream_timeout=30.0, heartbeat=300.0, start=T0)


def link_requests(data: bytes) -> list[LinkRequest]:
    decoder = FrameDecoder()
    decoder.receive_data(data)
    apdus = [decode_apdu(frame.apdu) for frame in decoder.frames()]
    return [apdu for apdu in apdus if isinstance(apdu, LinkRequest)]


def refuse(request: LinkRequest) -> bytes:
    time = DateTime.from_posix(T0)
    answer = LinkResponse(request.piid, 0x01, time, time, time)  # result 1: refused
    control = Control(False, False, FunctionCode.LINK_MANAGEMENT)
    return LinkFrame(control, ServerAddress(TERMINAL), 0x10, answer.to_bytes()).to_bytes()


def test_a_refused_login_is_tried_again_with_a_back_off() -> None:
    terminal = new_terminal()
    terminal.connected(T0)
    logins = [T0]
    now = T0
    for _ in range(4):
        (login,) = link_requests(terminal.data_to_send())
        assert login.type == LinkRequestType.LOGIN
        terminal.receive_data(refuse(login), now)
        assert terminal.upstream.link == Link.OFFLINE
        timer = terminal.get_timer()
        assert timer is not None  # OFFLINE while connected always has its exit
        now = timer
        terminal.handle_timer(now)
        logins.append(now)
    gaps = [b - a for a, b in itertools.pairwise(logins)]
    assert gaps == [0.0, 30.0, 60.0, 120.0]


def test_the_login_after_a_stall_survives_the_late_report_acknowledgements() -> None:
    station = ClientConnection(ServerAddress(TERMINAL), timeout=30.0)
    terminal = new_terminal()
    terminal.connected(T0)
    station.receive_data(terminal.data_to_send(), T0)
    terminal.receive_data(station.data_to_send(), T0)
    assert terminal.online and isinstance(terminal.next_event(), Online)
    for i in range(40):
        terminal.outbox.queue(Collected(bytes(6), T0, b"", bytes([i])))
    # The terminal's process stalls for 20 minutes. Thawed, it catches up on its timers, in
    # simulated time, before it reads its socket: batches time out and go up again under new
    # PIIDs, three heartbeats go unanswered, the link drops and it logs in again. The station
    # answered everything at once, but the answers wait in the socket.
    late = b""
    while terminal.upstream.link != Link.LOGGING_IN or terminal.online:
        timer = terminal.get_timer()
        assert timer is not None and timer < T0 + 1200
        terminal.handle_timer(timer)
        sent = terminal.data_to_send()
        station.receive_data(sent, timer)
        while station.next_event() is not None:
            pass
        late += station.data_to_send()
    (login,) = [r for r in link_requests(sent) if r.type == LinkRequestType.LOGIN]
    assert isinstance(terminal.next_event(), Offline)
    acknowledged = {
        apdu.piid & 0x3F
        for frame in _frames(late)
        if isinstance(apdu := decode_apdu(frame.apdu), ReportResponseTransData)
    }
    assert login.piid & 0x3F in acknowledged  # the collision the old matching fell into
    # Now it reads: the late acknowledgements first, the login's answer last.
    terminal.receive_data(late, T0 + 1200)
    assert terminal.online and isinstance(terminal.next_event(), Online)
    assert terminal.get_timer() is not None


def _frames(data: bytes) -> list[LinkFrame]:
    decoder = FrameDecoder()
    decoder.receive_data(data)
    return list(decoder.frames())
