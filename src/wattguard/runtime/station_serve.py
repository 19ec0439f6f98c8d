"""The station process's main loop: its tick every second and its status line."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from wattguard.runtime.station_roles import LeaderStation
from wattguard.station.service import Station
from wattguard.station.storage import Storage, StorageError

if TYPE_CHECKING:
    from wattguard.runtime.station_charging import StationCharging

__all__ = ["serve_station", "status_line"]

log = logging.getLogger(__name__)


async def serve_station(
    station: Station, storage: Storage, status_every: float, jobs: StationCharging | None
) -> None:
    """Tick ``station`` (and its charging ``jobs``) every second and print its status line
    every ``status_every`` seconds, until cancelled."""
    last = time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        try:  # a lost database connection is taken up again at the next call
            station.tick()
            if jobs is not None:
                jobs.tick(station.clock.time())
            if time.monotonic() - last >= status_every:
                last = time.monotonic()
                print(status_line(station, storage), flush=True)
        except StorageError as exc:
            log.warning("station: storage unavailable (tried again): %s", exc)


def status_line(station: Station, storage: Storage) -> str:
    """The station's status line: readings stored, terminals online, security events, group
    commit's transactions (and failed ones), and the readings a leader heard from the
    database."""
    line = (
        f"station: {station.stored:,} readings from {station.collector.online()} terminals, "
        f"{storage.count_events()} security events"
    )
    if station.ingest is not None:
        stats = station.ingest.stats
        line += (
            f", {stats.commits:,} commits for {stats.reports:,} reports ({stats.rows:,} rows, "
            f"{stats.failed:,} failed)"
        )
    if isinstance(station, LeaderStation):
        line += f", {station.tailed:,} readings heard from the database"
    return line
