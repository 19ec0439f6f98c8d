"""The demo deployment with districts: each terminal gets a supply meter (not counted among
the meters) and one seeded irregular customer (bypass, meter error, evening theft, broken
meter, in turn); the station's analytics job, run by the deployment, takes in each complete
day and sees the hidden energy as line loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wattguard.cli import main
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.analysis import LOSS_RULE

START = 1_796_515_200  # a UTC midnight


def test_each_districts_irregular_meter_shows_in_the_analyses() -> None:
    # Four terminals of two customers: a bypass, a -/+2 % meter, an evening theft and a meter
    # that breaks a day after the start, one per district in turn (the truth is kept apart).
    config = DeploymentConfig(meters=8, per_terminal=2, seed=7, start=START, districts=True)
    deployment = Deployment(config, virtual_clock(config))
    assert deployment.meter_count == 8 and len(deployment.supply_meters) == 4
    kinds = {kind: meter for meter, (kind, _) in deployment.irregular.items()}
    assert sorted(kinds) == ["broken", "bypass", "evening theft", "meter error"]
    assert set(deployment.bypassed) == {kinds["bypass"]}
    summary = deployment.run_virtual(2 * 86400 + 3 * 3600)
    assert summary.meters == 8 and summary.analysed_days == 8  # district days
    assert deployment.analysis is not None
    store = deployment.analysis.store
    rates = {(row.district, row.day): row.rate for row in store.losses()}
    assert len(rates) == 8 and all(rate is not None for rate in rates.values())
    second = START + 86400
    for day in (START, second):
        # hidden shares of a customer's load, far above the 2-5 % technical losses
        assert rates["990000000001", day] > 0.2  # bypass, 30-60 % hidden all day
        assert rates["990000000003", day] > 0.06  # evening theft, 50-90 % hidden 17-23 h
        # a 2 % meter is inside the technical range (2-5 % on average, more on a heavy day of
        # a two-customer district: the I^2 R loss grows with the load's square); the balance
        # fit over weeks finds it
        assert 0.0 < rates["990000000002", day] < 0.1
        assert rates["990000000002", day] < rates["990000000001", day] / 4
    # the broken meter reads its first day, then zero while its customer still draws
    broken = store.days(kinds["broken"])
    assert broken[0].energy and broken[0].energy > 0.5 and broken[1].energy == 0.0
    assert rates["990000000004", START] < 0.06 < 0.2 < rates["990000000004", second]
    alerts = {a.subject for a in deployment.storage.alerts() if a.rule == LOSS_RULE}
    assert {"district 990000000001", "district 990000000004"} <= alerts
    results = {r.meter for r in store.results()}
    assert set(kinds.values()) <= results and not results & deployment.supply_meters


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
