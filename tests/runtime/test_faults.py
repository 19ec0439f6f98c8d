"""End to end in virtual time: a day of the 15-minute curve from 100 meters arrives complete
and verified through HPLC loss, a WAN outage, a FEP restart and a station restart, with no
reading lost or duplicated."""

from __future__ import annotations

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT as START

CURVE = "50020200/00100201"
DAY = 86400


def test_a_day_of_curves_from_100_meters_survives_every_fault() -> None:
    config = DeploymentConfig(meters=100, per_terminal=25, start=START, hplc_loss=0.2, seed=5)
    d = Deployment(config, virtual_clock(config))
    terminals = [net.terminal.address for net in d.nets]
    d.run_virtual(3 * 3600)
    # a 10-minute WAN outage of one terminal
    d.disconnect(terminals[0])
    d.run_virtual(600)
    d.reconnect(terminals[0])
    d.run_virtual(3 * 3600)
    # the front-end processor restarts: every terminal loses its connection for a minute
    for terminal in terminals:
        d.disconnect(terminal)
    d.run_virtual(60)
    for terminal in terminals:
        d.reconnect(terminal)
    d.run_virtual(4 * 3600)
    # the station restarts on its storage
    d.restart_station()
    d.run_virtual(DAY - d.clock.time() + START + 2 * 3600)  # the day, and time to catch up

    assert d.channel_losses() > 0
    expected = {START + 900 * k for k in range(1, 96 + 1)}  # every quarter of the day
    assert sum(len(net.meters) for net in d.nets) == 100
    for net in d.nets:
        for meter in net.meters:
            rows = d.storage.readings(meter.hex(), CURVE, START, START + DAY + 1)
            times = [r.time for r in rows]
            assert len(times) == len(set(times))  # nothing twice
            assert set(times) == expected, (meter.hex(), sorted(expected - set(times))[:5])
    # all of it verified: each curve read is a MAC the cryptographic device checked
    assert d.hsm is not None and d.hsm.refused == 0 and d.hsm.verified > 0
    assert d.summary().refused == 0
