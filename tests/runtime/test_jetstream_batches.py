"""The JetStream bus's batches and where a new consumer starts, against the real NATS server:
a fetched batch is acknowledged only after its commit (``before_ack``), a failed commit gives
the whole batch back, and a consumer of the limits stream ``down`` made for the first time
starts with new messages while a durable one that exists resumes where it stopped."""

from __future__ import annotations

import asyncio

import pytest

from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime.jetstream import DEFAULT_STREAMS, JetStreamBus


async def _held(bus: JetStreamBus) -> int:
    """Messages the up stream still holds (a work queue drops each one acknowledged)."""
    info = await bus._js.stream_info(bus._stream_name(DEFAULT_STREAMS[0]))
    return int(info.state.messages)


class _Store:
    """A store with group commit: handlers queue, the commit makes the queue durable; it can
    be made to fail (the database went away)."""

    def __init__(self) -> None:
        self.queued: list[bytes] = []
        self.durable: list[bytes] = []
        self.commits = 0
        self.down = True

    def handle(self, _subject: str, payload: bytes) -> None:
        self.queued.append(payload)

    def commit(self) -> bool:
        batch, self.queued = self.queued, []
        if self.down:
            return False
        self.commits += 1
        self.durable += batch
        return True


@run
async def test_a_batch_is_acknowledged_only_after_its_commit(prefix: str) -> None:
    store = _Store()
    publisher = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    # an outage longer than max_deliver deliveries: the batch is held, not delivered again
    worker = await JetStreamBus.connect(NATS_URL, prefix=prefix, retry_delay=0.1, max_deliver=2)
    worker.before_ack = store.commit
    worker.subscribe("up.*", store.handle, durable="ingest")
    await worker.ready()
    sent = [f"report {k}".encode() for k in range(300)]
    for k, payload in enumerate(sent):
        publisher.publish(f"up.{k % 7:012d}", payload)
    await publisher.ready()
    await until(lambda: worker.failed_batches >= 4)
    assert await _held(publisher) == 300, "no message acknowledged while its commit fails"
    assert store.durable == []
    store.down = False  # the database is back: the batches given back are committed
    await until(lambda: len(set(store.durable)) == 300)
    await asyncio.sleep(0.3)
    assert await _held(publisher) == 0, "each acknowledged after its commit"
    await worker.close()
    await publisher.close()
    assert sorted(set(store.durable)) == sorted(sent) and worker.terminated == 0
    assert store.commits <= 300 / 10, f"{store.commits} commits for 300 messages: not batched"


@run
async def test_a_new_consumer_of_the_down_stream_starts_with_new_messages(prefix: str) -> None:
    station = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    station.publish("down.000000000100", b"an hour-old command")
    await station.ready()
    await asyncio.sleep(1.0)

    async def fep(got: list[bytes]) -> JetStreamBus:
        bus = await JetStreamBus.connect(NATS_URL, prefix=prefix, consumer="fep-1", lookback=0.5)
        bus.subscribe("down.*", lambda _s, p: got.append(p))
        await bus.ready()
        return bus

    first: list[bytes] = []
    bus = await fep(first)
    station.publish("down.000000000100", b"command 1")
    await station.ready()
    await until(lambda: first == [b"command 1"])
    await asyncio.sleep(0.3)
    await bus.close()
    station.publish("down.000000000100", b"command 2, sent while the FEP restarts")
    await station.ready()
    again: list[bytes] = []
    bus = await fep(again)  # the same durable consumer: it resumes where it stopped
    await until(lambda: len(again) >= 1)
    await asyncio.sleep(0.3)
    await bus.close()
    await station.close()
    assert first == [b"command 1"], "a new FEP is not sent the stream's past"
    assert again == [b"command 2, sent while the FEP restarts"]
