"""The management module's non-volatile store and software upgrade, timed.

    python bench/firmware.py [--image-kib K]

Prints: puts per second with an fsync per write and with fsync on request (wall-clock, since
fsync waits for the disk), the time to open (replay) a log of 10,000 records, the time to
check a signed image of ``--image-kib`` KiB, and the time of a whole upgrade of that image
in 1 KiB blocks into a store that fsyncs every write (transfer, verify, activate, boot,
confirm).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from wattguard.crypto import sm2
from wattguard.events import EventLog
from wattguard.meter.management.firmware import FirmwareBuilder, FirmwareImage
from wattguard.meter.management.storage import NonVolatileStore, SyncPolicy
from wattguard.meter.management.upgrade import Upgrader


def puts_per_second(directory: Path, sync: SyncPolicy, count: int) -> float:
    with NonVolatileStore(directory / f"puts-{sync.name}", sync=sync) as store:
        start = time.perf_counter()
        for index in range(count):
            store.put(f"counter/{index % 64}", index.to_bytes(8, "big") * 8)
        store.sync()
        return count / (time.perf_counter() - start)


def open_seconds(directory: Path, records: int) -> float:
    path = directory / "replay"
    with NonVolatileStore(path, sync=SyncPolicy.ON_REQUEST, compact_min_bytes=1 << 40) as store:
        for index in range(records):
            store.put(f"key/{index}", bytes(64))
    start = time.perf_counter()
    NonVolatileStore(path).close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-kib", type=int, default=512)
    args = parser.parse_args()
    vendor = sm2.PrivateKey.generate()
    builder = FirmwareBuilder(vendor, "WTGD")
    body = bytes(range(256)) * (args.image_kib * 4)
    factory = builder.build(b"factory", "1.0.0")
    image = builder.build(body, "1.1.0")

    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        for sync, count in ((SyncPolicy.EVERY_WRITE, 300), (SyncPolicy.ON_REQUEST, 20_000)):
            rate = puts_per_second(directory, sync, count)
            print(f"puts of 64 bytes, fsync {sync.value}: {rate:,.0f} per second")
        print(f"open a log of 10,000 records: {open_seconds(directory, 10_000) * 1000:.0f} ms")

        start = time.perf_counter()
        FirmwareImage.from_bytes(image, vendor.public_key)
        checked = time.perf_counter() - start
        print(f"check a signed {args.image_kib} KiB image: {checked * 1000:.1f} ms")

        with NonVolatileStore(directory / "upgrade") as store:
            upgrader = Upgrader(store, vendor.public_key, EventLog())
            upgrader.provision(factory, 0.0)
            start = time.perf_counter()
            count = upgrader.start(len(image), 0.0, block_size=1024)
            for index in range(count):
                upgrader.write_block(index, image[index * 1024 : (index + 1) * 1024], 0.0)
            upgrader.verify(0.0)
            upgrader.activate(0.0)
            upgrader.boot(True, 0.0)
            upgrader.confirm(0.0)
            took = time.perf_counter() - start
            print(
                f"upgrade of {args.image_kib} KiB in {count} blocks, fsync every write: "
                f"{took:.2f} s; store {store.size / 1024:.0f} KiB after"
            )


if __name__ == "__main__":
    main()
