"""The station's group commit under asyncio: the timer that commits a batch when its oldest
report has waited long enough (:mod:`wattguard.station.group_commit`)."""

from __future__ import annotations

import asyncio

from wattguard.station.group_commit import MAX_DELAY
from wattguard.station.service import Station

__all__ = ["drive_group_commit"]


async def drive_group_commit(station: Station, idle: float = MAX_DELAY) -> None:
    """Run ``station``'s group-commit timer until cancelled: commit each batch when due,
    sleep until the next is (``idle`` seconds while nothing waits). A batch filled to its size
    is committed at once by the report that filled it, without waiting for this loop."""
    while True:
        timer = station.tick_ingest()
        now = station.clock.monotonic()
        await asyncio.sleep(idle if timer is None else max(0.0, timer - now))
