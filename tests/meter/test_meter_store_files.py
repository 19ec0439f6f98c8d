"""The meter's non-volatile store and everything it writes beside it (the lock, a compaction,
the corrupt tail a repair keeps aside) are 0600 whatever the umask (issue #13 item 5)."""

from __future__ import annotations

import stat
from pathlib import Path

from wattguard.meter.management.storage import NonVolatileStore, encode_record
from wattguard.testing.files import umask, watch_modes


def test_the_store_its_compaction_and_a_saved_corrupt_tail_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    with umask(0), watch_modes(tmp_path) as watch:
        with NonVolatileStore(path) as store:
            store.put("meter/address", b"\x00" * 6)
            store.put("esam/sealed", b"\x5a" * 64)
            store.put("esam/sealed", b"\xa5" * 64)
            store.compact()
            store.put("tariff", b"\x03\x04")  # a record after the one damaged below
        offset = 8 + len(encode_record(1, b"meter/address", b"\x00" * 6))
        flipped = bytearray(path.read_bytes())
        flipped[offset + 10] ^= 0x40
        path.write_bytes(bytes(flipped))  # the test's own damage, under the same umask
        path.chmod(0o600)
        with NonVolatileStore(path, repair=True) as store:
            assert store.get("esam/sealed") is None  # cut at the corruption
    saved = tmp_path / f"nv.corrupt-{offset}"
    assert saved.read_bytes() == bytes(flipped[offset:])
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()} == {
        "nv": 0o600, "nv.lock": 0o600, saved.name: 0o600,
    }  # fmt: skip
    assert watch.loose() == []
