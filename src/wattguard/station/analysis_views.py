"""The analytics results as the API, dashboard and ``wattguard analyse`` report show them:
plain dicts of JSON values (None where a figure is unknown), computed from the stored results
(:mod:`wattguard.station.analysis_store`) and the job's states, never from raw history."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from wattguard.station.analysis import (
    CURVE_NET,
    DAY,
    DISTRICT_CLASS,
    STEP,
    STEPS,
    AnalysisJob,
    DistrictState,
)
from wattguard.station.analysis_store import DayRow

__all__ = ["district_view", "fleet_view", "load_curve", "meter_view"]


def _numbers(values: Any) -> list[float | None]:
    return [None if v != v else round(float(v), 6) for v in np.asarray(values, dtype=float)]


def _district_state(job: AnalysisJob, district: str) -> tuple[list[str], DistrictState] | None:
    stored = job.store.progress(district)
    customers = job.districts().get(district, (None, []))[1]
    if stored is None or not customers:
        return None
    return customers, DistrictState.decode(stored[1], customers)


def meter_view(job: AnalysisJob, meter: str) -> dict[str, Any] | None:
    """A meter's figures: daily energy (with its source and missing intervals), time-of-use
    split and which table split it (the meter's own or the station's default), monthly energy
    with the change against the month before, the last 7 and 30 days against the periods
    before, maximum demand and when, load factor, base load, typical weekday and weekend day
    (24 hourly values, kWh per hour), cluster, anomaly score, estimated error; None if the
    job has not taken it in."""
    days = job.store.days(meter)
    result = next((r for r in job.store.results() if r.meter == meter), None)
    if not days or result is None:
        return None
    present = [d for d in days if d.energy is not None]
    peak = max((d for d in days if d.peak is not None), key=lambda d: d.peak or 0.0, default=None)
    nights = [d.night for d in days if d.night is not None]
    intervals = sum(STEPS - d.missing for d in days)
    curve_energy = sum(
        (d.tou_peak or 0.0) + (d.tou_flat or 0.0) + (d.tou_valley or 0.0) for d in days
    )
    mean = curve_energy / intervals if intervals else None
    typical: dict[str, list[float | None]] = {"weekday": [], "weekend": []}
    found = _district_state(job, result.district)
    if found is not None and meter in found[0]:
        row = found[0].index(meter)
        state = found[1]
        for kind, name in ((0, "weekday"), (1, "weekend")):
            sums = state.sums[kind, row].reshape(24, -1).sum(axis=1)
            counts = state.counts[kind, row].reshape(24, -1)
            with np.errstate(invalid="ignore", divide="ignore"):
                hourly = np.where(counts.min(axis=1) > 0, sums / counts.mean(axis=1) * 4, np.nan)
            typical[name] = _numbers(hourly)
    return {
        "meter": meter,
        "district": result.district,
        "days": [
            {
                "day": d.day,
                "energy": d.energy,
                "source": d.source,
                "missing": d.missing,
                "score": d.score,
            }
            for d in days
        ],
        "energy": sum(d.energy for d in present if d.energy is not None),
        "missing_intervals": sum(d.missing for d in days),
        "time_of_use": {
            "peak": sum(d.tou_peak or 0.0 for d in days),
            "flat": sum(d.tou_flat or 0.0 for d in days),
            "valley": sum(d.tou_valley or 0.0 for d in days),
        },
        "maximum_demand": None
        if peak is None or peak.peak is None
        else {"kw": peak.peak * 4, "time": peak.day + (peak.peak_step or 0) * STEP},
        "load_factor": None if peak is None or not mean or not peak.peak else mean / peak.peak,
        "base_load_kw": None if not nights else float(np.median(nights)) * 4,
        "typical_day_kwh_per_hour": typical,
        "time_of_use_table": _tariff_used(days),
        "monthly": _monthly(days),
        "change": {f"last_{n}_days": _change([d.energy for d in days], n) for n in (7, 30)},
        "cluster": result.cluster,
        "cluster_name": result.cluster_name,
        "anomaly_score": result.score,
        "estimated_error": result.error,
    }


def _tariff_used(days: list[DayRow]) -> dict[str, Any]:
    """Which time-of-use table split the days: the meter's own, the station's default."""
    own = sum(1 for d in days if d.tariff == "meter")
    table = "meter's own" if own == len(days) else "station default" if not own else "mixed"
    return {"table": table, "days_by_own_table": own, "days_by_default": len(days) - own}


def _monthly(days: list[DayRow]) -> list[dict[str, Any]]:
    """Energy per calendar month (UTC) of the present days, how many days it has and lacks,
    and its change against the month before (None for the first, or a month before of 0)."""
    months: dict[str, list[float | None]] = {}
    for d in days:
        when = dt.datetime.fromtimestamp(d.day, dt.UTC)
        months.setdefault(f"{when.year:04d}-{when.month:02d}", []).append(d.energy)
    out: list[dict[str, Any]] = []
    for month, energies in months.items():
        present = [e for e in energies if e is not None]
        energy = float(sum(present))
        before = out[-1]["energy"] if out else None
        out.append(
            {
                "month": month,
                "energy": energy,
                "days": len(present),
                "days_missing": len(energies) - len(present),
                "change": None if not before else energy / before - 1.0,
            }
        )
    return out


def _change(energies: list[float | None], n: int) -> float | None:
    """The last ``n`` days' energy against the ``n`` before (0.1 = 10 % more); None without
    2n days or with a missing day in either period, or an earlier period of 0."""
    if len(energies) < 2 * n:
        return None
    window = energies[-2 * n :]
    if any(e is None for e in window):
        return None
    values = [float(e) for e in window if e is not None]
    previous, current = sum(values[:n]), sum(values[n:])
    return None if previous == 0 else current / previous - 1.0


def load_curve(job: AnalysisJob, meter: str, day: int) -> dict[str, Any]:
    """A meter's 15-minute load curve of the UTC day starting at ``day`` (kWh per interval,
    None where an interval is missing)."""
    start = day // DAY * DAY
    cumulative = job.store.net_grid([meter], CURVE_NET, start, STEP, STEPS + 1)
    return {
        "meter": meter,
        "day": start,
        "step": STEP,
        "energy": _numbers(np.diff(cumulative, axis=1)[0]),
    }


def district_view(job: AnalysisJob, district: str) -> dict[str, Any] | None:
    """A district's line loss per day and its meters ranked from the most suspect (size of
    the estimated error, then anomaly score); None if the job has not taken it in."""
    results = job.store.results(district)
    if not results:
        return None
    ranked = sorted(
        results, key=lambda r: (-abs(r.error) if r.error is not None else 0.0, -(r.score or 0.0))
    )
    supply = job.districts().get(district, (None, []))[0]
    return {
        "district": district,
        "supply_meter": supply,
        "supply_class": DISTRICT_CLASS if supply else None,
        "loss": [
            {
                "day": row.day,
                "supplied": row.supplied,
                "loss": row.loss,
                "rate": row.rate,
                "intervals": row.intervals,
                "feeders": row.feeders,
            }
            for row in job.store.losses(district)
        ],
        "suspects": [
            {
                "meter": r.meter,
                "estimated_error": r.error,
                "anomaly_score": r.score,
                "cluster_name": r.cluster_name,
            }
            for r in ranked
        ],
    }


def fleet_view(job: AnalysisJob, n: int = 10) -> dict[str, Any]:
    """The fleet: districts with their latest loss rate, the top ``n`` meters by anomaly
    score, by size of estimated error and by energy on the latest day, and the clusters."""
    results = job.store.results()
    latest: dict[str, Any] = {}
    for row in job.store.losses():
        latest[row.district] = {"day": row.day, "rate": row.rate, "loss": row.loss}
    energy: list[tuple[float, str]] = []
    for r in results:
        days = job.store.days(r.meter, start=r.day)
        if days and days[-1].energy is not None:
            energy.append((days[-1].energy, r.meter))
    clusters: dict[str, int] = {}
    for r in results:
        if r.cluster_name is not None:
            clusters[r.cluster_name] = clusters.get(r.cluster_name, 0) + 1
    scored = sorted((r for r in results if r.score is not None), key=lambda r: -(r.score or 0))
    errors = sorted((r for r in results if r.error is not None), key=lambda r: -abs(r.error or 0))
    return {
        "districts": [{"district": d, **latest.get(d, {})} for d in job.store.districts()],
        "top_score": [{"meter": r.meter, "anomaly_score": r.score} for r in scored[:n]],
        "top_error": [{"meter": r.meter, "estimated_error": r.error} for r in errors[:n]],
        "top_energy": [{"meter": m, "energy": e} for e, m in sorted(energy, reverse=True)[:n]],
        "clusters": clusters,
    }
