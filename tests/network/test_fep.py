"""The front-end processor's boundary checks and the bus."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.network.bus import InProcessBus, down_subject, matches, up_subject
from wattguard.network.fep import (
    ConnectionGate,
    FepLimits,
    FepSession,
    FrameAdmitted,
    SessionClosed,
)
from wattguard.protocol import Control, LinkFrame, ServerAddress, ServerConnection
from wattguard.protocol.apdu.connect import LinkRequest, LinkRequestType
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.link import FunctionCode
from wattguard.protocol.objects import HPLC_PORT
from wattguard.protocol.values import DateTime
from wattguard.testing.strategies import (
    SERVICES,
    server_addresses,
    structure_strategy,
    u8,
    unfragmented_controls,
)

TERMINAL = bytes.fromhex("990000000001")
OTHER = bytes.fromhex("990000000002")
STAMP = DateTime(2026, 12, 1, 2, 0, 0, 0, 0)


def login(address: bytes = TERMINAL) -> bytes:
    apdu = LinkRequest(1, LinkRequestType.LOGIN, 300, STAMP).to_bytes()
    control = Control(True, False, FunctionCode.LINK_MANAGEMENT)
    return LinkFrame(control, ServerAddress(address), 0x10, apdu).to_bytes()


def report(address: bytes = TERMINAL, n: int = 1, size: int = 40) -> bytes:
    apdu = ReportNotificationTransData(n % 64, HPLC_PORT, (bytes(size),)).to_bytes()
    return LinkFrame(Control(True, False), ServerAddress(address), 0x10, apdu).to_bytes()


def session(**kwargs: object) -> tuple[FepSession, EventLog]:
    events = EventLog()
    limits = kwargs.pop("limits", FepLimits())
    terminal = kwargs.pop("terminal", TERMINAL)
    return FepSession(terminal, 0.0, limits, events, **kwargs), events  # type: ignore[arg-type]


def admit(s: FepSession, data: bytes, now: float) -> list[LinkFrame]:
    """Feed ``data``; the frames the session admitted (what goes on to the station)."""
    s.receive_data(data, now)
    return [e.frame for e in iter(s.next_event, None) if isinstance(e, FrameAdmitted)]


def test_a_logged_in_terminal_gets_its_frames_through_whole() -> None:
    s, events = session()
    data = login() + report(n=1) + report(n=2)
    forwarded = []
    for i in range(0, len(data), 7):  # arbitrary TCP segmentation
        forwarded += admit(s, data[i : i + 7], 1.0)
    assert [f.to_bytes() for f in forwarded] == [login(), report(n=1), report(n=2)]
    assert s.logged_in and s.closed is None and not events.events


def test_the_real_terminal_link_layer_passes() -> None:
    terminal = ServerConnection(ServerAddress(TERMINAL))
    terminal.login(0.0)
    s, _ = session()
    assert len(admit(s, terminal.data_to_send(), 0.0)) == 1 and s.logged_in


def test_data_before_login_is_dropped_and_recorded() -> None:
    s, events = session()
    assert admit(s, report(), 1.0) == []
    assert events.of_kind(EventKind.UNAUTHORISED)
    assert len(admit(s, login() + report(), 2.0)) == 2


def test_a_terminal_speaking_as_another_is_refused_and_cut_off() -> None:
    s, events = session()
    assert admit(s, login(OTHER), 1.0) == []
    assert s.closed is not None and "sent a frame as" in s.closed
    assert events.of_kind(EventKind.UNAUTHORISED)
    assert admit(s, login(), 2.0) == []  # closed stays closed


def test_without_boundary_protection_any_address_is_believed() -> None:
    s, _ = session(terminal=None)
    assert len(admit(s, login(OTHER) + report(OTHER), 1.0)) == 2
    assert s.claimed == OTHER
    assert admit(s, report(TERMINAL), 2.0) == [] and s.closed is not None


def test_frames_in_the_wrong_direction_and_garbage_count_as_malformed() -> None:
    s, events = session(limits=FepLimits(malformed_limit=3))
    wrong = LinkFrame(
        Control(False, True), ServerAddress(TERMINAL), 0x10, b"\x05\x01\x00"
    ).to_bytes()
    admit(s, login() + wrong, 1.0)
    admit(s, b"\x68\x17\x00garbage-garbage-garbage\x16", 2.0)
    bad_crc = bytearray(report())
    bad_crc[-3] ^= 0xFF
    admit(s, bytes(bad_crc), 3.0)
    assert s.closed == "too many malformed frames"
    assert len(events.of_kind(EventKind.MALFORMED)) >= 3


def test_the_rate_limit_drops_a_flood_and_then_closes() -> None:
    limits = FepLimits(frames_per_second=10, frame_burst=20, flood_limit=50)
    s, events = session(limits=limits)
    admit(s, login(), 0.0)
    burst = b"".join(report(n=i) for i in range(100))
    passed = admit(s, burst, 0.0)
    assert len(passed) == 19  # the burst less the login
    assert events.of_kind(EventKind.FLOOD)
    assert s.closed == "stayed over the rate limit"


def test_the_rate_limit_refills_with_time() -> None:
    limits = FepLimits(frames_per_second=10, frame_burst=10)
    s, _ = session(limits=limits)
    admit(s, login(), 0.0)
    sent = sum(len(admit(s, report(n=i), i * 0.1)) for i in range(100))  # 10/s: at the rate
    assert sent == 100 and s.closed is None


def test_login_timeout_closes_a_silent_connection() -> None:
    s, events = session(limits=FepLimits(login_timeout=30))
    assert s.get_timer() == 30.0
    s.handle_timer(29.0)
    assert s.closed is None and s.next_event() is None
    s.handle_timer(30.0)
    assert s.closed is not None and events.of_kind(EventKind.AUTHENTICATION)
    assert s.next_event() == SessionClosed(s.closed) and s.get_timer() is None


def test_a_login_stops_the_login_timer_and_the_session_never_answers() -> None:
    s, _ = session(limits=FepLimits(login_timeout=30))
    admit(s, login(), 1.0)
    assert s.get_timer() is None and s.data_to_send() == b""
    s.receive_data(b"", 2.0)  # the terminal hung up: nothing to decide
    s.handle_timer(100.0)
    assert s.closed is None and s.next_event() is None


def test_oversized_frames_are_refused() -> None:
    s, events = session(limits=FepLimits(max_frame=256))
    assert admit(s, login() + report(size=1000) + report(n=3), 1.0)[-1].apdu[1] == 3
    assert events.of_kind(EventKind.MALFORMED)


def logged_in() -> tuple[FepSession, EventLog]:
    """A session whose terminal has logged in (the login is the one frame forwarded)."""
    s, events = session()
    assert [f.to_bytes() for f in admit(s, login(), 0.5)] == [login()] and s.logged_in
    return s, events


#: Any well-formed APDU of any service, as bytes.
any_apdu = st.sampled_from([cls for _, cls in SERVICES]).flatmap(structure_strategy)
#: Well-formed frames in the terminal's direction, as another terminal (or a meter) would send
#: them: any address but ours, any well-formed APDU.
foreign_frames = st.builds(
    LinkFrame,
    unfragmented_controls.map(lambda c: dataclasses.replace(c, from_server=True)),
    server_addresses.filter(lambda a: a.address != TERMINAL),
    u8,
    any_apdu.map(lambda apdu: apdu.to_bytes()),
)


@given(foreign_frames)
def test_well_formed_frames_for_another_address_never_pass(frame: LinkFrame) -> None:
    s, events = logged_in()
    assert admit(s, frame.to_bytes(), 1.0) == []
    assert s.forwarded == 1  # the login alone
    # refused by the address check (so the frame was decoded), and the connection cut off
    assert s.closed is not None and "sent a frame as" in s.closed
    assert events.of_kind(EventKind.UNAUTHORISED)
    assert admit(s, report(), 2.0) == []


@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_and_never_pass(data: bytes) -> None:
    s, _ = logged_in()
    assert admit(s, data, 1.0) == []
    assert s.forwarded == 1


def test_connection_gate_caps_in_all_and_per_host() -> None:
    events = EventLog()
    gate = ConnectionGate(FepLimits(max_connections=3, max_per_host=2), events)
    first, second = gate.admit("10.0.0.1", 0), gate.admit("10.0.0.1", 0)
    assert first is not None and second is not None
    # at its cap, the host's newest connection takes the place of its oldest unauthenticated
    closed: list[str] = []
    first.close = lambda: closed.append("first")
    third = gate.admit("10.0.0.1", 0)
    assert third is not None and first.evicted and closed == ["first"]
    assert gate.open == 2 and gate.unauthenticated("10.0.0.1") == 2
    gate.release(first)  # the runtime's release of an evicted connection counts nothing
    assert gate.open == 2
    assert gate.admit("10.0.0.2", 0)
    assert not gate.admit("10.0.0.3", 0)  # full
    gate.release(second)
    assert gate.admit("10.0.0.3", 0) and gate.open == 3
    assert gate.refused == 1 and gate.evicted == 1 and len(events.of_kind(EventKind.FLOOD)) == 2


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigError):
        FepLimits(frames_per_second=0)
    with pytest.raises(ConfigError):
        FepLimits(max_frame=8)


def test_bus_subjects_and_delivery() -> None:
    bus = InProcessBus()
    got: list[tuple[str, bytes]] = []
    stop = bus.subscribe("up.*", lambda s, p: got.append((s, p)))
    bus.subscribe("down.>", lambda s, p: got.append((s, p)))
    bus.subscribe("up.*", lambda s, p: 1 / 0)  # a broken consumer does not silence others
    bus.publish(up_subject(TERMINAL), b"a")
    bus.publish(down_subject(TERMINAL), b"b")
    stop()
    bus.publish(up_subject(TERMINAL), b"c")
    assert got == [("up.990000000001", b"a"), ("down.990000000001", b"b")]
    assert matches("a.>", "a.b.c") and not matches("a.>", "a")
    assert matches("a.*.c", "a.b.c") and not matches("a.*", "a.b.c")
    with pytest.raises(ConfigError):
        bus.publish("up.*", b"")
    with pytest.raises(ConfigError):
        bus.subscribe("a..b", lambda s, p: None)
    with pytest.raises(ConfigError):
        bus.subscribe("a.>.b", lambda s, p: None)
