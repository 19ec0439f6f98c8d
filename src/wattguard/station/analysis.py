"""The station's analytics job: the analyses of :mod:`wattguard.analytics` run day by day on
the stored curves, their results stored, abnormal findings raised as alerts.

Theory of operation. A district is a terminal's meters; the meter registered with the class
``"district"`` (:data:`DISTRICT_CLASS`) is its supply meter (the transformer's total meter of
:mod:`wattguard.station.balance`), the others its customers. A day is a UTC day; it is
*complete* once the station's clock is ``grace`` seconds past its end (the terminals' curve
reads catch up within that), and :meth:`AnalysisJob.run` takes in, district by district, every
complete day after the last one taken in:

1. one bulk read per district and quantity (:class:`~wattguard.station.analysis_store.
   AnalysisStore`): the cumulative energy of the 15-minute curve (``50020200/00100201``
   forward, minus ``50020200/00200201`` reverse where the terminal collects it) at the 97
   quarter hours bounding the day, differenced into 96 intervals (NaN where either end is
   missing: counted, never filled), and the day freezes (``50040200/...``, the same two) at
   both midnights, which give the day's energy where both are present;
2. the day's figures per meter (energy, missing intervals, maximum demand and its interval,
   night minimum, time-of-use split by :data:`TARIFF_OF_STEP`) and its anomaly score
   (:class:`~wattguard.analytics.anomaly.AnomalyState`, peers = the district);
3. with a supply meter, the day's line loss, judged against the district's previous days
   (:class:`~wattguard.analytics.lineloss.LossMonitor`), and each customer meter's error
   estimated from the balance over the last :data:`ERROR_WINDOW` days (a window: the fit is
   not incremental, its cost is bounded by the window), told each customer's feeder from the
   network records, or else inferred from the customers' voltage curves
   (:data:`CURVE_VOLTAGE`) over the same window; the day's loss row says which;
4. everything of the day stored in one transaction with the district's new state (the
   incremental states' arrays), so a crash repeats a day whole or not at all, and a restarted
   job goes on from the stored state instead of recomputing history.

After the districts, the fleet's typical days are clustered (named clusters, k by silhouette).

Alerts. An abnormal line-loss day opens (or adds to) an alert ``analysis: abnormal line loss``
on ``district <terminal>`` with its evidence: the rate, the district's usual rate and spread,
the energy, and the most suspect meters of the balance fit. A meter whose anomaly score (the
mean of its last 7 day scores) reaches the district's threshold opens ``analysis: anomaly
score`` on ``meter <address>``. The threshold is calibrated on the district's own history: the
score that :data:`ALERT_FPR` (1 %) of its meter-days of the last :data:`HISTORY` days exceeded
(so an alert means what it says: on history taken as honest, that share of meter-days would
have alerted), never under :data:`MIN_ALERT_SCORE`; :data:`ALERT_SCORE` until there are 100
scores. A meter's scores count from its :data:`WARMUP` th day on: the first scored days are
noisier and would set the threshold too high. The evidence names the score, the threshold and
how it was set, the parts of the day's score (less energy, shape, roughness, spread, zeros)
and the balance's estimated error. They are operational findings, not security events: they
go to the alerts table directly (the monitor's rules never see them) and close on the first
normal day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattguard.analytics import consumption
from wattguard.analytics.anomaly import FEATURE_NAMES, AnomalyState, calibrate_threshold
from wattguard.analytics.clustering import K_RANGE, cluster_shapes, shapes
from wattguard.analytics.lineloss import (
    AbnormalLoss,
    LossMonitor,
    daily_loss,
    estimate_meter_errors,
    rank_meters,
)
from wattguard.analytics.topology import infer_topology
from wattguard.station.analysis_store import (
    AnalysisStore,
    DayRow,
    LossRow,
    MeterResult,
    decode_arrays,
    encode_arrays,
)
from wattguard.station.balance import CURVE_ENERGY
from wattguard.station.storage import Storage

__all__ = [
    "ALERT_SCORE",
    "CURVE_NET",
    "CURVE_VOLTAGE",
    "DAY_ENERGY",
    "DAY_NET",
    "DISTRICT_CLASS",
    "TARIFF_OF_STEP",
    "AnalysisJob",
    "DistrictState",
]

log = logging.getLogger(__name__)

DAY = 86400
STEP = 900
STEPS = DAY // STEP
#: The class of a district's supply meter in the station's meter records.
DISTRICT_CLASS = "district"
#: Total forward active energy in the day freeze (kWh at midnight).
DAY_ENERGY = "50040200/00100201"
#: Total reverse active energy (export) in the 15-minute curve and the day freeze.
CURVE_REVERSE = "50020200/00200201"
DAY_REVERSE = "50040200/00200201"
#: Phase A voltage in the 15-minute curve (V): the customers' voltages, from which the job
#: infers a district's feeders when none are on record.
CURVE_VOLTAGE = "50020200/20000201"
#: The energy the analyses see: forward minus reverse (a PV customer's export is negative,
#: and a district's supply meter measures the area's net draw).
CURVE_NET = (CURVE_ENERGY, CURVE_REVERSE)
DAY_NET = (DAY_ENERGY, DAY_REVERSE)
#: The station's time-of-use table by 15-minute interval: 0 peak (08:00-11:00, 18:00-22:00),
#: 1 flat, 2 valley (23:00-07:00). The default: a meter whose own table the station knows
#: (AnalysisStore.set_tariff) is split by that one, and each day says which.
TARIFF_OF_STEP = np.ones(STEPS, dtype=np.intp)
TARIFF_OF_STEP[8 * 4 : 11 * 4] = 0
TARIFF_OF_STEP[18 * 4 : 22 * 4] = 0
TARIFF_OF_STEP[23 * 4 :] = 2
TARIFF_OF_STEP[: 7 * 4] = 2
#: A meter's anomaly score (mean of its last RECENT day scores) that raises an alert while the
#: district's history is too short to calibrate on.
ALERT_SCORE = 12.0
#: Once calibrated: the share of the district's own meter-days of the last HISTORY days that
#: would have raised an alert (the stated false-positive rate on honest history), and the
#: lowest threshold it may give (a very regular district must not alert on noise).
ALERT_FPR = 0.01
MIN_ALERT_SCORE = 4.0
HISTORY = 56
#: Days a meter has been taken in before its scores count in the calibration history.
WARMUP = 14
RECENT = 7
#: Days of curves the balance fit (meter errors) looks back over; the fewest it needs.
ERROR_WINDOW = 28
ERROR_MIN_DAYS = 7
LOSS_RULE = "analysis: abnormal line loss"
SCORE_RULE = "analysis: anomaly score"


@dataclass
class DistrictState:
    """What the job keeps of a district between days: its meters, the day last taken in, the
    typical-day sums (weekday, weekend), the anomaly history, the recent day scores, the
    daily loss rates, and the last ERROR_WINDOW days of curves (customers, then the supply;
    float32) that the balance fit looks back over, so no day is read twice."""

    meters: list[str]
    day: int
    sums: npt.NDArray[np.float64]  # (2, meters, STEPS)
    counts: npt.NDArray[np.int64]  # (2, meters, STEPS)
    anomaly: AnomalyState
    recent: npt.NDArray[np.float64]  # (meters, RECENT), NaN where none
    rates: npt.NDArray[np.float64]  # (days,)
    window: npt.NDArray[np.float32]  # (meters + 1, up to ERROR_WINDOW * STEPS)
    history: npt.NDArray[np.float64]  # (meters, up to HISTORY): past anomaly scores

    @classmethod
    def empty(cls, meters: Sequence[str], day: int) -> DistrictState:
        m = len(meters)
        return cls(
            list(meters), day, np.zeros((2, m, STEPS)), np.zeros((2, m, STEPS), np.int64),
            AnomalyState(m, STEPS), np.full((m, RECENT), np.nan), np.zeros(0),
            np.zeros((m + 1, 0), np.float32), np.zeros((m, 0)),
        )  # fmt: skip

    def encode(self) -> str:
        a = self.anomaly
        return encode_arrays(
            {
                "meters": np.array(self.meters), "day": np.array(self.day), "sums": self.sums,
                "counts": self.counts, "a_days": a.days, "a_sums": a.sums,
                "a_squares": a.squares, "a_curve_sums": a.curve_sums,
                "a_curve_counts": a.curve_counts, "recent": self.recent, "rates": self.rates,
                "window": self.window, "history": self.history,
            }
        )  # fmt: skip

    @classmethod
    def decode(cls, text: str, meters: Sequence[str]) -> DistrictState:
        """The stored state, its rows re-ordered for ``meters`` (a new meter starts empty, a
        meter no longer in the district is dropped)."""
        data = decode_arrays(text)
        state = cls.empty(meters, int(data["day"]))
        old = {str(m): i for i, m in enumerate(data["meters"])}
        pairs = [(i, old[m]) for i, m in enumerate(meters) if m in old]
        new = np.array([p[0] for p in pairs], dtype=np.intp)
        was = np.array([p[1] for p in pairs], dtype=np.intp)
        state.sums[:, new] = data["sums"][:, was]
        state.counts[:, new] = data["counts"][:, was]
        a = state.anomaly
        a.days[new] = data["a_days"][was]
        a.sums[new] = data["a_sums"][was]
        a.squares[new] = data["a_squares"][was]
        a.curve_sums[new] = data["a_curve_sums"][was]
        a.curve_counts[new] = data["a_curve_counts"][was]
        state.recent[new] = data["recent"][was]
        state.rates = data["rates"].astype(np.float64)
        old_window = data["window"]
        state.window = np.full((len(meters) + 1, old_window.shape[1]), np.nan, np.float32)
        state.window[new] = old_window[was]
        state.window[-1] = old_window[-1]
        if "history" in data:  # a state stored before the threshold was calibrated has none
            state.history = np.full((len(meters), data["history"].shape[1]), np.nan)
            state.history[new] = data["history"][was]
        return state

    def remember(self, score: npt.NDArray[np.float64]) -> None:
        """Add today's meter scores to the calibration history. A meter's first scored days
        are noisier (its own spread is still being learnt) and would set the threshold too
        high, so its scores count from its WARMUP th day."""
        kept = np.where(self.anomaly.days >= WARMUP, score, np.nan)
        self.history = np.concatenate([self.history, kept[:, None]], axis=1)[:, -HISTORY:]

    def threshold(self) -> float:
        """The anomaly score that raises an alert: calibrated on the district's own history
        (ALERT_FPR of its meter-days above it, at least MIN_ALERT_SCORE), ALERT_SCORE until
        that history is long enough."""
        calibrated = calibrate_threshold(self.history, ALERT_FPR)
        return ALERT_SCORE if np.isnan(calibrated) else max(calibrated, MIN_ALERT_SCORE)

    def typical(self) -> npt.NDArray[np.float64]:
        """(meters, STEPS) mean day over every day taken in (NaN for an interval never seen)."""
        counts = self.counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, self.sums.sum(axis=0) / counts, np.nan)

    def score(self) -> npt.NDArray[np.float64]:
        """Each meter's anomaly score: the mean of its recent day scores (NaN if none)."""
        present = ~np.isnan(self.recent)
        total = np.where(present, self.recent, 0.0).sum(axis=1)
        n = present.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _time_of_use(
    curves: npt.NDArray[np.float64], tables: Sequence[npt.NDArray[np.intp] | None]
) -> npt.NDArray[np.float64]:
    """(meters, 3) a day's energy in peak, flat and valley, each meter by its own table (its
    entry of ``tables``) or, where None, the station's TARIFF_OF_STEP."""
    table = np.stack([TARIFF_OF_STEP if t is None else t for t in tables])
    return np.stack(
        [np.nansum(np.where(table == k, curves, 0.0), axis=1) for k in range(3)], axis=1
    )


@dataclass(frozen=True, slots=True)
class _Evidence:
    """A district day's anomaly findings: each meter's score, the threshold, the day's score
    by part (FEATURE_NAMES) and the balance's estimated errors."""

    score: npt.NDArray[np.float64]
    threshold: float
    parts: npt.NDArray[np.floating]
    errors: npt.NDArray[np.float64] | None

    def of(self, i: int) -> str | None:
        """Meter ``i``'s alert evidence, or None if its score is under the threshold."""
        if np.isnan(self.score[i]) or self.score[i] < self.threshold:
            return None
        how = (
            f"calibrated: {ALERT_FPR:.0%} of the district's last {HISTORY} days' meter scores"
            " above it"
            if self.threshold != ALERT_SCORE
            else "default: history too short to calibrate"
        )
        parts = ", ".join(
            f"{name} {value:.1f}"
            for name, value in zip(FEATURE_NAMES, self.parts[i], strict=True)
            if value >= 0.5
        )
        error = "" if self.errors is None else f"; balance error {self.errors[i]:+.1%}"
        return (
            f"anomaly score {self.score[i]:.1f} >= {self.threshold:.1f} ({how}); "
            f"today's parts: {parts or 'none'}{error}"
        )


class AnalysisJob:
    """Runs the analyses on a station's storage, day by day (see the module docstring)."""

    def __init__(self, storage: Storage, *, grace: float = 7200.0) -> None:
        self.storage = storage
        self.store = AnalysisStore(storage)
        self.grace = grace
        self._open_alerts: dict[tuple[str, str], int] | None = None

    def districts(self) -> dict[str, tuple[str | None, list[str]]]:
        """Each terminal's (supply meter or None, customer meters)."""
        classes = self.store.meter_classes()
        out: dict[str, tuple[str | None, list[str]]] = {}
        for meter, terminal in sorted(self.storage.meters()):
            supply, customers = out.setdefault(terminal, (None, []))
            if classes.get(meter) == DISTRICT_CLASS and supply is None:
                out[terminal] = (meter, customers)
            else:
                customers.append(meter)
        return {t: (s, c) for t, (s, c) in out.items() if c}

    def run(
        self,
        now: float,
        *,
        first_day: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Take in every complete day not taken in yet (a new district starts at its first
        curve reading, or at ``first_day`` if later); the number of district-days done.
        ``progress(done, total)`` hears each one."""
        last_complete = int((now - self.grace) // DAY) * DAY - DAY
        plan: list[tuple[str, str | None, list[str], DistrictState]] = []
        total = 0
        for district, (supply, customers) in self.districts().items():
            state = self._state(district, customers, supply, first_day)
            if state is None:
                continue
            plan.append((district, supply, customers, state))
            total += max(0, (last_complete - state.day) // DAY)
        done = 0
        for district, supply, customers, state in plan:
            while state.day + DAY <= last_complete:
                self._day(district, supply, customers, state, state.day + DAY, now)
                done += 1
                if progress is not None:
                    progress(done, total)
        if done:
            self.cluster()
        return done

    def _state(
        self, district: str, customers: list[str], supply: str | None, first_day: int | None
    ) -> DistrictState | None:
        stored = self.store.progress(district)
        if stored is not None:
            return DistrictState.decode(stored[1], customers)
        meters = customers + ([] if supply is None else [supply])
        first = self.store.first_time(meters, CURVE_ENERGY)
        if first is None:
            return None
        start = max(first // DAY * DAY, first_day if first_day is not None else 0)
        return DistrictState.empty(customers, start - DAY)  # "taken in up to the day before"

    def _intervals(self, meters: Sequence[str], day: int) -> npt.NDArray[np.float64]:
        cumulative = self.store.net_grid(meters, CURVE_NET, day, STEP, STEPS + 1)
        return np.diff(cumulative, axis=1)

    def _day(
        self,
        district: str,
        supply: str | None,
        customers: list[str],
        state: DistrictState,
        day: int,
        now: float,
    ) -> None:
        curves = self._intervals(customers, day)
        freezes = self.store.net_grid(customers, DAY_NET, day, DAY, 2)
        from_freeze = np.diff(freezes, axis=1)[:, 0]
        energy = np.where(np.isnan(from_freeze), np.nansum(curves, axis=1), from_freeze)
        missing = np.isnan(curves).sum(axis=1)
        energy[np.isnan(from_freeze) & (missing == STEPS)] = np.nan
        demand, step = consumption.maximum_demand(curves, STEPS)
        night = consumption.base_load(curves, STEPS)
        own = self.store.tariffs(customers)
        tou = _time_of_use(curves, [own.get(m) for m in customers])
        weekend = int(((day // DAY) + 3) % 7 >= 5)  # 1970-01-01 was a Thursday
        state.sums[weekend] += np.nan_to_num(curves)
        state.counts[weekend] += ~np.isnan(curves)
        scores = state.anomaly.add_day(curves)
        state.recent = np.concatenate([state.recent[:, 1:], scores[:, None]], axis=1)
        found: tuple[LossRow | None, npt.NDArray[np.float64] | None, list[AbnormalLoss]] = (
            (None, None, [])
            if supply is None
            else self._balance(district, supply, customers, state, day, curves)
        )
        loss_row, errors, abnormal = found
        state.day = day
        rows = [
            DayRow(
                meter, day, district, float(energy[i]),
                "curve" if np.isnan(from_freeze[i]) else "freeze", int(missing[i]),
                float(demand[i]), None if step[i] < 0 else int(step[i]), float(night[i]),
                float(tou[i, 0]), float(tou[i, 1]), float(tou[i, 2]), float(scores[i]),
                "meter" if meter in own else "default",
            )
            for i, meter in enumerate(customers)
        ]  # fmt: skip
        score = state.score()
        threshold = state.threshold()  # on the history before today
        state.remember(score)
        results = [
            MeterResult(
                meter, district, day, None, None, float(score[i]),
                None if errors is None else float(errors[i]),
            )
            for i, meter in enumerate(customers)
        ]  # fmt: skip
        self.store.save_day(district, day, state.encode(), rows, loss_row, results)
        evidence = _Evidence(score, threshold, state.anomaly.parts, errors)
        self._alerts(district, customers, evidence, abnormal, now)

    def _balance(
        self,
        district: str,
        supply: str,
        customers: list[str],
        state: DistrictState,
        day: int,
        curves: npt.NDArray[np.float64],
    ) -> tuple[LossRow, npt.NDArray[np.float64] | None, list[AbnormalLoss]]:
        """The district's day against its supply meter: the loss row, each customer's error
        fitted over the window (None while it is too short), the abnormal-loss findings."""
        supplied = self._intervals([supply], day)[0]
        energy_lost, rate, used = daily_loss(supplied, curves, STEPS)
        monitor = LossMonitor(1, STEPS, rates=[np.array([r]) for r in state.rates])
        owner = np.zeros(len(customers), dtype=np.intp)
        abnormal = monitor.add_day(supplied[None, :], curves, owner) if used[0] else []
        state.rates = np.append(state.rates, rate[0])
        total_supplied = float(np.nansum(supplied)) if used[0] else float("nan")
        feeders, source = self._feeders(customers, day)
        loss_row = LossRow(
            district, day, total_supplied, float(energy_lost[0]), float(rate[0]), int(used[0]),
            source,
        )  # fmt: skip
        errors = self._errors(state, curves, supplied, feeders)
        return loss_row, errors, abnormal

    def _feeders(self, customers: list[str], day: int) -> tuple[npt.NDArray[np.intp] | None, str]:
        """Each customer's feeder as a number, and where it came from: "records" when the
        station knows all of the district's; else "inferred" from the customers' voltage
        curves over the balance fit's window when every customer has at least a day of them
        (:func:`~wattguard.analytics.topology.infer_feeders`); else None and "none" (the
        one-feeder model)."""
        known = self.store.feeders(customers)
        if len(known) == len(customers):
            names = sorted(set(known.values()))
            return np.array([names.index(known[m]) for m in customers], dtype=np.intp), "records"
        start = day - (ERROR_WINDOW - 1) * DAY
        voltages = self.store.grid(customers, CURVE_VOLTAGE, start, STEP, ERROR_WINDOW * STEPS)
        if (np.isfinite(voltages).sum(axis=1) <= STEPS).any():
            return None, "none"
        labels = infer_topology(voltages, STEPS).labels
        return (None, "none") if (labels < 0).any() else (labels, "inferred")

    @staticmethod
    def _errors(
        state: DistrictState,
        day: npt.NDArray[np.float64],
        supplied: npt.NDArray[np.float64],
        feeders: npt.NDArray[np.intp] | None,
    ) -> npt.NDArray[np.float64] | None:
        """The day into the state's window, then each meter's error fitted over it."""
        today = np.concatenate([day, supplied[None, :]]).astype(np.float32)
        state.window = np.concatenate([state.window, today], axis=1)[:, -ERROR_WINDOW * STEPS :]
        curves = state.window.astype(np.float64)
        complete = ~np.isnan(curves).any(axis=0)
        if complete.sum() < ERROR_MIN_DAYS * STEPS // 2:
            return None
        first = int(np.argmax(complete)) // STEPS * STEPS  # whole days from the first complete
        errors = estimate_meter_errors(
            curves[-1, first:], curves[:-1, first:], steps_per_day=STEPS, feeders=feeders
        )
        return np.asarray(errors, dtype=np.float64)

    def cluster(self) -> None:
        """Cluster every meter's typical day (the fleet at once) and store the labels."""
        meters: list[str] = []
        typical: list[npt.NDArray[np.float64]] = []
        for district, (_, customers) in self.districts().items():
            stored = self.store.progress(district)
            if stored is None:
                continue
            state = DistrictState.decode(stored[1], customers)
            meters += customers
            typical.append(state.typical())
        if len(meters) < 2:
            return
        features = shapes(np.concatenate(typical))
        if (~np.isnan(features).any(axis=1)).sum() <= min(K_RANGE):
            return  # too few meters with a typical day to choose k by silhouette
        result = cluster_shapes(features)
        self.store.set_clusters(
            {m: (int(k), result.names[k]) for m, k in zip(meters, result.labels, strict=True)
             if k >= 0}
        )  # fmt: skip

    def _alerts(
        self,
        district: str,
        customers: list[str],
        found: _Evidence,
        abnormal: list[AbnormalLoss],
        now: float,
    ) -> None:
        errors = found.errors
        suspects = ""
        if errors is not None:
            top = rank_meters(errors)[:3]
            suspects = "; most suspect meters: " + ", ".join(
                f"{customers[i]} ({errors[i]:+.1%})" for i in top
            )
        loss = [
            f"line loss {a.rate:.1%} ({a.reason}; usual {a.usual:.1%} +/- {a.spread:.1%}, "
            f"{a.energy:.1f} kWh lost)" + suspects
            for a in abnormal
        ]
        self._raise(LOSS_RULE, f"district {district}", loss[0] if loss else None, now)
        for i, meter in enumerate(customers):
            self._raise(SCORE_RULE, f"meter {meter}", found.of(i), now)

    def _raise(self, rule: str, subject: str, evidence: str | None, now: float) -> None:
        """Open or add to the alert (evidence) or close it (None)."""
        current = self._open().get((rule, subject))
        if evidence is None:
            if current is not None:
                self.storage.close_alert(current, now)
                del self._open()[(rule, subject)]
        elif current is None:
            alert = self.storage.open_alert(rule, "warning", subject, now, evidence[:500])
            self._open()[(rule, subject)] = alert
        else:
            self.storage.bump_alert(current, evidence[:500], now)

    def _open(self) -> dict[tuple[str, str], int]:
        if self._open_alerts is None:
            self._open_alerts = {
                (a.rule, a.subject): a.id
                for a in reversed(self.storage.alerts(open_only=True, limit=1_000_000))
                if a.rule in (LOSS_RULE, SCORE_RULE)
            }
        return self._open_alerts
