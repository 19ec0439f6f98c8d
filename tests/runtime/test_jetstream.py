"""The JetStream bus against the real NATS server (JetStream on): deduplicated publishing, a
work queue shared by workers, redelivery after a worker dies or a handler fails."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest

from wattguard.errors import ConfigError
from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime.jetstream import (
    DEFAULT_STREAMS,
    JetStreamBus,
    StreamSpec,
    message_id,
)


async def _bus(prefix: str, **options: Any) -> JetStreamBus:
    return await JetStreamBus.connect(NATS_URL, prefix=prefix, **options)


@run
async def test_a_message_published_twice_is_stored_and_delivered_once(prefix: str) -> None:
    got: list[tuple[str, bytes]] = []
    bus = await _bus(prefix)
    bus.subscribe("up.*", lambda s, p: got.append((s, p)), durable="ingest")
    await bus.ready()
    bus.publish("up.000000000100", b"report one")
    bus.publish("up.000000000100", b"report one")  # the same bytes again: a FEP's retry
    bus.publish("up.000000000100", b"report two")
    await bus.ready()
    await until(lambda: len(got) >= 2)
    await asyncio.sleep(0.3)
    await bus.close()
    assert got == [("up.000000000100", b"report one"), ("up.000000000100", b"report two")]
    assert bus.duplicates == 1 and bus.published == 3


@run
async def test_equal_messages_down_to_a_terminal_are_each_delivered(prefix: str) -> None:
    """The station's acknowledgement of a report repeats byte for byte each time its PIID
    comes round: every one must reach the terminal (under content ids the 65th was dropped)."""
    got: list[bytes] = []
    bus = await _bus(prefix)
    bus.subscribe("down.*", lambda s, p: got.append(p), durable="fep")
    await bus.ready()
    ack = bytes.fromhex("0801000000")  # the same acknowledgement, PIID 1, 70 times
    for _ in range(70):
        bus.publish("down.000000000100", ack)
    await bus.ready()
    await until(lambda: len(got) >= 70)
    await asyncio.sleep(0.3)
    await bus.close()
    assert got == [ack] * 70 and bus.duplicates == 0


@run
async def test_an_explicit_message_id_deduplicates_across_publishers(prefix: str) -> None:
    first, second = await _bus(prefix), await _bus(prefix)
    first.publish("up.000000000100", b"sealed copy 1", msg_id="report-7")
    await first.ready()
    second.publish("up.000000000100", b"sealed copy 2", msg_id="report-7")  # a restarted FEP
    await second.ready()
    info = await first._js.stream_info(first._stream_name(DEFAULT_STREAMS[0]))
    await first.close()
    await second.close()
    assert info.state.messages == 1 and second.duplicates == 1


@run
async def test_workers_sharing_a_durable_consumer_split_the_messages_exactly_once(
    prefix: str,
) -> None:
    seen: dict[str, list[bytes]] = {"a": [], "b": []}
    publisher = await _bus(prefix)
    workers = [await _bus(prefix, batch=8) for _ in range(2)]
    for name, worker in zip(("a", "b"), workers, strict=True):
        worker.subscribe("up.>", lambda s, p, n=name: seen[n].append(p), durable="ingest")
        await worker.ready()
    for k in range(400):
        publisher.publish(f"up.{k % 4:012d}", f"reading {k}".encode())
    await publisher.ready()
    await until(lambda: len(seen["a"]) + len(seen["b"]) >= 400)
    await asyncio.sleep(0.3)
    for bus in (publisher, *workers):
        await bus.close()
    every = seen["a"] + seen["b"]
    assert sorted(every) == sorted(f"reading {k}".encode() for k in range(400))
    assert seen["a"] and seen["b"], "both workers took a share"


#: A worker that takes a batch, says so, and hangs holding it unacknowledged until killed.
WORKER = """
import asyncio, sys, time
from wattguard.runtime.jetstream import JetStreamBus

def hold(subject, payload):
    print(payload.decode(), flush=True)
    time.sleep(3600)

async def main():
    bus = await JetStreamBus.connect(sys.argv[1], prefix=sys.argv[2], ack_wait=1.0, batch=50)
    bus.subscribe("up.>", hold, durable="ingest")
    await bus.ready()
    print("ready", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@run
async def test_what_a_killed_worker_held_goes_to_the_other(prefix: str) -> None:
    doomed = subprocess.Popen(
        [sys.executable, "-c", WORKER, NATS_URL, prefix], stdout=subprocess.PIPE, text=True
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "ready"
        publisher = await _bus(prefix)
        for k in range(20):
            publisher.publish("up.000000000100", f"r{k}".encode())
        await publisher.ready()
        held = await asyncio.to_thread(doomed.stdout.readline)
    finally:
        doomed.kill()  # SIGKILL mid-batch: nothing it held was acknowledged
        doomed.wait()
        if doomed.stdout is not None:
            doomed.stdout.close()
    survivor = await _bus(prefix, ack_wait=1.0)
    got: list[bytes] = []
    survivor.subscribe("up.>", lambda s, p: got.append(p), durable="ingest")
    await survivor.ready()
    await until(lambda: len(set(got)) >= 20, seconds=15)
    await asyncio.sleep(0.3)
    await survivor.close()
    await publisher.close()
    assert sorted(got) == sorted(f"r{k}".encode() for k in range(20)), "each once, none lost"
    assert held.strip().encode() in got and survivor.redelivered >= 1


@run
async def test_a_failing_handler_gets_the_message_again_then_it_is_dropped(prefix: str) -> None:
    attempts: list[bytes] = []
    later: list[bytes] = []

    def flaky(subject: str, payload: bytes) -> None:
        if payload == b"poison":
            attempts.append(payload)
            raise ValueError("cannot store this")
        later.append(payload)

    bus = await _bus(prefix, max_deliver=3, retry_delay=0.05)
    bus.subscribe("up.>", flaky, durable="ingest")
    await bus.ready()
    bus.publish("up.000000000100", b"poison")
    bus.publish("up.000000000100", b"fine")
    await bus.ready()
    await until(lambda: len(attempts) >= 3 and later == [b"fine"])
    await asyncio.sleep(0.5)
    await bus.close()
    assert len(attempts) == 3 and bus.terminated == 1, "tried max_deliver times, then dropped"


@run
async def test_a_subject_no_stream_stores_is_refused(prefix: str) -> None:
    bus = await _bus(prefix, streams=(StreamSpec("ONLY_UP", ("up.>",)),))
    with pytest.raises(ConfigError, match="no JetStream stream"):
        bus.publish("down.000000000100", b"x")
    await bus.close()


def test_the_default_message_id_depends_on_subject_and_payload() -> None:
    assert message_id("up.a", b"x") == message_id("up.a", b"x")
    assert len({message_id("up.a", b"x"), message_id("up.b", b"x"), message_id("up.a", b"y")}) == 3
