"""The ledger of what lazy meters served counts what the station would store from it, once."""

from __future__ import annotations

import os

from wattguard.esam.profile import MasterKeys
from wattguard.protocol import OAD
from wattguard.protocol.apdu.get import GetRequestNormalList
from wattguard.runtime.deployment import CURVE
from wattguard.simulation.lazy_fleet import LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.ledger import ReadingLedger, fingerprint
from wattguard.simulation.profile import LoadModel
from wattguard.station.ingest import readings_of

T0 = 1_784_073_600.0
METERS = [bytes.fromhex(f"0000010000{i:02d}") for i in range(1, 4)]
REALTIME = GetRequestNormalList(1, (OAD(0x0010, 2, 0), OAD(0x2000, 2, 0), OAD(0x4000, 2, 0)))


def test_the_ledger_counts_and_fingerprints_what_the_station_stores_once() -> None:
    keys = diversified_mac_keys(MasterKeys.generate(1, os.urandom), METERS)
    server = LazyServer(LazyFleet(LoadModel.mixed(3, seed=2), METERS, keys, T0))
    ledger = server.ledger = ReadingLedger(METERS)
    stored = {}
    for now in (T0 + 3 * 900 + 7, T0 + 3 * 900 + 7, T0 + 5 * 900 + 3):  # a re-read, then more
        server.fleet.advance_to(now)
        for meter in range(3):
            for request in (REALTIME, CURVE.request(2, now - 4 * 900, now)):
                answer = server.answer(meter, request, now)
                assert answer is not None
                for r in readings_of(METERS[meter], answer, now):
                    stored.setdefault((r.meter, r.quantity, r.time), r.value)
    assert ledger.total == len(stored) > 3 * (6 + 5)
    assert ledger.counts.tolist() == [sum(1 for key in stored if key[0] == m.hex()) for m in METERS]
    expected = sum(fingerprint(m, q, t, round(v * 10_000)) for (m, q, t), v in stored.items())
    assert ledger.checksum == expected % 2**64
    # one value missing or changed shows
    (m, q, t), v = next(iter(stored.items()))
    assert ledger.checksum != (expected - fingerprint(m, q, t, round(v * 10_000))) % 2**64
