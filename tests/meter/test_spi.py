"""The SPI link refuses forged, altered and replayed metrology data, and records each refusal;
without the protection the same attacks get through."""

from __future__ import annotations

import contextlib
import struct

import pytest

from wattguard.errors import DecodeError, IntegrityError, SecurityError
from wattguard.events import EventKind, EventLog
from wattguard.meter.links.link import Link
from wattguard.meter.links.spi import MessageType, SpiReceiver, SpiSender

KEY = bytes(range(16))
READING = struct.pack(">I", 1234567)  # forward energy in 0.01 kWh


def wire(protected: bool, manipulate=None):  # type: ignore[no-untyped-def]
    log = EventLog()
    link = Link("SPI", manipulate) if manipulate else Link("SPI")
    return SpiSender(KEY), link, SpiReceiver(KEY, log, protected=protected), log


def deliver(link: Link, receiver: SpiReceiver) -> list[tuple[MessageType, bytes]]:
    out = []
    while (message := link.receive()) is not None:
        with contextlib.suppress(SecurityError, DecodeError):
            out.append(receiver.receive(message, now=0.0))
    return out


def test_genuine_messages_pass_in_order() -> None:
    sender, link, receiver, log = wire(True)
    link.send(sender.restart(bytes(8)))
    for value in (1, 2, 3):
        link.send(sender.encode(MessageType.ENERGY, struct.pack(">I", value)))
    got = deliver(link, receiver)
    assert [payload for kind, payload in got if kind == MessageType.ENERGY] == [
        struct.pack(">I", v) for v in (1, 2, 3)
    ]
    assert list(log.events) == []


def forge(_: bytes) -> list[bytes]:
    # An attacker on the bus, without the key, substitutes a low reading.
    fake = struct.pack(">BBIH", 0xA5, MessageType.ENERGY, 99, 4) + struct.pack(">I", 10)
    return [fake + b"\x00\x00\x00\x00"]


def alter(message: bytes) -> list[bytes]:
    changed = bytearray(message)
    changed[9] ^= 0xFF  # a byte of the payload
    return [bytes(changed)]


def replay(message: bytes) -> list[bytes]:
    return [message, message]


@pytest.mark.parametrize(
    "attack, kind",
    [(forge, EventKind.BAD_MAC), (alter, EventKind.BAD_MAC), (replay, EventKind.REPLAY)],
    ids=["forged", "altered", "replayed"],
)
def test_attacks_on_the_bus(attack, kind) -> None:  # type: ignore[no-untyped-def]
    # Protected: refused, recorded, and the register value that got through is the genuine one.
    sender, link, receiver, log = wire(True, attack)
    link.send(sender.encode(MessageType.ENERGY, READING))
    got = deliver(link, receiver)
    assert [p for _, p in got] in ([], [READING])
    assert log.of_kind(kind), f"no {kind} event"
    # Unprotected: the same attack changes what the management module believes.
    sender, link, receiver, log = wire(False, attack)
    link.send(sender.encode(MessageType.ENERGY, READING))
    got = deliver(link, receiver)
    if attack is replay:
        assert len(got) == 2  # the duplicate counted twice
    else:
        assert got and got[0][1] != READING
    assert list(log.events) == []


def test_refusals_say_what_and_change_nothing() -> None:
    sender, _, receiver, log = wire(True)
    good = sender.encode(MessageType.ENERGY, READING)
    with pytest.raises(DecodeError, match="not a SPI message"):
        receiver.receive(b"\x00" * 12, now=1.0)
    with pytest.raises(DecodeError, match="length"):
        receiver.receive(good + b"\x00", now=2.0)
    with pytest.raises(IntegrityError):
        receiver.receive(good[:-1] + bytes([good[-1] ^ 1]), now=3.0)
    assert receiver.accepted == 0
    assert receiver.receive(good, now=4.0) == (MessageType.ENERGY, READING)
    assert [e.kind for e in log.events] == [
        EventKind.MALFORMED,
        EventKind.MALFORMED,
        EventKind.BAD_MAC,
    ]
    assert all(KEY.hex() not in e.detail for e in log.events)


def test_restart_resets_sequence_once() -> None:
    sender, _, receiver, log = wire(True)
    receiver.receive(sender.encode(MessageType.ENERGY, READING), now=0.0)
    restart = sender.restart(bytes.fromhex("0102030405060708"))
    receiver.receive(restart, now=1.0)
    assert receiver.receive(sender.encode(MessageType.ENERGY, READING), now=2.0)
    with pytest.raises(SecurityError):
        receiver.receive(restart, now=3.0)  # an old RESTART cannot rewind the sequence
    assert log.of_kind(EventKind.REPLAY)


def test_a_restart_epoch_is_eight_bytes_the_caller_draws() -> None:
    sender, _, receiver, _ = wire(True)
    with pytest.raises(ValueError, match="8 random bytes"):
        sender.restart(bytes(7))
    kind, epoch = receiver.receive(sender.restart(b"epoch-01"), now=0.0)
    assert (kind, epoch) == (MessageType.RESTART, b"epoch-01")
