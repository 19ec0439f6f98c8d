"""Publishes in flight at once (``PUBLISH_WINDOW``, one by default: see its comment), against
the real NATS server: with a window a publish held up does not hold up the ones queued after
it, and what a batch waits for is still every publish queued before its mark, settled
without a gap; by default they go one after the other. And an idle consumer's long pull."""

from __future__ import annotations

import asyncio
import time

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
async def test_by_default_a_held_publish_holds_up_the_later_ones(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    await bus._js.delete_stream(bus._stream_name(DOWN))
    bus.publish("down.000000000001", b"held back")
    bus.publish("up.000000000001", b"report")
    await asyncio.sleep(1.0)
    assert await _stored(bus, UP) == 0, "one at a time: the report waits behind the first"
    await bus._ensure_streams()
    await until(lambda: bus._written == 2)
    assert await _stored(bus, UP) == 1
    await bus.close()


@run
async def test_a_held_publish_holds_up_neither_the_later_ones_nor_the_count(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jetstream, "PUBLISH_WINDOW", 32)
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
    monkeypatch.setattr(jetstream, "PUBLISH_WINDOW", 32)
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
async def test_many_publishes_are_all_stored_once(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jetstream, "PUBLISH_WINDOW", 32)
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    count = 3 * jetstream.PUBLISH_WINDOW + 5
    for k in range(count):
        bus.publish(f"up.{k % 7:012x}", b"report %d" % k)
    await until(lambda: bus._written == count, seconds=20.0)
    assert await _stored(bus, UP) == count and bus.duplicates == 0
    await bus.close()


@run
async def test_an_idle_consumer_gets_a_message_as_soon_as_it_is_published(prefix: str) -> None:
    """An idle consumer's pull waits on the server for up to FETCH_WAIT seconds; a message
    published meanwhile ends the wait at once (a pull that lingered until its timeout would
    hold an acknowledgement on its way to a terminal that long)."""
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    seen: list[float] = []
    bus.subscribe("down.*", lambda _s, _p: seen.append(time.monotonic()), durable="fep")
    await bus.ready()
    waits = []
    for k in range(5):
        await asyncio.sleep(0.3 + 0.17 * k)  # idle, at a different point of its pull each time
        sent = time.monotonic()
        bus.publish("down.000000000001", b"answer %d" % k)
        await until(lambda n=k + 1: len(seen) == n, seconds=10.0)
        waits.append(seen[-1] - sent)
    await bus.close()
    assert max(waits) < 0.3, f"a message waited {max(waits):.2f} s for an idle consumer"
