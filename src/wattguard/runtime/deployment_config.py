"""What a :class:`~wattguard.runtime.deployment.Deployment` is built from and what its runs
report: :class:`DeploymentConfig`, the collection tasks its terminals run, and the
:class:`Summary` (with the tracker of readings it is made from)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattguard.errors import ConfigError
from wattguard.esam.profile import Random
from wattguard.network.terminal import CollectionTask
from wattguard.protocol import OAD
from wattguard.randomness import seeded
from wattguard.simulation.profile import LoadModel
from wattguard.station.commands import TRIP_WINDOW
from wattguard.station.ingest import Reading

__all__ = [
    "CURVE",
    "CURVE_NET",
    "DAILY",
    "DAILY_NET",
    "IRREGULAR_KINDS",
    "PACE_MARGIN",
    "REALTIME",
    "REPORT_ITEMS",
    "SUPPLY_OVERLOAD_W",
    "SUPPLY_OVER_CURRENT_A",
    "DeploymentConfig",
    "ReadingTracker",
    "Summary",
    "mixed_load",
]

#: The demo districts' seeded irregular customers, one per terminal, in turn.
IRREGULAR_KINDS = ("bypass", "meter error", "evening theft", "broken")
#: How far (simulated seconds) a live run's clock may run ahead of its slowest neighbourhood
#: (runtime/pacing.py): a few metering steps.
PACE_MARGIN = 240.0
#: Items (meters' records) per terminal report: a concentrator reports many meters per frame;
#: with 8 a live run faster than about 500x fell behind its reports (1800x asked, 100 meters).
REPORT_ITEMS = 32

#: What every terminal collects: energy and voltage every 15 minutes, and the meters' 15-minute
#: curve (5002: freeze time and energy), read back to where the last successful read ended.
#: The real-time read takes the meter's date-time (4000) in the same answer: under the meter's
#: MAC, it is the time the station stores the values at (docs/security.md, "Reading times").
REALTIME = CollectionTask(
    "real-time", 900.0, (OAD(0x0010, 2, 0), OAD(0x2000, 2, 0), OAD(0x4000, 2, 0))
)
CURVE = CollectionTask(
    "curve", 900.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0)), record=OAD(0x5002, 2, 0),
    interval=900.0, max_records=16,
)  # fmt: skip
#: With districts, the curve carries the reverse (exported) energy too: the station's
#: analyses balance the net energy (a PV customer's export reaches the supply meter net);
#: and the phase A voltage, from which the station infers the district's feeders.
CURVE_NET = CollectionTask(
    "curve", 900.0,
    (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0), OAD(0x0020, 2, 0), OAD(0x2000, 2, 1)),
    record=OAD(0x5002, 2, 0), interval=900.0, max_records=16,
)  # fmt: skip
#: And the daily freeze (5004), tried every hour until the day's record is in.
DAILY = CollectionTask(
    "daily", 3600.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0)), record=OAD(0x5004, 2, 0),
    interval=86400.0, max_records=7,
)  # fmt: skip
DAILY_NET = CollectionTask(
    "daily", 3600.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0), OAD(0x0020, 2, 0)),
    record=OAD(0x5004, 2, 0), interval=86400.0, max_records=7,
)  # fmt: skip


#: A district supply meter's over-current and overload limits: a 630 kVA transformer's rating
#: (about 900 A a phase at 400 V) rather than a household's.
SUPPLY_OVER_CURRENT_A = 1_000
SUPPLY_OVERLOAD_W = 630_000


@dataclass(frozen=True, slots=True)
class DeploymentConfig:
    """What a :class:`Deployment` is built from: its size, the pace and start of simulated time,
    the seed, the HPLC frame loss, whether it is protected, the station's storage URL, and
    whether the bus carries signed envelopes (off by default: each message costs an SM2
    signature and a verification, about 1 ms).

    ``seed`` None (the default): the master keys, and the random numbers of the cryptographic
    device, are drawn from the operating system, fresh each run; the loads and the HPLC channel
    follow seed 0. A seed makes the whole run reproducible, keys included: anyone who knows it
    can recompute the keys, so give one only for tests and experiments."""

    meters: int = 100
    per_terminal: int = 25
    speed: float = 60.0
    seed: int | None = None
    hplc_loss: float = 0.0
    protected: bool = True
    database: str = "sqlite://"  # the station's storage URL (memory by default)
    start: float | None = None  # simulated start (POSIX); None: now (live) or midnight (virtual)
    trip_window: float = TRIP_WINDOW  # the station's solo trip budget window; 0: per command
    #: Meters read their curves, freezes and metrology values only as ciphertext + MAC
    #: (False: the standard's default word, plaintext + MAC on the power line).
    private_readings: bool = True
    sealed_bus: bool = False  # FEP and station sign and verify every bus message (sealed_bus.py)
    districts: bool = False  # a supply meter per terminal, one seeded bypass, the analytics job

    def __post_init__(self) -> None:
        if self.meters < 1 or self.per_terminal < 1:
            raise ConfigError("a deployment needs at least one meter and one meter per terminal")
        if self.meters > 999 * 1000 or self.per_terminal > 999:
            raise ConfigError("at most 999 terminals of at most 999 meters each")
        if self.speed <= 0:
            raise ConfigError("--speed must be positive (1 = real time)")

    @property
    def simulation_seed(self) -> int:
        """The seed of the loads and the HPLC channel (0 when no seed was given)."""
        return 0 if self.seed is None else self.seed

    def key_random(self) -> Random:
        """Where the deployment's master keys come from: the operating system's random source,
        or, for a seeded run, SM3 in counter mode over the seed (reproducible, so public)."""
        if self.seed is None:
            return os.urandom
        return seeded(b"wattguard demo %d" % self.seed)


@dataclass(frozen=True, slots=True)
class Summary:
    """A deployment's state at one moment, as its runs report it: readings stored, meters
    reporting, terminals online, security events and alerts (:meth:`line` puts it on one line,
    :meth:`final` says what a run did when it ends)."""

    simulated: float  # POSIX seconds of the simulation
    elapsed: float  # real seconds since the start
    readings: int
    readings_per_second: float  # real seconds
    meters_reporting: int
    meters: int
    terminals_online: int
    terminals: int
    security_events: int
    refused: int
    open_alerts: int = 0

    analysed_days: int = 0
    # readings per real second since the previous summary (the average above falls between
    # collection rounds; this shows the last round)
    interval_rate: float = 0.0
    alerts: int = 0  # raised in all, open or closed
    # a live run's simulated seconds per real second, and what was asked (None: virtual run)
    speed: float | None = None
    asked_speed: float | None = None

    def line(self) -> str:
        when = dt.datetime.fromtimestamp(self.simulated, dt.UTC).strftime("%Y-%m-%d %H:%M")
        return (
            f"{when} UTC | {self.readings:>8,} readings ({self.readings_per_second:,.0f}/s "
            f"average, {self.interval_rate:,.0f}/s last interval) | "
            f"meters reporting {self.meters_reporting}/{self.meters} | terminals online "
            f"{self.terminals_online}/{self.terminals} | security events {self.security_events}"
            f" | open alerts {self.open_alerts}"
            + (f" | refused {self.refused}" if self.refused else "")
            + (f" | analysed days {self.analysed_days}" if self.analysed_days else "")
            + self._pace()
        )

    def _pace(self) -> str:
        if self.speed is None or self.asked_speed is None or self.speed >= 0.9 * self.asked_speed:
            return ""
        return (
            f" | running at {self.speed:,.0f}x of {self.asked_speed:,.0f}x asked: the machine "
            "cannot keep up (lower --speed or --meters)"
        )

    def final(self) -> str:
        """What a run did, for its end: readings, meters, security events, alerts, duration."""
        return (
            f"summary: {self.readings:,} readings stored from {self.meters_reporting}/"
            f"{self.meters} meters reporting, {self.security_events} security events, "
            f"{self.alerts} alerts ({self.open_alerts} open), in {self.elapsed:,.1f} s real "
            f"time ({self.readings_per_second:,.0f} readings/s)"
        )


def mixed_load(n: int, seed: int) -> Callable[[float, float], tuple[Any, Any]]:
    """The meters' loads: the profile-mode load model's mix (households on the BDEW H0
    profile, households with rooftop PV, shops, EV chargers), seeded."""
    return LoadModel.mixed(n, seed=seed).load


@dataclass
class ReadingTracker:
    """What the station stored, as a run's summary counts it: readings, and each meter's
    newest reading time."""

    readings: int = 0
    last: dict[str, float] = field(default_factory=dict)

    def sink(self, readings: list[Reading]) -> None:
        self.readings += len(readings)
        for r in readings:
            self.last[r.meter] = max(self.last.get(r.meter, 0.0), r.time)
