"""The channel cores as the runtimes drive them (PlainChannel, WanChannel, MessageChannel) and
one FEP connection (FepConnection): the sans-IO contract, the quiet end of a stream, and the
refusals each one reports as events."""

from __future__ import annotations

import pytest

from wattguard.clock import VirtualClock
from wattguard.errors import LocalProtocolError, ReplayError
from wattguard.events import EventKind, EventLog
from wattguard.network import wan
from wattguard.network.channel import (
    ChannelClosed,
    ChannelCore,
    ChannelData,
    ChannelUp,
    Message,
    MessageChannel,
    PlainChannel,
)
from wattguard.network.fep import (
    ConnectionClosed,
    FepConnection,
    FepConnectionEvent,
    FepLimits,
    FrameAdmitted,
    SessionOpened,
)
from wattguard.network.utility import UtilityPki
from wattguard.protocol import Control, LinkFrame, ServerAddress
from wattguard.protocol.apdu.connect import LinkRequest, LinkRequestType
from wattguard.protocol.link import FunctionCode
from wattguard.protocol.values import DateTime

T0 = 1_790_000_000.0
TERMINAL = bytes.fromhex("990000000001")
OTHER = bytes.fromhex("990000000002")
PEER = "10.0.0.7:40001"


def login(address: bytes = TERMINAL) -> bytes:
    apdu = LinkRequest(1, LinkRequestType.LOGIN, 300, DateTime(2026, 12, 1, 2, 0, 0, 0, 0))
    control = Control(True, False, FunctionCode.LINK_MANAGEMENT)
    return LinkFrame(control, ServerAddress(address), 0x10, apdu.to_bytes()).to_bytes()


def drain(core: ChannelCore | MessageChannel | FepConnection) -> list[object]:
    return list(iter(core.next_event, None))


def carry(client: ChannelCore, server: ChannelCore | FepConnection) -> None:
    """Bytes both ways until both ends are quiet."""
    while True:
        up, down = client.data_to_send(), server.data_to_send()
        if not up and not down:
            return
        if up:
            server.receive_data(up, 0.0)
        if down:
            client.receive_data(down, 0.0)


@pytest.fixture(scope="module")
def utility() -> UtilityPki:
    return UtilityPki.create(VirtualClock(T0))


# --- the channel cores --------------------------------------------------------------------


def test_a_plain_channel_passes_bytes_and_ends_quietly() -> None:
    channel = PlainChannel()
    channel.receive_data(b"abc", 1.0)
    channel.send(b"xyz")
    assert drain(channel) == [ChannelUp(None), ChannelData(b"abc")]
    assert channel.data_to_send() == b"xyz" and channel.get_timer() is None
    channel.receive_data(b"", 2.0)
    assert drain(channel) == []


def test_a_wan_channel_reports_which_refusal_closed_it(utility: UtilityPki) -> None:
    client, server = utility.terminal_channel(TERMINAL)(), utility.fep_channel()()
    carry(client, server)
    assert drain(server) == [ChannelUp(TERMINAL)] and drain(client) == [ChannelUp(None)]
    client.send(b"reading")
    record = client.data_to_send()
    server.receive_data(record + record, 0.0)  # the second copy is a replay
    data, closed = drain(server)
    assert data == ChannelData(b"reading")
    assert isinstance(closed, ChannelClosed) and isinstance(closed.error, ReplayError)
    server.send(b"after the close")  # does nothing
    client.receive_data(server.data_to_send(), 0.0)  # the FEP's alert
    (told,) = drain(client)
    assert isinstance(told, ChannelClosed) and told.error is None and "replayed" in told.reason


def test_a_wan_channel_refuses_our_own_misuse_and_ends_without_a_truncation_check(
    utility: UtilityPki,
) -> None:
    events = EventLog()
    server = utility.fep_channel(events)()
    with pytest.raises(LocalProtocolError):
        server.send(b"before the handshake")
    client = utility.terminal_channel(TERMINAL)()
    server.receive_data(client.data_to_send()[:10], 0.0)  # half a ClientHello, then the end
    server.receive_data(b"", 1.0)
    assert drain(server) == [] and not events.events


# --- messages over a channel --------------------------------------------------------------


def test_messages_are_framed_and_reassembled_across_reads() -> None:
    ours, theirs = MessageChannel(PlainChannel()), MessageChannel(PlainChannel())
    ours.send(b"first")
    ours.send(b"")
    ours.send(b"x" * 300)
    wire = ours.data_to_send()
    for at in range(0, len(wire), 7):
        theirs.receive_data(wire[at : at + 7], 0.0)
    events = drain(theirs)
    assert events == [ChannelUp(None), Message(b"first"), Message(b""), Message(b"x" * 300)]


def test_an_oversized_message_closes_the_channel() -> None:
    core = MessageChannel(PlainChannel(), limit=16)
    core.receive_data((17).to_bytes(4, "big") + bytes(17) + (1).to_bytes(4, "big") + b"z", 0.0)
    up, closed = drain(core)
    assert up == ChannelUp(None) and isinstance(closed, ChannelClosed)
    assert "17 bytes" in closed.reason
    core.receive_data((1).to_bytes(4, "big") + b"z", 1.0)
    assert drain(core) == []


# --- one connection at the FEP ------------------------------------------------------------


def connection(
    channel: ChannelCore, limits: FepLimits | None = None
) -> tuple[FepConnection, EventLog]:
    events = EventLog()
    core = FepConnection(
        channel, 0.0, limits=limits or FepLimits(), events=events, name="fep-1", peer=PEER
    )
    return core, events


def test_a_connection_opens_a_session_and_admits_its_frames() -> None:
    core, events = connection(PlainChannel())
    assert core.get_timer() == FepLimits().login_timeout  # the handshake deadline
    core.receive_data(login(), 1.0)
    opened, admitted = drain(core)
    assert isinstance(opened, SessionOpened) and opened.session is core.session
    assert isinstance(admitted, FrameAdmitted) and admitted.frame.to_bytes() == login()
    assert core.get_timer() is None  # logged in: no deadline left
    core.send(b"from the station")
    assert core.data_to_send() == b"from the station" and not events.events


def test_a_connection_without_a_handshake_is_closed_at_the_deadline(
    utility: UtilityPki,
) -> None:
    core, events = connection(utility.fep_channel()(), FepLimits(login_timeout=30))
    assert core.get_timer() == 30.0
    core.handle_timer(29.0)
    assert drain(core) == []
    core.handle_timer(30.0)
    assert drain(core) == [ConnectionClosed("no handshake")] and core.get_timer() is None
    (event,) = events.events
    assert event.kind is EventKind.AUTHENTICATION and event.detail == f"{PEER}: no handshake"


def test_a_refusal_by_the_channel_closes_the_connection_and_is_recorded(
    utility: UtilityPki,
) -> None:
    core, events = connection(utility.fep_channel()())
    core.receive_data(wan.Record(wan.RecordType.HANDSHAKE, 0, b"\x01\x01").to_bytes(), 1.0)
    (closed,) = drain(core)
    assert isinstance(closed, ConnectionClosed) and core.closed == closed.reason
    assert [e.kind for e in events.events] == [EventKind.AUTHENTICATION]
    assert core.data_to_send()  # the alert that tells the terminal why


def test_a_connection_that_ends_before_anything_does_nothing() -> None:
    core, events = connection(PlainChannel())
    core.receive_data(b"", 0.5)
    assert [type(e) for e in drain(core)] == [SessionOpened] and not events.events


def test_a_terminal_speaking_as_another_closes_the_connection() -> None:
    core, events = connection(_Named(OTHER))
    core.receive_data(login(TERMINAL), 1.0)
    seen: list[FepConnectionEvent] = list(iter(core.next_event, None))
    assert [type(e) for e in seen] == [SessionOpened, ConnectionClosed]
    assert isinstance(seen[-1], ConnectionClosed) and "sent a frame as" in seen[-1].reason
    assert events.of_kind(EventKind.UNAUTHORISED)
    core.receive_data(login(OTHER), 2.0)  # closed stays closed
    assert drain(core) == []


class _Named(PlainChannel):
    """A plain channel whose peer's certificate named ``peer``."""

    def __init__(self, peer: bytes) -> None:
        super().__init__()
        self._events.clear()
        self._events.append(ChannelUp(peer))
