"""The WAN secure channel's refusals: its own errors, and for every error the alert that tells
the peer why and the kind of security event that records it.

A replayed record is refused with the codebase's one :class:`~wattguard.errors.ReplayError`;
the errors here are the channel's own refusals that no other layer has."""

from __future__ import annotations

from wattguard.errors import (
    DecodeError,
    IntegrityError,
    RemoteProtocolError,
    ReplayError,
    SecurityError,
    WattguardError,
)
from wattguard.events import EventKind
from wattguard.network import pki
from wattguard.network._wan_wire import AlertCode, RecordOverflowError, UnsupportedVersionError

__all__ = [
    "DowngradeError",
    "HandshakeError",
    "MissingRecordError",
    "TruncatedError",
    "UnexpectedPeerError",
    "classify",
]


class HandshakeError(SecurityError):
    """The handshake's cryptography did not hold: key confirmation or transcript."""


class DowngradeError(HandshakeError):
    """The peer offered an unprotected channel where protection is required."""


class UnexpectedPeerError(pki.WrongRoleError):
    """A genuine certificate, but not of the peer this channel was opened to."""


class MissingRecordError(SecurityError):
    """A record arrived ahead of its turn: one before it was dropped or reordered."""


class TruncatedError(SecurityError):
    """The stream ended without the peer's close alert (or in the middle of a record)."""


# Which alert tells the peer about a refusal, and which security event records it; the
# first matching class wins, so subclasses come before their bases.
_REFUSALS: tuple[tuple[type[WattguardError], AlertCode, EventKind], ...] = (
    (pki.NoCertificateError, AlertCode.NO_CERTIFICATE, EventKind.AUTHENTICATION),
    (pki.MalformedCertificateError, AlertCode.BAD_CERTIFICATE, EventKind.KEY),
    (pki.BadSignatureError, AlertCode.BAD_CERTIFICATE, EventKind.KEY),
    (pki.RevokedError, AlertCode.CERTIFICATE_REVOKED, EventKind.KEY),
    (pki.CertificateExpiredError, AlertCode.CERTIFICATE_EXPIRED, EventKind.KEY),
    (pki.NotYetValidError, AlertCode.CERTIFICATE_EXPIRED, EventKind.KEY),
    (pki.RevocationUnavailableError, AlertCode.CERTIFICATE_UNKNOWN, EventKind.KEY),
    (pki.UnknownIssuerError, AlertCode.UNKNOWN_CA, EventKind.KEY),
    (pki.WrongRoleError, AlertCode.ACCESS_DENIED, EventKind.AUTHENTICATION),
    (pki.CertificateError, AlertCode.BAD_CERTIFICATE, EventKind.KEY),
    (DowngradeError, AlertCode.INSUFFICIENT_SECURITY, EventKind.AUTHENTICATION),
    (HandshakeError, AlertCode.DECRYPT_ERROR, EventKind.AUTHENTICATION),
    (IntegrityError, AlertCode.BAD_RECORD_MAC, EventKind.BAD_MAC),
    (ReplayError, AlertCode.REPLAYED_RECORD, EventKind.REPLAY),
    (MissingRecordError, AlertCode.MISSING_RECORD, EventKind.REPLAY),
    (TruncatedError, AlertCode.TRUNCATED, EventKind.MALFORMED),
    (RecordOverflowError, AlertCode.RECORD_OVERFLOW, EventKind.MALFORMED),
    (DecodeError, AlertCode.DECODE_ERROR, EventKind.MALFORMED),
    (UnsupportedVersionError, AlertCode.PROTOCOL_VERSION, EventKind.MALFORMED),
    (RemoteProtocolError, AlertCode.UNEXPECTED_MESSAGE, EventKind.MALFORMED),
)


def classify(error: WattguardError) -> tuple[AlertCode, EventKind]:
    """The alert that tells the peer about ``error``, and the kind of event that records it."""
    for kind, alert, event in _REFUSALS:
        if isinstance(error, kind):
            return alert, event
    return AlertCode.INTERNAL_ERROR, EventKind.MALFORMED
