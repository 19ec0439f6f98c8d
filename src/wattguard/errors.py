"""The one exception tree of wattguard.

Every error wattguard raises on purpose, wherever it is defined, has its place here; a name in
brackets is the module (under ``wattguard.``) that defines it, the rest are in this module.
``tests/test_errors.py`` reads this drawing and fails when a class is missing from it, drawn
under the wrong parent, or defined twice. "(also X)" names a second base.

::

    WattguardError
    ├── ProtocolError          a peer or we broke DL/T 698.45; carries the DAR to answer with
    │   ├── DecodeError        bytes that do not decode; carries the byte offset
    │   │   └── RecordOverflowError [network._wan_wire] a WAN record over its size limit
    │   ├── LocalProtocolError we were about to break the protocol
    │   │   ├── ProtectedError [meter.management.relay] a trip while power is kept on
    │   │   └── UpgradeStateError [meter.management.upgrade] a step out of its order
    │   └── RemoteProtocolError the peer broke the protocol
    │       ├── TransferError  [meter.management.upgrade] a firmware block sent wrong
    │       └── UnsupportedVersionError [network._wan_wire] another WAN channel version
    ├── SecurityError          a security refusal; opaque on purpose
    │   ├── IntegrityError     a MAC, tag, signature, C3 or point check failed (not which)
    │   │   └── DerError       [crypto._der] malformed DER, refused like a bad MAC
    │   ├── ReplayError        a counter, WAN record sequence number or random number was not fresh
    │   │   └── StaleAnswer    [station.freshness] a verified answer taken before, or out of date
    │   ├── CertificateError   a certificate or CRL was refused; the message says why
    │   │   ├── MalformedCertificateError [network._x509] not a certificate of our profile
    │   │   ├── NoCertificateError [network.pki] none was presented
    │   │   ├── UnknownIssuerError [network.pki] the chain does not reach the trusted CA
    │   │   ├── BadSignatureError [network.pki] its signature does not verify
    │   │   ├── CertificateExpiredError [network.pki] past its notAfter
    │   │   ├── NotYetValidError [network.pki] before its notBefore
    │   │   ├── RevokedError   [network.pki] on its issuer's CRL
    │   │   ├── RevocationUnavailableError [network.pki] no current CRL to check
    │   │   ├── WrongRoleError [network.pki] genuine, but not for this use
    │   │   │   └── UnexpectedPeerError [network._wan_errors] not the peer we dialled
    │   │   └── CertificateRefused [meter.bluetooth.certificate] a handheld's certificate refused
    │   ├── EsamError          the secure element refused a command; carries its status word
    │   │   ├── MacError       ... a MAC, signature or decryption (also IntegrityError)
    │   │   ├── CounterError   ... a replayed or out-of-sequence counter (also ReplayError)
    │   │   ├── KeyVersionError ... a key version it does not hold
    │   │   ├── EsamCertificateError ... a certificate (also CertificateError)
    │   │   └── WalletError    ... the wallet cannot do it (credit or limit)
    │   ├── HandshakeError     [network._wan_errors] the WAN handshake's cryptography failed
    │   │   └── DowngradeError [network._wan_errors] the peer offered no protection
    │   ├── MissingRecordError [network._wan_errors] a WAN record ahead of its turn
    │   ├── TruncatedError     [network._wan_errors] the WAN stream ended without a close
    │   ├── PairingRefused     [meter.bluetooth.handheld] the meter refused a BLE pairing
    │   ├── FirmwareRefused    [meter.management.firmware] an image failed a check
    │   ├── VaultError         [cipher.vault] the key vault cannot be opened
    │   ├── UnverifiedData     [station.ingest] an answer the station cannot vouch for
    │   ├── OcppRefused        [runtime.ocpp_charger] an OCPP peer refused: the central
    │   │                      system's TLS certificate, or our charge point key (401)
    │   └── CommandRefused     [station.commands] a command refused; says why
    │       ├── CommandNotFound [station.commands] no command has that id
    │       ├── UnknownMeter   [station.commands] a command names an unregistered meter
    │       └── BadArgument    [station.arguments] an argument its kind does not take
    ├── ConfigError            the configuration or the environment cannot do what was asked
    │   ├── BackendUnavailable [crypto._openssl] no usable system OpenSSL with SM2
    │   ├── UnprotectedSecretError [secretfile] a secret file group or others can write
    │   ├── RuleInvalid        [station.rule_spec] a rule's condition or action is not valid;
    │   │                      says where (also ValueError)
    │   └── RuleNotFound       [station.rule_book] no rule has that id
    ├── StoreError             [meter.management.storage] the meter's store cannot do it
    │   ├── StoreCorruptError  [meter.management.storage] a damaged record mid-log
    │   ├── StoreLockedError   [meter.management.storage] another opener holds it
    │   └── StoreClosedError   [meter.management.storage] used after close()
    ├── StorageError           [station.records] the station's storage stored nothing of it
    │   ├── InvalidRecord      [station.records] a row that is not valid (also ValueError)
    │   └── StorageUnavailable [station.records] the database failed; retry
    ├── AnalysisInputError     [analytics._arrays] arrays an analysis cannot take: wrong shape,
    │                          kind or length (also ValueError)
    └── ChargingInfeasible     [analytics.charging] EV sessions that cannot be charged by
                               departure; carries which, by how much, and the best plan

Every security refusal is also emitted as an event that the station's security monitor
stores; the exception text itself never says which check failed, except where saying so helps
the peer and reveals nothing (a certificate refusal says "expired" or "revoked").
"""

from __future__ import annotations

__all__ = [
    "CertificateError",
    "ConfigError",
    "CounterError",
    "DecodeError",
    "EsamCertificateError",
    "EsamError",
    "IntegrityError",
    "KeyVersionError",
    "LocalProtocolError",
    "MacError",
    "ProtocolError",
    "RemoteProtocolError",
    "ReplayError",
    "SecurityError",
    "WalletError",
    "WattguardError",
]

# DL/T 698.45 DAR "other reason" (255): the default answer when nothing more specific fits.
_DAR_OTHER = 255


class WattguardError(Exception):
    """Base of every error wattguard raises on purpose."""


class ProtocolError(WattguardError):
    """DL/T 698.45 was not followed. ``dar`` is the DAR result code to answer the peer with."""

    def __init__(self, message: str, *, dar: int = _DAR_OTHER) -> None:
        super().__init__(message)
        self.dar = dar


class DecodeError(ProtocolError):
    """Bytes that cannot be decoded; ``offset`` is where decoding stopped."""

    def __init__(self, message: str, *, offset: int = 0, dar: int = _DAR_OTHER) -> None:
        super().__init__(f"{message} (at byte {offset})", dar=dar)
        self.reason = message
        self.offset = offset


class LocalProtocolError(ProtocolError):
    """We were about to send or do something the protocol forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids."""


class SecurityError(WattguardError):
    """A security check refused something. The message is deliberately uninformative."""


class IntegrityError(SecurityError):
    """An integrity check failed: a tag, MAC, signature, SM2 C3 hash or curve point.

    The same exception, with the same text, is raised whichever check failed, so that a caller
    (or an attacker observing one) cannot tell them apart.
    """

    def __init__(self, message: str = "integrity check failed") -> None:
        super().__init__(message)


class ReplayError(SecurityError):
    """A message whose counter, sequence number or random number was already used (or is
    older than the last one accepted)."""

    def __init__(self, message: str = "message refused") -> None:
        super().__init__(message)


class CertificateError(SecurityError):
    """A certificate or CRL was refused (the WAN's X.509 profile, the ESAM's certificates).
    Unlike an integrity failure, the message says why: a peer told "revoked" or "expired" can
    act on it, and nothing secret is revealed."""


class EsamError(SecurityError):
    """The ESAM answered a command with a status word other than 9000 (``sw``)."""

    def __init__(self, message: str = "ESAM refused the command", *, sw: int = 0x6F00) -> None:
        super().__init__(f"{message} (SW {sw:04X})")
        self.sw = sw


class MacError(EsamError, IntegrityError):
    """The ESAM refused a MAC, a signature or a decryption."""


class CounterError(EsamError, ReplayError):
    """The ESAM refused a counter: already used, or out of sequence."""


class KeyVersionError(EsamError):
    """The command names a key version the ESAM does not hold (or a key update is not newer)."""


class EsamCertificateError(EsamError, CertificateError):
    """The ESAM refused a certificate: it does not verify, has expired or is not newer."""


class WalletError(EsamError):
    """The prepaid wallet refused: not enough credit, or the top-up would pass its limit."""


class ConfigError(WattguardError):
    """The configuration, or the machine, cannot provide what was asked for."""
