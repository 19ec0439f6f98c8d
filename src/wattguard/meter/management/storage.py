"""Non-volatile storage of the management module: a crash-safe key-value store in one file.

Theory of operation. The store is an append-only log. Every ``put`` and ``delete`` appends one
record; the latest record for a key wins. Opening the file replays the log into an in-memory
index (a meter's parameters, counters and two firmware slots fit in memory). The file::

    file header (8)   "WGNV" | format version (1) = 1 | 3 reserved zero bytes
    record, repeated:
      0      4   N: length of the body, big-endian
      4      4   CRC-32 of the 4 length bytes
      8      N   body: operation (1: 1 put, 2 delete) | key length (2) | key (UTF-8) | value
      8+N    4   CRC-32 of bytes 0 .. 8+N-1 of the record

CRC-32 is zlib's (ISO-HDLC, the one CRC of this kind in wattguard). The length has its own
check so that a flipped length bit in the middle of the file is reported as corruption, not
mistaken for the end of the log.

Crashes. A write interrupted by power loss leaves a *torn tail*: a prefix of the last record,
possibly followed by zero bytes (a file whose length reached the disk before its data). On
open, a record that fails its checks and reaches the end of the file is that torn tail: it is
cut off, the file is truncated to the last good record, and a recovery note is kept in
:attr:`NonVolatileStore.notes`. Nothing before it is lost, and the interrupted operation did
not happen (a record is the unit of atomicity). A record that fails its checks with more
records after it is corruption: opening raises :class:`StoreCorruptError` with the offset,
unless ``repair=True``, which keeps every record before the offset, copies the bytes from the
offset on to ``<path>.corrupt-<offset>`` for inspection, and truncates. A bit flip inside the
*last* record cannot be told from a torn write and is dropped as one (docs/firmware.md).

Durability. ``sync=SyncPolicy.EVERY_WRITE`` (the default) fsyncs after every record, so a
``put`` that returned survives power loss; ``SyncPolicy.ON_REQUEST`` fsyncs only in
:meth:`NonVolatileStore.sync` and :meth:`close` (faster; the last writes may be lost, never
the earlier ones).

Compaction. When dead records (overwritten or deleted) make up more than half of the file and
the file is larger than ``compact_min_bytes``, the live records are written to
``<path>.compact``, fsynced, and renamed over the log (``os.replace`` is atomic), and the
directory is fsynced. A crash before the rename leaves the old log intact and a stale
``.compact`` file, removed on the next open.

Exclusion. ``fcntl.flock`` on ``<path>.lock`` (a file that is never renamed, so the lock
survives compaction) keeps a second process, or a second opener in this one, out:
:class:`StoreLockedError`.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from wattguard.errors import WattguardError
from wattguard.secretfile import write_secret

__all__ = [
    "MemoryStore",
    "NonVolatileStore",
    "Store",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "SyncPolicy",
]

log = logging.getLogger(__name__)

FILE_MAGIC = b"WGNV"
FORMAT_VERSION = 1
_FILE_HEADER = struct.Struct(">4sB3x")
_LENGTH = struct.Struct(">II")  # body length, CRC-32 of the length
_CRC = struct.Struct(">I")
_BODY_HEAD = struct.Struct(">BH")  # operation, key length
RECORD_OVERHEAD = _LENGTH.size + _CRC.size
MAX_KEY_BYTES = 0xFFFF
MAX_VALUE_BYTES = 64 * 1024 * 1024


class _Op(enum.IntEnum):
    PUT = 1
    DELETE = 2


class SyncPolicy(enum.Enum):
    """When a :class:`NonVolatileStore` fsyncs its log (see Durability in the module docstring)."""

    EVERY_WRITE = "every write"  # fsync after each record: a returned put survives power loss
    ON_REQUEST = "on request"  # fsync in sync() and close() only


class StoreError(WattguardError):
    """The store cannot do what was asked."""


class StoreCorruptError(StoreError):
    """A record in the middle of the log fails its checks; ``offset`` is where it starts."""

    def __init__(self, path: Path, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt record at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


class StoreLockedError(StoreError):
    """Another opener holds the store."""


class StoreClosedError(StoreError):
    """The store was used after close()."""


class Store(Protocol):
    """What the meter's modules need of storage: bytes values by string key."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]: ...


def _check_key(key: str) -> bytes:
    encoded = key.encode("utf-8")
    if not encoded or len(encoded) > MAX_KEY_BYTES:
        raise StoreError(f"a key is 1 to {MAX_KEY_BYTES} UTF-8 bytes")
    return encoded


def _check_value(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StoreError(f"values are bytes, not {type(value).__name__}")
    if len(value) > MAX_VALUE_BYTES:
        raise StoreError(f"a value is at most {MAX_VALUE_BYTES} bytes")
    return bytes(value)


class MemoryStore:
    """A :class:`Store` in a dict, for tests of the modules that use storage."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def put(self, key: str, value: bytes) -> None:
        _check_key(key)
        self._data[key] = _check_value(value)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        return iter([(k, v) for k, v in sorted(self._data.items()) if k.startswith(prefix)])


def encode_record(op: int, key: bytes, value: bytes) -> bytes:
    """One log record (the layout in the module docstring)."""
    body = _BODY_HEAD.pack(op, len(key)) + key + value
    length = struct.pack(">I", len(body))
    head = length + _CRC.pack(zlib.crc32(length))
    record = head + body
    return record + _CRC.pack(zlib.crc32(record))


class _Torn(Exception):
    """The log ends inside this record."""


class _Bad(Exception):
    """This record fails its checks and more follows."""


def _read_record(data: memoryview, offset: int) -> tuple[int, str, bytes, int]:
    """Decode the record at ``offset``: (operation, key, value, size). Raises _Torn or _Bad."""
    remaining = len(data) - offset
    if remaining < _LENGTH.size:
        raise _Torn("incomplete record header")
    length, length_crc = _LENGTH.unpack_from(data, offset)
    if zlib.crc32(data[offset : offset + 4]) != length_crc:
        if not any(data[offset + _LENGTH.size :]):
            raise _Torn("header cut short, zero-filled")
        raise _Bad("record length fails its CRC")
    size = RECORD_OVERHEAD + length
    if remaining < size:
        raise _Torn("record runs past the end of the file")
    record = data[offset : offset + size]
    (crc,) = _CRC.unpack_from(record, size - _CRC.size)
    if zlib.crc32(record[: size - _CRC.size]) != crc:
        if remaining == size:
            raise _Torn("last record fails its CRC")
        raise _Bad("record fails its CRC")
    body = record[_LENGTH.size : size - _CRC.size]
    if len(body) < _BODY_HEAD.size:
        raise _Bad("record body too short")
    op, key_length = _BODY_HEAD.unpack_from(body)
    if op not in (_Op.PUT, _Op.DELETE) or _BODY_HEAD.size + key_length > len(body):
        raise _Bad("record body does not decode")
    key_bytes = bytes(body[_BODY_HEAD.size : _BODY_HEAD.size + key_length])
    try:
        key = key_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad("record key is not UTF-8") from None
    return op, key, bytes(body[_BODY_HEAD.size + key_length :]), size


def _fsync_directory(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class NonVolatileStore:
    """A :class:`Store` in an append-only, CRC-checked log file (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: SyncPolicy = SyncPolicy.EVERY_WRITE,
        repair: bool = False,
        compact_min_bytes: int = 64 * 1024,
    ) -> None:
        self.path = Path(path)
        self.sync_policy = sync
        self.compact_min_bytes = compact_min_bytes
        self.notes: list[str] = []  # what opening had to recover from, for the meter's log
        self._index: dict[str, bytes] = {}
        self._record_size: dict[str, int] = {}
        self._size = 0  # bytes in the log
        self._live = 0  # bytes of the records that hold the current values
        self._lock_fd = self._lock()
        self._fd = -1
        try:
            self._open(repair)
        except BaseException:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._unlock()
            raise

    # Opening

    def _lock(self) -> int:
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLockedError(f"{self.path} is open elsewhere") from None
        return fd

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _open(self, repair: bool) -> None:
        stale = Path(f"{self.path}.compact")
        if stale.exists():
            stale.unlink()
            self.notes.append("removed an unfinished compaction")
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        data = self._read_all()
        header = _FILE_HEADER.pack(FILE_MAGIC, FORMAT_VERSION)
        if len(data) < len(header):
            if header[: len(data)] != data:
                raise StoreCorruptError(self.path, 0, "not a wattguard store (short header)")
            if data:
                self.notes.append("creation of the file was interrupted; started afresh")
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            os.write(self._fd, header)
            os.fsync(self._fd)
            _fsync_directory(self.path)
            self._size = len(header)
            return
        magic, version = _FILE_HEADER.unpack_from(data)
        if magic != FILE_MAGIC or version != FORMAT_VERSION:
            raise StoreCorruptError(self.path, 0, "not a wattguard store (or another version)")
        self._replay(memoryview(data), repair)

    def _read_all(self) -> bytes:
        chunks = []
        os.lseek(self._fd, 0, os.SEEK_SET)
        while chunk := os.read(self._fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)

    def _replay(self, data: memoryview, repair: bool) -> None:
        offset = _FILE_HEADER.size
        while offset < len(data):
            try:
                op, key, value, size = _read_record(data, offset)
            except _Torn as torn:
                self._cut(offset, len(data), f"torn tail at byte {offset} dropped ({torn})")
                break
            except _Bad as bad:
                if not repair:
                    raise StoreCorruptError(self.path, offset, str(bad)) from None
                saved = Path(f"{self.path}.corrupt-{offset}")
                write_secret(saved, bytes(data[offset:]))  # 0600, like the store
                note = f"corrupt record at byte {offset} ({bad}); the rest kept in {saved.name}"
                self._cut(offset, len(data), note)
                break
            self._apply(op, key, value, size)
            offset += size
        self._size = offset

    def _cut(self, offset: int, end: int, note: str) -> None:
        os.ftruncate(self._fd, offset)
        os.fsync(self._fd)
        self.notes.append(note)
        log.warning("%s: %s (%d bytes)", self.path, note, end - offset)

    def _apply(self, op: int, key: str, value: bytes, size: int) -> None:
        self._live -= self._record_size.pop(key, 0)
        if op == _Op.PUT:
            self._index[key] = value
            self._record_size[key] = size
            self._live += size
        else:
            self._index.pop(key, None)

    # The Store interface

    def get(self, key: str) -> bytes | None:
        self._check_open()
        return self._index.get(key)

    def put(self, key: str, value: bytes) -> None:
        self._check_open()
        self._append(_Op.PUT, key, _check_value(value))

    def delete(self, key: str) -> None:
        self._check_open()
        if key in self._index:
            self._append(_Op.DELETE, key, b"")

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        self._check_open()
        return iter([(k, v) for k, v in sorted(self._index.items()) if k.startswith(prefix)])

    def __len__(self) -> int:
        return len(self._index)

    # Writing

    def _append(self, op: _Op, key: str, value: bytes) -> None:
        record = encode_record(op, _check_key(key), value)
        os.lseek(self._fd, self._size, os.SEEK_SET)
        written = 0
        try:
            while written < len(record):
                written += os.write(self._fd, record[written:])
            if self.sync_policy is SyncPolicy.EVERY_WRITE:
                os.fsync(self._fd)
        except OSError:
            # The disk refused (full, I/O error): take the partial record back off so that
            # the log stays well-formed, and leave the index as it was.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(record)
        self._apply(op, key, value, len(record))
        self._maybe_compact()

    def sync(self) -> None:
        """Force what was written to the disk."""
        self._check_open()
        os.fsync(self._fd)

    @property
    def size(self) -> int:
        """Bytes in the log file."""
        return self._size

    @property
    def garbage(self) -> int:
        """Bytes of dead records: overwritten or deleted values and delete markers."""
        return self._size - _FILE_HEADER.size - self._live

    def _maybe_compact(self) -> None:
        if self._size >= self.compact_min_bytes and self.garbage > self._live:
            self.compact()

    def compact(self) -> None:
        """Rewrite the log with the live records only (temp file, fsync, atomic rename)."""
        self._check_open()
        temporary = Path(f"{self.path}.compact")
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover temporary keeps its old mode through O_TRUNC
            parts = [_FILE_HEADER.pack(FILE_MAGIC, FORMAT_VERSION)]
            sizes: dict[str, int] = {}
            for key, value in self._index.items():
                record = encode_record(_Op.PUT, key.encode("utf-8"), value)
                parts.append(record)
                sizes[key] = len(record)
            blob = b"".join(parts)
            view = memoryview(blob)
            written = 0
            while written < len(blob):
                written += os.write(fd, view[written:])
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        os.replace(temporary, self.path)
        _fsync_directory(self.path)
        os.close(self._fd)
        self._fd = fd
        self._size = len(blob)
        self._record_size = sizes
        self._live = len(blob) - _FILE_HEADER.size
        log.info("%s compacted to %d bytes", self.path, self._size)

    # Closing

    def _check_open(self) -> None:
        if self._fd < 0:
            raise StoreClosedError(f"{self.path} is closed")

    def close(self) -> None:
        """Sync, close and release the lock (idempotent)."""
        if self._fd >= 0:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._unlock()

    def __enter__(self) -> NonVolatileStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
