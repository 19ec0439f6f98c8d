"""The demo's master keys are fresh each run; only an explicit seed makes them reproducible
(issue #13 item 12: they used to follow from the fixed seed "wattguard demo 0")."""

from __future__ import annotations

import pytest

from wattguard.cli import main
from wattguard.esam.profile import MasterKeys
from wattguard.randomness import seeded
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT

#: What anyone could compute before: the keys of a demo run without options.
PUBLISHED = MasterKeys.generate(1, seeded(b"wattguard demo 0"))


def master_keys(seed: int | None) -> MasterKeys:
    config = DeploymentConfig(meters=1, per_terminal=1, start=MIDNIGHT, seed=seed)
    deployment = Deployment(config, virtual_clock(config))
    assert deployment.hsm is not None
    return deployment.hsm.security.master()


def test_two_deployments_without_a_seed_have_different_master_keys() -> None:
    first, second = master_keys(None), master_keys(None)
    assert first.keys != second.keys
    assert PUBLISHED.keys not in (first.keys, second.keys)


def test_the_same_seed_gives_the_same_keys_and_another_seed_others() -> None:
    assert master_keys(7).keys == master_keys(7).keys
    assert master_keys(7).keys != master_keys(8).keys


def test_a_seedless_run_still_collects_and_verifies() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2, start=MIDNIGHT)
    deployment = Deployment(config, virtual_clock(config))
    summary = deployment.run_virtual(1800)
    assert summary.meters_reporting == 2 and summary.security_events == 0
    assert deployment.hsm is not None and deployment.hsm.verified > 0


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ([], "master keys: fresh random ones, this run only"),
        (["--seed", "3"], "master keys: derived from --seed 3 (reproducible"),
    ],
)
def test_the_demo_says_where_its_keys_come_from(
    options: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["demo", "--virtual", "--days", "0.01", "--meters", "1", *options]
    assert main(argv) == 0
    assert said in capsys.readouterr().out
