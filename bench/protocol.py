"""DL/T 698.45 codec speed beside the independent ``dlt698`` package, in the same run.

    python bench/protocol.py [--seconds S] [--rounds R] [--check]

Three frames, each encoded and decoded (link frame and APDU; the SECURITY case also decodes the
wrapped APDU): a GET-Request-Normal, a GET-Response-Normal carrying a 5-element energy array,
and that response wrapped in a SECURITY-Response with a MAC. ``dlt698`` is driven through its
Python API (its C++ core does the work). Targets (issue #3): decode >= 0.5 of dlt698's rate and
>= 50,000 frames/s on one core. Times are CPU seconds; each side keeps its best round.

wattguard decodes through its compiled fast path (``wattguard.protocol._accel``) when it was
built; run with ``WATTGUARD_PURE_PYTHON=1`` to measure the pure-Python decoder. The first line
printed says which one ran.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from timing import measure

from wattguard.protocol import (
    OAD,
    Control,
    Data,
    DataType,
    LinkFrame,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import Protection, SecurityPayload, SecurityResponse

METER = ServerAddress.parse("123456789012")
ENERGY = OAD.parse("00100200")


def frames() -> dict[str, bytes]:
    request = GetRequestNormal(1, ENERGY).to_bytes()
    energies = Data.array(
        *[Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in (1234567, 234567, 345678, 456789, 197533)]
    )
    response = GetResponseNormal(1, AResultNormal(ENERGY, energies)).to_bytes()
    secured = SecurityResponse(
        SecurityPayload(Protection.PLAINTEXT, response), mac=bytes.fromhex("a1b2c3d4")
    ).to_bytes()
    return {
        "GET-Request-Normal": LinkFrame(Control(False, True), METER, 0x10, request).to_bytes(),
        "GET-Response (5 energies)": LinkFrame(
            Control(True, True), METER, 0x10, response
        ).to_bytes(),
        "SECURITY-Response + MAC": LinkFrame(Control(True, True), METER, 0x10, secured).to_bytes(),
    }


def ours(name: str, wire: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    frame = decode_frame(wire)
    apdu = decode_apdu(frame.apdu)

    def decode() -> object:
        decoded = decode_apdu(decode_frame(wire).apdu)
        if isinstance(decoded, SecurityResponse):
            return decode_apdu(decoded.payload.data)
        return decoded

    def encode() -> bytes:
        return LinkFrame(
            frame.control, frame.address, frame.client_address, apdu.to_bytes()
        ).to_bytes()

    return decode, encode


def theirs(name: str, wire: bytes) -> tuple[Callable[[], object], Callable[[], object]]:
    import dlt698

    codec = dlt698.codec
    frame = codec.decode_frame(wire)
    secured = name.startswith("SECURITY")
    apdu = (codec.decode_security if secured else codec.decode_apdu)(frame.payload)
    encode_apdu = codec.encode_security if secured else codec.encode_apdu

    def decode() -> object:
        payload = codec.decode_frame(wire).payload
        if secured:
            return codec.decode_apdu(codec.decode_security(payload).application)
        return codec.decode_apdu(payload)

    def encode() -> bytes:
        out = codec.Frame(
            control=frame.control,
            server=frame.server,
            client=frame.client,
            payload=encode_apdu(apdu),
        )
        return bytes(codec.encode_frame(out))

    return decode, encode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    try:
        import dlt698  # noqa: F401
    except ImportError:
        print(
            "dlt698 is not installed (pip install -e '.[interop]'): no reference", file=sys.stderr
        )
        return 2
    from wattguard.protocol import _accelerate

    print(f"wattguard decoder: {_accelerate.REASON}")
    results: dict[tuple[str, str], list[float]] = {}
    cases = frames()
    for round_number in range(1, args.rounds + 1):
        print(f"  round {round_number}/{args.rounds} ...", file=sys.stderr, flush=True)
        for name, wire in cases.items():
            for side, build in (("wattguard", ours), ("dlt698", theirs)):
                decode, encode = build(name, wire)
                for op, fn in (("decode", decode), ("encode", encode)):
                    rate = measure(fn, args.seconds)
                    best = results.setdefault((name, op), [0.0, 0.0])
                    index = 0 if side == "wattguard" else 1
                    best[index] = max(best[index], rate)
    missed = False
    print(f"{'frame':<28} {'op':<7} {'wattguard/s':>12} {'dlt698/s':>12} {'ratio':>6}  target")
    for (name, op), (mine, reference) in results.items():
        ratio = mine / reference
        target = ""
        if op == "decode":
            met = ratio >= 0.5 and mine >= 50_000
            missed |= not met
            target = ">= 0.5x and >= 50,000/s " + ("met" if met else "MISSED")
        print(f"{name:<28} {op:<7} {mine:12.0f} {reference:12.0f} {ratio:6.2f}  {target}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
