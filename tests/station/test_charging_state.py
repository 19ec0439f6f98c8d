"""The charging job's state survives a station restart (SQLite file and PostgreSQL): the
sessions, the energy each received and the measurements come back, and the restored job
plans exactly as the one that never stopped; a state that does not fit starts afresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.station.charging_state import dump, restore
from wattguard.station.storage import InvalidRecord
from wattguard.testing.storage import PERSISTENT, Backend

STEP, STEPS = 900, 96
T0 = 1_796_083_200.0
PILES = [PileSpec("000000000001", 7.0), PileSpec("000000000002", 11.0)]
HISTORY = 40 + 20 * np.exp(-(((np.arange(4 * STEPS) % STEPS) / 4 - 19) ** 2) / 6)


@pytest.fixture(params=PERSISTENT)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    made = Backend(request.param, tmp_path)
    yield made
    made.cleanup()


def _job() -> DistrictCharging:
    job = DistrictCharging("990000000001", 75.0, STEP, np.full(STEPS, 0.4), PILES,
                           {p.name: lambda *_: None for p in PILES})  # fmt: skip
    job.begin(T0, HISTORY)
    return job


def test_a_restarted_station_resumes_the_job(backend: Backend) -> None:
    job = _job()
    job.plug_in("000000000001", 20.0, T0 + 10 * 3600, T0 + 3600)
    job.plug_in("000000000002", 30.0, T0 + 12 * 3600, T0 + 2 * 3600)
    for t in range(8, 20):
        job.observe(T0 + (t + 1) * STEP, 45.0 + t % 3, job.limits(t))
    before = backend.open()
    before.save_charging(job.district, T0 + 20 * STEP, dump(job))
    before.save_charging(job.district, T0 + 20 * STEP, dump(job))  # replaced, not added
    before.close()

    [(district, (saved_at, state))] = backend.open().charging_states().items()
    assert (district, saved_at) == (job.district, T0 + 20 * STEP)
    again = _job()  # the restarted station's job, from the same configuration
    assert restore(again, state, T0 + 20 * STEP)
    assert [vars(s) for s in again.sessions] == [vars(s) for s in job.sessions]
    assert np.array_equal(again.actual, job.actual, equal_nan=True)
    assert np.allclose(again.pile_kwh, job.pile_kwh, equal_nan=True)  # missing stays missing
    assert again.missing_readings == job.missing_readings
    job._replan(20, "the same re-plan")  # the job that never stopped, planning from here
    assert again.plan is not None and job.plan is not None
    assert np.allclose(again.plan.power[:, 20:], job.plan.power[:, 20:], atol=1e-6)
    assert again.replans[-1].reason == "restored after a restart"


def test_a_state_that_does_not_fit_changes_nothing(backend: Backend) -> None:
    job = _job()
    job.plug_in("000000000001", 20.0, T0 + 10 * 3600, T0 + 3600)
    state = dump(job)
    fresh = _job()
    for broken in ({**state, "steps": 48}, {**state, "forecast": [1.0]},
                   {**state, "sessions": [{"pile": "000000000001"}]}, {}):  # fmt: skip
        assert not restore(fresh, broken, T0)
        assert fresh.sessions == []
    storage = backend.open()
    with pytest.raises(InvalidRecord):
        storage.save_charging("", T0, state)
    backend.raw(storage, "INSERT INTO charging_state VALUES (?, ?, ?)", ("x", T0, "{not json"))
    assert "x" not in storage.charging_states()
