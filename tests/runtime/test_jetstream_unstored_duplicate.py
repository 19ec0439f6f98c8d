"""A publish the JetStream server calls a duplicate of nothing it stored is not taken as stored.

A clustered nats-server before 2.10.25 notes a message's ``Nats-Msg-Id`` when its stream leader
proposes the message; when a leader change drops the proposal, the id stays noted (with sequence
0) and every retry of that publish is answered "duplicate" for the duplicate window
(nats-io/nats-server#6415). The FEP took that answer as "stored" and went on: one terminal's
gathered report was never stored, while the terminal (under a stray acknowledgement for its
PIID) took it as acknowledged (issue #18). These tests play the server with a fake JetStream
context: no NATS server is needed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wattguard.testing.aio import run, until

pytest.importorskip("nats", reason="the nats extra (nats-py) is absent")

from nats.js.api import PubAck

from wattguard.runtime import jetstream
from wattguard.runtime.jetstream import JetStreamBus


class _Cluster:
    """A stream whose leader lost the proposal of ``lost`` ids: they are noted with sequence 0
    and called duplicates ever after; any other id is stored once (a second publish of it is a
    duplicate of its sequence)."""

    def __init__(self, lost: set[str], lands_after: int | None = None) -> None:
        self.lost = lost
        self.lands_after = lands_after  # a proposal still on its way: stored after N answers
        self.stored: dict[str, tuple[int, bytes]] = {}
        self.answers = 0

    def jetstream(self) -> _Cluster:
        return self

    async def publish(
        self, subject: str, payload: bytes, timeout: float, headers: dict[str, str]
    ) -> PubAck:
        ident = headers["Nats-Msg-Id"]
        self.answers += 1
        if ident in self.lost:
            if self.lands_after is not None and self.answers > self.lands_after:
                self.lost.discard(ident)
                self.stored[ident] = (len(self.stored) + 1, payload)
                return PubAck(stream="UP", seq=len(self.stored), duplicate=True)
            return PubAck(stream="UP", seq=0, duplicate=True)
        if ident in self.stored:
            return PubAck(stream="UP", seq=self.stored[ident][0], duplicate=True)
        self.stored[ident] = (len(self.stored) + 1, payload)
        return PubAck(stream="UP", seq=len(self.stored))

    async def drain(self) -> None:
        return None


def _bus(cluster: _Cluster) -> JetStreamBus:
    return JetStreamBus(cluster, jetstream.DEFAULT_STREAMS)


@run
async def test_a_duplicate_of_nothing_stored_goes_again_under_a_new_id(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(jetstream, "STAGED_PATIENCE", 0.3, raising=False)
    report = b"a gathered report of 42 meters"
    lost = jetstream.message_id("up.000000000003", report)
    cluster = _Cluster({lost})
    bus = _bus(cluster)
    bus.publish("up.000000000003", report)
    await until(lambda: bus._queue.empty() and any(p == report for _, p in cluster.stored.values()),
                seconds=5.0)  # fmt: skip
    await bus.close()
    assert [p for _, p in cluster.stored.values()] == [report], "the report is stored, once"
    assert bus.unstored == 1 and bus.duplicates == 0 and bus.failed == 0


@run
async def test_a_proposal_still_on_its_way_is_not_published_twice(monkeypatch: Any) -> None:
    monkeypatch.setattr(jetstream, "STAGED_PATIENCE", 5.0, raising=False)
    report = b"a report whose proposal lands late"
    cluster = _Cluster({jetstream.message_id("up.000000000003", report)}, lands_after=3)
    bus = _bus(cluster)
    bus.publish("up.000000000003", report)
    await until(lambda: bool(cluster.stored), seconds=5.0)
    await asyncio.sleep(0.1)
    await bus.close()
    assert len(cluster.stored) == 1, "the same id, once its sequence is known: no second copy"
    assert bus.unstored == 0 and bus.duplicates == 1


@run
async def test_a_true_duplicate_is_not_sent_again() -> None:
    report = b"a report the server has"
    cluster = _Cluster(set())
    bus = _bus(cluster)
    bus.publish("up.000000000003", report)
    bus.publish("up.000000000003", report)  # a FEP's retry of a stored report
    await until(lambda: cluster.answers == 2, seconds=5.0)
    await bus.close()
    assert len(cluster.stored) == 1 and bus.duplicates == 1 and bus.unstored == 0
