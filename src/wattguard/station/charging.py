"""The station's orderly-charging job for one district: forecast, plan, re-plan, deliver.

Theory of operation. :meth:`DistrictCharging.begin` opens a horizon (one day of
``steps`` intervals from ``start``): it forecasts the district's base load from its history
(:func:`wattguard.analytics.forecast.day_ahead`) and plans the EV sessions under the
transformer's capacity (:mod:`wattguard.analytics.charging`, a linear program with HiGHS).
The plan is recomputed from the current interval on (:func:`~wattguard.analytics.charging.
replan`, with what each session has already received) when an EV plugs in or leaves, and when
the base load measured over an interval misses the forecast by more than ``miss_ratio``: the
forecast of the rest of the day is then shifted by the miss (the error persists). Each
interval :meth:`DistrictCharging.dispatch` sends every pile its limit (kW) through the
delivery callable of that pile (OCPP ``SetChargingProfile`` for a charge point, the protected
698 pile-limit command for a meter's pile; the job does not know which). A demand-response
request (:meth:`DistrictCharging.demand_response`) sheds X kW for a while by lowering pile
limits with the least curtailed comfort (:func:`~wattguard.analytics.tariff.select_curtailment`);
its result is measured afterwards from what the piles' meters reported (:meth:`observe`)
against what the plan would have had them draw (:func:`~wattguard.analytics.tariff.shed_report`).
A pile's draw comes from its readings (the pile energy its meter freezes in the 15-minute
curve, :mod:`wattguard.station.pile_readings`, or a charge point's OCPP meter values), never
from the limit it was sent: a reading that is not there is counted missing
(:attr:`DistrictCharging.missing_readings`, and per response), and a pile with a missing
reading in a response's window is left out of its measurement.
Sans-IO: times (``now``, POSIX seconds) and measurements are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from wattguard.analytics.charging import Plan, Session, replan
from wattguard.analytics.forecast import day_ahead
from wattguard.analytics.tariff import select_curtailment, shed_report

__all__ = ["Delivery", "DemandResponse", "DistrictCharging", "PileSpec", "Replan"]

#: Sends one pile its limit (pile name, kW): OCPP for a charge point, 698 for a meter's pile.
Delivery = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class PileSpec:
    """A pile of the district: its name, maximum (kW), what a kW curtailed costs its owner's
    comfort in a demand response, and the floor (kW) a demand response never goes below."""

    name: str
    max_kw: float
    comfort_per_kw: float = 1.0
    floor_kw: float = 0.0


@dataclass
class _Session:
    pile: str
    arrive: int
    depart: int
    energy_kwh: float
    max_kw: float
    delivered_kwh: float = 0.0


@dataclass(frozen=True, slots=True)
class Replan:
    """One (re)plan: from which interval, why, the energy it cannot deliver (kWh) and the peak
    (kW) it reaches with the forecast base load."""

    interval: int
    reason: str
    unmet_kwh: float
    peak_kw: float


@dataclass
class DemandResponse:
    """A request to shed ``asked_kw`` over intervals ``[first, last)``: the chosen piles'
    limits in its first interval (kW), the kW cut from each in every interval, the curtailed
    comfort, what the plan had the piles draw there (kWh per pile, and kW per interval for the
    chosen ones), and, once the window has passed, what each pile drew by its readings (None
    where one is missing), the kW shed measured from them, its share of the ask and how many
    pile readings of the window were missing."""

    asked_kw: float
    first: int
    last: int
    limits: dict[str, float]
    cut: dict[str, float]
    comfort: float
    baseline_kwh: dict[str, float]
    planned_kw: dict[str, list[float]]
    drawn_kwh: dict[str, float | None] = field(default_factory=dict)
    shed_kw: float | None = None
    share: float | None = None
    missing: int = 0
    measured: bool = False


class DistrictCharging:
    """Orderly charging of one district's piles (see the module's theory of operation)."""

    def __init__(
        self,
        district: str,
        capacity_kw: float,
        step_seconds: int,
        price: npt.ArrayLike,
        piles: Sequence[PileSpec],
        deliver: Mapping[str, Delivery],
        *,
        miss_ratio: float = 0.15,
    ) -> None:
        self.district = district
        self.capacity_kw = float(capacity_kw)
        self.step_seconds = int(step_seconds)
        self.price = np.asarray(price, dtype=np.float64)
        self.steps = self.price.size
        self.piles = {pile.name: pile for pile in piles}
        missing = set(self.piles) - set(deliver)
        if missing or self.steps == 0:
            raise ValueError(f"no delivery for piles {sorted(missing)} (or no price)")
        self.deliver = dict(deliver)
        self.miss_ratio = miss_ratio
        self.start = 0.0
        self.forecast = np.zeros(self.steps)
        self.actual = np.full(self.steps, np.nan)
        self.sessions: list[_Session] = []
        self.plan: Plan | None = None
        self.replans: list[Replan] = []
        self.delivered: list[tuple[int, str, float]] = []
        self.responses: list[DemandResponse] = []
        self.pile_kwh = np.full((len(self.piles), self.steps), np.nan)
        #: Pile readings the job was given as missing (a pile's interval without a value).
        self.missing_readings = 0
        #: Where the forecast's history came from (the runtime says: a supply meter's
        #: stored curve, or the configured profile), shown in :meth:`view`.
        self.history_source = "given"
        #: Where each pile's last limit stands (the pile-limit command's state and the
        #: meter's outcome), if the delivery tracks it: shown in :meth:`view`.
        self.delivery_status: Callable[[], dict[str, Any]] | None = None

    @property
    def step_hours(self) -> float:
        """The interval's length in hours."""
        return self.step_seconds / 3600.0

    def interval(self, now: float) -> int:
        """The interval of the horizon that holds ``now`` (clamped to the horizon)."""
        return min(max(int((now - self.start) // self.step_seconds), 0), self.steps - 1)

    def begin(self, start: float, history_kw: npt.ArrayLike) -> None:
        """Open the horizon at ``start``: forecast the base load from ``history_kw`` (kW per
        interval up to ``start``, NaN where missing) and plan the sessions still plugged in."""
        self.start = float(start)
        # day_ahead fits on one OpenMP thread (a busy two-core host stalls with more).
        self.forecast = np.maximum(day_ahead(history_kw, self.steps), 0.0)
        self.actual = np.full(self.steps, np.nan)
        self.pile_kwh = np.full((len(self.piles), self.steps), np.nan)
        self.sessions, self.plan, self.responses = [], None, []
        self._replan(0, "new horizon")

    def plug_in(self, pile: str, energy_kwh: float, depart: float, now: float) -> None:
        """An EV plugs in at ``pile`` wanting ``energy_kwh`` by ``depart`` (POSIX seconds):
        the plan is recomputed from now on."""
        spec = self.piles[pile]
        self.unplug(pile, now, replan_after=False)
        arrive = self.interval(now)
        last = min(self.steps, math.ceil((depart - self.start) / self.step_seconds))
        self.sessions.append(_Session(pile, arrive, max(arrive, last), energy_kwh, spec.max_kw))
        self._replan(arrive, f"EV plugged in at {pile}")

    def unplug(self, pile: str, now: float, *, replan_after: bool = True) -> None:
        """The EV at ``pile`` leaves: its session ends now."""
        t = self.interval(now)
        for session in self.sessions:
            if session.pile == pile and session.depart > t:
                session.depart = max(session.arrive, t)
                if replan_after:
                    self._replan(t, f"EV left {pile}")

    def observe(self, now: float, base_kw: float, pile_kw: Mapping[str, float]) -> None:
        """The interval that ended at ``now``: the district's base load (kW, the supply less
        the piles) and each pile's mean power (kW) from the meters' readings (other names are
        left out; a pile without a finite value is a missing reading, counted). A base load
        off the forecast by more than ``miss_ratio`` shifts the rest of the forecast and
        re-plans."""
        t = self.interval(now - self.step_seconds / 2)
        for row, pile in enumerate(self.piles):
            kw = pile_kw.get(pile, math.nan)
            if not math.isfinite(kw):
                self.missing_readings += 1  # no reading: it stays missing
                continue
            self.pile_kwh[row, t] = kw * self.step_hours
            for session in self.sessions:
                if session.pile == pile and session.arrive <= t < session.depart:
                    session.delivered_kwh += kw * self.step_hours
        if math.isfinite(base_kw):  # a missing base load stays missing, and misses nothing
            self.actual[t] = base_kw
            self._check_forecast(t, base_kw)
        self._measure_responses(t)

    def _check_forecast(self, t: int, base_kw: float) -> None:
        miss = base_kw - self.forecast[t]
        if abs(miss) > self.miss_ratio * max(abs(self.forecast[t]), 1.0) and t + 1 < self.steps:
            self.forecast[t + 1 :] = np.maximum(self.forecast[t + 1 :] + miss, 0.0)
            self._replan(t + 1, f"forecast missed by {miss:+.1f} kW")

    def limits(self, t: int) -> dict[str, float]:
        """Each pile's limit (kW) in interval ``t``: the plan's power for the session there
        (0 without one), within any demand response in force."""
        out = dict.fromkeys(self.piles, 0.0)
        if self.plan is not None:
            for row, session in enumerate(self.sessions):
                if session.arrive <= t < session.depart:
                    out[session.pile] = float(self.plan.power[row, t])
        for response in self.responses:
            if response.first <= t < response.last:
                for pile, cut in response.cut.items():
                    lowered = response.planned_kw[pile][t - response.first] - cut
                    out[pile] = min(out[pile], max(lowered, self.piles[pile].floor_kw))
        return out

    def dispatch(self, now: float) -> dict[str, float]:
        """Send every pile its limit for the interval holding ``now``; the limits sent."""
        t = self.interval(now)
        limits = self.limits(t)
        for pile, kw in limits.items():
            self.deliver[pile](pile, round(kw, 3))
            self.delivered.append((t, pile, round(kw, 3)))
        del self.delivered[:-10_000]
        return limits

    def demand_response(self, shed_kw: float, now: float, hours: float = 1.0) -> DemandResponse:
        """Shed ``shed_kw`` for ``hours`` from now: each chosen pile's limit goes ``cut`` kW
        below what the plan had it draw in each interval, the piles with the least curtailed
        comfort first (a pile offers what it would draw in every interval of the window above
        its floor). The limits go out at once (:meth:`dispatch`); the plan is recomputed when
        the window has passed, to make the energy up."""
        first = self.interval(now)
        last = min(self.steps, first + max(1, round(hours / self.step_hours)))
        names = list(self.piles)
        planned = np.array([[self.limits(t)[p] for t in range(first, last)] for p in names])
        floors = np.array([self.piles[p].floor_kw for p in names])
        comfort = [self.piles[p].comfort_per_kw for p in names]
        chosen = select_curtailment(shed_kw, planned.min(axis=1), floors, comfort)
        index = {p: i for i, p in enumerate(names)}
        cut = {p: float(chosen.cut[i]) for p, i in index.items() if chosen.cut[i] > 0}
        response = DemandResponse(
            asked_kw=float(shed_kw), first=first, last=last,
            limits={p: float(planned[index[p], 0] - kw) for p, kw in cut.items()},
            cut=cut, comfort=chosen.comfort,
            baseline_kwh={p: float(planned[i].sum() * self.step_hours) for p, i in index.items()},
            planned_kw={p: planned[index[p]].tolist() for p in cut},
        )  # fmt: skip
        self.responses.append(response)
        self.dispatch(now)
        return response

    def view(self) -> dict[str, Any]:
        """The job as the API shows it: forecast against actual, the plan against the
        capacity line, the sessions, the re-plans and the demand responses."""
        ev = self.plan.power.sum(axis=0) if self.plan is not None else np.zeros(self.steps)
        times = [self.start + t * self.step_seconds for t in range(self.steps)]
        drawn = self.pile_kwh.sum(axis=0) / self.step_hours  # NaN where a reading is missing
        return {
            "district": self.district, "capacity_kw": self.capacity_kw,
            "step_seconds": self.step_seconds, "times": times,
            "forecast_kw": _listed(self.forecast), "actual_kw": _listed(self.actual),
            "planned_ev_kw": _listed(ev), "drawn_ev_kw": _listed(drawn),
            "sessions": [_session_view(s) for s in self.sessions],
            "replans": [_record(r) for r in self.replans[-50:]],
            "demand_responses": [_record(r) for r in self.responses],
            "deliveries": self._deliveries(),
            "missing_readings": self.missing_readings, "history_source": self.history_source,
        }  # fmt: skip

    def _deliveries(self) -> dict[str, Any]:
        if self.delivery_status is None:
            return {}
        return {p: v for p, v in self.delivery_status().items() if p in self.piles}

    def _replan(self, t: int, reason: str) -> None:
        base = np.where(np.isnan(self.actual), self.forecast, self.actual)
        sessions = [Session(s.arrive, s.depart, s.energy_kwh, s.max_kw) for s in self.sessions]
        previous = np.zeros((len(sessions), self.steps))
        if self.plan is not None:
            previous[: self.plan.power.shape[0]] = self.plan.power
        done = [s.delivered_kwh for s in self.sessions]
        self.plan = replan(
            base, self.capacity_kw, self.price, sessions, self.step_hours, t, done, previous
        )  # fmt: skip
        unmet = float(self.plan.unmet.sum()) if self.plan.unmet.size else 0.0
        self.replans.append(Replan(t, reason, unmet, float(self.plan.peak)))

    def _measure_responses(self, t: int) -> None:
        names = list(self.piles)
        for response in self.responses:
            if not response.measured and t + 1 >= response.last:
                window = self.pile_kwh[:, response.first : response.last]
                drawn = window.sum(axis=1)  # NaN for a pile with a missing reading
                response.missing = int(np.isnan(window).sum())
                response.drawn_kwh = {
                    p: None if math.isnan(drawn[i]) else float(drawn[i])
                    for i, p in enumerate(names)
                }
                response.measured = True
                if not np.isnan(drawn).all():  # piles with every reading in are measured
                    hours = (response.last - response.first) * self.step_hours
                    baseline = [response.baseline_kwh[p] for p in names]
                    shed, share = shed_report(response.asked_kw, baseline, drawn, hours)
                    response.shed_kw, response.share = shed, share
                if t + 1 < self.steps:
                    self._replan(t + 1, "demand response ended")


def _record(record: Replan | DemandResponse) -> dict[str, Any]:
    """A record as a JSON-ready dict."""
    if isinstance(record, Replan):
        return {"interval": record.interval, "reason": record.reason,
                "unmet_kwh": record.unmet_kwh, "peak_kw": record.peak_kw}  # fmt: skip
    return dict(record.__dict__)


def _session_view(session: _Session) -> dict[str, Any]:
    return dict(session.__dict__)


def _listed(values: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else round(float(v), 3) for v in values]
