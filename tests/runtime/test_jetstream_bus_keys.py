"""JetStream with --bus-keys, against a nats-server -js started here with the configuration
``wattguard bus --init`` writes: the station creates the streams and consumes, an FEP only
publishes and reads its own consumer; a redelivered envelope is accepted, the same envelope
published again by someone holding the FEP's NATS credential (not its signing key) is
refused, while a bus without envelopes takes that replay."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wattguard.events import EventLog
from wattguard.network.bus import down_subject, up_subject
from wattguard.testing.aio import until
from wattguard.testing.services import NATS_SERVER, free_port, nats_server, require

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")
pytest.importorskip("nkeys", reason="the nats extra (nkeys) is absent")

from wattguard.runtime.buskeys import SERVER_CONFIG, inbox_prefix, init_bus
from wattguard.runtime.jetstream import JetStreamBus
from wattguard.runtime.roles import connect_bus

TERMINAL = bytes.fromhex("990000000007")


@dataclass
class Server:
    url: str
    keys: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    port = free_port()
    keys = tmp_path / "bus"
    init_bus(keys, ["fep-1"], listen=f"127.0.0.1:{port}")
    arguments = ["-js", "-sd", str(tmp_path / "js"), "-c", str(keys / SERVER_CONFIG)]
    with nats_server(arguments, port) as url:
        yield Server(url, keys)


async def _scenario(server: Server) -> tuple[list[bytes], EventLog, int]:
    station_js, station, sealed = await connect_bus(server.url, "station", server.keys,
                                                    jetstream=True)  # fmt: skip
    fep_js, fep, _ = await connect_bus(server.url, "fep-1", server.keys, jetstream=True)
    assert sealed is not None and isinstance(fep_js, JetStreamBus)
    sealed.events = log = EventLog()
    got: list[bytes] = []
    attempts = [0]

    def handler(_subject: str, payload: bytes) -> None:
        attempts[0] += 1
        if attempts[0] == 1:
            raise RuntimeError("the store failed once: the message comes again")
        got.append(payload)

    captured: list[bytes] = []
    original = fep_js.publish
    fep_js.publish = lambda s, p, msg_id=None: (captured.append(p), original(s, p, msg_id))[1]  # type: ignore[method-assign]
    station.subscribe("up.*", handler)
    down: list[bytes] = []
    fep.subscribe("down.*", lambda _s, payload: down.append(payload))  # its own consumer
    await station_js.ready()
    await fep_js.ready()
    station.publish(down_subject(TERMINAL), b"command")
    await until(lambda: down == [b"command"])
    fep.publish(up_subject(TERMINAL), b"report")
    await fep_js.ready()
    await until(lambda: got == [b"report"])  # the redelivery of the same envelope passes
    # the envelope as captured, published again under another message id: a new stream message
    fep_js.publish(up_subject(TERMINAL), captured[0], msg_id="replayed")
    await fep_js.ready()
    await until(lambda: sealed.refused >= 1)
    await fep_js.close()
    await station_js.close()
    return got, log, attempts[0]


def test_a_redelivery_passes_and_a_replay_is_refused(server: Server) -> None:
    got, log, attempts = asyncio.run(_scenario(server))
    assert attempts == 2 and got == [b"report"]
    assert [event.kind.name for event in log.events] == ["REPLAY"]


async def _unsealed_replay(server: Server) -> list[bytes]:
    station, _bus, _ = await connect_bus(server.url, "station", server.keys, jetstream=True)
    fep, _bus, _ = await connect_bus(server.url, "fep-1", server.keys, jetstream=True)
    assert isinstance(station, JetStreamBus) and isinstance(fep, JetStreamBus)
    got: list[bytes] = []
    station.subscribe("up.*", lambda _s, payload: got.append(payload))  # no envelope check
    await station.ready()
    fep.publish(up_subject(TERMINAL), b"report", msg_id="first")
    fep.publish(up_subject(TERMINAL), b"report", msg_id="replayed")
    await fep.ready()
    await until(lambda: len(got) == 2)
    await fep.close()
    await station.close()
    return got


def test_without_envelopes_the_replay_gets_through(server: Server) -> None:
    assert asyncio.run(_unsealed_replay(server)) == [b"report", b"report"]


async def _fep_overreaches(server: Server) -> list[str]:
    import nats

    await (await connect_bus(server.url, "station", server.keys, jetstream=True))[0].close()
    connection = await nats.connect(server.url, nkeys_seed=str(server.keys / "fep-1.nk"),
                                    inbox_prefix=inbox_prefix("fep-1"))  # fmt: skip
    js = connection.jetstream(timeout=1.0)
    refused = []
    await js.stream_info("WATTGUARD_UP")  # allowed: it checks the streams exist
    for name, attempt in (
        ("delete the up stream", js.delete_stream("WATTGUARD_UP")),
        ("consume the station's reports", js.pull_subscribe("up.*", durable="station-up__")),
        ("make a consumer of its own on up", js.pull_subscribe("up.*", durable="fep-1-up__")),
    ):
        try:
            await attempt
        except Exception:
            refused.append(name)
    await connection.close()
    return refused


def test_an_fep_may_not_touch_the_streams_or_the_stations_consumers(server: Server) -> None:
    assert asyncio.run(_fep_overreaches(server)) == [
        "delete the up stream", "consume the station's reports",
        "make a consumer of its own on up",
    ]  # fmt: skip
