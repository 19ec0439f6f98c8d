"""What the scenarios share: fresh systems to attack, and a household's load to drive them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from wattguard.meter.device import Meter, MeterConfig
from wattguard.testing import ADDRESS, HOUSE, MIDNIGHT
from wattguard.testing.meter import new_meter

__all__ = ["ADDRESS", "HOUSE", "T0", "fresh_meter", "household", "serving"]

#: The scenarios start at a midnight (UTC): whole days of freezes and readings.
T0 = MIDNIGHT


def fresh_meter(protected: bool, **kwargs: object) -> Meter:
    """A new meter, powered up at T0; protected: F101 enforced and every link MAC-checked."""
    meter = new_meter(ADDRESS, config=MeterConfig(protected=protected), **kwargs)
    meter.power_up(T0)
    return meter


def household(meter: Meter, hours: float, start: float = T0) -> float:
    """Drive ``meter`` with a household's load, minute by minute; returns the time reached."""
    now = start
    for _ in range(int(hours * 60)):
        now += 60.0
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)
    return now


@contextlib.asynccontextmanager
async def serving(app: object) -> AsyncIterator[int]:
    """Serve the ASGI ``app`` under uvicorn on a free loopback port for the ``async with``
    block; yields the port, and stops the server after the block."""
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1", port=0, log_level="critical", lifespan="off", access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        await task
