"""Provisioning: how the factory makes a meter's ESAM, and how the CA certifies a station.

At manufacture the factory (holding a provisioning link to the cryptographic device) gives the
ESAM its diversified keys, has it generate its SM2 key pair, has the CA certify the public
key, and installs the CA's public key and the station's certificate. The chip is then sealed;
its keys never leave it again.
"""

from __future__ import annotations

import os

from wattguard.crypto import sm2, sm3
from wattguard.esam.certificate import Certificate, CertificateKind
from wattguard.esam.chip import Esam
from wattguard.esam.profile import ADDRESS_SIZE, MasterKeys, Random
from wattguard.esam.state import EsamState

__all__ = ["TEN_YEARS", "generate_key", "provision", "station_certificate"]

TEN_YEARS = 10 * 365 * 86400
_ORDER = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def generate_key(random: Random = os.urandom) -> sm2.PrivateKey:
    """An SM2 private key from ``random`` (rejection sampling into [1, n-2])."""
    while True:
        d = int.from_bytes(random(32), "big")
        if 1 <= d <= _ORDER - 2:
            return sm2.PrivateKey(d)


def provision(
    address: bytes,
    master_keys: MasterKeys,
    ca_key: sm2.PrivateKey,
    *,
    now: float,
    device_key: bytes | None = None,
    station_certificate: Certificate | None = None,
    serial: bytes | None = None,
    certificate_serial: int = 1,
    validity: int = TEN_YEARS,
    balance: int = 0,
    random: Random = os.urandom,
) -> Esam:
    """A new ESAM for the meter at ``address``, as the factory makes it."""
    if len(address) != ADDRESS_SIZE:
        raise ValueError(f"a meter address is {ADDRESS_SIZE} bytes")
    key = generate_key(random)
    certificate = Certificate.issue(
        ca_key,
        CertificateKind.ESAM,
        certificate_serial,
        address,
        key.public_key,
        int(now),
        int(now) + validity,
    )
    state = EsamState(
        address=address,
        serial=serial if serial is not None else sm3.hash(b"ESAM" + address + random(8))[:8],
        keys=master_keys.for_meter(address),
        private_key=key.to_bytes(),
        certificate=certificate.to_bytes(),
        ca_public=ca_key.public_key.to_bytes(),
        station_certificate=station_certificate.to_bytes() if station_certificate else b"",
        balance=balance,
    )
    return Esam(state, device_key if device_key is not None else random(16), random=random)


def station_certificate(
    ca_key: sm2.PrivateKey,
    station_key: sm2.PublicKey,
    *,
    name: bytes = b"wattguard station",
    serial: int = 1,
    now: float,
    validity: int = TEN_YEARS,
) -> Certificate:
    """The CA's certificate for a station's (or its cryptographic device's) SM2 key."""
    return Certificate.issue(
        ca_key, CertificateKind.STATION, serial, name, station_key, int(now), int(now) + validity
    )
