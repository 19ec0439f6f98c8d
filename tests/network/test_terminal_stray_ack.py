"""What a terminal makes of a second acknowledgement of a report (issue #18): a REPORT-Response
of transparent data carries the PIID alone (DL/T 698.45: PIID and an optional time tag), so a
late duplicate that arrived once the PIID named a newer report used to acknowledge that report
(it left the outbox unstored). A PIID now rests 120 s after its batch is acknowledged, so a
duplicate within that time finds its PIID free: a protocol violation the link records and drops
before the outbox hears of it (bench/chain_roles.py counts those from the security events).
A duplicate later than the rest is told apart by its time tag: each report carries one, the
station's acknowledgement echoes it, and the link refuses an acknowledgement naming another
report than the one its PIID awaits."""

from __future__ import annotations

from wattguard.events import EventLog
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.network.terminal.tasks import Collected
from wattguard.protocol import ClientConnection, ServerAddress, decode_apdu
from wattguard.protocol.apdu.report import ReportResponseTransData
from wattguard.protocol.link import Control, LinkFrame, decode_frame
from wattguard.testing import T0

TERMINAL = bytes.fromhex("990000000003")


def _online() -> tuple[Terminal, ClientConnection, EventLog]:
    events = EventLog()
    terminal = Terminal(TERMINAL, HplcChannel(seed=3), upstream_timeout=3600.0, heartbeat=900.0,
                        start=T0, batch_items=1, window=1, events=events)  # fmt: skip
    station = ClientConnection(ServerAddress(TERMINAL), timeout=30.0)
    terminal.connected(T0)
    station.receive_data(terminal.data_to_send(), T0)
    terminal.receive_data(station.data_to_send(), T0)
    assert terminal.online
    return terminal, station, events


def _send_one(terminal: Terminal, station: ClientConnection, item: int) -> tuple[int, bytes]:
    """Queue one item, let it go up as a batch; the PIID it went under and the station's
    acknowledgement (not yet delivered)."""
    terminal.outbox.queue(Collected(bytes(6), T0, b"", bytes([item])), T0)
    terminal.handle_timer(T0)
    (piid,) = terminal.outbox.in_flight
    station.receive_data(terminal.data_to_send(), T0)
    while station.next_event() is not None:
        pass
    return piid, station.data_to_send()


def test_a_late_duplicate_never_acknowledges_a_newer_report() -> None:
    terminal, station, events = _online()
    first, ack = _send_one(terminal, station, 0)
    terminal.receive_data(ack, T0)  # the first acknowledgement
    for item in range(1, 64):  # 63 more reports: every PIID has named a report
        _, answer = _send_one(terminal, station, item)
        terminal.receive_data(answer, T0)
    terminal.outbox.queue(Collected(bytes(6), T0, b"", bytes([64])), T0)
    terminal.handle_timer(T0 + 60)
    # The 65th report waits: every PIID rests (before, it went at once under the first's
    # PIID, and the duplicate below took it off the outbox as acknowledged).
    assert terminal.outbox.in_flight == {} and len(terminal.outbox) == 1
    terminal.receive_data(ack, T0 + 60)  # the first report's acknowledgement, handled twice
    assert len(terminal.outbox) == 1, "the waiting report is still the terminal's"
    assert [e.detail for e in events.events if "answers no report" in e.detail]
    terminal.handle_timer(T0 + 120)  # the first PIID woke: the report goes under it
    assert list(terminal.outbox.in_flight) == [first] and len(terminal.outbox) == 0


def test_a_duplicate_with_its_piid_free_is_recorded_and_reaches_no_outbox() -> None:
    terminal, station, events = _online()
    _, ack = _send_one(terminal, station, 0)
    terminal.receive_data(ack, T0)
    heard: list[int] = []
    terminal.outbox.acknowledged = heard.append  # type: ignore[method-assign]
    terminal.receive_data(ack, T0)  # again: no report awaits it
    assert heard == [], "the outbox never hears of it"
    assert [e.detail for e in events.events if "answers no report" in e.detail]


def _every_piid_once(terminal: Terminal, station: ClientConnection) -> tuple[int, bytes]:
    """64 reports at T0, each acknowledged: the first's PIID and acknowledgement."""
    first, ack = _send_one(terminal, station, 0)
    terminal.receive_data(ack, T0)
    for item in range(1, 64):
        _, answer = _send_one(terminal, station, item)
        terminal.receive_data(answer, T0)
    return first, ack


def test_a_duplicate_later_than_the_rest_never_acknowledges_the_report_reusing_its_piid() -> None:
    terminal, station, events = _online()
    first, ack = _every_piid_once(terminal, station)
    later = T0 + 600  # long past the rest: the 65th report goes under the first's PIID
    terminal.outbox.queue(Collected(bytes(6), later, b"", bytes([64])), later)
    terminal.handle_timer(later)
    assert list(terminal.outbox.in_flight) == [first]
    terminal.receive_data(ack, later + 1)  # the first report's acknowledgement, again
    assert list(terminal.outbox.in_flight) == [first], "the 65th report still awaits its own"
    late = [e.detail for e in events.events if "a late acknowledgement" in e.detail]
    assert late and f"PIID {first}" in late[0]
    # its own acknowledgement (the station echoes the 65th's tag) is taken
    station.receive_data(terminal.data_to_send(), later + 2)
    while station.next_event() is not None:
        pass
    terminal.receive_data(station.data_to_send(), later + 2)
    assert terminal.outbox.in_flight == {}


def test_the_acknowledgement_names_its_report_by_the_reports_time_tag() -> None:
    terminal, station, _ = _online()
    terminal.outbox.queue(Collected(bytes(6), T0, b"", b"\x01"), T0)
    terminal.handle_timer(T0 + 7)
    up = terminal.data_to_send()
    report = decode_apdu(decode_frame(up).apdu)
    assert report.time_tag is not None
    assert report.time_tag.send_time.to_posix() == int(T0 + 7)
    station.receive_data(up, T0 + 7)
    while station.next_event() is not None:
        pass
    answer = decode_apdu(decode_frame(station.data_to_send()).apdu)
    assert isinstance(answer, ReportResponseTransData)
    assert answer.time_tag == report.time_tag


def test_an_acknowledgement_without_a_tag_is_taken_as_before() -> None:
    """A station that does not echo the tag: the PIID alone (and its rest) decides."""
    terminal, _, events = _online()
    terminal.outbox.queue(Collected(bytes(6), T0, b"", b"\x01"), T0)
    terminal.handle_timer(T0)
    (piid,) = terminal.outbox.in_flight
    terminal.data_to_send()
    bare = ReportResponseTransData(piid).to_bytes()
    terminal.receive_data(LinkFrame(Control(False, False), ServerAddress(TERMINAL), 0x10,
                                    bare).to_bytes(), T0 + 1)  # fmt: skip
    assert terminal.outbox.in_flight == {} and not events.events
