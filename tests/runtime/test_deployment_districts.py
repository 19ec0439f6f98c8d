"""The demo deployment with districts: each terminal gets a supply meter (not counted among
the meters) and one customer with a seeded bypass; the station's analytics job, run by the
deployment, takes in the first complete day and sees the hidden energy as line loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wattguard.cli import main
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.analysis import LOSS_RULE

START = 1_796_515_200  # a UTC midnight


def test_the_districts_bypass_shows_as_line_loss() -> None:
    config = DeploymentConfig(meters=6, per_terminal=3, seed=7, start=START, districts=True)
    deployment = Deployment(config, virtual_clock(config))
    assert deployment.meter_count == 6 and len(deployment.supply_meters) == 2
    summary = deployment.run_virtual(86400 + 3 * 3600)
    assert summary.meters == 6 and summary.analysed_days == 2
    assert deployment.analysis is not None
    losses = deployment.analysis.store.losses()
    assert [row.day for row in losses] == [START, START]
    for row in losses:
        assert row.rate is not None and row.intervals >= 90
        # the hidden share of one customer's load is far above the 2-5 % technical losses
        assert row.rate > 0.06
    alerts = [a for a in deployment.storage.alerts() if a.rule == LOSS_RULE]
    assert {a.subject for a in alerts} <= {"district 990000000001", "district 990000000002"}
    results = {r.meter for r in deployment.analysis.store.results()}
    assert set(deployment.bypassed) <= results and not results & deployment.supply_meters


def test_a_virtual_demo_then_analyse_reports_the_days(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    demo = ["demo", "--virtual", "--days", "1.2", "--meters", "4", "--per-terminal", "2"]
    assert main([*demo, "--seed", "3", "--database", url]) == 0
    assert "analysed days 2" in capsys.readouterr().out
    page = tmp_path / "report.html"
    assert main(["analyse", "--database", url, "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "district 990000000001: mean line loss" in out
    assert "district 990000000002: mean line loss" in out
    assert page.read_text().count("<svg") >= 3


def test_a_pv_customers_day_energy_is_net_whether_from_the_freeze_or_the_curve() -> None:
    config = DeploymentConfig(meters=8, per_terminal=8, seed=2, start=START, districts=True)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(2 * 86400 + 3 * 3600)
    assert deployment.analysis is not None
    store = deployment.analysis.store
    compared = 0
    for result in store.results():
        second = store.days(result.meter)[1]  # a whole day: both freezes and every interval
        assert second.source == "freeze" and second.missing == 0
        curve = (second.tou_peak or 0) + (second.tou_flat or 0) + (second.tou_valley or 0)
        assert second.energy == pytest.approx(curve, abs=0.02 * 8)  # register resolution
        compared += 1
    assert compared == 8
