"""What the FEP's denial-of-service scenarios (attacks scenario 11) showed and what fixed it:
a connection about to be closed had its whole read decoded first (a 64 KB read of 0x68 bytes,
each a possible frame start, cost a tenth of a second of CPU), a host could reconnect as fast
as it liked, and each undecodable byte was a stored event."""

from __future__ import annotations

from wattguard.events import EventKind, EventLog
from wattguard.network.fep import SLICE, ConnectionGate, FepLimits, FepSession, FrameAdmitted

TERMINAL = bytes.fromhex("990000000001")


def test_a_connection_to_be_closed_costs_at_most_one_slice_more() -> None:
    events = EventLog()
    session = FepSession(TERMINAL, 0.0, FepLimits(), events)
    session.receive_data(b"\x68" * 65536, 1.0)
    forwarded = [e for e in iter(session.next_event, None) if isinstance(e, FrameAdmitted)]
    assert forwarded == [] and session.closed == "too many malformed frames"
    decoded = session._decoder.discarded + len(session._decoder._buffer)
    assert decoded <= SLICE  # not the 65,536 bytes handed over
    # one event per slice of garbage, and the close; not one per byte
    assert len(events.of_kind(EventKind.MALFORMED)) == 2


def test_one_event_per_slice_still_counts_every_error() -> None:
    events = EventLog()
    session = FepSession(TERMINAL, 0.0, FepLimits(malformed_limit=50), events)
    session.receive_data(b"\x68" * 40, 1.0)  # some 40 errors: one event, each one counted
    assert session.closed is None and len(events.events) == 1
    session.receive_data(b"\x68" * 40, 2.0)
    assert session.closed == "too many malformed frames"


def test_a_host_cannot_reconnect_faster_than_its_rate() -> None:
    events = EventLog()
    gate = ConnectionGate(FepLimits(connections_per_second=1.0, connection_burst=3), events)
    for _ in range(3):
        admission = gate.admit("10.0.0.9", 0.0)
        assert admission is not None
        gate.release(admission)
    assert not gate.admit("10.0.0.9", 0.0)  # closed three times: now it must wait
    assert "reconnecting too fast" in events.of_kind(EventKind.FLOOD)[0].detail
    assert gate.admit("10.0.0.8", 0.0)  # another host is not held up
    assert gate.admit("10.0.0.9", 1.0)  # a second later, one more


def test_the_rates_of_idle_hosts_are_forgotten() -> None:
    gate = ConnectionGate(FepLimits(max_connections=2, connection_burst=2))
    for k in range(8):  # the table holds at most four times the connection cap
        admission = gate.admit(f"10.0.1.{k}", float(k))
        assert admission is not None
        gate.release(admission)
    assert len(gate._rates) <= 8
    assert gate.admit("10.0.2.1", 100.0) and len(gate._rates) <= 2


def test_authenticated_connections_do_not_count_against_their_host() -> None:
    """Issue #13, item 10: a host that shares an address with terminals (a NAT, a device
    beside them) holds its cap of connections without a handshake; the terminals' sessions
    still get in and stay in."""
    events = EventLog()
    gate = ConnectionGate(FepLimits(max_per_host=4, connection_burst=100), events)
    terminals = []
    for _ in range(6):  # six terminals behind one address, each authenticated in turn
        admission = gate.admit("10.0.0.7", 0.0)
        assert admission is not None
        gate.authenticated(admission)
        terminals.append(admission)
    idle = [gate.admit("10.0.0.7", 1.0) for _ in range(4)]  # the squatter fills the cap
    assert all(idle) and gate.unauthenticated("10.0.0.7") == 4
    late = gate.admit("10.0.0.7", 2.0)  # a seventh terminal, after a WAN outage
    assert late is not None and idle[0] is not None and idle[0].evicted
    gate.authenticated(late)
    assert not any(t.evicted for t in terminals) and not late.evicted
    assert gate.open == 6 + 4 + 1 - 1
    assert "without a handshake" in events.of_kind(EventKind.FLOOD)[0].detail
