"""What an orderly-charging job needs across a station restart, as JSON for the storage.

Kept (``dump``): the horizon's start, the base-load forecast and what was measured (base
load, each pile's energy per interval, missing where no reading came, and how many were
missing), where the forecast's history came from, and the EV sessions with the energy each
received.
Not kept: the plan itself, recomputed on restore from the sessions by the same linear program
(:func:`~wattguard.analytics.charging.replan` from the current interval, with what each
session already received), so a restored job plans exactly as one that never stopped; the
re-plan log and the demand responses (a response in force when the station stopped is not
resumed: its window is an hour, and its measurement needs the plan it was cut from).
:func:`restore` puts a dump back into a job made from the same configuration; a dump of
another horizon length, or one that does not parse, changes nothing (the job starts afresh).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from wattguard.station.charging import DistrictCharging, _Session

__all__ = ["dump", "restore"]


def dump(job: DistrictCharging) -> dict[str, Any]:
    """The job's state as a JSON-ready dict (NaN as None)."""
    return {
        "start": job.start,
        "steps": job.steps,
        "step_seconds": job.step_seconds,
        "forecast": _listed(job.forecast),
        "actual": _listed(job.actual),
        "piles": list(job.piles),
        "pile_kwh": [_listed(row) for row in job.pile_kwh],
        "missing_readings": job.missing_readings,
        "history_source": job.history_source,
        "sessions": [_session(s) for s in job.sessions],
    }


def _session(s: _Session) -> dict[str, Any]:
    return {"pile": s.pile, "arrive": s.arrive, "depart": s.depart,
            "energy_kwh": s.energy_kwh, "max_kw": s.max_kw,
            "delivered_kwh": s.delivered_kwh}  # fmt: skip


def restore(job: DistrictCharging, state: dict[str, Any], now: float) -> bool:
    """Put ``state`` (from :func:`dump`) back into ``job`` and re-plan from the interval of
    ``now``; whether it was restored (False: it did not fit this job, nothing changed)."""
    try:
        if int(state["steps"]) != job.steps or int(state["step_seconds"]) != job.step_seconds:
            return False
        start = float(state["start"])
        forecast = _array(state["forecast"], job.steps)
        actual = _array(state["actual"], job.steps)
        rows = dict(zip(state["piles"], state["pile_kwh"], strict=True))
        pile_kwh = np.array([_array(rows.get(p, [None] * job.steps), job.steps) for p in job.piles])
        missing = int(state.get("missing_readings", 0))
        sessions = [
            _Session(str(s["pile"]), int(s["arrive"]), int(s["depart"]), float(s["energy_kwh"]),
                     float(s["max_kw"]), float(s["delivered_kwh"]))
            for s in state["sessions"] if s["pile"] in job.piles
        ]  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return False
    if not math.isfinite(start) or any(not 0 <= s.arrive <= s.depart <= job.steps
                                       for s in sessions):  # fmt: skip
        return False
    job.start, job.forecast, job.actual = start, forecast, actual
    job.pile_kwh, job.missing_readings = pile_kwh, missing
    job.history_source = str(state.get("history_source", job.history_source))
    job.sessions, job.plan, job.responses = sessions, None, []
    job._replan(job.interval(now), "restored after a restart")
    return True


def _listed(values: Any) -> list[float | None]:
    return [None if math.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def _array(values: Any, size: int) -> np.ndarray:
    array = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    if array.size != size or np.isinf(array).any():
        raise ValueError("a saved series of another length, or infinite")
    return array
