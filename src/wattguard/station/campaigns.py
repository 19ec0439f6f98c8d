"""Campaigns at the master station: a firmware image, a key update or a certificate update
taken to many meters, wave by wave, with per-meter progress and retries.

Theory of operation. A campaign is a remote command of the :class:`~wattguard.station.commands.
CommandBook` (same id, kinds FIRMWARE, KEY_UPDATE and CERTIFICATE_UPDATE: a supervisor issues
it and a *second* supervisor approves it, every step audited) plus what this module adds: the
meters in waves and each meter's progress. The campaign moves through the table
:data:`TRANSITIONS`::

    AWAITING_APPROVAL --approve--> APPROVED --start--> RUNNING --wave passed--> WAVE_DONE
          |                                              |  ^                     |
          +--reject--> REJECTED                          |  +------advance--------+
                         every state but the last three  +--last wave passed--> DONE
                         --stop (a person, or a wave over the threshold)--> STOPPED

Waves (:func:`plan_waves`): the *canary* first (``canary_share`` of the meters, at least one),
then waves of ``wave_sizes`` (the last size repeats until every meter has a wave). A wave is
judged when every meter of it has finished (:func:`wave_verdict`): if the share of its meters
that failed or rolled back is above ``max_failure_rate``, the campaign stops by itself and says
why; it also stops as soon as a wave's failures are certain to cross the threshold whatever its
unfinished meters do. With ``auto_advance`` a passed wave leads to the next at once; without,
a person advances it.

Each meter goes PENDING -> TRANSFERRING -> DONE, FAILED or ROLLED_BACK (:class:`MeterStep`).
A meter that did not answer (no answer from the terminal, or the terminal's DAR: the power
line did not carry it) is retried after :func:`backoff` (30 s, doubling, at most an hour) up
to ``max_attempts`` times; a meter's refusal (its DAR) is final. A firmware transfer remembers
the next block per meter (:attr:`MeterProgress.next_block`), so a retry or a restarted station
goes on from there.

This module is the core: no clock, no I/O (:mod:`wattguard.station.campaign_runner` drives it,
:mod:`wattguard.station.campaign_store` keeps it).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

from wattguard.errors import ConfigError
from wattguard.station.commands import CommandKind, CommandRefused

__all__ = [
    "CAMPAIGN_KINDS",
    "TRANSITIONS",
    "Campaign",
    "CampaignEvent",
    "CampaignPlan",
    "CampaignState",
    "MeterProgress",
    "MeterStep",
    "backoff",
    "plan_waves",
    "wave_verdict",
]

#: The command kinds that run as campaigns.
CAMPAIGN_KINDS = frozenset(
    (CommandKind.FIRMWARE, CommandKind.KEY_UPDATE, CommandKind.CERTIFICATE_UPDATE)
)
#: The first retry waits this long (seconds); each further one twice as long as the last.
FIRST_RETRY = 30.0
#: The longest wait between two tries of one meter.
LONGEST_RETRY = 3600.0


class CampaignState(enum.Enum):
    """Where a campaign stands (the diagram in the module docstring)."""

    AWAITING_APPROVAL = "awaiting approval"
    APPROVED = "approved"
    RUNNING = "running"
    WAVE_DONE = "wave done"
    DONE = "done"
    STOPPED = "stopped"
    REJECTED = "rejected"


class CampaignEvent(enum.Enum):
    """What moves a campaign (the inputs of :data:`TRANSITIONS`)."""

    APPROVE = "approve"
    REJECT = "reject"
    START = "start"
    WAVE_PASSED = "wave passed"
    LAST_WAVE_PASSED = "last wave passed"
    ADVANCE = "advance"
    STOP = "stop"


_S, _E = CampaignState, CampaignEvent
TRANSITIONS: dict[CampaignState, dict[CampaignEvent, CampaignState]] = {
    _S.AWAITING_APPROVAL: {_E.APPROVE: _S.APPROVED, _E.REJECT: _S.REJECTED, _E.STOP: _S.STOPPED},
    _S.APPROVED: {_E.START: _S.RUNNING, _E.STOP: _S.STOPPED},
    _S.RUNNING: {_E.WAVE_PASSED: _S.WAVE_DONE, _E.LAST_WAVE_PASSED: _S.DONE, _E.STOP: _S.STOPPED},
    _S.WAVE_DONE: {_E.ADVANCE: _S.RUNNING, _E.STOP: _S.STOPPED},
    _S.DONE: {},
    _S.STOPPED: {},
    _S.REJECTED: {},
}  # fmt: skip


class MeterStep(enum.Enum):
    """Where one meter of a campaign stands."""

    PENDING = "pending"
    TRANSFERRING = "transferring"
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled back"


#: The steps a meter ends in.
FINISHED = frozenset((MeterStep.DONE, MeterStep.FAILED, MeterStep.ROLLED_BACK))
_BAD = frozenset((MeterStep.FAILED, MeterStep.ROLLED_BACK))


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """How a campaign rolls out: the canary's share of the meters, the sizes of the waves after
    it (the last repeats), the failure (or rollback) rate of a wave that stops the campaign,
    whether a passed wave leads to the next by itself, and how often a silent meter is tried."""

    canary_share: float = 0.05
    wave_sizes: tuple[int, ...] = (10, 50, 200)
    max_failure_rate: float = 0.2
    auto_advance: bool = False
    max_attempts: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.canary_share <= 1.0:
            raise ConfigError("the canary share is above 0 and at most 1")
        if not self.wave_sizes or any(size < 1 for size in self.wave_sizes):
            raise ConfigError("wave sizes are whole numbers of meters, at least 1")
        if not 0.0 <= self.max_failure_rate < 1.0:
            raise ConfigError("the failure rate that stops a campaign is from 0 to below 1")
        if not 1 <= self.max_attempts <= 100:
            raise ConfigError("a meter is tried 1 to 100 times")


@dataclass(frozen=True, slots=True)
class MeterProgress:
    """One meter's progress in a campaign: its wave, step, the next firmware block to send, the
    tries so far and when the next may go, the version it reports, and what happened last."""

    meter: str
    wave: int
    step: MeterStep = MeterStep.PENDING
    next_block: int = 0
    attempts: int = 0
    next_try: float = 0.0
    reported: str = ""  # the version (or key version) the meter reports
    detail: str = ""
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign: its command's id and kind, what it takes to the meters (an image's SM3
    digest, a key version, a certificate), its plan, state and current wave."""

    id: int
    kind: CommandKind
    target: str  # the version the meters should report afterwards ("1.1.0", "2", a serial)
    payload: str  # firmware: the image's SM3 digest (hex); a certificate: its bytes (hex)
    plan: CampaignPlan
    created_by: str
    created_at: float
    state: CampaignState = CampaignState.AWAITING_APPROVAL
    wave: int = -1  # the wave under way or last passed (-1: none started)
    waves: int = 1
    reason: str = ""  # why it stopped
    updated_at: float = 0.0

    def move(self, event: CampaignEvent, now: float, **changes: object) -> Campaign:
        """This campaign after ``event`` (CommandRefused if its state does not allow it)."""
        following = TRANSITIONS[self.state].get(event)
        if following is None:
            raise CommandRefused(
                f"campaign {self.id} is {self.state.value}: it cannot {event.value}"
            )
        return replace(self, state=following, updated_at=now, **changes)  # type: ignore[arg-type]


def plan_waves(meters: int, plan: CampaignPlan) -> list[int]:
    """The size of each wave for ``meters`` meters: the canary, then ``plan.wave_sizes`` (the
    last repeating) until every meter is in one."""
    if meters < 1:
        return []
    canary = min(meters, max(1, math.ceil(meters * plan.canary_share - 1e-9)))
    sizes, left = [canary], meters - canary
    k = 0
    while left > 0:
        size = min(left, plan.wave_sizes[min(k, len(plan.wave_sizes) - 1)])
        sizes.append(size)
        left -= size
        k += 1
    return sizes


def wave_verdict(progress: Iterable[MeterProgress], max_failure_rate: float) -> tuple[bool, str]:
    """Whether a wave is finished, and why it stops the campaign ("" if it does not): its meters
    that failed or rolled back are more than ``max_failure_rate`` of it (decided as soon as the
    unfinished ones could not bring it back under)."""
    meters = list(progress)
    if not meters:
        return True, ""
    bad = sum(1 for p in meters if p.step in _BAD)
    rolled = sum(1 for p in meters if p.step == MeterStep.ROLLED_BACK)
    finished = all(p.step in FINISHED for p in meters)
    if bad / len(meters) > max_failure_rate:
        return True, (
            f"{bad} of {len(meters)} meters of the wave failed or rolled back ({rolled} rolled "
            f"back): more than {max_failure_rate:.0%}"
        )
    return finished, ""


def backoff(attempts: int) -> float:
    """Seconds to wait before try ``attempts + 1`` of a meter that did not answer."""
    return min(LONGEST_RETRY, FIRST_RETRY * 2.0 ** max(0, attempts - 1))
