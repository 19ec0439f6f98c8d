"""Against the real NATS server: a consumer whose cancellation is lost still stops, when it is
unsubscribed and when the bus closes.

Python 3.11's ``asyncio.wait_for`` returns the awaited result when a cancellation arrives just
as the result does, and nats-py's fetch awaits through it: the cancellation is gone and the
consumer's loop fetched on. A CI run hung for good so in ``JetStreamBus.close`` (which waited
for that consumer), and an unsubscribed FEP consumer would have gone on taking its terminal's
messages. The race cannot be forced, so the fetch here loses the first cancellation it gets."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime.jetstream import JetStreamBus


class LosesCancellations:
    """A real pull subscription whose fetch swallows the first cancellation, as the race
    does (only the first: a test that fails must not then hang in its own teardown)."""

    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription
        self.fetches = 0
        self.lost = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        self.fetches += 1
        try:
            return list(await self.subscription.fetch(batch, timeout=0.2))
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost += 1
            return []


async def _bus(prefix: str) -> tuple[JetStreamBus, list[LosesCancellations]]:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    made: list[LosesCancellations] = []
    real = bus._js.pull_subscribe

    async def pull_subscribe(*args: Any, **kwargs: Any) -> LosesCancellations:
        made.append(LosesCancellations(await real(*args, **kwargs)))
        return made[-1]

    bus._js.pull_subscribe = pull_subscribe
    return bus, made


@run
async def test_an_unsubscribed_consumer_stops_though_its_cancellation_is_lost(
    prefix: str,
) -> None:
    bus, made = await _bus(prefix)
    got: list[bytes] = []
    unsubscribe = bus.subscribe("down.000000000001", lambda _s, p: got.append(p))
    await bus.ready()
    await until(lambda: made and made[0].fetches >= 2)
    unsubscribe()
    await asyncio.sleep(0.5)
    assert made[0].lost == 1
    fetches = made[0].fetches
    await asyncio.sleep(1.0)
    assert made[0].fetches == fetches, "the unsubscribed consumer went on fetching"
    bus.publish("down.000000000001", b"for the next subscriber")
    await asyncio.sleep(0.5)
    assert got == []
    await asyncio.wait_for(bus.close(), 10.0)


@run
async def test_closing_the_bus_does_not_wait_for_a_consumer_whose_cancellation_is_lost(
    prefix: str,
) -> None:
    bus, made = await _bus(prefix)
    bus.subscribe("up.*", lambda _s, _p: None, durable="ingest")
    await bus.ready()
    await until(lambda: made and made[0].fetches >= 2)
    began = time.monotonic()
    await asyncio.wait_for(bus.close(), 10.0)  # before: waited for the consumer for good
    # the consumer's fetch returns within 0.2 s, and its loop then sees the bus closing (a
    # close that waited the 10 s out would have ended here too: its wait_for is cancelled
    # into close's own wait for the consumer, which took that cancellation as the consumer's)
    assert time.monotonic() - began < 3.0
    assert made[0].lost == 1
    fetches = made[0].fetches
    await asyncio.sleep(0.5)
    assert made[0].fetches == fetches
