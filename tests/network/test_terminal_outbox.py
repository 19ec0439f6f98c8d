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
