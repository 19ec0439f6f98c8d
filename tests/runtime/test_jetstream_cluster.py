"""A three-node NATS JetStream cluster on loopback (the layout of deploy/nats-cluster/), the
streams kept on all three (replicas 3): one node is stopped while reports are published and
consumed, and every message arrives exactly once."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.testing.services import NATS_SERVER, free_ports, require

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from wattguard.runtime.jetstream import DEFAULT_STREAMS, JetStreamBus, replicated

MESSAGES = 600


def node_config(name: str, client: int, route: int, routes: list[int], store: Path) -> str:
    """One node's configuration: the same shape as deploy/nats-cluster/nats-1.conf, on
    loopback ports."""
    others = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in routes if port != route)
    return (
        f'server_name: "{name}"\nlisten: "127.0.0.1:{client}"\n'
        f'jetstream {{ store_dir: "{store}" }}\n'
        f'cluster {{ name: "wattguard", listen: "127.0.0.1:{route}", routes: [{others}] }}\n'
    )


def _wait_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[list[int], list[subprocess.Popen[bytes]]]]:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    ports = free_ports(6)
    clients, routes = ports[:3], ports[3:]
    nodes = []
    for i in range(3):
        config = tmp_path / f"nats-{i + 1}.conf"
        config.write_text(
            node_config(f"nats-{i + 1}", clients[i], routes[i], routes, tmp_path / f"js{i}")
        )
        command = [NATS_SERVER, "-c", str(config)]
        nodes.append(subprocess.Popen(command, stderr=subprocess.DEVNULL))
    try:
        for port in clients:
            _wait_port(port)
        yield clients, nodes
    finally:
        for node in nodes:
            if node.poll() is None:
                node.terminate()
                node.wait(timeout=10)


async def _connect(url: str, name: str) -> JetStreamBus:
    deadline = time.monotonic() + 30
    while True:  # the cluster elects its meta leader a few seconds after the nodes start
        try:
            return await JetStreamBus.connect(
                url, name=name, streams=replicated(DEFAULT_STREAMS, 3), ack_wait=3.0
            )
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _scenario(clients: list[int], nodes: list[subprocess.Popen[bytes]]) -> list[bytes]:
    # the publisher and the consumer each know all three nodes, and reconnect to another
    servers = ",".join(f"nats://127.0.0.1:{port}" for port in clients)
    publisher = await _connect(servers, "fep")
    consumer = await _connect(servers, "ingest")
    got: list[bytes] = []
    consumer.subscribe("up.*", lambda _subject, payload: got.append(payload), durable="ingest")
    await consumer.ready()
    for i in range(MESSAGES):
        publisher.publish(f"up.{i % 7:012d}", f"report {i}".encode())
        if i == MESSAGES // 3:
            await publisher.ready()
            nodes[0].terminate()  # one node of three stops mid-run
            nodes[0].wait(timeout=10)
        if i % 50 == 0:
            await asyncio.sleep(0.05)
    await publisher.ready()
    deadline = time.monotonic() + 60
    while len(set(got)) < MESSAGES and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(4.0)  # longer than ack_wait: a redelivery would show now
    assert publisher.failed == 0
    await publisher.close()
    await consumer.close()
    return got


def test_a_three_node_cluster_loses_one_node_and_nothing_is_lost_or_duplicated(
    cluster: tuple[list[int], list[subprocess.Popen[bytes]]],
) -> None:
    clients, nodes = cluster
    # bounded: a hang (once, in closing a connection) fails here instead of holding the run
    got = asyncio.run(asyncio.wait_for(_scenario(clients, nodes), 180))
    assert nodes[0].poll() is not None, "the node was stopped during the run"
    expected = {f"report {i}".encode() for i in range(MESSAGES)}
    assert set(got) == expected, f"{len(expected - set(got))} messages lost"
    assert len(got) == MESSAGES, f"{len(got) - MESSAGES} messages delivered twice"
