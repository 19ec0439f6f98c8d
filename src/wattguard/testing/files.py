"""Watching a directory's file modes as files are created in it, the way a local user polling
the directory would, but deterministically.

:func:`watch_modes` records the mode of every file in a folder at every file-system operation
the process starts (an ``open``, ``os.open``, ``chmod``, ``rename``, ``remove``... : Python's
audit events, :pep:`578`), and once more at the end. A file created with a loose mode and
tightened later (create, write, ``chmod 0600``) is seen loose at the ``chmod``; a file created
0600 never is. Audit hooks cannot be removed, so one hook is installed once and is idle
outside a ``with watch_modes(...)`` block.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ModeWatch", "umask", "watch_modes"]

_EVENTS = frozenset(
    {"open", "os.chmod", "os.rename", "os.remove", "os.truncate", "os.mkdir", "os.listdir"}
)


@dataclass
class ModeWatch:
    """Every (file name, mode) seen in ``folder`` while the watch ran."""

    folder: Path
    seen: set[tuple[str, int]] = field(default_factory=set)
    checks: int = 0

    def look(self) -> None:
        self.checks += 1
        try:
            names = os.listdir(self.folder)  # its own audit event is ignored (_busy)
        except FileNotFoundError:
            return
        for name in names:
            try:
                mode = os.lstat(self.folder / name).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode):
                self.seen.add((name, stat.S_IMODE(mode)))

    def loose(self, pattern: str = "*") -> list[tuple[str, int]]:
        """The files matching ``pattern`` seen with any permission for group or others."""
        return sorted(
            (name, mode) for name, mode in self.seen if mode & 0o077 and Path(name).match(pattern)
        )


_active: list[ModeWatch] = []
_busy = threading.local()
_installed = False


def _hook(event: str, args: tuple[object, ...]) -> None:
    if not _active or event not in _EVENTS or getattr(_busy, "on", False):
        return
    _busy.on = True
    try:
        for watch in list(_active):
            watch.look()
    finally:
        _busy.on = False


@contextmanager
def watch_modes(folder: Path) -> Iterator[ModeWatch]:
    """Record the modes of ``folder``'s files at every file-system operation in the block."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
    watch = ModeWatch(folder)
    _active.append(watch)
    try:
        yield watch
    finally:
        _active.remove(watch)
        watch.look()


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under the process umask ``mask`` (0: nothing removed from a new file's
    mode, the harshest test of code that relies on the mode it asks for)."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)
