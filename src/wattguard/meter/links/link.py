"""In-memory links between the meter's modules (and, later, HPLC and Bluetooth), with the
fault-injecting ``manipulate`` hook that tests and the attack harness share.

A :class:`Link` carries whole messages one way. ``manipulate(message) -> list[bytes]`` sees
every message in transit and returns what arrives instead: ``[message]`` unchanged, ``[]``
dropped, a changed copy, or several (a replay). The default delivers unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["Link", "Manipulator"]

Manipulator = Callable[[bytes], list[bytes]]


def _deliver(message: bytes) -> list[bytes]:
    return [message]


class Link:
    """One direction of a wire: ``send`` at one end, ``receive`` at the other."""

    def __init__(self, name: str, manipulate: Manipulator = _deliver) -> None:
        self.name = name
        self.manipulate = manipulate
        self._queue: deque[bytes] = deque()
        self.sent = 0

    def send(self, message: bytes) -> None:
        self.sent += 1
        self._queue.extend(self.manipulate(message))

    def receive(self) -> bytes | None:
        return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)
