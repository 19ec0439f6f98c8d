"""A charge point's smart-charging logic, without the socket: the profiles it was sent, the
limit they put on it now, and the power and energy it draws.

OCPP 1.6 section 3.13: a charge point keeps at most one profile per purpose and stack level;
a ``TxProfile`` applies to its transaction and overrides the ``TxDefaultProfile``; within a
profile the highest stack level whose schedule covers ``now`` wins; outside every schedule the
charger's own maximum applies. A period's limit in A is taken as A x 230 V x phases (3 when
not given). The charger never draws more than the limit in force: its power over a step is
``min(demand, the lowest limit at any time of the step)`` (the limit is at most its
maximum). Time is passed in (``now``, POSIX seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["ChargerModel", "Schedule"]

#: Volts per phase for a schedule in amperes (our choice, recorded in docs/analytics.md).
VOLTS = 230.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """One charging profile as the charger keeps it: purpose, stack level, transaction, the
    schedule's start (POSIX seconds), its duration (None: open-ended) and its periods as
    (offset seconds, limit W)."""

    purpose: str
    stack_level: int
    transaction: int | None
    start: float
    duration: float | None
    periods: tuple[tuple[float, float], ...]

    @classmethod
    def from_ocpp(cls, profile: Mapping[str, object], now: float) -> Schedule:
        """A ``csChargingProfiles`` object (camelCase or snake_case keys) as a Schedule; a
        relative profile starts at ``now``. ValueError when it is not one we can obey."""
        get = _getter(profile)
        schedule = get("charging_schedule")
        if not isinstance(schedule, Mapping):
            raise ValueError("no charging schedule")
        at = _getter(schedule)
        start_text = at("start_schedule")
        kind = get("charging_profile_kind")
        if kind == "Absolute" and start_text is None:
            raise ValueError("an absolute profile without a start")
        start = now if start_text is None or kind == "Relative" else _time(str(start_text))
        volts = 1.0 if at("charging_rate_unit") == "W" else None
        periods = []
        raw = at("charging_schedule_period")
        for item in raw if isinstance(raw, list) else []:
            period = _getter(item)
            phases = float(str(period("number_phases") or 3))
            scale = volts if volts is not None else VOLTS * phases
            periods.append(
                (float(str(period("start_period"))), float(str(period("limit"))) * scale)
            )
        if not periods or periods[0][0] != 0 or any(limit < 0 for _, limit in periods):
            raise ValueError("the periods must start at 0 and limit at 0 or more")
        duration = at("duration")
        transaction = get("transaction_id")
        return cls(
            purpose=str(get("charging_profile_purpose")),
            stack_level=int(str(get("stack_level"))),
            transaction=None if transaction is None else int(str(transaction)),
            start=start,
            duration=None if duration is None else float(str(duration)),
            periods=tuple(sorted(periods)),
        )

    def limit(self, now: float) -> float | None:
        """The limit (W) this schedule sets at ``now``; None outside it."""
        offset = now - self.start
        if offset < 0 or (self.duration is not None and offset >= self.duration):
            return None
        found = None
        for begins, limit in self.periods:
            if begins <= offset:
                found = limit
        return found


@dataclass
class ChargerModel:
    """A charger of ``max_w`` watts: the profiles it holds, its transaction, and the energy it
    delivered (Wh)."""

    max_w: float
    transaction: int | None = None
    energy_wh: float = 0.0
    power_w: float = 0.0
    profiles: dict[tuple[str, int], Schedule] = field(default_factory=dict)

    def set_profile(self, profile: Mapping[str, object], now: float) -> str:
        """SetChargingProfile.req: "Accepted" (kept, replacing the one of its purpose and
        stack level) or "Rejected" (not a profile we can obey, or a TxProfile of no running
        transaction, OCPP 1.6 section 5.16)."""
        try:
            schedule = Schedule.from_ocpp(profile, now)
        except (ValueError, TypeError):
            return "Rejected"
        if schedule.purpose not in ("TxProfile", "TxDefaultProfile", "ChargePointMaxProfile"):
            return "Rejected"
        if schedule.purpose == "TxProfile" and (
            self.transaction is None or schedule.transaction != self.transaction
        ):
            return "Rejected"
        self.profiles[(schedule.purpose, schedule.stack_level)] = schedule
        return "Accepted"

    def limit_w(self, now: float) -> float:
        """The limit in force at ``now`` (W): the charger's maximum, lowered by the charge
        point's maximum profile and by the transaction's (or the default) profile."""
        limit = self.max_w
        cap = self._winner("ChargePointMaxProfile", now)
        if cap is not None:
            limit = min(limit, cap)
        tx = self._winner("TxProfile", now) if self.transaction is not None else None
        chosen = tx if tx is not None else self._winner("TxDefaultProfile", now)
        return limit if chosen is None else min(limit, chosen)

    def step(self, demand_w: float, seconds: float, now: float) -> float:
        """Charge for ``seconds`` ending at ``now`` with the vehicle asking ``demand_w``: the
        power drawn (never above the lowest limit in force at any time of the step), added
        to the energy register."""
        allowed = self._lowest(now - seconds, now) if self.transaction is not None else 0.0
        self.power_w = max(0.0, min(demand_w, allowed))
        self.energy_wh += self.power_w * seconds / 3600.0
        return self.power_w

    def _lowest(self, begin: float, end: float) -> float:
        """The lowest limit in force in ``[begin, end)``: at ``begin`` and at every period
        boundary of a kept schedule inside the step."""
        moments = {begin}
        for schedule in self.profiles.values():
            edges = [schedule.start + offset for offset, _ in schedule.periods]
            if schedule.duration is not None:
                edges.append(schedule.start + schedule.duration)
            moments.update(edge for edge in edges if begin < edge < end)
        return min(self.limit_w(moment) for moment in moments)

    def _winner(self, purpose: str, now: float) -> float | None:
        levels = sorted(
            (level for kept, level in self.profiles if kept == purpose), reverse=True
        )  # fmt: skip
        for level in levels:
            schedule = self.profiles[(purpose, level)]
            if schedule.purpose == "TxProfile" and schedule.transaction != self.transaction:
                continue
            limit = schedule.limit(now)
            if limit is not None:
                return limit
        return None


def _getter(mapping: object) -> _Get:
    return _Get(mapping if isinstance(mapping, Mapping) else {})


@dataclass(frozen=True, slots=True)
class _Get:
    """Look a snake_case key up in a mapping that may use the wire's camelCase."""

    mapping: Mapping[str, object]

    def __call__(self, key: str) -> object:
        if key in self.mapping:
            return self.mapping[key]
        head, *rest = key.split("_")
        return self.mapping.get(head + "".join(word.capitalize() for word in rest))


def _time(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
