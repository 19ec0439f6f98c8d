"""What one answer does to one meter's progress in a campaign: pure functions, no I/O (the
rules of :mod:`wattguard.station.campaigns`; :mod:`wattguard.station.campaign_runner` sends
the requests and applies the results).

* :func:`firmware_step`: ``next_block`` 0 is the start of the transfer (F001 method 7), 1..N
  the blocks (method 8), N+1 the read-back of F001 attribute 2 (phase, running version); the
  last block sent again after a silence and refused (the meter already checked and armed the
  image, so a block is out of sequence) goes to the read-back rather than failing;
* :func:`key_step`: a key or certificate update's answer; for a key update whose answer did
  not come, ``next_block`` 1 marks the question "which key version?" asked under the new keys;
* :func:`failed`: a request that did not go well is tried again after :func:`~wattguard.
  station.campaigns.backoff` if the failure is worth it and tries are left, else the meter
  failed.
"""

from __future__ import annotations

from dataclasses import replace

from wattguard.station.campaign_transport import Outcome
from wattguard.station.campaigns import Campaign, CampaignPlan, MeterProgress, MeterStep, backoff
from wattguard.station.commands import CommandKind

__all__ = ["failed", "firmware_step", "key_step", "transfer_state"]


def failed(plan: CampaignPlan, p: MeterProgress, outcome: Outcome, now: float) -> MeterProgress:
    """A request that did not go well: tried again later if worth it and tries are left."""
    attempts = p.attempts + 1
    if outcome.retry and attempts < plan.max_attempts:
        return replace(
            p,
            step=MeterStep.TRANSFERRING,
            attempts=attempts,
            next_try=now + backoff(attempts),
            detail=f"try {attempts} of {plan.max_attempts}: {outcome.detail}",
        )
    return replace(p, step=MeterStep.FAILED, attempts=attempts, detail=outcome.detail)


def firmware_step(
    campaign: Campaign, p: MeterProgress, outcome: Outcome, now: float,
    blocks: int, poll: float, polls: int,
) -> MeterProgress:  # fmt: skip
    """A firmware meter after ``outcome``: the next block at once, the read-back ``poll``
    seconds after the last block (at most ``polls`` times while the image waits for its
    restart), then done, rolled back or failed by what the meter runs."""
    if not outcome.ok and p.next_block == blocks and p.attempts > 0 and not outcome.retry:
        # the last block again after a silence, refused: the first one most likely arrived
        # and the image is checked and armed; what the meter runs will tell
        return replace(p, next_block=blocks + 1, next_try=now + poll, detail=outcome.detail)
    if not outcome.ok:
        return failed(campaign.plan, p, outcome, now)
    if p.next_block <= blocks:  # the start, or a block, went in
        following = p.next_block + 1
        return replace(
            p, step=MeterStep.TRANSFERRING, next_block=following, attempts=0,
            next_try=now + poll if following > blocks else now,
            detail=f"{min(following, blocks)}/{blocks} blocks",
        )  # fmt: skip
    phase, version = transfer_state(outcome)
    if version == campaign.target:
        return replace(p, step=MeterStep.DONE, reported=version, detail="running " + version)
    if phase == "trial" and p.attempts + 1 < polls:  # armed: not restarted yet
        return replace(p, attempts=p.attempts + 1, next_try=now + poll, reported=version,
                       detail="installed, awaiting restart")  # fmt: skip
    if phase == "idle":
        return replace(p, step=MeterStep.ROLLED_BACK, reported=version,
                       detail=f"rolled back: runs {version}")  # fmt: skip
    detail = f"meter is {phase} at {version}, not running {campaign.target}"
    return replace(p, step=MeterStep.FAILED, reported=version, detail=detail)


def key_step(campaign: Campaign, p: MeterProgress, outcome: Outcome, now: float) -> MeterProgress:
    """A key or certificate update's meter after ``outcome`` (done: for a key update, the
    caller moves the cryptographic device to the new keys)."""
    update = campaign.kind == CommandKind.KEY_UPDATE
    if update and p.next_block == 1:
        return _key_probed(campaign, p, outcome, now)
    if not outcome.ok:
        missed = failed(campaign.plan, p, outcome, now)
        if update and missed.step != MeterStep.FAILED:
            # it may have arrived with its answer lost: ask before sending it again
            return replace(missed, next_block=1)
        return missed
    return replace(p, step=MeterStep.DONE, reported=campaign.target, detail="ok")


def _key_probed(
    campaign: Campaign, p: MeterProgress, outcome: Outcome, now: float
) -> MeterProgress:
    """The answer to "which key version?" under the new keys: the meter has them (done), or
    it still has the old ones (the update goes again)."""
    value = outcome.value
    if outcome.ok and value is not None and value.value == bytes((int(campaign.target),)):
        return replace(
            p, step=MeterStep.DONE, reported=campaign.target,
            detail="ok (the update had arrived; its answer was lost)",
        )  # fmt: skip
    if outcome.retry:  # no answer to the question either: ask again later
        return failed(campaign.plan, p, outcome, now)
    return replace(p, next_block=0, next_try=now, detail="the update goes again")


def transfer_state(outcome: Outcome) -> tuple[str, str]:
    """F001 attribute 2's phase and running version ("unknown", "" if it is not that)."""
    value = outcome.value
    if value is None or not isinstance(value.value, tuple) or len(value.value) < 2:
        return "unknown", ""
    return str(value.value[0].value), str(value.value[1].value)
