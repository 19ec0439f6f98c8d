"""Virtual deployments with data in them, for the station's API and dashboard tests (seeded,
so reproducible, master keys included)."""

from __future__ import annotations

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.ingest import Reading
from wattguard.testing import MIDNIGHT

__all__ = ["populated", "with_registered_fleet"]


def populated(meters: int, per_terminal: int) -> Deployment:
    """A virtual deployment started at :data:`MIDNIGHT`, after six hours of readings, with one
    meter's cover opened (a critical tamper alert)."""
    config = DeploymentConfig(meters=meters, per_terminal=per_terminal, start=MIDNIGHT, seed=0)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(6 * 3600)
    meter = next(iter(deployment.nets[0].meters.values()))
    meter.management.cover_opened(deployment.clock.time())
    deployment.run_virtual(900)
    return deployment


def with_registered_fleet(start: float, extra: list[str]) -> Deployment:
    """A small virtual deployment whose station also knows ``extra`` meters, registered
    without simulating them (50 a terminal), two in three with four readings: a large fleet
    for the listings, cheaply."""
    config = DeploymentConfig(meters=2, per_terminal=2, start=start, seed=0)
    deployment = Deployment(config, virtual_clock(config))
    station = deployment.station
    for k, address in enumerate(extra):
        station.register_meter(bytes.fromhex(address), bytes.fromhex(f"99{k // 50:010d}"))
    station.storage.add_readings(
        [Reading(a, "00100201", int(start) + 900 * t, k + t / 4)
         for k, a in enumerate(extra) if k % 3 for t in range(4)]
    )  # fmt: skip
    return deployment
