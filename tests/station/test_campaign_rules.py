"""The campaign core and its tables: waves, the threshold that stops a wave, backoff, the
state table, and campaigns, progress and images kept on SQLite and PostgreSQL alike."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wattguard.errors import ConfigError
from wattguard.protocol import Data, DataType
from wattguard.station.campaign_steps import firmware_step, key_step
from wattguard.station.campaign_store import CampaignStore, StoredImage
from wattguard.station.campaign_transport import Outcome
from wattguard.station.campaigns import (
    TRANSITIONS,
    Campaign,
    CampaignEvent,
    CampaignPlan,
    CampaignState,
    MeterProgress,
    MeterStep,
    backoff,
    plan_waves,
    wave_verdict,
)
from wattguard.station.commands import CommandKind, CommandRefused
from wattguard.testing.storage import PERSISTENT, Backend


def test_the_canary_comes_first_then_the_waves_with_the_last_size_repeating() -> None:
    plan = CampaignPlan(canary_share=0.05, wave_sizes=(10, 50))
    assert plan_waves(200, plan) == [10, 10, 50, 50, 50, 30]
    assert plan_waves(3, plan) == [1, 2]  # at least one canary
    assert plan_waves(1, plan) == [1]
    assert plan_waves(0, plan) == []
    assert plan_waves(10, CampaignPlan(canary_share=1.0)) == [10]
    assert sum(plan_waves(997, CampaignPlan(canary_share=0.3, wave_sizes=(7,)))) == 997


@pytest.mark.parametrize(
    "plan",
    [
        {"canary_share": 0.0},
        {"canary_share": 1.5},
        {"wave_sizes": ()},
        {"wave_sizes": (5, 0)},
        {"max_failure_rate": 1.0},
        {"max_attempts": 0},
    ],
)
def test_a_plan_that_makes_no_sense_is_refused(plan: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        CampaignPlan(**plan)  # type: ignore[arg-type]


def progress(*steps: MeterStep) -> list[MeterProgress]:
    return [MeterProgress(f"{k:012d}", 0, step) for k, step in enumerate(steps)]


def test_a_wave_over_the_threshold_stops_and_says_why() -> None:
    d, f, r, p = MeterStep.DONE, MeterStep.FAILED, MeterStep.ROLLED_BACK, MeterStep.PENDING
    assert wave_verdict(progress(d, d, d, d, d), 0.2) == (True, "")
    assert wave_verdict(progress(d, d, d, d, r), 0.2) == (True, "")  # 20 % is not above 20 %
    finished, reason = wave_verdict(progress(d, r, d, d, r), 0.2)
    assert finished and "2 of 5" in reason and "2 rolled back" in reason
    # decided early: two failures of five are above 20 % whatever the pending ones do
    finished, reason = wave_verdict(progress(f, r, p, p, p), 0.2)
    assert finished and reason
    assert wave_verdict(progress(d, f, p, p, p), 0.2) == (False, "")
    assert wave_verdict(progress(r), 0.0)[1]  # a zero threshold: any failure stops


def test_backoff_doubles_up_to_an_hour() -> None:
    waits = [backoff(k) for k in range(1, 12)]
    assert waits[:4] == [30.0, 60.0, 120.0, 240.0]
    assert waits == sorted(waits) and waits[-1] == 3600.0


def test_the_state_table_refuses_what_it_does_not_list() -> None:
    campaign = Campaign(7, CommandKind.FIRMWARE, "1.1.0", "ab", CampaignPlan(), "sun", 1.0)
    with pytest.raises(CommandRefused, match="awaiting approval: it cannot start"):
        campaign.move(CampaignEvent.START, 2.0)
    running = campaign.move(CampaignEvent.APPROVE, 2.0).move(CampaignEvent.START, 3.0, wave=0)
    assert running.state == CampaignState.RUNNING and running.wave == 0
    stopped = running.move(CampaignEvent.STOP, 4.0, reason="by hand")
    for event in CampaignEvent:
        with pytest.raises(CommandRefused):
            stopped.move(event, 5.0)
    assert all(TRANSITIONS[s] == {} for s in (CampaignState.DONE, CampaignState.REJECTED))


def test_campaigns_progress_and_images_are_kept(backend: Backend) -> None:
    store = CampaignStore(backend.open())
    image = StoredImage("ab" * 32, "WTGD", "1.1.0", 5, b"\x00\xffimg", "sun", 10.0)
    assert store.add_image(image) and not store.add_image(image)  # once
    plan = CampaignPlan(0.1, (3, 9), 0.25, True, 7)
    campaign = Campaign(4, CommandKind.FIRMWARE, "1.1.0", image.digest, plan, "sun", 11.0)
    store.save_campaign(campaign)
    rows = [
        MeterProgress("000000000001", 0, MeterStep.TRANSFERRING, 17, 2, 99.5, "", "2/9", 12.0),
        MeterProgress("000000000002", 1),
    ]
    store.save_progress(campaign.id, rows)
    moved = campaign.move(CampaignEvent.APPROVE, 13.0)
    store.save_campaign(moved)
    store.save_progress(campaign.id, [MeterProgress("000000000002", 1, MeterStep.DONE)])
    again = CampaignStore(backend.open()) if backend.name in PERSISTENT else store
    assert again.campaigns() == [moved]
    assert again.progress(4) == [rows[0], MeterProgress("000000000002", 1, MeterStep.DONE)]
    assert again.image(image.digest) == image
    assert [i.digest for i in again.images()] == [image.digest]
    assert again.image("cd" * 32) is None


# what one answer does to one meter (station.campaign_steps)

FIRMWARE = Campaign(1, CommandKind.FIRMWARE, "1.1.0", "ab", CampaignPlan(max_attempts=3), "sun", 0)
KEYS = Campaign(2, CommandKind.KEY_UPDATE, "2", "", CampaignPlan(max_attempts=3), "sun", 0)
OK = Outcome(True)
SILENT = Outcome(False, "no answer from the terminal", retry=True)
REFUSED = Outcome(False, "meter: DAR 30 signature error")


def state(phase: str, version: str) -> Outcome:
    value = Data.structure(
        Data(DataType.VISIBLE_STRING, phase),
        Data(DataType.VISIBLE_STRING, version),
        Data(DataType.LONG_UNSIGNED, 0),
    )
    return Outcome(True, value=value)


def test_a_transfer_goes_block_by_block_then_reads_the_version_back() -> None:
    p = MeterProgress("000000000001", 0)
    for k in range(3):  # the start and blocks 0 and 1: the next goes at once
        p = firmware_step(FIRMWARE, p, OK, 100.0 + k, 3, 60.0, 10)
        assert (p.step, p.next_block, p.next_try) == (MeterStep.TRANSFERRING, k + 1, 100.0 + k)
    last = firmware_step(FIRMWARE, p, OK, 200.0, 3, 60.0, 10)  # block 2, the last
    assert last.next_block == 4 and last.next_try == 260.0  # the read-back, a minute later
    waiting = firmware_step(FIRMWARE, last, state("trial", "1.0.0"), 260.0, 3, 60.0, 10)
    assert waiting.step == MeterStep.TRANSFERRING and waiting.next_try == 320.0
    done = firmware_step(FIRMWARE, waiting, state("idle", "1.1.0"), 320.0, 3, 60.0, 10)
    assert (done.step, done.reported) == (MeterStep.DONE, "1.1.0")
    rolled = firmware_step(FIRMWARE, waiting, state("idle", "1.0.0"), 320.0, 3, 60.0, 10)
    assert (rolled.step, rolled.reported) == (MeterStep.ROLLED_BACK, "1.0.0")
    odd = firmware_step(FIRMWARE, waiting, state("receiving", "1.0.0"), 320.0, 3, 60.0, 10)
    assert odd.step == MeterStep.FAILED and "receiving" in odd.detail
    never = firmware_step(FIRMWARE, waiting, state("trial", "1.0.0"), 320.0, 3, 60.0, 2)
    assert never.step == MeterStep.FAILED  # it never restarted into the image


def test_silence_is_retried_from_the_same_block_and_a_refusal_is_final() -> None:
    p = MeterProgress("000000000001", 0, MeterStep.TRANSFERRING, next_block=2)
    first = firmware_step(FIRMWARE, p, SILENT, 100.0, 3, 60.0, 10)
    assert (first.step, first.next_block, first.attempts, first.next_try) == (
        MeterStep.TRANSFERRING, 2, 1, 130.0,
    )  # fmt: skip
    second = firmware_step(FIRMWARE, first, SILENT, 130.0, 3, 60.0, 10)
    assert second.next_try == 190.0 and second.attempts == 2
    assert firmware_step(FIRMWARE, second, SILENT, 190.0, 3, 60.0, 10).step == MeterStep.FAILED
    refused = firmware_step(FIRMWARE, p, REFUSED, 100.0, 3, 60.0, 10)
    assert refused.step == MeterStep.FAILED and "DAR 30" in refused.detail


def test_a_key_update_without_an_answer_is_asked_about_before_it_goes_again() -> None:
    p = MeterProgress("000000000001", 0)
    assert key_step(KEYS, p, OK, 1.0).step == MeterStep.DONE
    asked = key_step(KEYS, p, SILENT, 1.0)
    assert asked.next_block == 1 and asked.step == MeterStep.TRANSFERRING
    has_them = key_step(KEYS, asked, Outcome(True, value=Data(DataType.OCTET_STRING, b"\x02")), 2)
    assert has_them.step == MeterStep.DONE and "answer was lost" in has_them.detail
    old_keys = key_step(KEYS, asked, Outcome(False, "meter refused: DAR 22"), 2.0)
    assert (old_keys.next_block, old_keys.next_try, old_keys.attempts) == (0, 2.0, 1)
    again = key_step(KEYS, asked, SILENT, 2.0)
    assert again.next_block == 1 and again.attempts == 2
    certificate = replace(KEYS, kind=CommandKind.CERTIFICATE_UPDATE)
    assert key_step(certificate, p, SILENT, 1.0).next_block == 0  # nothing to ask


def test_the_last_block_refused_after_a_silence_is_judged_by_what_the_meter_runs() -> None:
    p = MeterProgress("000000000001", 0, MeterStep.TRANSFERRING, next_block=3)
    silent = firmware_step(FIRMWARE, p, SILENT, 100.0, 3, 60.0, 10)
    out_of_sequence = Outcome(False, "meter: DAR 14 data block sequence invalid")
    again = firmware_step(FIRMWARE, silent, out_of_sequence, 130.0, 3, 60.0, 10)
    assert (again.step, again.next_block, again.next_try) == (MeterStep.TRANSFERRING, 4, 190.0)
    first_time = firmware_step(FIRMWARE, p, out_of_sequence, 100.0, 3, 60.0, 10)
    assert first_time.step == MeterStep.FAILED  # refused without a silence before: final
