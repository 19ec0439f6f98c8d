"""Orderly charging attached to a running deployment (virtual time): EVs arrive in the
evening at meters' piles, the district's job plans under the transformer's capacity, its
limits go out as protected pile-limit commands and the piles obey them; the API serves the
plan against the capacity; the summary reports peak against capacity and energy delivered."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from wattguard.clock import VirtualClock
from wattguard.runtime.charging_runtime import OWNER, attach_charging
from wattguard.runtime.deployment import Deployment, DeploymentConfig
from wattguard.station.api import create_app
from wattguard.station.commands import CommandKind
from wattguard.station.pile_limits import PAUSE_W

T0 = 1_796_083_200.0 + 17 * 3600  # 17:00 UTC
HOURS = 14


def test_a_night_of_orderly_charging_in_a_deployment() -> None:
    deployment = Deployment(
        DeploymentConfig(meters=8, per_terminal=8, seed=11, districts=True), VirtualClock(T0)
    )
    charging = attach_charging(deployment.station, deployment.nets, T0, 11)
    deployment.on_tick.append(charging.tick)
    deployment.run_virtual(HOURS * 3600)
    [(district, job)] = deployment.station.charging.items()
    summary = charging.summary()
    # uncontrolled, the EVs plugged in at once at their piles' maximum would overload it
    plugged = max(sum(s.arrive <= t < s.depart for s in job.sessions) for t in range(job.steps))
    assert np.nanmin(job.actual) + plugged * 7.0 > job.capacity_kw
    assert summary.peak_kw <= job.capacity_kw * 1.05  # the forecast's error, no more
    assert summary.left >= 2 and summary.left + summary.charging == len(job.sessions)
    assert summary.delivered_kwh >= 0.95 * summary.asked_kwh > 0  # the EVs that left
    # the limits went out as pile-limit commands of the job's owner and were confirmed
    commands = [c for c in deployment.station.commands.commands.values()
                if c.kind == CommandKind.PILE_LIMIT]  # fmt: skip
    assert len(commands) == summary.commands > 0
    assert all(c.issued_by == OWNER.name for c in commands)
    view = charging.view()
    assert set(view) == set(job.piles)
    outcomes = [v["outcome"] for v in view.values()]  # "" while the last one is on its way
    assert set(outcomes) <= {"ok", ""} and outcomes.count("ok") >= len(outcomes) - 2
    # each pile drew no more than the larger of its limits this interval and the last one
    # (a new limit takes a minute or two to travel); the limits are what the meters hold
    sent: dict[tuple[int, str], float] = {}
    for t, p, kw in job.delivered:  # a re-plan within an interval sends again
        sent[(t, p)] = max(kw, sent.get((t, p), 0.0))
    names = list(job.piles)
    assert len(sent) == len(names) * (HOURS * 4 + 1)  # every pile, every interval
    # what the job saw each pile draw is its meter's curve (FF13), collected and stored
    read = 0
    for (t, pile), kw in sent.items():
        before = sent.get((t - 1, pile), kw)
        drawn = job.pile_kwh[names.index(pile), t] / job.step_hours
        if np.isnan(drawn):
            continue  # not read (yet): missing, not made up
        read += 1  # the curve holds up to a minute of the interval before (see the module)
        assert drawn <= max(kw, before, PAUSE_W / 1000) + 0.2
    observed = HOURS * 4 - 4  # the last intervals' readings may still be on their way
    assert read >= len(names) * observed - job.missing_readings
    assert job.missing_readings <= len(names) * 2  # the HPLC channel loses a frame or two
    assert np.nansum(job.pile_kwh) > 0.9 * summary.delivered_kwh
    for net in deployment.nets:
        for address in job.piles:
            meter = net.meters[bytes.fromhex(address)]
            if view[address]["outcome"] == "ok":
                assert meter.expansion.pile.limit == view[address]["watts"] >= PAUSE_W
    # the API serves the job: the plan against the capacity line
    users = {"viewer": OWNER}
    api = TestClient(create_app(deployment.station, users))
    served = api.get(f"/api/charging/{district}", headers={"Authorization": "Bearer viewer"})
    assert served.status_code == 200 and served.json()["capacity_kw"] == job.capacity_kw
    assert served.json()["deliveries"] == view  # each pile's command and the meter's outcome
    assert f"{summary.left} EVs left" in summary.line() and "kW capacity" in summary.line()
