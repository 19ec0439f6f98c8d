"""Against the real NATS server: a bus keeps only its live subscriptions. An FEP subscribes
once for every terminal connection (its ``down.<terminal>`` consumer) and unsubscribes when the
terminal goes; a long-lived FEP with terminals reconnecting all day must not keep every
consumer task it ever started, and ``close`` and ``ready`` look only at the live ones."""

from __future__ import annotations

import asyncio

import pytest

from wattguard.errors import ConfigError
from wattguard.testing.aio import run, until
from wattguard.testing.services import NATS_URL

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime.jetstream import JetStreamBus


@run
async def test_a_subscription_that_ended_is_let_go(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)
    got: list[bytes] = []
    kept = bus.subscribe("down.000000000009", lambda _s, p: got.append(p))
    await bus.ready()
    for n in range(20):  # a terminal connecting and going, twenty times
        unsubscribe = bus.subscribe(f"down.0000000001{n:02d}", lambda _s, _p: None)
        await bus.ready()
        unsubscribe()
    await until(lambda: len(bus._subscriptions) == 1, 10.0)
    bus.publish("down.000000000009", b"still delivered")
    await until(lambda: got == [b"still delivered"])
    kept()
    await until(lambda: not bus._subscriptions, 10.0)
    await asyncio.wait_for(bus.close(), 10.0)


@run
async def test_a_consumer_that_could_not_be_made_is_still_reported(prefix: str) -> None:
    bus = await JetStreamBus.connect(NATS_URL, prefix=prefix)

    async def refused(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no such stream")

    bus._js.pull_subscribe = refused  # type: ignore[method-assign]
    bus.subscribe("down.000000000009", lambda _s, _p: None)
    with pytest.raises(ConfigError, match="no such stream"):
        await bus.ready()
    await asyncio.wait_for(bus.close(), 10.0)
