"""A batch is acknowledged only when what it published is stored, against the real NATS
server: an ingest worker's acknowledgements down must be on the server before the reports
they answer leave the up stream, or a worker killed in between leaves the terminal waiting for
its own timeout. The down stream is removed to hold the publishes back."""

from __future__ import annotations

import asyncio

import pytest

from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime import jetstream
from wattguard.runtime.jetstream import DEFAULT_STREAMS, JetStreamBus

UP, DOWN = DEFAULT_STREAMS[0], DEFAULT_STREAMS[2]


async def _held(bus: JetStreamBus) -> int:
    """Messages the up stream still holds (a work queue drops each one acknowledged)."""
    info = await bus._js.stream_info(bus._stream_name(UP))
    return int(info.state.messages)


async def _down(bus: JetStreamBus) -> int:
    info = await bus._js.stream_info(bus._stream_name(DOWN))
    return int(info.state.messages)


async def _emptied(bus: JetStreamBus, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if await _held(bus) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the report is still on the up stream")


class _Worker:
    """An ingest worker in small: each report queued, committed by the batch, and answered
    down once committed."""

    def __init__(self, bus: JetStreamBus) -> None:
        self.bus = bus
        self.queued: list[bytes] = []
        self.seen: list[bytes] = []

    def handle(self, _subject: str, payload: bytes) -> None:
        self.queued.append(payload)
        self.seen.append(payload)

    def commit(self) -> bool:
        batch, self.queued = self.queued, []
        for payload in batch:
            self.bus.publish("down.000000000001", b"ack of " + payload)
        return True


async def _worker(prefix: str) -> tuple[JetStreamBus, _Worker]:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix, retry_delay=0.1)
    worker = _Worker(bus)
    bus.before_ack = worker.commit
    bus.subscribe("up.*", worker.handle, durable="ingest")
    await bus.ready()
    return bus, worker


@run
async def test_a_batch_is_acknowledged_only_once_its_answers_are_stored(prefix: str) -> None:
    bus, worker = await _worker(prefix)
    await bus._js.delete_stream(bus._stream_name(DOWN))  # the answers cannot be stored
    bus.publish("up.000000000001", b"report 1")
    await until(lambda: worker.seen == [b"report 1"])
    await asyncio.sleep(1.0)
    assert await _held(bus) == 1, "the report left the up stream before its answer was stored"
    await bus._ensure_streams()  # the down stream is back: the answer is stored, then the ack
    await _emptied(bus)
    assert await _down(bus) == 1
    await bus.close()
    assert worker.seen == [b"report 1"] and bus.unsent_batches == 0


@run
async def test_a_batch_whose_answer_was_given_up_is_delivered_again(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jetstream, "PUBLISH_PATIENCE", 0.5)
    bus, worker = await _worker(prefix)
    await bus._js.delete_stream(bus._stream_name(DOWN))
    bus.publish("up.000000000001", b"report 1")
    await until(lambda: bus.unsent_batches >= 1)
    await bus._ensure_streams()
    await _emptied(bus)
    await bus.close()
    assert worker.seen[0] == b"report 1" and len(worker.seen) >= 2, "delivered again"
    assert set(worker.seen) == {b"report 1"}
    assert bus.failed >= 1


@run
async def test_a_batch_that_published_nothing_waits_for_no_other_publish(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix, retry_delay=0.1)
    other = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    seen: list[bytes] = []
    bus.before_ack = lambda: True
    bus.subscribe("up.*", lambda _s, p: seen.append(p), durable="fep")
    await bus.ready()
    await bus._js.delete_stream(bus._stream_name(DOWN))
    bus.publish("down.000000000001", b"held back: its stream is gone")  # the writer is stuck
    other.publish("up.000000000001", b"a frame")
    await other.ready()
    await until(lambda: seen == [b"a frame"])
    await _emptied(bus)  # acknowledged though the writer has not stored the down message
    assert bus._written == 0
    await bus._ensure_streams()
    await other.close()
    await bus.close()
