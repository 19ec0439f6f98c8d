"""X.509 v2 certificate revocation lists (RFC 5280 clause 5) of the utility's PKI, signed with
SM2-with-SM3 like its certificates; encoded and parsed with our own DER. Parsing reads what
``openssl ca -gencrl`` writes as well as what :class:`~wattguard.network.pki.CertificateAuthority`
writes, and refuses an unknown critical extension. Verification is in ``pki.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wattguard.crypto import _der, sm2
from wattguard.crypto._der import DerError
from wattguard.errors import IntegrityError
from wattguard.network._x509 import (
    OID_AUTHORITY_KEY_ID,
    SIGNATURE_ALGORITHM,
    MalformedCertificateError,
    Name,
    algorithm_ok,
    authority_key_id,
    encode_time,
    extension,
    read_extensions,
    read_time,
    sign_structure,
    split_signed,
)

__all__ = ["RevocationList", "RevokedEntry", "build_crl"]

OID_CRL_NUMBER = "2.5.29.20"
OID_CRL_REASON = "2.5.29.21"
_ENUMERATED = 0x0A


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    """One revoked certificate of a CRL (RFC 5280 clause 5.1.2.6): its serial number, when it was
    revoked (POSIX seconds) and the CRLReason code, if the CA gave one."""

    serial: int
    revoked_at: int
    reason: int | None = None  # CRLReason, RFC 5280 clause 5.3.1


@dataclass(frozen=True, slots=True)
class RevocationList:
    """An X.509 v2 CRL of this profile, parsed (RFC 5280 clause 5)."""

    der: bytes = field(repr=False)
    tbs: bytes = field(repr=False)
    issuer: Name
    this_update: int
    next_update: int | None
    number: int | None
    authority_key_id: bytes | None = field(repr=False)
    entries: tuple[RevokedEntry, ...]
    signature: bytes = field(repr=False)
    revoked: frozenset[int] = field(repr=False, default=frozenset())

    @classmethod
    def from_der(cls, der: bytes) -> RevocationList:
        try:
            return cls._parse(bytes(der))
        except (IntegrityError, ValueError, UnicodeDecodeError, OverflowError):
            raise MalformedCertificateError("CRL") from None

    @classmethod
    def _parse(cls, der: bytes) -> RevocationList:
        tbs, content, signature = split_signed(der)
        reader = _der.Reader(content)
        if reader.peek_tag() == _der.INTEGER and reader.read_integer() != 1:
            raise DerError()  # v2; a v1 CRL has no version field
        algorithm_ok(reader)
        issuer = Name.from_der(_der.tlv(_der.SEQUENCE, reader.read(_der.SEQUENCE)))
        this_update = read_time(reader)
        next_update = None
        if reader.peek_tag() in (_der.UTC_TIME, _der.GENERALIZED_TIME):
            next_update = read_time(reader)
        entries: list[RevokedEntry] = []
        if reader.peek_tag() == _der.SEQUENCE:
            revoked = reader.sub()
            while not revoked.at_end():
                entries.append(_read_entry(revoked.sub()))
        extensions: dict[str, tuple[bool, bytes]] = {}
        if reader.peek_tag() == 0xA0:
            extensions = read_extensions(_der.Reader(reader.read(0xA0)).sub())
        reader.finish()
        for oid, (critical, _) in extensions.items():
            if critical and oid not in (OID_CRL_NUMBER, OID_AUTHORITY_KEY_ID):
                raise DerError()
        number = None
        if OID_CRL_NUMBER in extensions:
            number_reader = _der.Reader(extensions[OID_CRL_NUMBER][1])
            number = number_reader.read_integer()
            number_reader.finish()
        return cls(
            der=der,
            tbs=tbs,
            issuer=issuer,
            this_update=this_update,
            next_update=next_update,
            number=number,
            authority_key_id=authority_key_id(extensions.get(OID_AUTHORITY_KEY_ID)),
            entries=tuple(entries),
            signature=signature,
            revoked=frozenset(entry.serial for entry in entries),
        )

    def to_der(self) -> bytes:
        return self.der

    @classmethod
    def from_pem(cls, pem: bytes) -> RevocationList:
        try:
            label, der = _der.pem_decode(pem)
        except DerError:
            raise MalformedCertificateError("CRL") from None
        if label != "X509 CRL":
            raise MalformedCertificateError("CRL")
        return cls.from_der(der)

    def to_pem(self) -> bytes:
        return _der.pem_encode(self.der, "X509 CRL")

    def is_revoked(self, serial: int) -> bool:
        return serial in self.revoked

    def signed_by(self, issuer_key: sm2.PublicKey) -> bool:
        try:
            issuer_key.verify(self.tbs, self.signature, id=sm2.DEFAULT_ID)
        except IntegrityError:
            return False
        return True


def _read_entry(entry: _der.Reader) -> RevokedEntry:
    serial = entry.read_integer()
    revoked_at = read_time(entry)
    reason = None
    if not entry.at_end():
        extensions = read_extensions(entry.sub())
        for oid, (critical, _) in extensions.items():
            if critical and oid != OID_CRL_REASON:
                raise DerError()
        if OID_CRL_REASON in extensions:
            reason_reader = _der.Reader(extensions[OID_CRL_REASON][1])
            body = reason_reader.read(_ENUMERATED)
            reason_reader.finish()
            if len(body) != 1:
                raise DerError()
            reason = body[0]
    entry.finish()
    return RevokedEntry(serial, revoked_at, reason)


def build_crl(
    *,
    issuer: Name,
    issuer_key_id: bytes,
    this_update: float,
    next_update: float,
    number: int,
    entries: list[RevokedEntry],
    signer: sm2.PrivateKey,
) -> RevocationList:
    """Encode and sign a v2 CRL with a CRL number and the issuer's key identifier."""
    revoked = []
    for entry in sorted(entries, key=lambda item: item.serial):
        fields = [_der.integer(entry.serial), encode_time(entry.revoked_at)]
        if entry.reason is not None:
            reason = _der.tlv(_ENUMERATED, bytes([entry.reason]))
            fields.append(_der.sequence(extension(OID_CRL_REASON, reason)))
        revoked.append(_der.sequence(*fields))
    extensions = _der.sequence(
        extension(OID_AUTHORITY_KEY_ID, _der.sequence(_der.tlv(0x80, issuer_key_id))),
        extension(OID_CRL_NUMBER, _der.integer(number)),
    )
    tbs = _der.sequence(
        _der.integer(1),
        SIGNATURE_ALGORITHM,
        issuer.der,
        encode_time(this_update),
        encode_time(next_update),
        _der.sequence(*revoked) if revoked else b"",
        _der.context(0, extensions),
    )
    return RevocationList.from_der(sign_structure(tbs, signer))
