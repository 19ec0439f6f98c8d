"""The X.509 profile of the utility's PKI: certificates with SM2 keys and SM2-with-SM3
signatures, encoded and parsed with our own DER (``cryptography`` has no SM2 keys); the parts
that CRLs share (names, times, extensions, the signed envelope). CRLs are in ``_crl.py``.

Theory of operation. Encoding builds the to-be-signed structure (``TBSCertificate``,
RFC 5280 clause 4.1, or ``TBSCertList``, clause 5.1), the signer signs its DER with SM2 under
the default distinguishing ID (GB/T 35276-2017), and the signature travels as the DER
``SEQUENCE { r, s }`` in a BIT STRING. Parsing is strict DER (the reader refuses non-minimal
encodings), keeps the exact signed bytes for signature checks, and refuses an unknown critical
extension (RFC 5280 clause 4.2). It parses what ``openssl`` writes as well as what we write;
what wattguard itself issues is described in ``docs/wan.md`` (PKI profile). No verification
happens here: that is :mod:`wattguard.network.pki`.
"""

from __future__ import annotations

import calendar
import enum
import time
from dataclasses import dataclass, field

from wattguard.crypto import _der, sm2, sm3
from wattguard.crypto._der import DerError
from wattguard.errors import CertificateError, IntegrityError

__all__ = ["Certificate", "KeyUsage", "MalformedCertificateError", "Name"]

SM2_WITH_SM3 = "1.2.156.10197.1.501"  # GM/T 0006-2012
OID_CN = "2.5.4.3"
OID_O = "2.5.4.10"
OID_OU = "2.5.4.11"
OID_BASIC_CONSTRAINTS = "2.5.29.19"
OID_KEY_USAGE = "2.5.29.15"
OID_SUBJECT_KEY_ID = "2.5.29.14"
OID_AUTHORITY_KEY_ID = "2.5.29.35"
# Non-critical extensions that openssl commonly writes and we read past.
_IGNORABLE = frozenset({"2.5.29.17", "2.5.29.37", "2.5.29.31", "1.3.6.1.5.5.7.1.1"})
_KNOWN_CERT_EXTENSIONS = frozenset(
    {OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_SUBJECT_KEY_ID, OID_AUTHORITY_KEY_ID}
)
BOOLEAN = 0x01
_IA5_STRING = 0x16
_STRING_TAGS = {_der.UTF8_STRING: "utf-8", _der.PRINTABLE_STRING: "ascii", _IA5_STRING: "ascii"}
SIGNATURE_ALGORITHM = _der.sequence(_der.oid(SM2_WITH_SM3))
_KEY_ID_SIZE = 20
_MAX_SERIAL_BYTES = 20  # RFC 5280 clause 4.1.2.2


class MalformedCertificateError(CertificateError):
    """Bytes that are not a certificate (or CRL) of this profile."""

    def __init__(self, what: str = "certificate") -> None:
        super().__init__(f"malformed {what}")


class KeyUsage(enum.IntFlag):
    """The keyUsage bits of RFC 5280 clause 4.2.1.3 (bit 0 is the first, most significant)."""

    DIGITAL_SIGNATURE = 1 << 0
    NON_REPUDIATION = 1 << 1
    KEY_ENCIPHERMENT = 1 << 2
    DATA_ENCIPHERMENT = 1 << 3
    KEY_AGREEMENT = 1 << 4
    KEY_CERT_SIGN = 1 << 5
    CRL_SIGN = 1 << 6
    ENCIPHER_ONLY = 1 << 7
    DECIPHER_ONLY = 1 << 8


def _key_usage_to_bits(usage: KeyUsage) -> bytes:
    value = int(usage)
    if not value:
        raise ValueError("a keyUsage extension names at least one usage")
    width = value.bit_length()  # named-bit DER: no trailing zero bits (X.690 clause 11.2.2)
    total = -(-width // 8) * 8
    packed = 0
    for bit in range(width):
        if value >> bit & 1:
            packed |= 1 << (total - 1 - bit)
    return _der.tlv(_der.BIT_STRING, bytes([total - width]) + packed.to_bytes(total // 8, "big"))


def _key_usage_from_bits(body: bytes) -> KeyUsage:
    if not body or body[0] > 7 or (len(body) == 1 and body[0]):
        raise DerError()
    bits = int.from_bytes(body[1:], "big") >> body[0]
    width = (len(body) - 1) * 8 - body[0]
    value = 0
    for bit in range(width):
        if bits >> (width - 1 - bit) & 1:
            value |= 1 << bit
    if value >> 9:
        raise DerError()
    return KeyUsage(value)


def key_id(public_key: sm2.PublicKey) -> bytes:
    """The key identifier we write: SM3 of the public key bits, first 20 bytes (an "other
    method" that RFC 5280 clause 4.2.1.2 allows, with SM3 in place of SHA-1)."""
    return sm3.hash(public_key.to_bytes())[:_KEY_ID_SIZE]


# ---------------------------------------------------------------------------------- names


@dataclass(frozen=True, slots=True)
class Name:
    """A distinguished name: its attributes in order, and its exact DER (names are compared
    by their DER, which for the names this profile writes is RFC 5280's comparison)."""

    attributes: tuple[tuple[str, str], ...]
    der: bytes = field(repr=False)

    @classmethod
    def build(
        cls, common_name: str, unit: str | None = None, organization: str | None = None
    ) -> Name:
        attributes = [(OID_O, organization), (OID_OU, unit), (OID_CN, common_name)]
        present = tuple((oid, value) for oid, value in attributes if value is not None)
        rdns = [
            _der.tlv(
                _der.SET,
                _der.sequence(_der.oid(oid), _der.tlv(_der.UTF8_STRING, value.encode("utf-8"))),
            )
            for oid, value in present
        ]
        return cls(present, _der.sequence(*rdns))

    @classmethod
    def from_der(cls, der: bytes) -> Name:
        outer = _der.Reader(der)
        reader = outer.sub()
        outer.finish()
        attributes = []
        while not reader.at_end():
            rdn = reader.sub(_der.SET)
            while not rdn.at_end():
                pair = rdn.sub()
                oid = pair.read_oid()
                tag = pair.peek_tag()
                if tag not in _STRING_TAGS:
                    raise DerError()
                attributes.append((oid, pair.read(tag).decode(_STRING_TAGS[tag])))
                pair.finish()
        return cls(tuple(attributes), bytes(der))

    def get(self, oid: str) -> str | None:
        return next((value for name, value in self.attributes if name == oid), None)

    @property
    def common_name(self) -> str:
        return self.get(OID_CN) or ""

    @property
    def unit(self) -> str | None:
        return self.get(OID_OU)

    def __str__(self) -> str:
        labels = {OID_CN: "CN", OID_O: "O", OID_OU: "OU"}
        return ", ".join(f"{labels.get(oid, oid)}={value}" for oid, value in self.attributes)


# ---------------------------------------------------------------------------------- times


def encode_time(posix: float) -> bytes:
    """UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 clause 4.1.2.5)."""
    stamp = time.gmtime(int(posix))
    if stamp.tm_year < 2050:
        return _der.tlv(_der.UTC_TIME, time.strftime("%y%m%d%H%M%SZ", stamp).encode())
    return _der.tlv(_der.GENERALIZED_TIME, time.strftime("%Y%m%d%H%M%SZ", stamp).encode())


def read_time(reader: _der.Reader) -> int:
    tag = reader.peek_tag()
    if tag == _der.UTC_TIME:
        text = reader.read(tag).decode("ascii")
        if len(text) != 13:
            raise DerError()
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag == _der.GENERALIZED_TIME:
        text = reader.read(tag).decode("ascii")
        if len(text) != 15:
            raise DerError()
    else:
        raise DerError()
    if not text.endswith("Z") or not text[:-1].isdigit():
        raise DerError()
    parsed = time.strptime(text, "%Y%m%d%H%M%SZ")
    return calendar.timegm(parsed)


# ---------------------------------------------------------------------------------- extensions


def extension(oid: str, value: bytes, *, critical: bool = False) -> bytes:
    flag = _der.tlv(BOOLEAN, b"\xff") if critical else b""
    return _der.sequence(_der.oid(oid), flag, _der.octet_string(value))


def read_extensions(reader: _der.Reader) -> dict[str, tuple[bool, bytes]]:
    """``Extensions`` (SEQUENCE OF Extension) to {oid: (critical, value)}; duplicates refused."""
    found: dict[str, tuple[bool, bytes]] = {}
    while not reader.at_end():
        extension = reader.sub()
        oid = extension.read_oid()
        critical = False
        if extension.peek_tag() == BOOLEAN:
            flag = extension.read(BOOLEAN)
            if flag != b"\xff":  # DER: TRUE is FF, and a FALSE default is not written
                raise DerError()
            critical = True
        value = extension.read(_der.OCTET_STRING)
        extension.finish()
        if oid in found:
            raise DerError()
        found[oid] = (critical, value)
    return found


def algorithm_ok(reader: _der.Reader) -> None:
    algorithm = reader.sub()
    if algorithm.read_oid() != SM2_WITH_SM3:
        raise DerError()
    if not algorithm.at_end() and algorithm.read(_der.NULL) != b"":
        raise DerError()
    algorithm.finish()


def split_signed(der: bytes) -> tuple[bytes, bytes, bytes]:
    """``SEQUENCE { tbs, algorithm, BIT STRING }`` to (tbs TLV, tbs content, 64-byte r||s)."""
    outer = _der.Reader(der)
    body = outer.sub()
    outer.finish()
    content = body.read(_der.SEQUENCE)
    algorithm_ok(body)
    signature = sm2.signature_from_der(body.read_bit_string())
    body.finish()
    # The reader accepts only minimal DER, so re-encoding the header gives the signed bytes.
    return _der.tlv(_der.SEQUENCE, content), content, signature


def sign_structure(tbs: bytes, key: sm2.PrivateKey) -> bytes:
    """Wrap a TBS structure with the SM2-with-SM3 algorithm and signature."""
    signature = sm2.signature_to_der(key.sign(tbs, id=sm2.DEFAULT_ID))
    return _der.sequence(tbs, SIGNATURE_ALGORITHM, _der.bit_string(signature))


# ---------------------------------------------------------------------------------- certificates


@dataclass(frozen=True, slots=True)
class Certificate:
    """An X.509 certificate of this profile, parsed. ``der`` is authoritative; the rest is read
    from it. ``role`` is the subject's OU (terminal, fep, station, esam, ca)."""

    der: bytes = field(repr=False)
    tbs: bytes = field(repr=False)
    serial: int
    issuer: Name
    subject: Name
    not_before: int
    not_after: int
    public_key: sm2.PublicKey = field(repr=False)
    signature: bytes = field(repr=False)
    is_ca: bool
    path_length: int | None
    key_usage: KeyUsage | None
    subject_key_id: bytes | None = field(repr=False)
    authority_key_id: bytes | None = field(repr=False)

    @property
    def role(self) -> str | None:
        return self.subject.unit

    @property
    def name(self) -> str:
        return self.subject.common_name

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        """Parse; anything that is not a certificate of this profile raises
        MalformedCertificateError (an unknown critical extension included)."""
        try:
            return cls._parse(bytes(der))
        except (IntegrityError, ValueError, UnicodeDecodeError, OverflowError):
            raise MalformedCertificateError() from None

    @classmethod
    def _parse(cls, der: bytes) -> Certificate:
        tbs, content, signature = split_signed(der)
        reader = _der.Reader(content)
        version = 0
        if reader.peek_tag() == 0xA0:
            version = _der.Reader(reader.read(0xA0)).read_integer()
        if version not in (0, 2):  # v1 or v3; we write v3
            raise DerError()
        serial = reader.read_integer()
        if serial.bit_length() > 8 * _MAX_SERIAL_BYTES:
            raise DerError()
        algorithm_ok(reader)
        issuer = Name.from_der(_der.tlv(_der.SEQUENCE, reader.read(_der.SEQUENCE)))
        validity = reader.sub()
        not_before, not_after = read_time(validity), read_time(validity)
        validity.finish()
        subject = Name.from_der(_der.tlv(_der.SEQUENCE, reader.read(_der.SEQUENCE)))
        public_key = sm2.PublicKey.from_der(_der.tlv(_der.SEQUENCE, reader.read(_der.SEQUENCE)))
        for unique_id in (0x81, 0x82):
            if reader.peek_tag() == unique_id:
                reader.read(unique_id)
        extensions: dict[str, tuple[bool, bytes]] = {}
        if reader.peek_tag() == 0xA3:
            if version != 2:
                raise DerError()
            extensions = read_extensions(_der.Reader(reader.read(0xA3)).sub())
        reader.finish()
        for oid, (critical, _) in extensions.items():
            if critical and oid not in _KNOWN_CERT_EXTENSIONS:
                raise DerError()  # RFC 5280 clause 4.2: refuse what we cannot process
        is_ca, path_length = _basic_constraints(extensions.get(OID_BASIC_CONSTRAINTS))
        return cls(
            der=der,
            tbs=tbs,
            serial=serial,
            issuer=issuer,
            subject=subject,
            not_before=not_before,
            not_after=not_after,
            public_key=public_key,
            signature=signature,
            is_ca=is_ca,
            path_length=path_length,
            key_usage=_key_usage(extensions.get(OID_KEY_USAGE)),
            subject_key_id=_subject_key_id(extensions.get(OID_SUBJECT_KEY_ID)),
            authority_key_id=authority_key_id(extensions.get(OID_AUTHORITY_KEY_ID)),
        )

    def to_der(self) -> bytes:
        return self.der

    @classmethod
    def from_pem(cls, pem: bytes) -> Certificate:
        try:
            label, der = _der.pem_decode(pem)
        except DerError:
            raise MalformedCertificateError() from None
        if label != "CERTIFICATE":
            raise MalformedCertificateError()
        return cls.from_der(der)

    def to_pem(self) -> bytes:
        return _der.pem_encode(self.der, "CERTIFICATE")

    def signed_by(self, issuer_key: sm2.PublicKey) -> bool:
        try:
            issuer_key.verify(self.tbs, self.signature, id=sm2.DEFAULT_ID)
        except IntegrityError:
            return False
        return True


def _basic_constraints(extension: tuple[bool, bytes] | None) -> tuple[bool, int | None]:
    if extension is None:
        return False, None
    reader = _der.Reader(extension[1]).sub()
    is_ca = False
    if reader.peek_tag() == BOOLEAN:
        if reader.read(BOOLEAN) != b"\xff":
            raise DerError()
        is_ca = True
    path_length = reader.read_integer() if not reader.at_end() else None
    reader.finish()
    return is_ca, path_length


def _key_usage(extension: tuple[bool, bytes] | None) -> KeyUsage | None:
    if extension is None:
        return None
    outer = _der.Reader(extension[1])
    usage = _key_usage_from_bits(outer.read(_der.BIT_STRING))
    outer.finish()
    return usage


def _subject_key_id(extension: tuple[bool, bytes] | None) -> bytes | None:
    if extension is None:
        return None
    outer = _der.Reader(extension[1])
    value = outer.read(_der.OCTET_STRING)
    outer.finish()
    return value


def authority_key_id(extension: tuple[bool, bytes] | None) -> bytes | None:
    if extension is None:
        return None
    reader = _der.Reader(extension[1]).sub()
    value = reader.read(0x80) if reader.peek_tag() == 0x80 else None
    return value  # issuer name and serial ([1], [2]) may follow; we match on the key id


def build_certificate(
    *,
    serial: int,
    issuer: Name,
    subject: Name,
    not_before: float,
    not_after: float,
    public_key: sm2.PublicKey,
    issuer_key_id: bytes,
    is_ca: bool,
    key_usage: KeyUsage,
    signer: sm2.PrivateKey,
) -> Certificate:
    """Encode and sign a v3 certificate of this profile (see docs/wan.md, PKI profile)."""
    if not 0 < serial.bit_length() <= 8 * _MAX_SERIAL_BYTES - 1:
        raise ValueError("a certificate serial is a positive integer of at most 20 bytes")
    constraints = _der.sequence(_der.tlv(BOOLEAN, b"\xff")) if is_ca else _der.sequence()
    extensions = _der.sequence(
        extension(OID_BASIC_CONSTRAINTS, constraints, critical=True),
        extension(OID_KEY_USAGE, _key_usage_to_bits(key_usage), critical=True),
        extension(OID_SUBJECT_KEY_ID, _der.octet_string(key_id(public_key))),
        extension(OID_AUTHORITY_KEY_ID, _der.sequence(_der.tlv(0x80, issuer_key_id))),
    )
    tbs = _der.sequence(
        _der.context(0, _der.integer(2)),
        _der.integer(serial),
        SIGNATURE_ALGORITHM,
        issuer.der,
        _der.sequence(encode_time(not_before), encode_time(not_after)),
        subject.der,
        public_key.to_der(),
        _der.context(3, extensions),
    )
    return Certificate.from_der(sign_structure(tbs, signer))
