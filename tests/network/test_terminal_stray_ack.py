"""What a terminal makes of a second acknowledgement of a report (issue #18): a REPORT-Response
of transparent data carries the PIID alone (DL/T 698.45: PIID and an optional time tag), so a
late duplicate that arrived once the PIID named a newer report used to acknowledge that report
(it left the outbox unstored). A PIID now rests 120 s after its batch is acknowledged, so a
duplicate within that time finds its PIID free: a protocol violation the link records and drops
before the outbox hears of it (bench/chain_roles.py counts those from the security events)."""

from __future__ import annotations

from wattguard.events import EventLog
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.network.terminal.tasks import Collected
from wattguard.protocol import ClientConnection, ServerAddress
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
