"""Throw random and mutated bytes at the DL/T 698.45 decoders; anything but a DecodeError is
a bug. Seeded and bounded, so a run can be repeated exactly.

    python tools/fuzz_protocol.py [--count N] [--seed S]

Inputs: a third pure random bytes, two thirds valid frames of every APDU kind (from the
test corpus below) with bytes flipped, inserted, deleted or truncated. Each input goes through
``decode_frame``, the stream decoder and, for the frame's APDU field and the raw input,
``decode_apdu`` and ``read_data``. When the compiled decoder is in use, every frame and APDU
also goes through it alone and through the Python decoder alone: where Python refuses, the
compiled path must decline (None); where Python decodes, the compiled path must give an equal
object of the same types, or decline.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from collections.abc import Callable

from wattguard.errors import DecodeError
from wattguard.protocol import (
    OAD,
    Control,
    Data,
    DataType,
    FrameDecoder,
    LinkFrame,
    ServerAddress,
    _accelerate,
    decode_apdu,
    decode_frame,
    link,
)
from wattguard.protocol import data as data_module
from wattguard.protocol.apdu import decode_apdu_python
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.connect import LinkRequest, LinkRequestType
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    Verification,
    VerificationKind,
)
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.protocol.values import DateTime
from wattguard.randomness import generator


def corpus() -> list[bytes]:
    meter = ServerAddress.parse("123456789012")
    energy = OAD.parse("00100200")
    array = Data.array(*[Data(DataType.DOUBLE_LONG_UNSIGNED, i * 1000) for i in range(5)])
    apdus = [
        GetRequestNormal(1, energy).to_bytes(),
        GetResponseNormal(1, AResultNormal(energy, array)).to_bytes(),
        SetRequestNormal(
            2, OAD.parse("40010200"), Data(DataType.OCTET_STRING, b"\x01" * 6)
        ).to_bytes(),
        LinkRequest(
            0, LinkRequestType.LOGIN, 300, DateTime(2026, 11, 24, 2, 8, 0, 0, 0)
        ).to_bytes(),
        SecurityRequest(
            SecurityPayload(Protection.CIPHERTEXT, bytes(32)),
            Verification(VerificationKind.RN, random=bytes(16)),
        ).to_bytes(),
    ]
    return [LinkFrame(Control(False, True), meter, 0x10, apdu).to_bytes() for apdu in apdus]


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        action = rng.randrange(4)
        if action == 0 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif action == 1:
            out.insert(rng.randint(0, len(out)), rng.randrange(256))
        elif action == 2 and out:
            del out[rng.randrange(len(out))]
        elif out:
            del out[rng.randint(0, len(out) - 1) :]
    return bytes(out)


def _reference(decode: Callable[[bytes], object], data: bytes) -> object:
    try:
        return decode(data)
    except DecodeError:
        return None


def _python_frame(data: bytes) -> object:
    saved, link._fast_frame = link._fast_frame, None
    try:
        return decode_frame(data)
    finally:
        link._fast_frame = saved


def _python_data(data: bytes) -> object:
    saved, data_module._fast_data = data_module._fast_data, None
    try:
        return read_data(Reader(data))
    finally:
        data_module._fast_data = saved


def compare(data: bytes, apdu: bytes) -> None:
    """The compiled path agrees with the Python decoder (see the module docstring)."""
    from wattguard.protocol import _accel

    checks = (
        (_accel.decode_frame, _python_frame, data),
        (_accel.decode_apdu, decode_apdu_python, apdu),
        (_accel.decode_apdu, decode_apdu_python, data),
    )
    for candidate in (apdu, data):
        if candidate and candidate[0] in (1, 2):  # what read_data hands to the compiled path
            got_data = _accel.decode_data(candidate, 0, 0)
            expected_data = _reference(_python_data, candidate)
            if got_data is not None and (
                expected_data is None or repr(got_data[0]) != repr(expected_data)
            ):
                raise AssertionError(f"compiled Data {got_data!r} but Python {expected_data!r}")
    for fast, python, candidate in checks:
        expected = _reference(python, candidate)
        got = fast(candidate)
        if got is None:
            continue
        if expected is None or got != expected or repr(got) != repr(expected):
            raise AssertionError(f"compiled {got!r} but Python {expected!r}")


def one(data: bytes) -> None:
    try:
        frame = decode_frame(data)
        apdu = frame.apdu
    except DecodeError:
        apdu = data[14:]
    decoder = FrameDecoder()
    decoder.receive_data(data)
    decoder.frames()
    decoder.line_idle()
    for candidate in (apdu, data):
        with contextlib.suppress(DecodeError):
            decode_apdu(candidate)
        with contextlib.suppress(DecodeError):
            read_data(Reader(candidate))
    if _accelerate.ACTIVE:
        compare(data, apdu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=698)
    args = parser.parse_args()
    rng = generator(args.seed)
    seeds = corpus()
    start = time.monotonic()
    for index in range(args.count):
        if index % 3 == 0:
            data = rng.randbytes(rng.randint(0, 80))
        else:
            data = mutate(rng, rng.choice(seeds))
        try:
            one(data)
        except Exception:
            print(f"input {index} crashed the decoder: {data.hex()}", file=sys.stderr)
            raise
        if index and index % 100_000 == 0:
            print(f"  {index:,} inputs, {time.monotonic() - start:.0f} s", file=sys.stderr)
    elapsed = time.monotonic() - start
    decoders = "compiled and Python decoders agree" if _accelerate.ACTIVE else "Python decoder"
    print(
        f"{args.count:,} inputs (seed {args.seed}, {decoders}): no exception but DecodeError "
        f"({elapsed:.0f} s, {args.count / elapsed:,.0f} inputs/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
