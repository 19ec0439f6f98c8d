"""A live run's clock (runtime/pacing.py): paused while the deployment is set up, never past
the ceiling the slowest neighbourhood sets, and monotonic throughout; a live deployment asked
for far more speed than the machine gives still has every terminal online and every meter
reporting (before the clock was held, 1800x left all 4 terminals offline and 0 readings)."""

from __future__ import annotations

import asyncio
import time

from wattguard.runtime.deployment import Deployment, DeploymentConfig, Summary, live_clock
from wattguard.runtime.pacing import WAN_PATIENCE, PacedClock, patience
from wattguard.testing import T0


def test_a_paused_clock_shows_its_start_until_it_resumes() -> None:
    clock = PacedClock(T0, 1000.0, paused=True)
    time.sleep(0.02)
    assert clock.time() == T0
    clock.resume()
    time.sleep(0.02)
    assert T0 + 10 < clock.time() < T0 + 2000


def test_the_clock_waits_at_its_ceiling_then_runs_on_from_it() -> None:
    clock = PacedClock(T0, 10_000.0)
    clock.hold(T0 + 50.0)
    time.sleep(0.05)  # 500 simulated seconds asked
    assert clock.time() == T0 + 50.0
    assert clock.held > 300.0
    clock.hold(T0 + 1e9)
    first = clock.time()
    assert T0 + 50.0 <= first < T0 + 400.0  # runs on from the ceiling, no jump
    clock.hold(T0)  # a lower ceiling is ignored: time never goes back
    assert clock.time() >= first
    assert clock.effective_speed() < 10_000.0 * 0.8


def test_patience_is_at_least_two_real_seconds() -> None:
    assert patience(PacedClock(T0, 1800.0), 30.0) == WAN_PATIENCE * 1800.0
    assert patience(PacedClock(T0, 1.0), 30.0) == 30.0
    assert patience(object(), 30.0) == 30.0  # a real clock: the protocol's own timeout


def test_a_live_run_asked_too_much_speed_keeps_every_meter_reporting() -> None:
    config = DeploymentConfig(meters=24, per_terminal=12, speed=20_000.0, seed=0)
    deployment = Deployment(config, live_clock(config))
    assert deployment.clock.time() == deployment.clock.time()  # paused while set up
    seen: list[Summary] = []
    final = asyncio.run(deployment.run_live(12.0, seen.append))
    assert final.terminals_online == 2 and final.meters_reporting == 24, final.line()
    assert final.readings > 24 * 10
    assert final.speed is not None and final.speed < 20_000.0 * 0.9
    assert "cannot keep up" in final.line()
    assert deployment.storage.count_events() == 0, deployment.storage.events(limit=5)
