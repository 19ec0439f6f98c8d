"""A terminal reads a few meters at a time (its polling slots), every meter in its turn, and a
station's request goes ahead of the meters waiting for their collection round."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from wattguard.meter.device import MeterConfig
from wattguard.network.hplc import Direction, HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.network.terminal.lines import Job
from wattguard.protocol import OAD
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.runtime.simulation import Neighbourhood
from wattguard.testing import T0
from wattguard.testing.meter import new_meter

TERMINAL = bytes.fromhex("990000000002")
REALTIME = CollectionTask("real-time", 900.0, (OAD(0x0010, 2, 0), OAD(0x2000, 2, 0)))
METERS = 12


def _flat(now: float, seconds: float) -> tuple[Any, Any]:
    return np.full(METERS, 1000.0), np.full(METERS, 200.0)


def _build(slots: int) -> tuple[Neighbourhood, list[int]]:
    """A terminal of METERS meters; the list gets, at each frame sent down, how many of its
    lines hold a connection (a request in flight)."""
    channel = HplcChannel(seed=3)
    terminal = Terminal(TERMINAL, channel, tasks=(REALTIME,), start=T0, polling_slots=slots)
    meters = [new_meter(bytes.fromhex(f"{i:012d}"), config=MeterConfig(protected=False))
              for i in range(1, METERS + 1)]  # fmt: skip
    for meter in meters:
        terminal.add_meter(meter.address)
    held: list[int] = []
    send = channel.send

    def watched(direction: Direction, address: bytes, data: bytes, now: float) -> None:
        if direction == Direction.DOWN:
            held.append(sum(line._connection is not None for line in terminal.meters.values()))
        send(direction, address, data, now)

    channel.send = watched  # type: ignore[method-assign]
    net = Neighbourhood(terminal, channel, meters, _flat)
    net.power_up(T0)
    return net, held


@pytest.mark.parametrize("slots", [1, 3])
def test_at_most_the_polling_slots_are_read_at_once_and_every_meter_is_read(slots: int) -> None:
    net, held = _build(slots)
    net.run_until(T0 + 960)
    reads = Counter(item.meter for item in net.terminal.outbox.items)
    assert len(reads) == METERS and set(reads.values()) == {2}  # at T0 and T0 + 900
    assert max(held) == slots
    assert all(line._connection is None for line in net.terminal.meters.values())


def test_the_station_request_goes_before_the_meters_waiting_their_turn() -> None:
    net, _ = _build(1)
    terminal = net.terminal
    net.run_until(T0 + 0.001)  # the round has begun: one meter read, the others wait
    assert sum(line.waiting for line in terminal.meters.values()) == METERS - 1
    answered: list[Any] = []
    last = terminal.meters[bytes.fromhex(f"{METERS:012d}")]
    ask = GetRequestNormal(1, OAD(0x4001, 2, 0))
    terminal._enqueue(last, Job(ask, answered.append), T0 + 0.001)
    net.run_until(T0 + 60)
    order = [item.meter for item in terminal.outbox.items]
    assert answered and answered[0] is not None
    # the station's request was answered before most of the round: its meter's own
    # collection comes after (its line waited for the request to be done)
    assert order.index(last.address) < METERS - 1
    assert len(order) == METERS


def test_a_terminal_polls_at_least_one_meter() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Terminal(TERMINAL, HplcChannel(), polling_slots=0)
