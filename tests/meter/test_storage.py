"""The non-volatile store survives a crash at every byte of a write, reports corruption in the
middle with its offset, compacts without losing the latest values, and keeps a second opener
out; under random operation sequences it behaves as a dict."""

from __future__ import annotations

import multiprocessing
import os
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.meter.management.storage import (
    MemoryStore,
    NonVolatileStore,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    SyncPolicy,
    encode_record,
)

BEFORE = {"meter/address": b"\x00\x00\x00\x00\x00\x01", "tariff": b"\x01\x02", "gone": b"x"}


def fill(path: Path) -> tuple[int, int]:
    """A store with some history; returns (size before the last record, size after it)."""
    with NonVolatileStore(path) as store:
        for key, value in BEFORE.items():
            store.put(key, value)
        store.put("tariff", b"\x03\x04")
        store.delete("gone")
        before = store.size
        store.put("fw/state", b"\xaa" * 40)  # the last record, the one a crash interrupts
        return before, store.size


def expected_before() -> dict[str, bytes]:
    return {"meter/address": BEFORE["meter/address"], "tariff": b"\x03\x04"}


def test_values_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    with NonVolatileStore(path) as store:
        assert dict(store.items()) == {**expected_before(), "fw/state": b"\xaa" * 40}
        assert store.notes == []
        assert dict(store.items("fw/")) == {"fw/state": b"\xaa" * 40}


def test_a_crash_at_every_byte_of_the_last_record_loses_nothing_before_it(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    before, after = fill(path)
    whole = path.read_bytes()
    assert len(whole) == after and before < after
    for cut in range(before, after):
        for filler in (b"", b"\x00"):  # a plain truncation, or a zero-filled extension
            path.write_bytes(whole[:cut] + filler * (after - cut))
            with NonVolatileStore(path) as store:
                assert dict(store.items()) == expected_before(), (cut, filler)
                if cut > before:
                    assert store.notes and "torn tail" in store.notes[0]
                store.put("after", b"ok")  # the log is usable again
            with NonVolatileStore(path) as store:
                assert store.get("after") == b"ok"
                assert store.notes == []
    path.write_bytes(whole)
    with NonVolatileStore(path) as store:
        assert store.get("fw/state") == b"\xaa" * 40


def test_a_bit_flip_in_the_middle_is_corruption_with_its_offset(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    whole = path.read_bytes()
    first_record = 8
    second_record = first_record + len(encode_record(1, b"meter/address", BEFORE["meter/address"]))
    for position in range(second_record, second_record + 20):
        for bit in (0, 7):
            flipped = bytearray(whole)
            flipped[position] ^= 1 << bit
            path.write_bytes(flipped)
            with pytest.raises(StoreCorruptError) as caught:
                NonVolatileStore(path)
            assert caught.value.offset == second_record
            assert path.read_bytes() == bytes(flipped)  # refusing changed nothing on disk


def test_repair_keeps_everything_before_the_corruption_and_saves_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    whole = path.read_bytes()
    offset = 8 + len(encode_record(1, b"meter/address", BEFORE["meter/address"]))
    flipped = bytearray(whole)
    flipped[offset + 10] ^= 0x40
    path.write_bytes(flipped)
    with NonVolatileStore(path, repair=True) as store:
        assert dict(store.items()) == {"meter/address": BEFORE["meter/address"]}
        assert "corrupt record at byte" in store.notes[0]
    saved = tmp_path / f"nv.corrupt-{offset}"
    assert saved.read_bytes() == bytes(flipped[offset:])


def test_a_bit_flip_anywhere_never_goes_unnoticed(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    whole = path.read_bytes()
    good = {**expected_before(), "fw/state": b"\xaa" * 40}
    refused, opened = 0, 0
    for position in range(len(whole)):
        flipped = bytearray(whole)
        flipped[position] ^= 0x10
        path.write_bytes(flipped)
        try:
            with NonVolatileStore(path) as store:
                seen = dict(store.items())
                notes = store.notes
        except StoreCorruptError:
            refused += 1
            continue
        opened += 1
        # Opened: only the last record (torn-tail rule) can have gone, and it says so.
        assert seen in (good, expected_before()), position
        assert seen == good or notes
    assert refused and opened  # both outcomes were checked: a flip before the tail, and in it


def test_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    path.write_bytes(b"something else entirely")
    with pytest.raises(StoreCorruptError, match="not a wattguard store"):
        NonVolatileStore(path)
    path.write_bytes(b"WG")  # creation interrupted inside the header
    with NonVolatileStore(path) as store:
        assert len(store) == 0
        assert store.notes


def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    with NonVolatileStore(path) as store:
        store.put("k", b"v")
        with pytest.raises(StoreLockedError):
            NonVolatileStore(path)
        store.compact()  # the lock file is not renamed: still held after compaction
        with pytest.raises(StoreLockedError):
            NonVolatileStore(path)
    with NonVolatileStore(path) as store:
        assert store.get("k") == b"v"


def _try_open(path: str, answer: multiprocessing.queues.Queue[str]) -> None:
    try:
        NonVolatileStore(path).close()
        answer.put("opened")
    except StoreLockedError:
        answer.put("locked")


def test_another_process_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    context = multiprocessing.get_context("fork")
    answer: multiprocessing.queues.Queue[str] = context.Queue()
    with NonVolatileStore(path):
        process = context.Process(target=_try_open, args=(str(path), answer))
        process.start()
        process.join(30)
        assert answer.get(timeout=5) == "locked"
    process = context.Process(target=_try_open, args=(str(path), answer))
    process.start()
    process.join(30)
    assert answer.get(timeout=5) == "opened"


def test_compaction_keeps_the_latest_values(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    with NonVolatileStore(path, compact_min_bytes=4096) as store:
        written, compactions = 0, 0
        for round_ in range(200):
            for key, value in (
                ("counter", round_.to_bytes(4, "big")),
                (f"block/{round_ % 7}", bytes([round_]) * 100),
            ):
                before = store.size
                store.put(key, value)
                compactions += store.size < before
                written += len(encode_record(1, key.encode(), value))
        store.delete("block/3")
        assert compactions >= 5  # it ran along the way, by itself
        assert store.size < 4096 * 2 < written
        latest = dict(store.items())
    assert latest["counter"] == (199).to_bytes(4, "big")
    assert "block/3" not in latest
    with NonVolatileStore(path) as store:
        assert dict(store.items()) == latest
        before = store.size
        store.compact()
        assert store.size <= before
        assert store.garbage == 0
    with NonVolatileStore(path) as store:
        assert dict(store.items()) == latest


def test_an_unfinished_compaction_is_discarded(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    Path(f"{path}.compact").write_bytes(b"WGNV\x01\x00\x00\x00half written")
    with NonVolatileStore(path) as store:
        assert store.get("tariff") == b"\x03\x04"
        assert "unfinished compaction" in store.notes[0]
    assert not Path(f"{path}.compact").exists()


def test_bad_use_is_a_specific_error_and_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    store = NonVolatileStore(path, sync=SyncPolicy.ON_REQUEST)
    store.put("k", b"v")
    size = store.size
    with pytest.raises(StoreError):
        store.put("", b"v")
    with pytest.raises(StoreError):
        store.put("k", "text")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.put("x" * 70_000, b"v")
    assert store.size == size and store.get("k") == b"v"
    store.delete("never there")  # deleting a missing key writes nothing
    assert store.size == size
    store.sync()
    store.close()
    store.close()
    with pytest.raises(StoreClosedError):
        store.get("k")


def test_record_layout_is_as_documented() -> None:
    record = encode_record(1, b"k", b"v")
    body = b"\x01\x00\x01kv"
    length = len(body).to_bytes(4, "big")
    head = length + zlib.crc32(length).to_bytes(4, "big")
    assert record == head + body + zlib.crc32(head + body).to_bytes(4, "big")


def test_memory_store_matches() -> None:
    store = MemoryStore()
    store.put("a", b"1")
    store.put("b/c", b"2")
    store.delete("a")
    store.delete("a")
    assert store.get("a") is None
    assert list(store.items("b/")) == [("b/c", b"2")]
    with pytest.raises(StoreError):
        store.put("", b"")


KEYS = st.sampled_from(["a", "b", "c", "fw/slot/A", "fw/slot/B", "ключ"])
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, st.binary(max_size=300)),
        st.tuples(st.just("delete"), KEYS, st.just(b"")),
        st.tuples(st.just("reopen"), st.just(""), st.just(b"")),
        st.tuples(st.just("compact"), st.just(""), st.just(b"")),
    ),
    max_size=60,
)


@settings(max_examples=60)
@given(operations=OPERATIONS)
def test_random_operations_behave_as_a_dict(operations: list[tuple[str, str, bytes]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "nv"
        model: dict[str, bytes] = {}
        store = NonVolatileStore(path, sync=SyncPolicy.ON_REQUEST, compact_min_bytes=512)
        try:
            for operation, key, value in operations:
                if operation == "put":
                    store.put(key, value)
                    model[key] = value
                elif operation == "delete":
                    store.delete(key)
                    model.pop(key, None)
                elif operation == "reopen":
                    store.close()
                    store = NonVolatileStore(path, compact_min_bytes=512)
                    assert store.notes == []
                else:
                    store.compact()
                assert dict(store.items()) == model
                assert store.size == os.path.getsize(path)
        finally:
            store.close()
        with NonVolatileStore(path) as reopened:
            assert dict(reopened.items()) == model


def _fill_disk(path: str, answer: multiprocessing.queues.Queue[str]) -> None:
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    with NonVolatileStore(path) as store:
        size = store.size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))
        try:
            store.put("big", bytes(1000))
            answer.put("written")
        except OSError:
            answer.put(f"refused {store.get('big')} {store.size == size}")
        store.put("small", b"fits")  # the log is still well-formed and writable


def test_a_full_disk_refuses_the_write_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    fill(path)
    context = multiprocessing.get_context("fork")
    answer: multiprocessing.queues.Queue[str] = context.Queue()
    process = context.Process(target=_fill_disk, args=(str(path), answer))
    process.start()
    process.join(30)
    assert answer.get(timeout=5) == "refused None True"
    with NonVolatileStore(path) as store:
        assert store.notes == []
        assert dict(store.items()) == {
            **expected_before(),
            "fw/state": b"\xaa" * 40,
            "small": b"fits",
        }
