"""A minimal DER (ITU-T X.690) encoder and strict decoder for the structures wattguard writes:
SM2 keys (PKCS#8, SEC 1, SubjectPublicKeyInfo), signatures and ciphertexts (GM/T 0009), and
later X.509 certificates. Not a general ASN.1 library: it knows tags, lengths and a handful of
universal types, and refuses anything that is not minimal DER.
"""

from __future__ import annotations

import base64
import binascii

from wattguard.errors import IntegrityError

INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31


class DerError(IntegrityError):
    """Malformed DER. An IntegrityError: a mangled key, signature or ciphertext is refused
    like any other integrity failure."""


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def integer(value: int) -> bytes:
    if value < 0:
        raise ValueError("negative INTEGERs are not used here")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # leading 0 keeps it positive
    return tlv(INTEGER, body)


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def bit_string(value: bytes) -> bytes:
    return tlv(BIT_STRING, b"\x00" + value)


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def context(number: int, content: bytes, *, constructed: bool = True) -> bytes:
    return tlv((0xA0 if constructed else 0x80) | number, content)


def oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


class Reader:
    """Reads TLVs one after another from ``data``; every method raises DerError when the
    bytes are not what was expected."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def peek_tag(self) -> int | None:
        return None if self.at_end() else self._data[self._pos]

    def read(self, tag: int) -> bytes:
        """Return the content of the next TLV, which must carry ``tag``."""
        data, pos = self._data, self._pos
        if pos + 2 > len(data) or data[pos] != tag:
            raise DerError()
        first = data[pos + 1]
        pos += 2
        if first < 0x80:
            length = first
        else:
            count = first & 0x7F
            if count == 0 or count > 4 or pos + count > len(data):
                raise DerError()
            length = int.from_bytes(data[pos : pos + count], "big")
            if length < 0x80 or data[pos] == 0:  # not minimal: DER forbids it
                raise DerError()
            pos += count
        if pos + length > len(data):
            raise DerError()
        self._pos = pos + length
        return data[pos : pos + length]

    def read_integer(self) -> int:
        body = self.read(INTEGER)
        if not body or (len(body) > 1 and body[0] == 0 and body[1] < 0x80) or body[0] & 0x80:
            raise DerError()  # empty, non-minimal, or negative
        return int.from_bytes(body, "big")

    def read_bit_string(self) -> bytes:
        body = self.read(BIT_STRING)
        if not body or body[0] != 0:
            raise DerError()
        return body[1:]

    def read_oid(self) -> str:
        body = self.read(OID)
        if not body or body[-1] & 0x80:
            raise DerError()
        arcs = [body[0] // 40, body[0] % 40] if body[0] < 80 else [2, body[0] - 80]
        value = 0
        for byte in body[1:]:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        return ".".join(str(arc) for arc in arcs)

    def sub(self, tag: int = SEQUENCE) -> Reader:
        return Reader(self.read(tag))

    def finish(self) -> None:
        if not self.at_end():
            raise DerError()


def pem_encode(der: bytes, label: str) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode()])
        + b"\n"
    )


def pem_decode(pem: bytes) -> tuple[str, bytes]:
    """Return (label, DER) of the first PEM block in ``pem``."""
    try:
        text = pem.decode("ascii", errors="strict").strip().splitlines()
        start = next(i for i, line in enumerate(text) if line.startswith("-----BEGIN "))
        label = text[start][len("-----BEGIN ") : -len("-----")]
        end = text.index(f"-----END {label}-----", start)
        return label, base64.b64decode("".join(text[start + 1 : end]), validate=True)
    except (StopIteration, ValueError, binascii.Error):
        raise DerError() from None
