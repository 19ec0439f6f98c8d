"""The one exception tree of wattguard.

::

    WattguardError
    ├── ProtocolError          a peer or we broke DL/T 698.45; carries the DAR to answer with
    │   ├── DecodeError        bytes that do not decode; carries the byte offset
    │   ├── LocalProtocolError we were about to break the protocol
    │   └── RemoteProtocolError the peer broke the protocol
    ├── SecurityError          a security refusal; opaque on purpose
    │   ├── IntegrityError     a MAC, tag, signature, C3 or point check failed (not which)
    │   ├── ReplayError        a counter, sequence number or random number was not fresh
    │   └── EsamError          the secure element refused a command; carries its status word
    │       ├── MacError       ... because a MAC, signature or decryption failed (also an
    │       │                  IntegrityError)
    │       ├── CounterError   ... because a counter was replayed or out of sequence (also a
    │       │                  ReplayError)
    │       ├── KeyVersionError ... because the command names a key version it does not hold
    │       ├── CertificateError ... because a certificate is not acceptable
    │       └── WalletError    ... because the wallet cannot do it (credit or limit)
    └── ConfigError            the configuration or the environment cannot do what was asked

Every security refusal is also emitted as an event that the station's security monitor
stores; the exception text itself never says which check failed.
"""

from __future__ import annotations

__all__ = [
    "CertificateError",
    "ConfigError",
    "CounterError",
    "DecodeError",
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


class CertificateError(EsamError):
    """A certificate the ESAM was given does not verify, has expired or is not newer."""


class WalletError(EsamError):
    """The prepaid wallet refused: not enough credit, or the top-up would pass its limit."""


class ConfigError(WattguardError):
    """The configuration, or the machine, cannot provide what was asked for."""
