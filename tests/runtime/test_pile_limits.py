"""The charging job's limits reach meters' piles as protected pile-limit commands through the
deployment (cryptographic device, FEP, terminal, HPLC, the meter's ESAM): the pile obeys,
nothing is sent while a limit stays the same, each batch is audited under the job's owner,
and a meter that did not confirm gets its limit again."""

from __future__ import annotations

import numpy as np

from wattguard.clock import VirtualClock
from wattguard.runtime.deployment import Deployment, DeploymentConfig
from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.station.commands import CommandKind, CommandState, Role, User
from wattguard.station.pile_limits import PAUSE_W, PileLimits

T0 = 1_796_083_200.0  # a midnight (UTC)
OWNER = User("charging", Role.OPERATOR)


def _deployment() -> tuple[Deployment, list[str]]:
    deployment = Deployment(DeploymentConfig(meters=3, per_terminal=3, seed=5), VirtualClock(T0))
    deployment.run_virtual(300)  # the terminal logs in, the first collection runs
    meters = sorted(m.hex() for net in deployment.nets for m in net.meters)
    return deployment, meters


def _pile(deployment: Deployment, meter: str):  # type: ignore[no-untyped-def]
    for net in deployment.nets:
        if bytes.fromhex(meter) in net.meters:
            return net.meters[bytes.fromhex(meter)].expansion.pile
    raise KeyError(meter)


def test_the_plan_reaches_the_meters_piles_and_they_obey() -> None:
    deployment, meters = _deployment()
    station = deployment.station
    limits = PileLimits(station.issue, station.commands.get, OWNER)
    piles = [PileSpec(m, 7.0) for m in meters[:2]]
    job = DistrictCharging("990000000001", 9.0, 900, np.full(96, 0.5), piles,
                           dict.fromkeys(meters[:2], limits))  # fmt: skip
    hour = (np.arange(5 * 96) % 96) / 4
    job.begin(T0 + 900, 2.0 + np.exp(-((hour - 19.0) ** 2) / 6.0))
    job.plug_in(meters[0], 10.0, T0 + 8 * 3600, T0 + 900)  # the plan fills the cheap capacity
    sent = job.dispatch(T0 + 900)
    first = limits.flush()
    assert first and all(c.kind == CommandKind.PILE_LIMIT and c.issued_by == "charging"
                         for c in first)  # fmt: skip
    deployment.run_virtual(600)
    for meter in meters[:2]:
        pile = _pile(deployment, meter)
        expected = max(PAUSE_W, round(sent[meter] * 1000))
        assert pile.limit == expected
        pile.requested = 7000.0
        assert pile.setpoint == min(7000.0, expected)  # the pile obeys its limit
        status = limits.status(meter)
        assert status is not None and (status.state, status.outcome) == ("done", "ok")
    assert sent[meters[1]] == 0.0 and _pile(deployment, meters[1]).setpoint == PAUSE_W
    job.dispatch(T0 + 900)  # the same limits: nothing goes out
    assert limits.flush() == []
    issued = [row for row in deployment.storage.audit() if "charging" in row.detail]
    assert len(issued) >= len(first)


def test_a_batch_is_one_command_per_limit_and_unconfirmed_limits_go_again() -> None:
    deployment, meters = _deployment()
    station = deployment.station
    limits = PileLimits(station.issue, station.commands.get, OWNER, batch=2)
    for meter in meters:
        limits(meter, 3.7)
    [a, b] = limits.flush()  # three meters, batches of two
    assert {len(a.meters), len(b.meters)} == {1, 2} and a.argument == b.argument == "3700"
    deployment.run_virtual(600)
    assert all(_pile(deployment, m).limit == 3700 for m in meters)
    terminal = deployment.nets[0].terminal.address
    deployment.disconnect(terminal)  # the meters cannot answer now
    limits(meters[0], 2.0)
    [lost] = limits.flush()
    deployment.run_virtual(3600)
    failed = station.commands.get(lost.id)
    assert failed.state == CommandState.FAILED and failed.results[0][1] != "ok"
    assert limits.status(meters[0]) is not None  # until the next flush tracks it
    deployment.reconnect(terminal)
    deployment.run_virtual(300)
    limits(meters[0], 2.0)  # the same limit: sent again, since it was never confirmed
    limits(meters[1], 3.7)  # unchanged and confirmed: not sent
    [again] = limits.flush()
    assert again.meters == (meters[0],)
    deployment.run_virtual(600)
    assert station.commands.get(again.id).state == CommandState.DONE
    assert _pile(deployment, meters[0]).limit == 2000
