"""MeterServer drives a meter with the one shell (CoreShell): it answers a 698 client over real
TCP, and the meter's own timer (not a polling tick) runs its delayed operations."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from wattguard.clock import VirtualClock
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.protocol import OAD, ClientConnection, Data, DataType, Response, ServerAddress
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.runtime import MeterServer
from wattguard.testing import ADDRESS
from wattguard.testing.meter import running_meter

UNPROTECTED = MeterConfig(protected=False)


class RunningClock:
    """Real time, from the meter's own ``now`` on (POSIX seconds, as the runtime's clock)."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.began = time.monotonic()

    def time(self) -> float:
        return self.start + time.monotonic() - self.began

    def monotonic(self) -> float:
        return time.monotonic() - self.began


async def read_address(port: int) -> GetResponseNormal:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = ClientConnection(ServerAddress(ADDRESS))
    client.send_request(GetRequestNormal(1, OAD(0x4001, 2)), 0.0)
    writer.write(client.data_to_send())
    await writer.drain()
    try:
        while True:
            client.receive_data(await asyncio.wait_for(reader.read(4096), 5.0), 0.0)
            event = client.next_event()
            if isinstance(event, Response):
                assert isinstance(event.response, GetResponseNormal)
                return event.response
    finally:
        writer.close()


async def until(condition: object, seconds: float) -> float:
    """Wait (watching, not driving the meter) until ``condition()``; the time it took."""
    began = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - began < seconds, "the condition did not come about"
        await asyncio.sleep(0.01)
    return time.monotonic() - began


def test_a_connected_meter_answers_and_trips_on_its_own_timer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    meter = running_meter(config=UNPROTECTED)
    meter.management.trip(meter.now, delay=0.3, reason="delayed")  # due 0.3 s from the start
    relay = meter.management.relay

    async def scenario() -> tuple[GetResponseNormal, float]:
        server = MeterServer(meter, RunningClock(meter.now))
        port = await server.start()
        _, writer = await asyncio.open_connection("127.0.0.1", port)  # connected, silent
        try:
            took = await until(lambda: relay.state == RelayState.TRIPPED, 0.9)
        finally:
            writer.close()
        answer = await read_address(port)  # served once the silent client has gone
        await server.close()
        return answer, took

    with caplog.at_level(logging.INFO, logger="wattguard.runtime.meter"):
        answer, took = asyncio.run(scenario())
    assert answer.result.result == Data(DataType.OCTET_STRING, ADDRESS)
    # no polling tick: the trip happened when the meter's timer said (0.3 s), not a second on
    assert took < 0.8
    (entry,) = meter.log.of_kind(MeterEventKind.RELAY_TRIP)
    assert "trip pending -> tripped" in entry.detail
    assert any("trip pending -> tripped" in record.getMessage() for record in caplog.records)


def test_wake_without_a_client_runs_what_is_due() -> None:
    meter: Meter = running_meter(config=UNPROTECTED)
    meter.management.trip(meter.now, delay=60)
    clock = VirtualClock(meter.now)
    server = MeterServer(meter, clock)
    server.wake()
    assert meter.management.relay.state == RelayState.TRIP_PENDING
    clock.advance(60)
    server.wake()
    assert meter.management.relay.state == RelayState.TRIPPED
