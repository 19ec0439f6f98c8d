"""The one exception tree of wattguard.

::

    WattguardError
    ├── ProtocolError          a peer or we broke DL/T 698.45; carries the DAR to answer with
    │   ├── DecodeError        bytes that do not decode; carries the byte offset
    │   ├── LocalProtocolError we were about to break the protocol
    │   └── RemoteProtocolError the peer broke the protocol
    ├── SecurityError          a security refusal; opaque on purpose
    │   └── IntegrityError     a MAC, tag, signature, C3 or point check failed (not which)
    └── ConfigError            the configuration or the environment cannot do what was asked

Every security refusal is also emitted as an event that the station's security monitor
stores; the exception text itself never says which check failed.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DecodeError",
    "IntegrityError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SecurityError",
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


class ConfigError(WattguardError):
    """The configuration, or the machine, cannot provide what was asked for."""
