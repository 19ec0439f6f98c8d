"""Files that hold secrets: private keys, the key vault, the station's database.

Theory of operation. A secret file is never visible with a looser mode than 0600, not even for
an instant, and never visible half written:

* :func:`write_secret` creates a temporary file *in the same directory* with
  ``os.open(O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)`` (the mode is applied at creation, and
  ``fchmod`` then sets exactly 0600 whatever the process's umask was), writes the data, fsyncs
  it, renames it over the target (atomic on POSIX) and fsyncs the directory so the rename
  survives a power cut. If anything fails before the rename, the temporary file is removed and
  the old file, if any, is untouched. ``O_EXCL`` on a fresh random name means an attacker who
  plants a file or a symlink at the temporary name cannot make us write through it.
* :func:`create_secret` makes an empty file 0600 if none is there (for a database that a
  library will open and fill, e.g. SQLite, whose ``-wal`` and ``-shm`` files take the database
  file's mode).
* :func:`read_secret` and :func:`check_secret` refuse a file that group or others can write
  (:class:`UnprotectedSecretError`, which says to ``chmod 600`` it): a secret anyone may replace
  is not ours. A file group or others can only *read* is logged as a warning and used, since
  refusing would lock out installations made before this module existed; fix them with
  ``chmod 600``.

Only the file's contents are protected this way; who may list or rename entries in the
directory is the directory's mode (keep secret directories 0700).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from wattguard.errors import ConfigError

__all__ = [
    "SECRET_MODE",
    "UnprotectedSecretError",
    "check_secret",
    "create_secret",
    "read_secret",
    "write_secret",
]

log = logging.getLogger(__name__)

#: The mode of every secret file: read and write for the owner, nothing for anyone else.
SECRET_MODE = 0o600

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnprotectedSecretError(ConfigError):
    """A secret file (key, vault, database) that group or others can write; the message
    names the file and the fix (``chmod 600``)."""


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")


def _fsync_directory(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_secret(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data``, atomically, mode 0600 from the first instant (see the
    module docstring). Raises OSError if the directory cannot take it; the old file is then
    left as it was and no temporary file remains."""
    target = Path(path)
    temporary = _temporary_name(target)
    fd = os.open(temporary, _CREATE | _CLOEXEC, SECRET_MODE)
    try:
        try:
            os.fchmod(fd, SECRET_MODE)  # exactly 0600, whatever the umask removed
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def create_secret(path: str | os.PathLike[str]) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist (True), or check the existing
    one as :func:`check_secret` does (False)."""
    target = Path(path)
    try:
        fd = os.open(target, _CREATE | _CLOEXEC, SECRET_MODE)
    except FileExistsError:
        check_secret(target)
        return False
    try:
        os.fchmod(fd, SECRET_MODE)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_directory(target.parent)
    return True


def _check_mode(path: Path, mode: int) -> None:
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnprotectedSecretError(
            f"{path} holds a secret but group or others can write it (mode "
            f"{stat.S_IMODE(mode):04o}): refused; make it the owner's only with `chmod 600 {path}`"
        )
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "%s holds a secret but group or others can read it (mode %04o): `chmod 600 %s`",
            path,
            stat.S_IMODE(mode),
            path,
        )


def check_secret(path: str | os.PathLike[str]) -> None:
    """Refuse ``path`` if group or others can write it (warn if they can read it). Raises
    FileNotFoundError if there is no such file."""
    target = Path(path)
    _check_mode(target, os.stat(target).st_mode)


def read_secret(path: str | os.PathLike[str]) -> bytes:
    """The contents of ``path``, refused (:class:`UnprotectedSecretError`) if group or others
    can write it. The mode is checked on the open file, so the file read is the file checked.
    Raises FileNotFoundError if there is no such file."""
    target = Path(path)
    fd = os.open(target, os.O_RDONLY | _CLOEXEC)
    try:
        _check_mode(target, os.fstat(fd).st_mode)
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
