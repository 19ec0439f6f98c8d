"""After a key update, a report under the meter's old keys is refused (an opened meter's
extracted keys must not keep working at the station), while the same construction under the
current keys verifies."""

from __future__ import annotations

import os

import pytest

from wattguard.errors import IntegrityError
from wattguard.esam import profile as p
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    Verification,
    VerificationKind,
)
from wattguard.testing import ADDRESS, T0
from wattguard.testing.esam import MASTER, rig

REPORT = b"\x88\x01\x01\x00"


def report_under(keys: p.MeterKeys, counter: int) -> SecurityRequest:
    """A report as anyone holding ``keys`` builds it (docs/security.md, active reports)."""
    rn = p.StructuredRandom(p.Keyset.METER, keys.version, counter, os.urandom(8)).to_bytes()
    tag = p.mac(keys[p.KeyId.MAC], p.Label.REPORT, rn, b"\x00" + REPORT)
    return SecurityRequest(
        SecurityPayload(Protection.PLAINTEXT, REPORT),
        Verification(VerificationKind.RN_MAC, random=rn, mac=tag),
    )


def test_a_report_under_the_old_keys_is_refused_after_a_key_update() -> None:
    r = rig()
    extracted = MASTER.for_meter(ADDRESS)  # what an opened version-1 ESAM gives away
    assert r.station.open_report(ADDRESS, report_under(extracted, 5)) == REPORT  # well formed
    ciphertext, protected = (item.value for item in r.station.key_update(ADDRESS, 2).value)
    r.client.key_update(ciphertext, protected.sid, protected.mac, T0)
    r.station.key_updated(ADDRESS, 2)
    with pytest.raises(IntegrityError):
        r.station.open_report(ADDRESS, report_under(extracted, 1_000_000))
    genuine = r.client.protect_report(REPORT, T0)  # the meter, under its new keys
    assert r.station.open_report(ADDRESS, genuine) == REPORT
