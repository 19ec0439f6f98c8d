"""Load distribution inside the meter: the household's contracted power shared among the
charging pile and the user's device ports by priority, each metering step, with or without
the station.

Theory of operation. Each metering step the expansion module knows the household's active
power (the management module's READINGS), what the pile draws and what each switchable device
port draws, so the rest of the house (the essential loads it cannot switch) is the
difference. :meth:`LoadDistributor.step` hands the contracted power out from the highest
priority down: the essential loads take what they draw (they are never curtailed here), then
the pile, then the device ports, each getting at most what it asks and at most what is left.
So a device port is curtailed before the pile, and the pile before the essential loads.

The management module's limits bound everything: the pile's grant never exceeds the limit the
station set through it (``caps``), whatever the distribution would allow; a cap is the
station's decision, so being held at it is not a local curtailment. A curtailment (a load
granted less than it asked and was allowed) is reported when it starts and whenever its
depth changes by more than :data:`HYSTERESIS_W`; each report becomes an ALARM to the
management module, which logs it (FF24) and reports it to the station when it is reachable.
Sans-IO: the measured powers and ``now`` are passed in; what to report comes back.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Curtailment", "Demand", "Grant", "LoadDistributor", "Priority", "distribute"]

#: A curtailment is reported again only when its depth changed by more than this (W).
HYSTERESIS_W = 100.0


class Priority(enum.IntEnum):
    """Who gives way first: a higher priority is served first and curtailed last."""

    DEVICE = 0  #: a switchable device port (a water heater, a dryer)
    PILE = 1  #: the charging pile
    ESSENTIAL = 2  #: the rest of the house: never curtailed by the meter


@dataclass(frozen=True, slots=True)
class Demand:
    """One load's request this step: its name, priority and the power it asks (W)."""

    name: str
    priority: Priority
    watts: float


@dataclass(frozen=True, slots=True)
class Grant:
    """What one load was granted (W): ``allowed`` is its request within the management
    module's cap, ``granted`` what the distribution left it."""

    name: str
    priority: Priority
    requested: float
    allowed: float
    granted: float

    @property
    def curtailed(self) -> float:
        """W withheld by the distribution (not by the station's cap)."""
        return max(0.0, self.allowed - self.granted)


@dataclass(frozen=True, slots=True)
class Curtailment:
    """A curtailment to report: when, which load, by how much (W), and what it was left."""

    at: float
    name: str
    priority: Priority
    curtailed: float
    granted: float


def distribute(
    budget_w: float, demands: Sequence[Demand], caps: Mapping[str, float] | None = None
) -> tuple[Grant, ...]:
    """Share ``budget_w`` among ``demands`` by priority (highest first, in the given order
    within one priority); ``caps`` bound named loads (the management module's limits; 0 or
    absent: no cap). Essential loads always get what they draw."""
    caps = caps or {}
    remaining = max(0.0, budget_w)
    granted: dict[int, Grant] = {}
    order = sorted(range(len(demands)), key=lambda i: -demands[i].priority)
    for index in order:
        demand = demands[index]
        cap = caps.get(demand.name) or math.inf
        allowed = max(0.0, min(demand.watts, cap))
        give = allowed if demand.priority == Priority.ESSENTIAL else min(allowed, remaining)
        remaining = max(0.0, remaining - give)
        granted[index] = Grant(demand.name, demand.priority, demand.watts, allowed, give)
    return tuple(granted[i] for i in range(len(demands)))


@dataclass
class LoadDistributor:
    """The expansion module's distributor of ``contracted_w`` (0: distribution off) among its
    ports: the pile and the named device ports, each with its priority."""

    contracted_w: float = 0.0
    ports: dict[str, Priority] = field(default_factory=dict)
    grants: dict[str, float] = field(default_factory=dict)
    _reported: dict[str, float] = field(default_factory=dict)

    def step(
        self,
        household_w: float,
        drawn: Mapping[str, float],
        requested: Mapping[str, float],
        caps: Mapping[str, float],
        now: float,
    ) -> list[Curtailment]:
        """One metering step: the household drew ``household_w`` in all, of which the ports
        drew ``drawn``; they now ask ``requested``. Sets :attr:`grants` for the next step and
        returns the curtailments to report."""
        if self.contracted_w <= 0:
            self.grants = {name: requested.get(name, 0.0) for name in self.ports}
            return []
        essential = max(0.0, household_w - sum(drawn.get(name, 0.0) for name in self.ports))
        demands = [Demand("essential", Priority.ESSENTIAL, essential)]
        demands += [Demand(n, p, requested.get(n, 0.0)) for n, p in self.ports.items()]
        result = distribute(self.contracted_w, demands, caps)
        self.grants = {g.name: g.granted for g in result if g.name in self.ports}
        return self._changes(result, now)

    def _changes(self, result: Sequence[Grant], now: float) -> list[Curtailment]:
        out = []
        for grant in result:
            if grant.priority == Priority.ESSENTIAL:
                continue
            before = self._reported.get(grant.name, 0.0)
            depth = grant.curtailed
            if depth > 0 and abs(depth - before) > HYSTERESIS_W:
                out.append(Curtailment(now, grant.name, grant.priority, depth, grant.granted))
                self._reported[grant.name] = depth
            elif depth == 0:
                self._reported.pop(grant.name, None)
        return out
