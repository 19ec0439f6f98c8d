"""Publishes in flight at once (``PUBLISH_WINDOW``), against the real NATS server: a publish
held up does not hold up the ones queued after it, and what a batch waits for is still every
publish queued before its mark, settled without a gap."""

from __future__ import annotations

import asyncio

import pytest

from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime import jetstream
from wattguard.runtime.jetstream import DEFAULT_STREAMS, JetStreamBus

UP, DOWN = DEFAULT_STREAMS[0], DEFAULT_STREAMS[2]


async def _stored(bus: JetStreamBus, spec: jetstream.StreamSpec) -> int:
    info = await bus._js.stream_info(bus._stream_name(spec))
    return int(info.state.messages)


@run
async def test_a_held_publish_holds_up_neither_the_later_ones_nor_the_count(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    await bus._js.delete_stream(bus._stream_name(DOWN))  # its publishes cannot be stored
    bus.publish("down.000000000001", b"held back")
    for k in range(3):
        bus.publish("up.000000000001", b"report %d" % k)
    for _ in range(100):  # stored though the first publish is still waiting
        if await _stored(bus, UP) == 3:
            break
        await asyncio.sleep(0.05)
    assert await _stored(bus, UP) == 3
    assert bus._written == 0, "settled counts only without a gap: the first is not"
    await bus._ensure_streams()  # the down stream is back: the first is stored too
    await until(lambda: bus._written == 4)
    assert list(bus._given_up) == []
    await bus.close()


@run
async def test_a_publish_given_up_is_named_by_its_place(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jetstream, "PUBLISH_PATIENCE", 0.5)
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    bus.publish("up.000000000001", b"first")
    await until(lambda: bus._written == 1)
    await bus._js.delete_stream(bus._stream_name(DOWN))
    bus.publish("down.000000000001", b"given up")  # position 2
    bus.publish("up.000000000001", b"third")
    await until(lambda: bus._written == 3, seconds=10.0)
    assert list(bus._given_up) == [2] and bus.failed == 1
    assert bus._all_stored(0, 1) and not bus._all_stored(1, 3)
    await bus._ensure_streams()
    await bus.close()


@run
async def test_many_publishes_are_all_stored_once(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    count = 3 * jetstream.PUBLISH_WINDOW + 5
    for k in range(count):
        bus.publish(f"up.{k % 7:012x}", b"report %d" % k)
    await until(lambda: bus._written == count, seconds=20.0)
    assert await _stored(bus, UP) == count and bus.duplicates == 0
    await bus.close()
