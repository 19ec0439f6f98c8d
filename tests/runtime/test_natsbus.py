"""The bus over the NATS server on this machine (WATTGUARD_NATS_URL)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from wattguard.errors import ConfigError
from wattguard.testing.services import NATS_URL, nats_reachable, require


@pytest.fixture
def nats_url() -> str:
    require(nats_reachable(NATS_URL), f"no NATS server at {NATS_URL} (set WATTGUARD_NATS_URL)")
    try:
        import nats  # noqa: F401
    except ImportError:
        require(False, "nats-py is not installed (the 'nats' extra)")
    return NATS_URL


def test_messages_arrive_in_order_between_two_connections(nats_url: str) -> None:
    from wattguard.runtime.natsbus import NatsBus

    async def scenario() -> list[tuple[str, bytes]]:
        station = await NatsBus.connect(nats_url, name="station")
        fep = await NatsBus.connect(nats_url, name="fep")
        run = uuid.uuid4().hex[:8]
        got: list[tuple[str, bytes]] = []
        done = asyncio.Event()

        def handler(subject: str, payload: bytes) -> None:
            got.append((subject, payload))
            if len(got) == 200:
                done.set()

        station.subscribe(f"up{run}.*", handler)
        station.subscribe(f"up{run}.*", lambda s, p: 1 / 0)  # a broken consumer is contained
        await station.ready()
        for i in range(200):
            fep.publish(f"up{run}.990000000001", i.to_bytes(2, "big"))
        await asyncio.wait_for(done.wait(), 10)
        await fep.close()
        await station.close()
        return got

    got = asyncio.run(scenario())
    assert [int.from_bytes(p, "big") for _, p in got] == list(range(200))
    assert {s.split(".")[1] for s, _ in got} == {"990000000001"}


def test_unsubscribe_stops_delivery(nats_url: str) -> None:
    from wattguard.runtime.natsbus import NatsBus

    async def scenario() -> list[bytes]:
        bus = await NatsBus.connect(nats_url)
        run = uuid.uuid4().hex[:8]
        got: list[bytes] = []
        stop = bus.subscribe(f"t{run}.>", lambda s, p: got.append(p))
        await bus.ready()
        bus.publish(f"t{run}.a.b", b"1")
        await bus.ready()
        await asyncio.sleep(0.2)
        stop()
        await asyncio.sleep(0.2)
        bus.publish(f"t{run}.a.b", b"2")
        await bus.ready()
        await asyncio.sleep(0.2)
        await bus.close()
        return got

    assert asyncio.run(scenario()) == [b"1"]


def test_an_unreachable_server_is_a_clear_error() -> None:
    from wattguard.runtime.natsbus import NatsBus

    try:
        import nats  # noqa: F401
    except ImportError:
        require(False, "nats-py is not installed (the 'nats' extra)")
    with pytest.raises(ConfigError, match="cannot reach NATS"):
        asyncio.run(NatsBus.connect("nats://127.0.0.1:1"))
