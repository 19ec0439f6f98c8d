"""The terminal's outbox: without gathering (hold 0) an item goes as soon as the window has
room, whatever time it was queued at; with gathering it waits for a full batch or its hold."""

from __future__ import annotations

from wattguard.network.terminal.outbox import Outbox
from wattguard.network.terminal.tasks import Collected, decode_item, encode_item

ITEM = Collected(bytes.fromhex("000000000001"), 100.0, b"\x05\x01", b"\x85\x01")


def test_without_gathering_an_item_goes_at_once_even_queued_at_a_later_time() -> None:
    outbox = Outbox("t", batch_items=10, window=2, limit=100)
    outbox.queue(ITEM, now=1_790_000_000.0)  # the collection's clock ran ahead of the link's
    assert outbox.next_report(now=1_789_999_990.0) is not None
    assert outbox.due() is None


def test_with_gathering_a_batch_waits_until_full_or_held_long_enough() -> None:
    outbox = Outbox("t", batch_items=3, window=2, limit=100, hold=5.0)
    outbox.queue(ITEM, now=100.0)
    outbox.queue(ITEM, now=101.0)
    assert outbox.due() == 105.0 and outbox.next_report(now=104.9) is None
    report = outbox.next_report(now=105.0)
    assert report is not None and len(outbox) == 0
    for k in range(3):  # a full batch goes at once
        outbox.queue(ITEM, now=200.0 + k)
    assert outbox.next_report(now=202.0) is not None


def test_items_wait_as_the_bytes_they_go_up_as() -> None:
    outbox = Outbox("t", batch_items=2, window=1, limit=10)
    outbox.queue(ITEM, now=0.0)
    outbox.queue(ITEM, now=0.0)
    assert outbox.items == [decode_item(encode_item(ITEM))] * 2
    report = outbox.next_report(1.0)
    assert report is not None and report.data == (encode_item(ITEM),) * 2
    # one bytes object an item while it waits or travels, no item object and two APDUs
    assert outbox.in_flight[report.piid] == report.data


def _cycle(outbox: Outbox, now: float, batches: int) -> list[int]:
    """Send and acknowledge ``batches`` one-item batches at ``now``; their PIIDs."""
    piids = []
    for _ in range(batches):
        outbox.queue(ITEM, now)
        report = outbox.next_report(now)
        assert report is not None
        piids.append(report.piid)
        assert outbox.acknowledged(report.piid, now)
    return piids


def test_a_late_acknowledgement_never_takes_another_batch_off_the_outbox() -> None:
    # Batch A times out (its items go again), then its acknowledgement comes late, after the
    # terminal has sent 63 more batches: the PIIDs have come round. With the PIIDs reused at
    # once the late acknowledgement took the batch now under A's PIID off the outbox, though
    # the station never had it.
    outbox = Outbox("t", batch_items=1, window=1, limit=1000)
    outbox.queue(ITEM, 0.0)
    first = outbox.next_report(0.0)
    assert first is not None
    outbox.unanswered(first.piid, 30.0)  # timed out: the item is back in front
    piids = _cycle(outbox, 31.0, 63)  # it and 62 more go and are acknowledged
    assert first.piid not in piids  # A's PIID rests
    outbox.queue(ITEM, 32.0)
    # Every PIID rests or is in use: the batch waits (before, it went under A's PIID, and
    # the late acknowledgement below took it off the outbox, never stored).
    assert outbox.next_report(32.0) is None and outbox.due() == 150.0
    assert not outbox.acknowledged(first.piid, 149.0)  # the late one: matches nothing
    pending = outbox.next_report(150.0)  # A's PIID woke: the batch goes under it
    assert pending is not None and pending.piid == first.piid
    assert outbox.in_flight == {pending.piid: pending.data}


def test_when_every_free_piid_rests_the_next_batch_waits_for_the_first_to_wake() -> None:
    outbox = Outbox("t", batch_items=1, window=4, limit=1000, quarantine=120.0)
    _cycle(outbox, 10.0, 64)  # all 64 used and acknowledged at 10 s: all rest until 130 s
    outbox.queue(ITEM, 20.0)
    assert outbox.next_report(20.0) is None and outbox.due() == 130.0
    report = outbox.next_report(130.0)
    assert report is not None and len(outbox) == 0


def test_a_repeated_acknowledgement_is_ignored_while_its_piid_rests() -> None:
    outbox = Outbox("t", batch_items=1, window=2, limit=1000)
    (piid,) = _cycle(outbox, 0.0, 1)
    outbox.queue(ITEM, 1.0)
    report = outbox.next_report(1.0)
    assert report is not None and report.piid != piid
    assert not outbox.acknowledged(piid, 2.0)  # the same batch acknowledged twice
    assert report.piid in outbox.in_flight
