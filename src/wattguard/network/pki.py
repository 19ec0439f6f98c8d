"""The utility's public-key infrastructure: a certificate authority with an SM2 key that issues
X.509 v3 certificates to terminals, front-end processors, stations and ESAMs, revokes them
with X.509 v2 CRLs, and the checks a peer runs on a certificate chain.

Theory of operation. The CA's root certificate is self-signed and handed to every party out of
band (at manufacture or installation): it is the trust anchor. A certificate names its holder
in the subject CN (a terminal's address, a FEP's or station's name) and its role in the
subject OU; the CA signs it with SM2-with-SM3 (OID 1.2.156.10197.1.501) under the default
distinguishing ID of GB/T 35276-2017. To check a chain (leaf first), :func:`verify` walks it
towards the anchor and, for each certificate, in this order: the issuer is the next
certificate (or the anchor) by name and key identifier, else :class:`UnknownIssuerError`;
the issuer's signature holds, else :class:`BadSignatureError`; ``now`` lies in the validity
period, else :class:`CertificateExpiredError` or :class:`NotYetValidError`; the issuer's CRL
(signed by that issuer, current) does not list the serial, else :class:`RevokedError`, and a
missing or out-of-date CRL is :class:`RevocationUnavailableError`; an issuing certificate is a
CA. Last, the leaf must have the expected role and key usage, else :class:`WrongRoleError`.
Every refusal is a :class:`CertificateError` whose message says why, so the secure channel
can tell the peer (an alert) and the security monitor (an event).

:class:`TrustStore` is what a running FEP or terminal holds: the anchor plus the newest CRL of
each issuer, where a CRL replaces the previous one only when it verifies and its CRL number is
higher (no rollback to an older list). The codecs are in ``_x509.py`` and ``_crl.py``; the
profile is documented in ``docs/wan.md``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from wattguard.crypto import sm2
from wattguard.errors import CertificateError, ConfigError
from wattguard.network._crl import RevocationList, RevokedEntry, build_crl
from wattguard.network._x509 import (
    Certificate,
    KeyUsage,
    MalformedCertificateError,
    Name,
    build_certificate,
    key_id,
)

__all__ = [
    "BadSignatureError",
    "Certificate",
    "CertificateAuthority",
    "CertificateError",
    "CertificateExpiredError",
    "KeyUsage",
    "MalformedCertificateError",
    "Name",
    "NoCertificateError",
    "NotYetValidError",
    "RevocationList",
    "RevocationReason",
    "RevocationUnavailableError",
    "RevokedEntry",
    "RevokedError",
    "Role",
    "TrustStore",
    "UnknownIssuerError",
    "WrongRoleError",
    "verify",
]

DAY = 86_400.0
DEFAULT_CA_VALIDITY = 20 * 365 * DAY
DEFAULT_VALIDITY = 5 * 365 * DAY
DEFAULT_CRL_VALIDITY = 7 * DAY
DEFAULT_ORGANIZATION = "wattguard utility"
MAX_CHAIN = 4  # leaf plus at most three intermediates


class Role(enum.Enum):
    """What a certificate's holder is, written in the subject OU."""

    CA = "ca"
    TERMINAL = "terminal"
    FEP = "fep"
    STATION = "station"
    ESAM = "esam"


class RevocationReason(enum.IntEnum):
    """CRLReason, RFC 5280 clause 5.3.1 (7 is not used)."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    CA_COMPROMISE = 2
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5
    CERTIFICATE_HOLD = 6
    REMOVE_FROM_CRL = 8
    PRIVILEGE_WITHDRAWN = 9
    AA_COMPROMISE = 10


class NoCertificateError(CertificateError):
    """The peer presented no certificate at all."""

    def __init__(self) -> None:
        super().__init__("no certificate presented")


class UnknownIssuerError(CertificateError):
    """The chain does not lead to the trusted CA."""


class BadSignatureError(CertificateError):
    """A certificate's or CRL's signature does not verify under its issuer's key."""


class CertificateExpiredError(CertificateError):
    """``now`` is after the certificate's notAfter."""


class NotYetValidError(CertificateError):
    """``now`` is before the certificate's notBefore."""


class RevokedError(CertificateError):
    """The issuer's CRL lists the certificate's serial number."""


class RevocationUnavailableError(CertificateError):
    """No current CRL from the issuer, so revocation cannot be checked (hard fail)."""


class WrongRoleError(CertificateError):
    """The certificate is genuine but not for this use (role, CA flag or key usage)."""


def _label(certificate: Certificate) -> str:
    return f"{certificate.name!r} (serial {certificate.serial})"


def _check_issuer(certificate: Certificate, issuer: Certificate, anchor: bool) -> None:
    if certificate.issuer.der != issuer.subject.der or (
        certificate.authority_key_id is not None
        and issuer.subject_key_id is not None
        and certificate.authority_key_id != issuer.subject_key_id
    ):
        raise UnknownIssuerError(f"certificate {_label(certificate)} is from an unknown issuer")
    if not issuer.is_ca or (
        issuer.key_usage is not None and not issuer.key_usage & KeyUsage.KEY_CERT_SIGN
    ):
        what = "trusted root" if anchor else "issuer"
        raise WrongRoleError(f"{what} {_label(issuer)} is not a certificate authority")
    if not certificate.signed_by(issuer.public_key):
        raise BadSignatureError(f"certificate {_label(certificate)} has a bad signature")


def _check_validity(certificate: Certificate, now: float) -> None:
    if now < certificate.not_before:
        raise NotYetValidError(f"certificate {_label(certificate)} is not valid yet")
    if now > certificate.not_after:
        raise CertificateExpiredError(f"certificate {_label(certificate)} has expired")


# (CRL DER, issuer public key) pairs whose signature has been checked.
_Verified = set[tuple[bytes, bytes]]


def _check_crl(
    crl: RevocationList, issuer: Certificate, now: float, verified: _Verified | None = None
) -> None:
    if crl.issuer.der != issuer.subject.der:
        raise RevocationUnavailableError(f"the CRL is not from {_label(issuer)}")
    if issuer.key_usage is not None and not issuer.key_usage & KeyUsage.CRL_SIGN:
        raise WrongRoleError(f"{_label(issuer)} may not sign CRLs")
    pair = (crl.der, issuer.public_key.to_bytes())
    if verified is None or pair not in verified:
        if not crl.signed_by(issuer.public_key):
            raise BadSignatureError(f"the CRL from {_label(issuer)} has a bad signature")
        if verified is not None:
            verified.add(pair)
    if now < crl.this_update or (crl.next_update is not None and now > crl.next_update):
        raise RevocationUnavailableError(f"the CRL from {_label(issuer)} is not current")


def _check_revocation(
    certificate: Certificate,
    issuer: Certificate,
    crls: dict[bytes, RevocationList],
    now: float,
    require_crl: bool,
    verified: _Verified | None,
) -> None:
    crl = crls.get(issuer.subject.der)
    if crl is None:
        if require_crl:
            raise RevocationUnavailableError(f"no CRL from {_label(issuer)}")
        return
    _check_crl(crl, issuer, now, verified)
    if crl.is_revoked(certificate.serial):
        raise RevokedError(f"certificate {_label(certificate)} has been revoked")


def _check_leaf(leaf: Certificate, role: Role | None, usage: KeyUsage | None) -> None:
    if role is not None:
        if leaf.role != role.value:
            raise WrongRoleError(
                f"certificate {_label(leaf)} is for role {leaf.role!r}, not {role.value!r}"
            )
        if leaf.is_ca != (role is Role.CA):
            raise WrongRoleError(f"certificate {_label(leaf)} has the wrong CA flag")
    if usage is not None and leaf.key_usage is not None and (leaf.key_usage & usage) != usage:
        raise WrongRoleError(f"certificate {_label(leaf)} does not allow {usage!r}")


def _verify_chain(
    chain: Sequence[Certificate],
    ca: Certificate,
    now: float,
    crls: dict[bytes, RevocationList],
    require_crl: bool,
    role: Role | None,
    usage: KeyUsage | None,
    verified: _Verified | None = None,
) -> Certificate:
    certificates = list(chain)
    if certificates and certificates[-1].der == ca.der:
        certificates.pop()  # the peer sent the root too: it is checked as the anchor below
    if not certificates:
        raise NoCertificateError()
    if len(certificates) > MAX_CHAIN:
        raise UnknownIssuerError(f"a chain of {len(certificates)} certificates is too long")
    _check_validity(ca, now)
    for position, certificate in enumerate(certificates):
        last = position + 1 == len(certificates)
        issuer = ca if last else certificates[position + 1]
        _check_issuer(certificate, issuer, anchor=last)
        _check_validity(certificate, now)
        _check_revocation(certificate, issuer, crls, now, require_crl, verified)
    _check_leaf(certificates[0], role, usage)
    return certificates[0]


def verify(
    chain: Sequence[Certificate],
    ca: Certificate,
    now: float,
    crl: RevocationList | Iterable[RevocationList] | None = None,
    *,
    role: Role | None = None,
    usage: KeyUsage | None = None,
) -> Certificate:
    """Check ``chain`` (leaf first, intermediates after; the root may be included) against
    the trusted root ``ca`` at ``now`` (POSIX seconds), and return the leaf.

    ``crl``: None checks no revocation; otherwise every issuer on the path must have a current
    CRL among those given. ``role`` and ``usage`` are required of the leaf. Each refusal raises
    the :class:`CertificateError` subclass that names it (see the module docstring).
    """
    if crl is None:
        return _verify_chain(chain, ca, now, {}, False, role, usage)
    crls = [crl] if isinstance(crl, RevocationList) else list(crl)
    return _verify_chain(chain, ca, now, {c.issuer.der: c for c in crls}, True, role, usage)


class CertificateAuthority:
    """The utility's CA (or an intermediate): an SM2 key, its certificate, the serials it has
    issued and those it has revoked. Serial numbers count up from the CA's own plus one."""

    def __init__(
        self,
        key: sm2.PrivateKey,
        certificate: Certificate,
        *,
        next_serial: int | None = None,
        crl_number: int = 0,
    ) -> None:
        if certificate.public_key != key.public_key or not certificate.is_ca:
            raise ConfigError("a CA needs its own key and a CA certificate for it")
        self.key = key
        self.certificate = certificate
        self._next_serial = next_serial if next_serial is not None else certificate.serial + 1
        self._key_id = certificate.subject_key_id or key_id(key.public_key)
        self._revoked: dict[int, RevokedEntry] = {}
        self._crl_number = crl_number

    @classmethod
    def create(
        cls,
        name: str,
        now: float,
        *,
        key: sm2.PrivateKey | None = None,
        validity: float = DEFAULT_CA_VALIDITY,
        organization: str = DEFAULT_ORGANIZATION,
    ) -> CertificateAuthority:
        """A new root CA with a self-signed certificate valid from ``now``."""
        key = key or sm2.PrivateKey.generate()
        subject = Name.build(name, Role.CA.value, organization)
        certificate = build_certificate(
            serial=1,
            issuer=subject,
            subject=subject,
            not_before=now,
            not_after=now + validity,
            public_key=key.public_key,
            issuer_key_id=key_id(key.public_key),
            is_ca=True,
            key_usage=KeyUsage.KEY_CERT_SIGN | KeyUsage.CRL_SIGN | KeyUsage.DIGITAL_SIGNATURE,
            signer=key,
        )
        return cls(key, certificate)

    def issue(
        self,
        name: str,
        role: Role,
        public_key: sm2.PublicKey,
        now: float,
        *,
        validity: float = DEFAULT_VALIDITY,
        not_before: float | None = None,
    ) -> Certificate:
        """Issue a certificate to ``name`` (CN) in ``role`` (OU). End entities may sign and
        agree keys; a ``Role.CA`` subject becomes an intermediate CA."""
        start = now if not_before is None else not_before
        is_ca = role is Role.CA
        usage = (
            KeyUsage.KEY_CERT_SIGN | KeyUsage.CRL_SIGN | KeyUsage.DIGITAL_SIGNATURE
            if is_ca
            else KeyUsage.DIGITAL_SIGNATURE | KeyUsage.KEY_AGREEMENT
        )
        organization = self.certificate.subject.get("2.5.4.10")
        certificate = build_certificate(
            serial=self._next_serial,
            issuer=self.certificate.subject,
            subject=Name.build(name, role.value, organization),
            not_before=start,
            not_after=start + validity,
            public_key=public_key,
            issuer_key_id=self._key_id,
            is_ca=is_ca,
            key_usage=usage,
            signer=self.key,
        )
        self._next_serial += 1
        return certificate

    @property
    def next_serial(self) -> int:
        return self._next_serial

    @property
    def crl_number(self) -> int:
        """The number of the last CRL signed (CRLs count up; a party keeps the newest)."""
        return self._crl_number

    @property
    def revoked_serials(self) -> list[int]:
        return sorted(self._revoked)

    def revoke(
        self, certificate: Certificate | int, now: float, reason: RevocationReason | None = None
    ) -> None:
        """Put a certificate (or serial) on the next CRL. ``reason`` None writes no reason
        code (RFC 5280 clause 5.3.1 prefers that to "unspecified")."""
        serial = certificate if isinstance(certificate, int) else certificate.serial
        if not 0 < serial < self._next_serial:
            raise ConfigError(f"this CA has not issued serial {serial}")
        self._revoked.setdefault(serial, RevokedEntry(serial, int(now), reason))

    def crl(self, now: float, *, validity: float = DEFAULT_CRL_VALIDITY) -> RevocationList:
        """A fresh signed CRL, valid from ``now`` until ``now + validity``, numbered one
        above the last."""
        self._crl_number += 1
        return build_crl(
            issuer=self.certificate.subject,
            issuer_key_id=self._key_id,
            this_update=now,
            next_update=now + validity,
            number=self._crl_number,
            entries=list(self._revoked.values()),
            signer=self.key,
        )


class TrustStore:
    """A party's trust: the root certificate and the newest verified CRL of each issuer.

    With ``require_crl`` (the default) a chain whose issuer has no current CRL here is refused
    (hard fail); without it, revocation is checked where a CRL is present.
    """

    def __init__(
        self,
        root: Certificate,
        crls: Iterable[RevocationList] = (),
        *,
        now: float,
        require_crl: bool = True,
    ) -> None:
        if not root.is_ca:
            raise ConfigError("the trust anchor must be a CA certificate")
        self.root = root
        self.require_crl = require_crl
        self._crls: dict[bytes, RevocationList] = {}
        # A CRL's signature is checked once per issuer key, not on every chain it serves.
        self._verified: _Verified = set()
        for crl in crls:
            self.update_crl(crl, now)

    def update_crl(
        self, crl: RevocationList, now: float, *, issuer: Certificate | None = None
    ) -> bool:
        """Install ``crl`` if it verifies (under the root, or under ``issuer``, an intermediate
        that itself verifies) and is newer than the one held; return whether it was
        installed. A bad or out-of-date CRL raises its CertificateError."""
        signer = self.root
        if issuer is not None and issuer.der != self.root.der:
            signer = self.verify([issuer], now, role=Role.CA)
        _check_crl(crl, signer, now, self._verified)
        held = self._crls.get(crl.issuer.der)
        if held is not None and (crl.number or 0) <= (held.number or 0):
            return False
        self._crls[crl.issuer.der] = crl
        return True

    def crl_for(self, issuer: Certificate) -> RevocationList | None:
        return self._crls.get(issuer.subject.der)

    def verify(
        self,
        chain: Sequence[Certificate],
        now: float,
        *,
        role: Role | None = None,
        usage: KeyUsage | None = None,
    ) -> Certificate:
        """:func:`verify` against this store's root and CRLs; returns the leaf."""
        return _verify_chain(
            chain, self.root, now, self._crls, self.require_crl, role, usage, self._verified
        )
