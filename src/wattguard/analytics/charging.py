"""Orderly EV charging behind a district transformer: a linear program solved with HiGHS.

Theory of operation. Variables are the power ``p[i, t]`` (kW) of session ``i`` in each interval
``t`` of its window ``[arrive, depart)``, bounded by ``[0, max_kw]``, and each session's unmet
energy ``u[i] >= 0`` (kWh). Every interval keeps ``sum_i p[i, t] <= capacity - base[t]`` (the
transformer never exceeds its capacity with the base load; where the base load alone exceeds it
the headroom is 0), and every session ``sum_t p[i, t] * step_hours + u[i] = energy[i]``. The
objective is lexicographic, in three solves of one LP (no weights whose dominance would need a
proof): first the least total unmet energy, then, holding it, the least energy cost
``sum price[t] * p[i, t] * step_hours``, then, holding that cost, the least peak ``P >= base[t]
+ sum_i p[i, t]``. The held optimum is relaxed by a relative :data:`TOLERANCE` (HiGHS's own
feasibility tolerance is also 1e-7). :func:`plan` returns the :class:`Plan`; :func:`schedule` the
array, raising :class:`ChargingInfeasible` (which sessions, by how much, and the best plan)
when some energy cannot be delivered. :func:`replan` re-plans from the current interval with
what was already delivered. :func:`uncontrolled` and :func:`valley_first` are the baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linprog

from wattguard.analytics._arrays import AnalysisInputError, FloatArray, as_series
from wattguard.errors import WattguardError

__all__ = [
    "ChargingInfeasible",
    "Plan",
    "Session",
    "plan",
    "replan",
    "schedule",
    "uncontrolled",
    "valley_first",
]

#: Relative slack on an optimum held in the next stage of the lexicographic solve.
TOLERANCE = 1e-7
#: Energy below this (kWh) counts as delivered.
UNMET_KWH = 1e-4


class SessionLike(Protocol):
    """What a session offers: interval indices (``depart`` exclusive), energy and pile power."""

    @property
    def arrive(self) -> int: ...
    @property
    def depart(self) -> int: ...
    @property
    def energy_kwh(self) -> float: ...
    @property
    def max_kw(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Session:
    """One EV plugged in from interval ``arrive`` to ``depart`` (exclusive), wanting
    ``energy_kwh`` through a pile of at most ``max_kw``."""

    arrive: int
    depart: int
    energy_kwh: float
    max_kw: float


@dataclass(frozen=True)
class Plan:
    """A solved schedule: ``power`` (sessions, steps) kW, each session's ``unmet`` kWh, the
    energy ``cost``, the ``peak`` kW with the base load, and ``cost_bound``: the cost LP's
    dual objective, a lower bound on any schedule's cost that delivers as much."""

    power: FloatArray
    unmet: FloatArray
    cost: float
    peak: float
    cost_bound: float

    def unmet_sessions(self) -> dict[int, float]:
        """{session index: kWh short} for every session not fully charged by departure."""
        return {int(i): float(self.unmet[i]) for i in np.flatnonzero(self.unmet > UNMET_KWH)}


class ChargingInfeasible(WattguardError):
    """Some sessions cannot be charged by departure within the capacity: ``unmet`` maps each
    one's index to the kWh short, ``plan`` is the schedule that delivers the most."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.unmet = plan.unmet_sessions()
        listed = ", ".join(f"{i}: {kwh:.3f} kWh" for i, kwh in self.unmet.items())
        super().__init__(f"{len(self.unmet)} sessions cannot be charged by departure ({listed})")


def _check(
    base_kw: npt.ArrayLike, price: npt.ArrayLike, sessions: Sequence[SessionLike], step_hours: float
) -> tuple[FloatArray, FloatArray]:
    base = np.asarray(base_kw, dtype=np.float64)
    if base.ndim != 1 or np.isnan(base).any():
        raise AnalysisInputError("base_kw must be a 1-D array of present values")
    prices = as_series(price, base.size, "price")
    if np.isnan(prices).any() or not step_hours > 0:
        raise AnalysisInputError("price must be present everywhere and step_hours positive")
    for i, s in enumerate(sessions):
        if not (0 <= s.arrive <= s.depart <= base.size) or s.energy_kwh < 0 or s.max_kw < 0:
            raise AnalysisInputError(f"session {i} is not a window of the horizon with energy")
    return base, prices


def plan(
    base_kw: npt.ArrayLike,
    capacity_kw: float,
    price: npt.ArrayLike,
    sessions: Sequence[SessionLike],
    step_hours: float,
    *,
    method: str = "highs",
) -> Plan:
    """Solve the schedule (see the module's theory of operation); never raises for shortfall."""
    base, prices = _check(base_kw, price, sessions, step_hours)
    steps, count = base.size, len(sessions)
    rows = np.concatenate([np.full(s.depart - s.arrive, i) for i, s in enumerate(sessions)] + [[]])
    cols = np.concatenate([np.arange(s.arrive, s.depart) for s in sessions] + [[]])
    rows, cols = rows.astype(np.intp), cols.astype(np.intp)
    caps = np.concatenate([np.full(s.depart - s.arrive, s.max_kw) for s in sessions] + [[]])
    nv = rows.size
    # variable order: p (nv), u (count), P (1)
    energy = np.array([s.energy_kwh for s in sessions], dtype=np.float64)
    a_eq = sparse.hstack(
        [
            sparse.csr_array((np.full(nv, step_hours), (rows, np.arange(nv))), (count, nv)),
            sparse.eye_array(count),
            sparse.csr_array((count, 1)),
        ]
    ).tocsr()
    load = sparse.csr_array((np.ones(nv), (cols, np.arange(nv))), (steps, nv))
    headroom = np.maximum(capacity_kw - base, 0.0)
    a_cap = sparse.hstack([load, sparse.csr_array((steps, count + 1))])
    a_peak = sparse.hstack([load, sparse.csr_array((steps, count)), -np.ones((steps, 1))])
    bounds = np.column_stack(
        [np.zeros(nv + count + 1), np.concatenate([caps, np.full(count + 1, np.inf)])]
    )
    cost_row = np.concatenate([prices[cols] * step_hours, np.zeros(count + 1)])
    unmet_row = np.concatenate([np.zeros(nv), np.ones(count), [0.0]])
    peak_row = np.zeros(nv + count + 1)
    peak_row[-1] = 1.0

    def solve(c: FloatArray, extra: list[tuple[FloatArray, float]]) -> Any:
        a_ub = sparse.vstack([a_cap, *[sparse.csr_array(r[None, :]) for r, _ in extra]])
        b_ub = np.concatenate([headroom, [b for _, b in extra]])
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=energy, bounds=bounds, method=method)
        if res.status != 0:
            raise AnalysisInputError(f"the charging LP did not solve: {res.message}")
        return res

    first = solve(unmet_row, [])
    least_unmet = float(first.fun)
    held = [(unmet_row, least_unmet + TOLERANCE * (1.0 + least_unmet))]
    second = solve(cost_row, held)
    cost = float(second.fun)
    bound = _dual_objective(
        second, np.concatenate([headroom, [h for _, h in held]]), energy, bounds
    )
    held.append((cost_row, cost + TOLERANCE * (1.0 + abs(cost))))
    c3 = peak_row
    a_ub = sparse.vstack([a_cap, a_peak, *[sparse.csr_array(r[None, :]) for r, _ in held]])
    b_ub = np.concatenate([headroom, -base, [b for _, b in held]])
    third = linprog(c3, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=energy, bounds=bounds, method=method)
    if third.status != 0:
        raise AnalysisInputError(f"the charging LP did not solve: {third.message}")
    x = np.asarray(third.x)
    power = np.zeros((count, steps))
    power[rows, cols] = np.clip(x[:nv], 0.0, caps)
    unmet = np.maximum(energy - power.sum(axis=1) * step_hours, 0.0)
    return Plan(
        power=power,
        unmet=unmet,
        cost=float(power.sum(axis=0) @ prices * step_hours),
        peak=float((base + power.sum(axis=0)).max(initial=0.0)),
        cost_bound=bound,
    )


def _dual_objective(res: Any, b_ub: FloatArray, b_eq: FloatArray, bounds: FloatArray) -> float:
    """The dual objective of a solved linprog: b_ub.y_ub + b_eq.y_eq + bounds' terms."""
    marg_ub = np.asarray(res.ineqlin.marginals)
    marg_eq = np.asarray(res.eqlin.marginals)
    lower = np.asarray(res.lower.marginals)
    upper = np.asarray(res.upper.marginals)
    finite = np.isfinite(bounds[:, 1])
    return float(
        b_ub @ marg_ub + b_eq @ marg_eq + bounds[:, 0] @ lower + bounds[finite, 1] @ upper[finite]
    )


def schedule(
    base_kw: npt.ArrayLike,
    capacity_kw: float,
    price: npt.ArrayLike,
    sessions: Sequence[SessionLike],
    step_hours: float,
) -> FloatArray:
    """(sessions, steps) kW: the least-cost, then least-peak schedule that delivers every
    session's energy by departure; :class:`ChargingInfeasible` says which cannot be."""
    result = plan(base_kw, capacity_kw, price, sessions, step_hours)
    if result.unmet_sessions():
        raise ChargingInfeasible(result)
    return result.power


def replan(
    base_kw: npt.ArrayLike,
    capacity_kw: float,
    price: npt.ArrayLike,
    sessions: Sequence[SessionLike],
    step_hours: float,
    now: int,
    delivered_kwh: npt.ArrayLike,
    previous: npt.ArrayLike | None = None,
) -> Plan:
    """Re-plan from interval ``now`` on (a forecast missed, an EV plugged in): each session
    still needs its energy less ``delivered_kwh``; intervals before ``now`` keep ``previous``
    (or zero). ``base_kw`` and ``price`` cover the whole horizon, the new forecast from ``now``."""
    base = np.asarray(base_kw, dtype=np.float64)
    done = as_series(delivered_kwh, len(sessions), "delivered_kwh")
    if not 0 <= now <= base.size:
        raise AnalysisInputError(f"now must be an interval of the horizon, not {now}")
    rest = [
        Session(
            arrive=min(max(s.arrive, now), s.depart) - now if s.depart > now else 0,
            depart=max(s.depart - now, 0),
            energy_kwh=max(s.energy_kwh - float(d), 0.0) if s.depart > now else 0.0,
            max_kw=s.max_kw,
        )
        for s, d in zip(sessions, done, strict=True)
    ]
    ahead = plan(base[now:], capacity_kw, np.asarray(price)[now:], rest, step_hours)
    power = np.zeros((len(sessions), base.size))
    if previous is not None:
        power[:, :now] = np.asarray(previous, dtype=np.float64)[:, :now]
    power[:, now:] = ahead.power
    return Plan(power, ahead.unmet, ahead.cost, ahead.peak, ahead.cost_bound)


def uncontrolled(
    base_kw: npt.ArrayLike, sessions: Sequence[SessionLike], step_hours: float
) -> FloatArray:
    """(sessions, steps) kW: each EV at its pile's full power from arrival until charged."""
    steps = np.asarray(base_kw).size
    power = np.zeros((len(sessions), steps))
    for i, s in enumerate(sessions):
        left = s.energy_kwh
        for t in range(s.arrive, s.depart):
            if left <= 0 or s.max_kw <= 0:
                break
            power[i, t] = min(s.max_kw, left / step_hours)
            left -= power[i, t] * step_hours
    return power


def valley_first(
    base_kw: npt.ArrayLike,
    capacity_kw: float,
    price: npt.ArrayLike,
    sessions: Sequence[SessionLike],
    step_hours: float,
) -> FloatArray:
    """(sessions, steps) kW by a greedy rule: earliest departure first, each EV fills its
    cheapest intervals (the least loaded among equal prices) up to the headroom left."""
    base, prices = _check(base_kw, price, sessions, step_hours)
    load = base.copy()
    power = np.zeros((len(sessions), base.size))
    for i in sorted(range(len(sessions)), key=lambda k: sessions[k].depart):
        s = sessions[i]
        window = np.arange(s.arrive, s.depart)
        left = s.energy_kwh
        for t in window[np.lexsort((load[window], prices[window]))]:
            if left <= UNMET_KWH:
                break
            take = min(s.max_kw, max(capacity_kw - load[t], 0.0), left / step_hours)
            power[i, t] = take
            load[t] += take
            left -= take * step_hours
    return power
