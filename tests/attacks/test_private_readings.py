"""Private readings: under the private-readings policy an eavesdropper on the power line finds
none of a meter's curve values in the bytes it captured; under the standard's default word
(plaintext + MAC) it finds them all. The station stores the same curve either way."""

from __future__ import annotations

import pytest

from wattguard.attacks.scenarios.deployed import Tap
from wattguard.network.hplc import Direction
from wattguard.protocol import Data, DataType
from wattguard.protocol.objects import lookup
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT

CURVE = "50020200/0010020"  # the minute freeze's forward active energy: total, tariffs 1-4


def captured_and_stored(private: bool) -> tuple[bytes, list[bytes]]:
    """What a tap on the power line heard from the meters in three hours, and the curve the
    station stored for them, each record's energy encoded as the meter sends it (the array
    of total and tariff registers, double-long-unsigned in 0.01 kWh)."""
    config = DeploymentConfig(
        meters=3, per_terminal=3, start=MIDNIGHT + 7 * 3600, private_readings=private
    )
    deployment = Deployment(config, virtual_clock(config))
    tap = Tap(deployment.nets[0])
    deployment.run_virtual(3 * 3600)
    heard = b"".join(data for way, _, data in tap.frames if way == Direction.UP)
    info = lookup(0x0010)
    assert info is not None and info.scaler is not None
    encoded = []
    for meter in deployment.nets[0].meters:
        rows: dict[int, dict[int, int]] = {}
        for element in range(1, 6):
            for r in deployment.storage.readings(meter.hex(), f"{CURVE}{element}", 0, 2**40):
                rows.setdefault(r.time, {})[element] = round(r.value / 10.0**info.scaler)
        for row in rows.values():
            assert sorted(row) == [1, 2, 3, 4, 5]
            values = (Data(DataType.DOUBLE_LONG_UNSIGNED, row[k]) for k in sorted(row))
            encoded.append(Data.array(*values).to_bytes())
    return heard, encoded


@pytest.mark.parametrize("private", [True, False])
def test_an_eavesdropper_sees_curve_values_only_under_the_plain_policy(private: bool) -> None:
    heard, curve = captured_and_stored(private)
    assert len(curve) >= 30  # the station verified and stored the curve either way
    found = [value for value in curve if value in heard]
    if private:
        assert found == []
    else:
        assert len(found) == len(curve)
