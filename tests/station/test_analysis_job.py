"""The station's analytics job on simulated districts stored like a terminal leaves them, on
SQLite and PostgreSQL: figures equal to the analyses run directly on the same arrays, the
bypassing meter named, incremental days equal to one run, a restart going on from the stored
state, abnormal line loss raised as an analysis alert (not a security event)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from wattguard.analytics.lineloss import daily_loss, estimate_meter_errors
from wattguard.analytics.topology import infer_feeders
from wattguard.simulation.district import Irregularity, simulate_districts
from wattguard.station.analysis import LOSS_RULE, SCORE_RULE, AnalysisJob
from wattguard.station.analysis_views import district_view, fleet_view, meter_view
from wattguard.station.records import InvalidRecord
from wattguard.testing.analysis import store_districts, terminal_address
from wattguard.testing.storage import Backend

DAY = 86400
START = 1_796_515_200  # a UTC midnight (a Monday)
DAYS = 12


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_districts(2, 12, DAYS, seed=5)


def test_the_job_finds_what_the_analyses_find_on_the_same_arrays(backend, sim) -> None:  # type: ignore[no-untyped-def]
    storage = backend.open()
    customers = store_districts(storage, sim, START)
    job = AnalysisJob(storage)
    done = job.run(START + DAYS * DAY + 7200)
    assert done == 2 * DAYS
    for d in range(2):
        members = sim.district == d
        _, rate, _ = daily_loss(sim.supply[d], sim.curves[members], 96)
        view = district_view(job, terminal_address(d))
        assert view is not None
        got = np.array([row["rate"] for row in view["loss"]])
        np.testing.assert_allclose(got, rate, rtol=1e-6, atol=1e-9)
        # the irregular meter of a bypass or partial theft is ranked first
        irregular = np.flatnonzero(members & (sim.truth.irregularity != Irregularity.NONE))
        kind = Irregularity(int(sim.truth.irregularity[irregular[0]]))
        if kind in (Irregularity.BYPASS, Irregularity.PARTIAL_THEFT, Irregularity.BROKEN):
            assert view["suspects"][0]["meter"] == customers[irregular[0]], kind
    first = customers[0]
    meter = meter_view(job, first)
    assert meter is not None and len(meter["days"]) == DAYS
    np.testing.assert_allclose(
        [row["energy"] for row in meter["days"]],
        sim.curves[0].reshape(DAYS, 96).sum(axis=1),
        rtol=1e-5,
    )
    assert meter["days"][1]["source"] == "freeze" and meter["cluster_name"]
    assert fleet_view(job, 3)["top_error"]


def test_a_day_at_a_time_and_a_restart_give_the_same_results(backend, sim) -> None:  # type: ignore[no-untyped-def]
    storage = backend.open()
    store_districts(storage, sim, START, days=slice(0, 5))
    job = AnalysisJob(storage)
    assert job.run(START + 5 * DAY + 7200) == 10
    assert job.run(START + 5 * DAY + 7200) == 0  # nothing new: nothing recomputed
    store_districts(storage, sim, START, days=slice(5, DAYS))
    again = AnalysisJob(backend.open() if backend.persistent else storage)
    for day in range(6, DAYS + 1):
        assert again.run(START + day * DAY + 7200) == 2
    once = AnalysisJob(Backend("sqlite-memory", Path()).open())
    store_districts(once.storage, sim, START)
    once.run(START + DAYS * DAY + 7200)
    for a, b in zip(again.store.results(), once.store.results(), strict=True):
        assert a.meter == b.meter and a.cluster_name is not None
        assert a.score == pytest.approx(b.score, rel=1e-9, abs=1e-12)
        assert a.error == pytest.approx(b.error, rel=1e-9, abs=1e-12)
    assert again.store.losses() == once.store.losses()


def test_an_abnormal_line_loss_is_an_analysis_alert_with_its_evidence(backend) -> None:  # type: ignore[no-untyped-def]
    sim = simulate_districts(1, 10, DAYS, seed=3, irregular=0)
    hidden = sim.curves.copy()
    hidden[2, 9 * 96 :] *= 0.2  # a bypass from day 9: 80 % of meter 3's load hidden
    from dataclasses import replace

    storage = backend.open()
    store_districts(storage, replace(sim, curves=hidden), START)
    job = AnalysisJob(storage)
    job.run(START + DAYS * DAY + 7200)
    alerts = [a for a in storage.alerts() if a.rule == LOSS_RULE]
    assert len(alerts) == 1 and alerts[0].subject == f"district {terminal_address(0)}"
    assert "line loss" in alerts[0].evidence and "000001000003" in alerts[0].evidence
    assert storage.count_events() == 0  # not a security event


def test_a_fleet_too_small_to_choose_k_is_analysed_without_clusters(backend) -> None:  # type: ignore[no-untyped-def]
    storage = backend.open()
    customers = store_districts(storage, simulate_districts(1, 2, 3, seed=1), START)
    job = AnalysisJob(storage)
    assert job.run(START + 3 * DAY + 7200) == 3  # two meters: no k to choose by silhouette
    results = job.store.results()
    assert [r.meter for r in results] == customers and all(r.cluster is None for r in results)


def test_the_anomaly_alert_threshold_is_calibrated_on_the_districts_history(backend) -> None:  # type: ignore[no-untyped-def]
    days = 24  # scores count from day 14, 100 of them (20 meters) by day 19
    sim = simulate_districts(1, 20, days, seed=11, irregular=0)
    cut = sim.curves.copy()
    cut[4, 20 * 96 :] = 0.0  # from day 20 meter 5 reads nothing at all (h2, a cut-out)
    from dataclasses import replace

    storage = backend.open()
    customers = store_districts(storage, replace(sim, curves=cut), START)
    job = AnalysisJob(storage)
    job.run(START + days * DAY + 7200)
    alerts = {a.subject: a for a in storage.alerts() if a.rule == SCORE_RULE}
    cutout = alerts.get(f"meter {customers[4]}")
    assert cutout is not None, sorted(alerts)
    assert "calibrated: 1% of the district's last 56 days" in cutout.evidence
    assert "zeros" in cutout.evidence and "balance error" in cutout.evidence
    # at 1 % of meter-days, honest meters rarely alert: at most a couple over the last days
    assert len(alerts) - 1 <= 2


def test_a_meters_own_tariff_table_splits_its_days_and_the_view_says_which(backend, sim) -> None:  # type: ignore[no-untyped-def]
    storage = backend.open()
    customers = store_districts(storage, sim, START)
    job = AnalysisJob(storage)
    own = np.full(96, 1)
    own[12 * 4 : 14 * 4] = 0  # peak 12:00-14:00 only, valley 00:00-06:00
    own[: 6 * 4] = 2
    job.store.set_tariff(customers[1], own)
    job.run(START + DAYS * DAY + 7200)
    mine, other = meter_view(job, customers[1]), meter_view(job, customers[2])
    assert mine is not None and other is not None
    assert mine["time_of_use_table"]["table"] == "meter's own"
    assert other["time_of_use_table"]["table"] == "station default"
    days = sim.curves[1].reshape(DAYS, 96).astype(np.float64)
    for k, name in enumerate(("peak", "flat", "valley")):
        assert mine["time_of_use"][name] == pytest.approx(days[:, own == k].sum(), rel=1e-5)
    # monthly energy (the 12 days from 6 December are one month) and period changes
    (month,) = mine["monthly"]
    assert month["month"] == "2026-12" and month["days"] == DAYS and month["change"] is None
    assert month["energy"] == pytest.approx(days.sum(), rel=1e-5)
    assert mine["change"]["last_7_days"] is None  # 12 days: not two whole weeks
    assert mine["change"]["last_30_days"] is None
    with pytest.raises(InvalidRecord):
        job.store.set_tariff(customers[1], np.full(95, 1))


def test_months_and_period_changes_are_counted_from_the_present_days() -> None:
    from wattguard.station.analysis_store import DayRow
    from wattguard.station.analysis_views import _change, _monthly

    nov30 = START - 6 * DAY  # 30 November
    rows = [
        DayRow("m", nov30 + i * DAY, "d", e, "curve", 0, None, None, None, None, None, None, None)
        for i, e in enumerate([10.0, 20.0, None, 30.0])
    ]
    months = _monthly(rows)
    assert [m["month"] for m in months] == ["2026-11", "2026-12"]
    assert [m["energy"] for m in months] == [10.0, 50.0]
    assert months[1]["days"] == 2 and months[1]["days_missing"] == 1
    assert months[1]["change"] == pytest.approx(4.0)
    assert _change([1.0, 1.0, 2.0, 3.0], 2) == pytest.approx(1.5)
    assert _change([1.0, None, 2.0, 3.0], 2) is None and _change([1.0, 2.0], 2) is None


def test_with_the_feeders_recorded_the_balance_fit_models_each_feeders_loss(backend) -> None:  # type: ignore[no-untyped-def]
    sim = simulate_districts(1, 20, 10, seed=5)
    storage = backend.open()
    customers = store_districts(storage, sim, START)
    job = AnalysisJob(storage)
    job.store.set_feeders({m: f"line {sim.feeder[i]}" for i, m in enumerate(customers)})
    job.run(START + 10 * DAY + 7200)
    got = np.array([r.error for r in job.store.results()], dtype=np.float64)
    curves = sim.curves.astype(np.float32).astype(np.float64)
    supply = sim.supply[0].astype(np.float32).astype(np.float64)
    told = estimate_meter_errors(supply, curves, feeders=sim.feeder)
    plain = estimate_meter_errors(supply, curves)
    assert np.abs(got - told).max() < 0.2 * np.abs(got - plain).max()
    with pytest.raises(InvalidRecord):
        job.store.set_feeders({customers[0]: ""})


def test_without_feeder_records_the_feeders_are_inferred_from_the_voltages(backend) -> None:  # type: ignore[no-untyped-def]
    sim = simulate_districts(1, 30, 10, seed=5, voltages=True)
    storage = backend.open()
    customers = store_districts(storage, sim, START)
    job = AnalysisJob(storage)
    job.run(START + 10 * DAY + 7200)
    sources = [row.feeders for row in job.store.losses()]
    # the first day has less than a day of voltage steps: the one-feeder model, said so
    assert sources == ["none"] + ["inferred"] * 9
    assert district_view(job, terminal_address(0))["loss"][-1]["feeders"] == "inferred"
    got = np.array([r.error for r in job.store.results()], dtype=np.float64)
    curves = sim.curves.astype(np.float32).astype(np.float64)
    supply = sim.supply[0].astype(np.float32).astype(np.float64)
    assert sim.voltage is not None
    inferred = estimate_meter_errors(supply, curves, feeders=infer_feeders(sim.voltage))
    plain = estimate_meter_errors(supply, curves)
    assert np.abs(got - inferred).max() < 0.01 * np.abs(got - plain).max()
    # no voltages in the window: the one-feeder model; records win over the voltages
    assert job._feeders(customers, START - 40 * DAY) == (None, "none")
    job.store.set_feeders({m: f"line {sim.feeder[i]}" for i, m in enumerate(customers)})
    assert job._feeders(customers, START + 9 * DAY)[1] == "records"
