"""What an ESAM keeps across power cycles, and its sealed form.

The state is sealed for the host's non-volatile storage with SM4-GCM (RFC 8998) under the
chip's device key (which never leaves the chip)::

    57 47 45 53 ("WGES") | format 01 | nonce (12) | SM4-GCM(state) with its 16-byte tag

with the first five bytes as additional data. The state itself is a sequence of fields
(docs/security.md): the address, serial, key set, SM2 private key, own certificate, CA
public key, station certificate, the three counters, the balance and the session threshold.
A session is *not* part of it: a power cycle ends the session, as on a real chip.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattguard.crypto import sm4
from wattguard.errors import DecodeError, IntegrityError
from wattguard.esam.command import Fields, pack, u32, var
from wattguard.esam.profile import MeterKeys, Random

__all__ = ["EsamState", "open_sealed", "seal"]

_MAGIC = b"WGES\x01"
_NONCE_SIZE = 12


@dataclass
class EsamState:
    """What an ESAM keeps across power cycles (never a session): identity, keys, certificates,
    counters and wallet; :func:`seal` protects it for the host's storage."""

    address: bytes
    serial: bytes
    keys: MeterKeys
    private_key: bytes
    certificate: bytes
    ca_public: bytes
    station_certificate: bytes = b""
    command_counter: int = 0
    report_counter: int = 0
    #: The wallet's purchase count: the counter of the last top-up accepted.
    top_ups: int = 0
    #: The wallet's balance, in fen.
    balance: int = 0
    #: How long a CONNECT session lasts, in seconds.
    session_threshold: int = 7200

    def to_bytes(self) -> bytes:
        return pack(
            var(self.address),
            var(self.serial),
            var(self.keys.to_bytes()),
            var(self.private_key),
            var(self.certificate),
            var(self.ca_public),
            var(self.station_certificate),
            u32(self.command_counter),
            u32(self.report_counter),
            u32(self.top_ups),
            u32(self.balance),
            u32(self.session_threshold),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> EsamState:
        fields = Fields(data)
        address, serial, keys = fields.var(), fields.var(), MeterKeys.from_bytes(fields.var())
        private_key, certificate, ca_public = fields.var(), fields.var(), fields.var()
        station_certificate = fields.var()
        counters = [fields.u32() for _ in range(5)]
        fields.end()
        return cls(
            address, serial, keys, private_key, certificate, ca_public, station_certificate,
            *counters,
        )  # fmt: skip

    def __repr__(self) -> str:  # never show key material
        return f"EsamState(address={self.address.hex()}, key_version={self.keys.version})"


def seal(state: EsamState, device_key: bytes, random: Random) -> bytes:
    nonce = random(_NONCE_SIZE)
    return _MAGIC + nonce + sm4.gcm_seal(device_key, nonce, state.to_bytes(), _MAGIC)


def open_sealed(blob: bytes, device_key: bytes) -> EsamState:
    """The state in a sealed blob; an altered blob or another chip's raises IntegrityError."""
    head = len(_MAGIC)
    if len(blob) < head + _NONCE_SIZE + sm4.TAG_SIZE or blob[:head] != _MAGIC:
        raise IntegrityError()
    nonce = blob[head : head + _NONCE_SIZE]
    plain = sm4.gcm_open(device_key, nonce, blob[head + _NONCE_SIZE :], _MAGIC)
    try:
        return EsamState.from_bytes(plain)
    except DecodeError:  # authentic but unreadable: a format this chip does not know
        raise IntegrityError() from None
