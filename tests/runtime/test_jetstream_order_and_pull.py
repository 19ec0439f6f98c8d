"""Against the real NATS server: publishes go one at a time, in order (JetStreamBus._write
says why), and an idle consumer's pull hands a message over as soon as it is published."""

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
async def test_a_held_publish_holds_up_the_later_ones(prefix: str) -> None:
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
