"""The station's storage work under asyncio: the group commit's timer, which commits a batch
when its oldest report has waited long enough (:mod:`wattguard.station.group_commit`), and the
hourly upkeep (the next days' partitions, retention: :mod:`wattguard.station.partitions`)."""

from __future__ import annotations

import asyncio
import logging
import time

from wattguard.station.group_commit import MAX_DELAY
from wattguard.station.records import StorageError
from wattguard.station.service import Station
from wattguard.station.storage import Storage

__all__ = ["UPKEEP_EVERY", "drive_group_commit", "maintain_storage"]

log = logging.getLogger(__name__)

#: Seconds between two runs of the storage's upkeep.
UPKEEP_EVERY = 3600.0


async def drive_group_commit(station: Station, idle: float = MAX_DELAY) -> None:
    """Run ``station``'s group-commit timer until cancelled: commit each batch when due,
    sleep until the next is (``idle`` seconds while nothing waits). A batch filled to its size
    is committed at once by the report that filled it, without waiting for this loop."""
    while True:
        timer = station.tick_ingest()
        now = station.clock.monotonic()
        await asyncio.sleep(idle if timer is None else max(0.0, timer - now))


async def maintain_storage(
    storage: Storage, retain_days: int | None, every: float = UPKEEP_EVERY
) -> None:
    """Run ``storage.maintain`` now and every ``every`` seconds until cancelled: the next
    days' partitions, and with ``retain_days`` the older days dropped. A failure is logged
    and tried again at the next run."""
    while True:
        try:
            dropped = await asyncio.to_thread(storage.maintain, time.time(), retain_days)
        except StorageError as exc:
            log.warning("storage upkeep failed (tried again in %.0f s): %s", every, exc)
        else:
            if dropped:
                log.info("retention: dropped the readings of %d days", len(dropped))
        await asyncio.sleep(every)
