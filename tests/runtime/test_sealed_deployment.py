"""The in-process deployment with the signed bus (``DeploymentConfig.sealed_bus``): the same
code path as the separate processes' bus, and the same readings as without it."""

from __future__ import annotations

from wattguard.network.sealed_bus import Envelope, SealedBus
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import T0


def _run(sealed: bool) -> Deployment:
    config = DeploymentConfig(meters=4, per_terminal=2, start=T0, sealed_bus=sealed)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(3600)
    return deployment


def test_a_sealed_bus_carries_the_same_readings_in_envelopes() -> None:
    plain, sealed = _run(False), _run(True)
    seen: list[bytes] = []
    sealed.bus.subscribe("up.*", lambda subject, data: seen.append(data))
    sealed.restart_station()  # a new station process: its own consumer, fresh marks
    sealed.run_virtual(900)
    plain.run_virtual(900)
    assert sealed.summary().readings == plain.summary().readings > 0
    assert isinstance(sealed.fep_bus, SealedBus) and sealed.fep_bus.refused == 0
    assert seen and all(Envelope.from_bytes(data).sender == "fep-1" for data in seen)
    assert sealed.storage.count_events() == 0
