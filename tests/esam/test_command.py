"""The chip's command interface: frames, LRC, status words. A bad frame gets its status word;
nothing a host sends makes the chip raise or change its state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import DecodeError, EsamError
from wattguard.esam.command import (
    COMMAND_START,
    MAX_DATA,
    Command,
    Fields,
    Info,
    Ins,
    Reply,
    Sw,
    lrc,
    pack,
    u32,
    var,
)
from wattguard.testing import T0
from wattguard.testing.esam import make_esam, rig

ESAM = make_esam()


def sw_of(frame: bytes) -> int:
    return Reply.from_bytes(ESAM.transmit(frame)).sw


def test_lrc_is_the_inverted_xor_of_the_bytes_between_start_and_lrc() -> None:
    frame = Command(Ins.GET_INFO, Info.KEY_VERSION).to_bytes()
    assert frame.hex() == "558001030000007d"  # 80 ^ 01 ^ 03 = 82, inverted 7D
    assert frame[-1] == lrc(frame[1:-1]) == (~(0x80 ^ 0x01 ^ 0x03) & 0xFF)


def test_a_good_frame_answers_9000_with_its_data() -> None:
    reply = Reply.from_bytes(ESAM.transmit(Command(Ins.GET_INFO, Info.KEY_VERSION).to_bytes()))
    assert reply.sw == Sw.OK and reply.data == b"\x01"
    raw = ESAM.transmit(Command(Ins.GET_INFO, Info.KEY_VERSION).to_bytes())
    assert raw[0] == 0xE9 and raw[1:3] == b"\x90\x00" and raw[3:5] == b"\x00\x01"
    assert raw[-1] == lrc(raw[1:-1])


@pytest.mark.parametrize(
    ("frame", "sw"),
    [
        (b"", Sw.BAD_FRAME),
        (b"\x55", Sw.BAD_FRAME),
        (bytes.fromhex("548001030000007D"), Sw.BAD_FRAME),  # start byte
        (bytes.fromhex("558001030000007C"), Sw.BAD_FRAME),  # LRC
        (bytes.fromhex("558001030000017C"), Sw.WRONG_LENGTH),  # Len 1, no DATA
        (Command(Ins.GET_INFO, Info.KEY_VERSION, cla=0x00).to_bytes(), Sw.UNKNOWN_CLA),
        (Command(0x77).to_bytes(), Sw.UNKNOWN_INS),
        (Command(Ins.GET_INFO, 0x7F).to_bytes(), Sw.BAD_P1P2),
        (Command(Ins.OPEN_REQUEST, 2, 0, b"\x00" * 10).to_bytes(), Sw.BAD_P1P2),
        (Command(Ins.OPEN_REQUEST, 0, 0, b"\x00\x00").to_bytes(), Sw.BAD_DATA),  # short fields
        (Command(Ins.WALLET_READ, 0, 0, b"\x00").to_bytes(), Sw.BAD_DATA),  # bytes left over
        (Command(Ins.PROTECT_RESPONSE, 0, 0, pack(u32(0), var(b"x"))).to_bytes(),
         Sw.SECURITY_STATUS),  # nothing opened
    ],
)  # fmt: skip
def test_bad_frames_and_commands_get_their_status_word(frame: bytes, sw: Sw) -> None:
    assert sw_of(frame) == sw


def test_the_length_limit_is_enforced_both_ways() -> None:
    with pytest.raises(ValueError):
        Command(Ins.GET_INFO, data=bytes(MAX_DATA + 1)).to_bytes()
    body = bytes((0x80, Ins.GET_INFO, 1, 0)) + (MAX_DATA + 1).to_bytes(2, "big")
    body += bytes(MAX_DATA + 1)
    assert sw_of(bytes((COMMAND_START,)) + body + bytes((lrc(body),))) == Sw.WRONG_LENGTH


def test_no_command_reads_a_key() -> None:
    esam = make_esam()
    state = esam._state
    secrets = [*state.keys.keys.values(), state.private_key]
    for ins in range(256):
        for p1 in (*range(8), 0xFF):
            reply = esam.transmit(Command(ins, p1, 0, u32(int(T0))).to_bytes())
            assert not any(secret in reply for secret in secrets)


@given(st.binary(max_size=80))
def test_garbage_never_raises_and_always_gets_a_frame(frame: bytes) -> None:
    Reply.from_bytes(ESAM.transmit(frame))  # a well-formed answer, whatever came in


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64))
def test_any_well_formed_command_gets_an_answer_and_never_raises(
    ins: int, p1: int, p2: int, data: bytes
) -> None:
    esam = make_esam()
    before = esam._state.to_bytes()
    reply = Reply.from_bytes(esam.transmit(Command(ins, p1, p2, data).to_bytes()))
    assert reply.sw == Sw.OK or esam._state.to_bytes() == before  # a refusal changes nothing


def test_command_and_reply_round_trip_and_truncation_is_refused() -> None:
    command = Command(Ins.CONNECT, 2, 0, b"\x01\x02\x03")
    assert Command.from_bytes(command.to_bytes()) == command
    reply = Reply(Sw.BAD_MAC, b"")
    assert Reply.from_bytes(reply.to_bytes()) == reply
    for cut in range(1, len(command.to_bytes())):
        with pytest.raises(DecodeError):
            Command.from_bytes(command.to_bytes()[:cut])


def test_fields_refuse_short_and_long_data() -> None:
    fields = Fields(pack(u32(7), var(b"ab")))
    assert fields.u32() == 7 and fields.var() == b"ab"
    fields.end()
    with pytest.raises(DecodeError):
        Fields(b"\x00\x05ab").var()
    with pytest.raises(DecodeError):
        Fields(b"\x00").end()


def test_the_client_raises_the_status_word_and_records_it() -> None:
    r = rig()
    with pytest.raises(EsamError) as caught:
        r.client.call(Ins.GET_INFO, p1=0x7F, now=T0)
    assert caught.value.sw == Sw.BAD_P1P2
    assert r.events.events[-1].detail.endswith("SW 6A86 (BAD_P1P2)")
