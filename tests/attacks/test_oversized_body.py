"""Scenario ``api-oversized-body``: the guarded API answers an unauthenticated huge body from
its headers, the API without the guard reads and parses all of it first."""

from __future__ import annotations

import asyncio

from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.oversized_body import STALL_BOUND, body, flood
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app


def test_the_guard_answers_before_the_body_and_without_it_all_is_read() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=T0)
    deployment = Deployment(config, virtual_clock(config))
    payload = body(16 << 20)  # more than the socket buffers take in
    sent = {}
    for guard in (True, False):
        app = create_app(deployment.station, deployment.users, guard=guard)
        answers, probe = asyncio.run(flood(app, payload, 2))
        assert [a.status for a in answers] == [401, 401]
        sent[guard] = max(a.sent for a in answers)
        if guard:
            assert probe.stall < STALL_BOUND
    assert sent[True] < len(payload) // 2 <= len(payload) - 1024 < sent[False]
