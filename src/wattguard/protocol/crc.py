"""CRC-16/X-25, the HCS and FCS of DL/T 698.45 link frames.

Parameters (the "CRC-16/X-25" entry of the CRC catalogue): width 16, polynomial 0x1021
reflected, initial value 0xFFFF, final XOR 0xFFFF; check value over b"123456789" is 0x906E.
On the wire the CRC is sent low byte first (DL/T 698.45-2017 clause 6.1.2; docs/protocol.md).

Implementation: ``binascii.crc_hqx`` computes the same polynomial unreflected, in C. A reflected
CRC equals the bit-reversed unreflected CRC of the bit-reversed bytes, and ``bytes.translate``
reverses the bits of every byte in C too, so no Python loop runs per byte. When the compiled
decoder is in use (``protocol._accelerate``) its table-driven CRC runs instead, in one call;
tests/protocol/test_accel.py holds the two equal.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable

__all__ = ["crc16", "crc16_bytes"]

_REVERSE_BITS = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def _reverse16(value: int) -> int:
    return (_REVERSE_BITS[value & 0xFF] << 8) | _REVERSE_BITS[value >> 8]


#: The compiled CRC when the compiled decoder is in use (set by ``_accelerate``).
_fast_crc: Callable[[bytes], int] | None = None


def crc16(data: bytes) -> int:
    """CRC-16/X-25 of ``data`` as an integer."""
    if _fast_crc is not None:
        return _fast_crc(data)
    return crc16_python(data)


def crc16_python(data: bytes) -> int:
    """:func:`crc16` without the compiled path: the reference."""
    return _reverse16(binascii.crc_hqx(data.translate(_REVERSE_BITS), 0xFFFF)) ^ 0xFFFF


def crc16_bytes(data: bytes) -> bytes:
    """CRC-16/X-25 of ``data`` as sent on the wire: low byte first."""
    return crc16(data).to_bytes(2, "little")
