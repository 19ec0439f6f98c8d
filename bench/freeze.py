"""Cost of the meter's freezes: a week of calendar stepped once a minute with the default
associations (15-minute curve of six attributes, hourly, daily and monthly energies), the
memory and bytes they take, and the time to save, restore and answer record reads.

    python bench/freeze.py
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

from wattguard.meter.management.freeze import FreezeObject, Freezer, expose_freezes
from wattguard.meter.management.module import LinkKeys, ManagementModule
from wattguard.protocol import MS, OAD, RCSD, RSD
from wattguard.protocol.apdu.get import GetRecord
from wattguard.protocol.data import MSChoice
from wattguard.testing import HOUSE, T0


def timed(action: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    meter = ManagementModule(bytes(6), LinkKeys(bytes(16), bytes(16), bytes(16)), protected=False)
    meter.measurement = HOUSE
    tracemalloc.start()
    freezer = Freezer(meter.model.get)
    expose_freezes(meter.model, freezer, meter.calendar)
    minutes = 7 * 1440
    start = time.perf_counter()
    for minute in range(minutes):
        meter.now = T0 + 60 * minute
        freezer.step(meter.calendar())
    per_step = (time.perf_counter() - start) / minutes
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    blob = freezer.to_bytes()
    curve = GetRecord(OAD(0x5002, 2), RSD(10, (96, MS(MSChoice.ALL_METERS))), RCSD(()))
    answer = freezer.records(curve)
    rows = len(answer.result) if isinstance(answer.result, tuple) else 0
    print(f"step (once a minute, a week):  {per_step * 1e6:8.1f} us")
    print(f"memory held after a week:      {held / 1024:8.1f} KiB")
    print(f"to_bytes, all objects:         {len(blob) / 1024:8.1f} KiB")
    minute = len(freezer.object_bytes(FreezeObject.MINUTE))
    print(f"  of which the minute curve:   {minute / 1024:8.1f} KiB")
    print(f"to_bytes:                      {timed(freezer.to_bytes, 50) * 1e3:8.2f} ms")
    restore = timed(lambda: Freezer.from_bytes(blob, meter.model.get), 50)
    print(f"from_bytes:                    {restore * 1e3:8.2f} ms")
    read = timed(lambda: freezer.records(curve), 50)
    print(f"read last 96 of the curve:     {read * 1e3:8.2f} ms "
          f"({rows} rows fit {len(answer.to_bytes())} bytes)")  # fmt: skip


if __name__ == "__main__":
    main()
