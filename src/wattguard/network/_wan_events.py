"""What one end of the WAN secure channel tells its user: the events of
:class:`~wattguard.network.wan.SecureChannel`, one precise union."""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.errors import WattguardError
from wattguard.network import pki

__all__ = ["AppData", "Closed", "Event", "Handshaken"]


@dataclass(frozen=True, slots=True)
class Handshaken:
    """The handshake is complete. ``peer`` is the verified leaf certificate (None in
    unprotected mode, where ``peer_name`` is whatever the peer claimed and proves nothing)."""

    peer: pki.Certificate | None
    peer_name: str
    protected: bool


@dataclass(frozen=True, slots=True)
class AppData:
    """Application data from the peer (one record's worth)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The channel is closed, and why: ``alert`` is the code sent or received. When this end
    refused the peer, ``error`` is the specific refusal (a bad certificate, a replay, an
    altered record, a truncation); None when the channel was closed by either side's alert
    or by :meth:`~wattguard.network.wan.SecureChannel.close`."""

    reason: str
    alert: int
    by_peer: bool
    error: WattguardError | None = None


Event = Handshaken | AppData | Closed
