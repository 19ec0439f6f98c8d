"""The FEP puts the link fragments of one APDU on the bus as one message, so whichever ingest
worker takes it holds the whole APDU (two workers sharing the ``up`` stream each used to get
some fragments of a gathered report, and neither could reassemble it)."""

from __future__ import annotations

from wattguard.protocol import Control, LinkFrame, ServerAddress
from wattguard.protocol.fragment import split_apdu
from wattguard.protocol.link import decode_frame
from wattguard.runtime.fep import _gather

TERMINAL = ServerAddress(bytes.fromhex("990000000001"))
REPORT = bytes(range(256)) * 12  # an APDU of 3,072 bytes: four 1,024-byte link fragments


def _frames(apdu: bytes) -> list[LinkFrame]:
    control = Control(True, False, 3, True)
    return [
        LinkFrame(control, TERMINAL, 0x10, piece, fragment)
        for fragment, piece in split_apdu(apdu, 1024)
    ]


def _whole(message: bytes) -> bytes:
    apdu = b""
    while message:
        length = int.from_bytes(message[1:3], "little") + 2
        apdu += decode_frame(message[:length]).apdu
        message = message[length:]
    return apdu


def test_an_apdus_fragments_go_on_the_bus_together_and_other_frames_pass_beside() -> None:
    frames = _frames(REPORT)
    assert len(frames) > 2
    heartbeat = LinkFrame(Control(True, False, 1), TERMINAL, 0x10, b"\x01\x00")
    held: list[bytes] = []
    out = [_gather(held, frames[0]), _gather(held, heartbeat)]
    out += [_gather(held, frame) for frame in frames[1:]]
    assert out[0] == [] and out[1] == [heartbeat.to_bytes()]
    assert all(o == [] for o in out[2:-1])
    (message,) = out[-1]
    assert _whole(message) == REPORT and not held
    # a transfer abandoned (a new one starts) goes on as it was; a lone frame passes
    assert _gather(held, frames[0]) == []
    assert _gather(held, frames[0]) == [frames[0].to_bytes()]
    single = LinkFrame(Control(True, False, 3), TERMINAL, 0x10, b"\x88\x01")
    assert _gather([], single) == [single.to_bytes()]
