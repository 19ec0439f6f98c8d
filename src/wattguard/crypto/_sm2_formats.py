"""SM2 byte formats: keys (PKCS#8, SEC 1, SubjectPublicKeyInfo; PEM as OpenSSL writes it),
signatures (64-byte r||s and DER) and ciphertexts (C1C3C2, C1C2C3 and GM/T 0009 DER).

Used by the public ``sm2`` module and by the OpenSSL binding; no crypto happens here.
"""

from __future__ import annotations

from wattguard.crypto import _der
from wattguard.crypto._der import DerError

ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"  # RFC 5480
ID_SM2 = "1.2.156.10197.1.301"  # GM/T 0006-2012: the SM2 curve
SCALAR_SIZE = 32
POINT_SIZE = 65  # 04 || x || y
HASH_SIZE = 32
_ALGORITHM = _der.sequence(_der.oid(ID_EC_PUBLIC_KEY), _der.oid(ID_SM2))


def private_key_to_pkcs8(d: int, pub: bytes) -> bytes:
    """PKCS#8 PrivateKeyInfo holding a SEC 1 ECPrivateKey with its public key, as
    ``openssl genpkey -algorithm SM2`` writes it."""
    ec_private_key = _der.sequence(
        _der.integer(1),
        _der.octet_string(d.to_bytes(SCALAR_SIZE, "big")),
        _der.context(1, _der.bit_string(pub)),
    )
    return _der.sequence(_der.integer(0), _ALGORITHM, _der.octet_string(ec_private_key))


def _read_ec_private_key(data: bytes) -> tuple[int, bytes | None]:
    reader = _der.Reader(data).sub()
    if reader.read_integer() != 1:
        raise DerError()
    scalar = reader.read(_der.OCTET_STRING)
    pub = None
    while not reader.at_end():
        tag = reader.peek_tag()
        if tag == 0xA0:  # parameters: must name SM2 when present
            if _der.Reader(reader.read(0xA0)).read_oid() != ID_SM2:
                raise DerError()
        elif tag == 0xA1:
            pub = _der.Reader(reader.read(0xA1)).read_bit_string()
        else:
            raise DerError()
    if len(scalar) > SCALAR_SIZE:
        raise DerError()
    return int.from_bytes(scalar, "big"), pub


def private_key_from_der(der: bytes) -> tuple[int, bytes | None]:
    """Read a PKCS#8 or SEC 1 SM2 private key; return (d, public point or None)."""
    outer = _der.Reader(der)
    body = outer.sub()
    outer.finish()
    version = body.read_integer()
    if version == 1:  # SEC 1 ECPrivateKey ("EC PRIVATE KEY")
        return _read_ec_private_key(der)
    if version != 0:
        raise DerError()
    # PKCS#8: version 0, AlgorithmIdentifier, OCTET STRING { ECPrivateKey }
    algorithm = body.sub()
    if algorithm.read_oid() != ID_EC_PUBLIC_KEY or algorithm.read_oid() != ID_SM2:
        raise DerError()
    return _read_ec_private_key(body.read(_der.OCTET_STRING))


def public_key_to_spki(pub: bytes) -> bytes:
    return _der.sequence(_ALGORITHM, _der.bit_string(pub))


def public_key_from_spki(der: bytes) -> bytes:
    outer = _der.Reader(der)
    body = outer.sub()
    outer.finish()
    algorithm = body.sub()
    if algorithm.read_oid() != ID_EC_PUBLIC_KEY or algorithm.read_oid() != ID_SM2:
        raise DerError()
    algorithm.finish()
    pub = body.read_bit_string()
    body.finish()
    return pub


def signature_to_der(signature: bytes) -> bytes:
    """64-byte r||s to DER ``SEQUENCE { INTEGER r, INTEGER s }`` (X.509, OpenSSL)."""
    if len(signature) != 2 * SCALAR_SIZE:
        raise DerError()
    r = int.from_bytes(signature[:SCALAR_SIZE], "big")
    s = int.from_bytes(signature[SCALAR_SIZE:], "big")
    return _der.sequence(_der.integer(r), _der.integer(s))


def signature_from_der(der: bytes) -> bytes:
    """DER signature to 64-byte r||s."""
    outer = _der.Reader(der)
    body = outer.sub()
    outer.finish()
    r = body.read_integer()
    s = body.read_integer()
    body.finish()
    if r.bit_length() > 8 * SCALAR_SIZE or s.bit_length() > 8 * SCALAR_SIZE:
        raise DerError()
    return r.to_bytes(SCALAR_SIZE, "big") + s.to_bytes(SCALAR_SIZE, "big")


def _split_c1c3c2(ciphertext: bytes) -> tuple[bytes, bytes, bytes]:
    if len(ciphertext) < POINT_SIZE + HASH_SIZE or ciphertext[0] != 0x04:
        raise DerError()
    return (
        ciphertext[:POINT_SIZE],
        ciphertext[POINT_SIZE : POINT_SIZE + HASH_SIZE],
        ciphertext[POINT_SIZE + HASH_SIZE :],
    )


def c1c2c3_to_c1c3c2(ciphertext: bytes) -> bytes:
    """GB/T 32918.4-2010 order (C1 || C2 || C3) to the 2016 order (C1 || C3 || C2)."""
    if len(ciphertext) < POINT_SIZE + HASH_SIZE or ciphertext[0] != 0x04:
        raise DerError()
    c1, rest = ciphertext[:POINT_SIZE], ciphertext[POINT_SIZE:]
    return c1 + rest[-HASH_SIZE:] + rest[:-HASH_SIZE]


def c1c3c2_to_c1c2c3(ciphertext: bytes) -> bytes:
    c1, c3, c2 = _split_c1c3c2(ciphertext)
    return c1 + c2 + c3


def ciphertext_to_der(ciphertext: bytes) -> bytes:
    """C1C3C2 to the GM/T 0009-2012 ``SM2Cipher`` DER that OpenSSL reads and writes."""
    c1, c3, c2 = _split_c1c3c2(ciphertext)
    x = int.from_bytes(c1[1:33], "big")
    y = int.from_bytes(c1[33:], "big")
    return _der.sequence(
        _der.integer(x), _der.integer(y), _der.octet_string(c3), _der.octet_string(c2)
    )


def ciphertext_from_der(der: bytes) -> bytes:
    """GM/T 0009-2012 ``SM2Cipher`` DER to C1C3C2."""
    outer = _der.Reader(der)
    body = outer.sub()
    outer.finish()
    x = body.read_integer()
    y = body.read_integer()
    c3 = body.read(_der.OCTET_STRING)
    c2 = body.read(_der.OCTET_STRING)
    body.finish()
    if x.bit_length() > 256 or y.bit_length() > 256 or len(c3) != HASH_SIZE:
        raise DerError()
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big") + c3 + c2
