"""The energy services at fleet scale: speed, memory and the accuracy figures of issue #16.

    python bench/analytics.py [--meters 10000] [--days 90] [--seed 16] [--warm-days 14]
    python bench/analytics.py --localisation [--meters 20000] [--days 90] [--seeds 16 17 18]
    python bench/analytics.py --jokar [--meters 10000] [--days 90] [--seed 16]

``--localisation`` prints only the line-loss localisation figures (the irregular meter ranked
first with 30 days of data, the +/-2 % meters' estimates with 30 days and with all ``--days``,
the honest meters' scatter, and the data's limit: how close an estimator that knows the
district meter's noise and the feeders could come to the +/-2 % meters): a quick mode to
iterate on the balance fit (``--days 30``: seconds for a few hundred districts). Both modes fit
each district told each meter's feeder (the network record; the figures judged) and with the
one-feeder loss model (printed for reference); the quick mode also simulates the customers'
voltages and fits with the feeders inferred from them (:mod:`wattguard.analytics.topology`,
printed with its adjusted Rand index against the true feeders), one run per ``--seeds``. Both
judge the +/-2 % meters on all ``--days`` (the issue gives 30 days for the ranking only; with
30 days the district meter's noise alone leaves an ideal estimator about 0.2 pp of spread, so
one meter in 25 or 50 misses 0.5 pp whatever the fit). ``--jokar`` prints only the h1..h6
injection figures on the simulation (exit status 1 when the district balance's evidence
lowers the detection rate at 5 % false positives).

A seeded simulation (:mod:`wattguard.simulation.district`: districts of 100 customers, a
district meter, I^2 R losses, one irregular meter per district) of ``--meters`` meters x
``--days`` days of 15-minute curves is analysed by every service of :mod:`wattguard.analytics`:

* Speed and memory: the wall time of each analysis over the whole fleet and their sum
  (target <= 60 s), the process's peak resident memory (target <= 4 GB), and the wall time of
  the daily incremental update, one more day into every state (target <= 2 s).
* Accuracy: clustering ARI against the simulated classes (target >= 0.9); the irregular meter
  ranked first by the balance in each district with 30 days (target >= 90 %); the +/-2 %
  meters' estimated errors (target within +/-0.5 percentage points); the Jokar 2016 h1..h6
  injections scored with and without the district balance. With the ``bench`` extra
  installed: ItalyPowerDemand (sktime's wheel) clustering ARI against its season labels beside
  the UCR 1-NN error, and the injections on ItalyPowerDemand and on pmdarima's load_taylor.

The published figures are printed beside ours; docs/analytics.md discusses them. The exit
status is 1 when a target is missed. Other processes on the machine slow the timings down:
the script prints the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import norm
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from wattguard.analytics import (
    anomaly,
    clustering,
    consumption,
    injection,
    lineloss,
    topology,
)
from wattguard.simulation.district import (
    SUPPLY_NOISE,
    Irregularity,
    SimulatedDistricts,
    simulate_districts,
)
from wattguard.testing import datasets

SPD = 96
#: A four-rate table (0 sharp, 1 peak, 2 flat, 3 valley) by hour of day.
TARIFF_BY_HOUR = [3] * 7 + [2] * 3 + [1] * 5 + [2] * 3 + [0] * 3 + [1] * 1 + [3] * 2
TARGETS = {"wall": 60.0, "memory_gb": 4.0, "incremental": 2.0}
ATTACKED_SHARE = 0.1
ATTACK_DAYS = 14


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


CPU: dict[str, float] = {}


def timed(label: str, timings: dict[str, float], call: Callable[[], Any]) -> Any:
    """Run ``call``; its wall time into ``timings``, its CPU time (user + system, this process)
    into CPU: on a machine shared with other work the wall time grows, the CPU time hardly."""
    start, cpu = time.perf_counter(), time.process_time()
    out = call()
    timings[label] = time.perf_counter() - start
    CPU[label] = time.process_time() - cpu
    print(
        f"  {label:<34} {timings[label]:7.2f} s wall {CPU[label]:7.2f} s CPU"
        f"   peak RSS {peak_gb():.2f} GB",
        flush=True,
    )
    return out


def consumption_all(sim: SimulatedDistricts) -> dict[str, Any]:
    c = sim.curves
    tariff = np.repeat(TARIFF_BY_HOUR, SPD // 24)
    daily = consumption.daily_energy(c, SPD)
    out = {
        "daily": daily,
        "missing": consumption.missing_per_day(c, SPD),
        "monthly": consumption.monthly_energy(daily, np.arange(sim.days) // 30),
        "tou": consumption.time_of_use(c, SPD, tariff),
        "demand": consumption.maximum_demand(c, SPD),
        "load_factor": consumption.load_factor(c),
        "base": consumption.base_load(c, SPD),
        "typical": consumption.typical_days(c, SPD, sim.weekend()),
        "change": consumption.period_change(daily, 7),
    }
    out["top"] = consumption.top_n(daily.sum(axis=1), 100)
    district, _ = consumption.aggregate(c, sim.district)
    out["district_daily"] = consumption.daily_energy(district, SPD)
    out["fleet_demand"] = consumption.maximum_demand(district.sum(axis=0, keepdims=True), SPD)
    return out


def lineloss_all(
    sim: SimulatedDistricts,
    days: int | None = None,
    *,
    topology: bool = True,
    feeders: np.ndarray | None = None,
) -> tuple[Any, Any]:
    """Daily loss rates and every meter's estimated error; with ``topology`` the fit is told
    each meter's feeder (``feeders``, by default the network record), otherwise it models one
    feeder per district."""
    known = sim.feeder if feeders is None else feeders
    steps = sim.curves.shape[1] if days is None else days * SPD
    rates, errors = [], np.zeros(sim.curves.shape[0])
    for d in range(sim.supply.shape[0]):
        rows = sim.district == d
        readings = sim.curves[rows, :steps]
        rates.append(lineloss.daily_loss(sim.supply[d, :steps], readings, SPD)[1])
        errors[rows] = lineloss.estimate_meter_errors(
            sim.supply[d, :steps], readings, feeders=known[rows] if topology else None
        )
    return np.stack(rates), errors


def incremental(sim: SimulatedDistricts, warm: int) -> dict[str, float]:
    """States warmed with ``warm`` days, then one more day timed through each."""
    meters = sim.curves.shape[0]
    days = sim.curves.reshape(meters, sim.days, SPD)
    supply = sim.supply.reshape(sim.supply.shape[0], sim.days, SPD)
    weekend = sim.weekend()
    states = (
        consumption.ConsumptionState(meters, SPD, np.repeat(TARIFF_BY_HOUR, SPD // 24)),
        clustering.ProfileAccumulator(meters, SPD),
        lineloss.LossMonitor(sim.supply.shape[0], SPD),
        anomaly.AnomalyState(meters, SPD, sim.district),
    )

    def step(day: int) -> None:
        states[0].add_day(days[:, day], weekend=bool(weekend[day]))
        states[1].add_days(days[:, day])
        states[2].add_day(supply[:, day], days[:, day], sim.district)
        states[3].add_day(days[:, day])

    for day in range(warm):
        step(day)
    timings: dict[str, float] = {}
    timed("incremental: one more day", timings, lambda: step(warm))
    return timings


def localisation(
    sim: SimulatedDistricts, errors: np.ndarray, days: int
) -> tuple[float, dict[str, float], int]:
    """Share of districts whose top-ranked meter is irregular within the first ``days``; a
    meter that breaks later reads right in that window, and its district is left out."""
    irregular = sim.truth.irregularity.copy()
    broken = np.flatnonzero(irregular == Irregularity.BROKEN)
    later = broken[(sim.curves[broken, : days * SPD] != 0).all(axis=1)]
    irregular[later] = 0
    firsts, by_kind = [], {}
    for d in range(sim.supply.shape[0]):
        rows = np.flatnonzero(sim.district == d)
        if not (irregular[rows] > 0).any():
            continue
        top = rows[lineloss.rank_meters(errors[rows])[0]]
        firsts.append(irregular[top] > 0)
        for m in rows[irregular[rows] > 0]:
            by_kind.setdefault(Irregularity(irregular[m]).name, []).append(top == m)
    rates = {k: float(np.mean(v)) for k, v in by_kind.items()}
    return float(np.mean(firsts)), rates, len(later)


def error_accuracy(sim: SimulatedDistricts, errors: np.ndarray) -> tuple[float, float, int]:
    chosen = sim.truth.irregularity == Irregularity.METER_ERROR
    miss = np.abs(errors[chosen] - sim.truth.error[chosen])
    return float(np.mean(miss <= 0.005)), float(np.max(miss, initial=0.0)), int(chosen.sum())


def ideal_spread(sim: SimulatedDistricts, days: int) -> np.ndarray:
    """The +/-2 % meters' best attainable spread (sd of the estimated error, in pp) over the
    first ``days``: the posterior sd of a Gaussian estimator that knows what the fit cannot
    (the district meter's noise, ``SUPPLY_NOISE`` of each interval's value, each meter's
    feeder and the loss model's form), with the fit's prior (``PRIOR_ERROR``) on every other
    meter. No estimator does better on average, so this tells the data's limit from the fit's."""
    chosen = np.flatnonzero(sim.truth.irregularity == Irregularity.METER_ERROR)
    spread = np.empty(chosen.size)
    for k, meter in enumerate(chosen):
        d = sim.district[meter]
        rows = np.flatnonzero(sim.district == d)
        r = sim.curves[rows, : days * SPD].astype(np.float64)
        supply = sim.supply[d, : days * SPD]
        feeder = sim.feeder[rows]
        losses = [np.ones(supply.size)]
        losses += [r[feeder == f].sum(axis=0) ** 2 for f in np.unique(feeder)]
        design = np.concatenate([r.T, np.stack(losses, axis=1)], axis=1)
        weighted = design / (SUPPLY_NOISE * supply[:, None]) ** 2
        prior = np.zeros(design.shape[1])
        prior[: rows.size] = 1.0 / lineloss.PRIOR_ERROR**2
        prior[np.searchsorted(rows, meter)] = 0.0
        cov = np.linalg.inv(weighted.T @ design + np.diag(prior))
        i = int(np.searchsorted(rows, meter))
        # d = 1/(1+e) - 1, so e's spread is d's times (1+e)^2.
        spread[k] = np.sqrt(cov[i, i]) * (1.0 + sim.truth.error[meter]) ** 2 * 100
    return spread


def localisation_lines(sim: SimulatedDistricts, errors: np.ndarray, days: int) -> list[float]:
    """Print one fit's localisation figures; return [ranked first, share within 0.5 pp]."""
    first, by_kind, later = localisation(sim, errors, days)
    within, worst, count = error_accuracy(sim, errors)
    honest = sim.truth.irregularity == Irregularity.NONE
    scatter = float(np.sqrt(np.mean(errors[honest] ** 2)))
    chosen = sim.truth.irregularity == Irregularity.METER_ERROR
    rms = float(np.sqrt(np.mean((errors[chosen] - sim.truth.error[chosen]) ** 2))) * 100
    print(
        f"    irregular meter ranked first: {first:.1%} (target >= 90 %); by kind: "
        + ", ".join(f"{k} {v:.0%}" for k, v in sorted(by_kind.items()))
        + f"; {later} districts left out (their meter breaks after day {days})\n"
        f"    +/-2 % meters ({count}) within +/-0.5 pp: {within:.0%} (worst {worst * 100:.2f} pp,"
        f" rms miss {rms:.3f} pp)\n    honest meters' estimates: {scatter:.2%} rms"
    )
    return [first, within]


def ideal_lines(sim: SimulatedDistricts, days: int) -> None:
    """Print what an ideal estimator could reach on the +/-2 % meters over ``days``."""
    spread = ideal_spread(sim, days)
    inside = 2.0 * norm.cdf(0.5 / spread) - 1.0
    print(
        f"    the data's limit over {days} days (an estimator knowing the noise and the feeders):"
        f" spread {np.sqrt(np.mean(spread**2)):.3f} pp rms, {spread.max():.3f} pp at most;"
        f" expected within 0.5 pp {inside.mean():.1%}, all {spread.size} of them"
        f" {np.prod(inside):.0%} of the time"
    )


def inferred_feeders(sim: SimulatedDistricts) -> tuple[np.ndarray, list[float]]:
    """Each meter's feeder group inferred from the district's voltages, and the adjusted Rand
    index of each district's groups against its true feeders."""
    assert sim.voltage is not None
    labels = np.empty(sim.curves.shape[0], dtype=np.intp)
    scores = []
    for d in range(sim.supply.shape[0]):
        rows = sim.district == d
        labels[rows] = topology.infer_feeders(sim.voltage[rows], SPD)
        scores.append(adjusted_rand_score(sim.feeder[rows], labels[rows]))
    return labels, scores


def localisation_only(meters: int, seeds: list[int], days: int) -> int:
    """The localisation figures alone on ``meters // 100`` districts, per seed: the irregular
    meter ranked first with 30 days of data (the issue's window) and the +/-2 % meters over
    all ``days`` (and over 30, printed beside with the data's limit), with the feeders known,
    with them inferred from the voltages, and without; the exit status judges the first."""
    districts = max(1, meters // 100)
    window = min(30, days)
    missed = False
    for seed in seeds:
        start = time.perf_counter()
        sim = simulate_districts(districts, 100, days, seed=seed, voltages=True)
        print(
            f"{districts} districts x 100 meters x {days} days, seed {seed} "
            f"(simulated in {time.perf_counter() - start:.1f} s)"
        )
        start = time.perf_counter()
        inferred, scores = inferred_feeders(sim)
        print(
            f"  feeders inferred from voltages in {time.perf_counter() - start:.1f} s: ARI vs the"
            f" true feeders mean {np.mean(scores):.3f}, min {np.min(scores):.3f},"
            f" {np.mean(np.equal(scores, 1.0)):.0%} of districts exact"
        )
        results = []
        for name, feeders in (
            ("feeders known", sim.feeder),
            ("feeders inferred from voltages", inferred),
            ("no feeders (one-feeder loss model)", None),
        ):
            start = time.perf_counter()
            _, errors = lineloss_all(sim, window, topology=feeders is not None, feeders=feeders)
            print(f"  {name}, {window} days (fitted in {time.perf_counter() - start:.1f} s):")
            first, within = localisation_lines(sim, errors, window)
            if days > window:
                _, errors = lineloss_all(sim, topology=feeders is not None, feeders=feeders)
                print(f"  {name}, all {days} days:")
                _, within = localisation_lines(sim, errors, days)
            results.append((first, within))
        ideal_lines(sim, window)
        if days > window:
            ideal_lines(sim, days)
        (first, within), _, _ = results  # the others are printed for comparison, not judged
        missed = missed or first < 0.9 or within < 1.0
    print("MISSED" if missed else "targets met (feeders known)")
    return 1 if missed else 0


def attack_curves(
    days: np.ndarray, candidates: np.ndarray, first_day: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copy of (meters, days, steps) with h1..h6 injected into a share of ``candidates``
    from ``first_day`` on; the attacked flags and the attack of each meter."""
    out = days.astype(np.float64, copy=True)
    attacked = np.zeros(days.shape[0], dtype=bool)
    chosen = rng.choice(
        candidates, size=max(1, int(ATTACKED_SHARE * candidates.size)), replace=False
    )
    attacked[chosen] = True
    kinds = np.zeros(days.shape[0], dtype=np.intp)
    kinds[chosen] = rng.integers(1, 7, chosen.size)
    for m in chosen:
        out[m, first_day:] = injection.inject(out[m, first_day:], int(kinds[m]), rng)
    return out, attacked, kinds


def figures(labels: np.ndarray, scores: np.ndarray) -> str:
    return (
        f"AUC {injection.roc_auc(labels, scores):.3f}  "
        f"DR@5%FPR {injection.detection_at(labels, scores, 0.05):.3f}  "
        f"MAP@100 {injection.average_precision_at(labels, scores, 100):.3f}"
    )


def jokar_simulation(sim: SimulatedDistricts, seed: int) -> bool:
    """The h1..h6 injections scored alone and with the district balance; True when the
    balance's evidence does not lower the detection rate at 5 % false positives."""
    meters = sim.curves.shape[0]
    honest = np.flatnonzero(sim.truth.irregularity == 0)
    rng = np.random.default_rng(seed)
    days = sim.curves.reshape(meters, sim.days, SPD)
    first = sim.days - ATTACK_DAYS
    attacked_days, attacked, kinds = attack_curves(days, honest, first, rng)
    curves = attacked_days.reshape(meters, -1)
    del attacked_days
    scores = anomaly.score_meters(curves, SPD, recent_days=ATTACK_DAYS, groups=sim.district)
    window = slice(first * SPD, None)
    errors = np.zeros(meters)
    for d in range(sim.supply.shape[0]):
        rows = sim.district == d
        errors[rows] = lineloss.estimate_meter_errors(
            sim.supply[d, window], curves[rows, window], feeders=sim.feeder[rows]
        )
    fitted = anomaly.score_meters(
        curves, SPD, recent_days=ATTACK_DAYS, groups=sim.district, meter_errors=errors
    )
    with_loss = anomaly.score_meters(
        curves, SPD, recent_days=ATTACK_DAYS, groups=sim.district, supply=sim.supply
    )
    keep = sim.truth.irregularity == 0
    print(f"  simulation, consumption only:  {figures(attacked[keep], scores[keep])}")
    print(f"  simulation, with district loss: {figures(attacked[keep], with_loss[keep])}")
    print(
        "  (for reference: the fitted meter errors' evidence, meter_errors=: "
        f"{figures(attacked[keep], fitted[keep])})"
    )
    for attack in injection.ATTACKS:
        sel = keep & (~attacked | (kinds == attack))
        print(
            f"    h{attack}: AUC {injection.roc_auc(attacked[sel], scores[sel]):.3f} alone, "
            f"{injection.roc_auc(attacked[sel], with_loss[sel]):.3f} with loss"
        )
    alone = injection.detection_at(attacked[keep], scores[keep], 0.05)
    return injection.detection_at(attacked[keep], with_loss[keep], 0.05) >= alone


def jokar_days(name: str, series: np.ndarray, steps: int, trials: int, seed: int) -> None:
    """One meter's days (rows) with a share of days attacked; day scores pooled over trials."""
    rng = np.random.default_rng(seed)
    labels, scores = [], []
    for _ in range(trials):
        days = series[None, :, :].copy()
        candidates = np.arange(anomaly.MIN_HISTORY, series.shape[0])
        chosen = rng.choice(
            candidates, size=max(1, int(ATTACKED_SHARE * candidates.size)), replace=False
        )
        for day in chosen:
            days[0, day] = injection.inject(days[0, day][None, :], int(rng.integers(1, 7)), rng)[0]
        day_scores = anomaly.score_days(days.reshape(1, -1), steps)[0]
        flags = np.zeros(series.shape[0], dtype=bool)
        flags[chosen] = True
        labels.append(flags[candidates])
        scores.append(day_scores[candidates])
    print(f"  {name:<30} {figures(np.concatenate(labels), np.concatenate(scores))}")


def real_data(seed: int) -> None:
    reason = datasets.missing()
    if reason is not None:
        print(f"  real data sets skipped: {reason}")
        return
    train_x, train_y, test_x, test_y = datasets.italy_power_demand()
    everything = np.concatenate([train_x, test_x])
    seasons = np.concatenate([train_y, test_y])
    two = clustering.cluster_shapes(clustering.shapes(everything), k=2, seed=seed)
    free = clustering.cluster_shapes(clustering.shapes(everything), seed=seed)
    distance = ((test_x[:, None, :] - train_x[None, :, :]) ** 2).sum(axis=2)
    error = float(np.mean(train_y[distance.argmin(axis=1)] != test_y))
    print("  ItalyPowerDemand (1,096 days, UCR, from the sktime wheel):")
    print(
        f"    k-means k=2 ARI vs seasons {adjusted_rand_score(seasons, two.labels):.3f}; "
        f"silhouette k={len(free.names)}: ARI {adjusted_rand_score(seasons, free.labels):.3f} "
        f"({', '.join(free.names)})"
    )
    print(f"    1-NN Euclidean test error {error:.3f}   (UCR archive: 0.045)")
    print("  Jokar h1..h6 on real curves (10 % of days attacked, day scores):")
    # The UCR days are z-normalised (mean 0, sd 1): shifted by +3 so they read as positive loads.
    jokar_days("ItalyPowerDemand (+3 shift)", everything + 3.0, 24, 5, seed)
    taylor = datasets.load_taylor().reshape(-1, 48)
    jokar_days("load_taylor (84 days x 48)", taylor, 48, 30, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="with --localisation: one run per seed (else --seed)"
    )
    parser.add_argument("--warm-days", type=int, default=14)
    parser.add_argument(
        "--localisation", action="store_true", help="only the line-loss localisation figures"
    )
    parser.add_argument(
        "--jokar", action="store_true", help="only the h1..h6 injection figures on the simulation"
    )
    args = parser.parse_args()
    # The balance fits multiply 100 x 100 matrices: a second BLAS thread only contends on a
    # shared 2-core machine (measured: several times slower under load), so BLAS gets one.
    threadpool_limits(limits=1, user_api="blas")
    if args.localisation:
        return localisation_only(args.meters, args.seeds or [args.seed], args.days)
    districts = max(1, args.meters // 100)
    if args.jokar:
        sim = simulate_districts(districts, 100, args.days, seed=args.seed)
        print(f"{districts * 100} meters x {args.days} days, seed {args.seed}:")
        return 0 if jokar_simulation(sim, args.seed) else 1
    print(f"load average at start: {os.getloadavg()}; cpus: {os.cpu_count()}")
    start = time.perf_counter()
    sim = simulate_districts(districts, 100, args.days, seed=args.seed)
    print(
        f"simulated {districts * 100} meters x {args.days} days "
        f"({sim.curves.size / 1e6:.1f} M values) in {time.perf_counter() - start:.1f} s"
    )
    print("analyses over the whole fleet:")
    t: dict[str, float] = {}
    timed("consumption (all figures)", t, lambda: consumption_all(sim))
    labels = timed("clustering", t, lambda: clustering.cluster_profiles(sim.curves, SPD))
    rates, errors = timed("line loss + localisation (all days)", t, lambda: lineloss_all(sim))
    timed("anomaly scores", t, lambda: anomaly.score_meters(sim.curves, SPD, groups=sim.district))
    wall = sum(t.values())
    cpu = sum(CPU[k] for k in t)
    memory = peak_gb()
    inc = incremental(sim, args.warm_days)["incremental: one more day"]
    print(
        f"  total analysis wall {wall:.1f} s (target <= {TARGETS['wall']:.0f}; CPU {cpu:.1f} s); "
        f"peak RSS {memory:.2f} GB (target <= {TARGETS['memory_gb']:.0f}); "
        f"incremental day {inc:.2f} s (target <= {TARGETS['incremental']:.0f})"
    )
    print("accuracy on the simulation:")
    ari = adjusted_rand_score(sim.truth.classes, labels)
    print(f"  clustering ARI vs simulated classes {ari:.3f} (target >= 0.9)")
    print(
        f"  daily line-loss rate: median {np.nanmedian(rates):.3%}, "
        f"range {np.nanmin(rates):.3%} .. {np.nanmax(rates):.3%}"
    )
    window = min(30, args.days)
    print(f"  localisation with {window} days, feeders known:")
    first, _ = localisation_lines(sim, lineloss_all(sim, window)[1], window)
    print(
        f"  localisation with {window} days, feeders unknown (one-feeder loss model; for"
        " reference, not judged):"
    )
    localisation_lines(sim, lineloss_all(sim, window, topology=False)[1], window)
    within, worst, count = error_accuracy(sim, errors)
    print(
        f"  +/-2 % meters ({count}) within +/-0.5 pp with {args.days} days, feeders known: "
        f"{within:.0%} (worst {worst * 100:.2f} pp)"
    )
    print("Jokar et al. 2016 injections (10 % of honest meters, h1..h6, last 14 days):")
    balance_helps = jokar_simulation(sim, args.seed)
    real_data(args.seed)
    print("published, for comparison (other data, other protocols):")
    print("  Jokar 2016 (CER Ireland): ~94 % detection at 11 % false positives")
    print("  Zheng 2018 wide & deep CNN (SGCC): AUC ~0.79; Finardi 2020 (SGCC): AUC 0.926")
    print("  SGCC is not reachable here (no PyPI wheel): those two are not comparable figures")
    print(f"load average at end: {os.getloadavg()}")
    missed = [
        wall > TARGETS["wall"],
        memory > TARGETS["memory_gb"],
        inc > TARGETS["incremental"],
        ari < 0.9,
        first < 0.9,
        within < 1.0,
        not balance_helps,
    ]
    if any(missed):
        print(
            "MISSED: "
            + ", ".join(
                n
                for n, m in zip(
                    (
                        "wall",
                        "memory",
                        "incremental",
                        "ARI",
                        "localisation",
                        "+/-2 %",
                        "balance lowers detection",
                    ),
                    missed,
                    strict=True,
                )
                if m
            )
        )
    return 1 if any(missed) else 0


if __name__ == "__main__":
    sys.exit(main())
