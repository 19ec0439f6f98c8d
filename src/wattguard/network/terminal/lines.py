"""The terminal's line to each meter of its archive: one DL/T 698.45 client connection and a
queue of jobs, at most one of them in flight (HPLC is half-duplex and slow), and the
terminal's polling slots: at most a few lines busy at a time (:class:`Polling`)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattguard.network.terminal.tasks import CollectionTask
from wattguard.protocol import ClientConnection, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.stream import FrameDecoder

__all__ = ["POLLING_SLOTS", "Answer", "Job", "LineTimers", "MeterLine", "Polling"]

#: How many meters a terminal polls at once by default. A concentrator's HPLC coordinator
#: (CCO) reads a few meters concurrently, not its whole archive: the State Grid HPLC interface
#: (Q/GDW 11612, concurrent meter reading) lets the CCO state the concurrency it supports,
#: typically 5 to 16 frames in flight. Eight is the middle of that range.
POLLING_SLOTS = 8

#: What a job's ``done`` is called with: the meter's answer (an APDU, or the raw frame of a
#: transparent command), None when it timed out or was not sent.
Answer = Structure | bytes | None


@dataclass(slots=True)
class Job:
    """One request to one meter: an APDU (``encoded``: its bytes, when known already), or
    (``apdu`` None) a raw frame forwarded as it is; ``done`` is called with the answer, whose
    APDU bytes as they arrived are in ``answered`` by then (b"": not kept)."""

    apdu: Structure | None
    done: Callable[[Answer], None]
    raw: bytes = b""
    deadline: float = 0.0
    task: str | None = None
    sent_at: float = 0.0
    encoded: bytes = b""
    answered: bytes = b""


@dataclass(slots=True)
class MeterLine:
    """One meter's line: its connection, its jobs (``busy`` is the one in flight; a raw job
    reads its answer with ``raw_decoder``), and where each collection task stands (``since``:
    the start of the next window, ``next_run``: when it next runs).

    The connection exists only while the line has something going on (:attr:`connection`
    makes it, :meth:`release` lets it go once the line is idle): a terminal of hundreds of
    meters holds a few connections at a time, not one each (about 3 KB apiece)."""

    address: bytes
    timeout: float
    jobs: list[Job] = field(default_factory=list)
    busy: Job | None = None
    raw_decoder: FrameDecoder | None = None
    piid: int = 0
    since: dict[str, float] = field(default_factory=dict)
    next_run: dict[str, float] = field(default_factory=dict)
    failures: int = 0
    waiting: bool = False  # due, but queued for one of the terminal's polling slots
    _connection: ClientConnection | None = None

    @property
    def connection(self) -> ClientConnection:
        """The line's DL/T 698.45 client connection (made when first needed)."""
        if self._connection is None:
            self._connection = ClientConnection(ServerAddress(self.address), timeout=self.timeout)
        return self._connection

    def connection_timer(self) -> float | None:
        """When the connection next needs :meth:`ClientConnection.handle_timer` (None: no
        connection, or nothing pending)."""
        return None if self._connection is None else self._connection.get_timer()

    def release(self) -> None:
        """Let the connection go if nothing is in flight, queued or pending on it."""
        held = self._connection
        if held is None or self.busy is not None or self.jobs or held.get_timer() is not None:
            return
        self._connection = None

    def due(self, tasks: Sequence[CollectionTask], now: float) -> bool:
        """Whether a task of ``tasks`` that reads this meter is due to run at ``now``."""
        runs = self.next_run
        return any(runs.get(t.name, now) <= now for t in tasks if t.covers(self.address))

    def next_piid(self) -> int:
        """The next PIID for a request to this meter (0-63, wrapping)."""
        self.piid = (self.piid + 1) % 64
        return self.piid


class LineTimers:
    r"""When each line of ``lines`` next needs the terminal (its tasks' next runs from
    ``start``, its connection's timeouts, a raw job's deadline), kept in a heap and worked out
    again only for the lines passed to :meth:`touch` since (a frame from its meter, a run of
    its timers), or for every line after :meth:`touch_all` or when the tasks change: a terminal of
    hundreds of meters does not go through all of them at every frame."""

    def __init__(self, lines: dict[bytes, MeterLine], start: float) -> None:
        self.lines = lines
        self.start = start
        self._timers: dict[bytes, float | None] = {}
        self._heap: list[tuple[float, bytes]] = []
        self._dirty: set[bytes] = set()
        self._all = True
        self._tasks: Sequence[CollectionTask] = ()
        self._order: dict[bytes, int] = {}

    def touch(self, address: bytes) -> None:
        """The line to ``address`` changed (or came, or went)."""
        self._order.setdefault(address, len(self._order))
        self._dirty.add(address)

    def touch_all(self) -> None:
        """Any line may have changed."""
        self._all = True

    def earliest(self, tasks: Sequence[CollectionTask]) -> float | None:
        """The earliest timer of any line under ``tasks`` (None: none)."""
        self._refresh(tasks)
        heap, timers = self._heap, self._timers
        while heap and timers.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, tasks: Sequence[CollectionTask], now: float) -> list[MeterLine]:
        """The lines with a timer due at ``now``, in archive order (each is touched)."""
        self._refresh(tasks)
        heap, timers = self._heap, self._timers
        due: set[bytes] = set()
        while heap and heap[0][0] <= now:
            timer, address = heapq.heappop(heap)
            if timers.get(address) == timer:
                due.add(address)
        self._dirty |= due
        found = [self.lines[a] for a in due if a in self.lines]
        found.sort(key=lambda line: self._order.get(line.address, 0))
        return found

    def _refresh(self, tasks: Sequence[CollectionTask]) -> None:
        if tasks is not self._tasks or len(self._heap) > 4 * len(self.lines) + 64:
            self._tasks = tasks
            self._all = True
        if self._all:
            self._all = False
            self._dirty = set(self.lines)
            self._timers.clear()
            self._heap.clear()
        for address in self._dirty:
            line = self.lines.get(address)
            timer = None if line is None else self._timer(line, tasks)
            self._timers[address] = timer
            if timer is not None:
                heapq.heappush(self._heap, (timer, address))
        self._dirty.clear()

    def _timer(self, line: MeterLine, tasks: Sequence[CollectionTask]) -> float | None:
        # only the tasks in force: a task taken out leaves no timer behind
        times = (
            []
            if line.waiting  # its turn comes when a polling slot frees, not at a time
            else [
                line.next_run.get(task.name, self.start)
                for task in tasks
                if task.covers(line.address)
            ]
        )
        timer = line.connection_timer()
        if timer is not None:
            times.append(timer)
        if line.busy is not None and line.raw_decoder is not None:
            times.append(line.busy.deadline)
        return min(times, default=None)


class Polling:
    """The terminal's polling slots: at most ``slots`` lines hold one at a time (a line holds
    its slot from its first request until it has nothing in flight or queued), the others wait
    their turn in order. A line holds its DL/T 698.45 connection only while it holds a slot,
    so a terminal keeps at most ``slots`` connections (and requests) at once, whatever the size
    of its archive, as a real concentrator, whose coordinator polls a few meters at a time."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a terminal polls at least one meter at a time")
        self.slots = slots
        self.active: set[bytes] = set()
        self.waiting: deque[MeterLine] = deque()

    def take(self, line: MeterLine) -> bool:
        """Whether ``line`` holds a slot now (taking a free one if it can)."""
        if line.address in self.active:
            return True
        if len(self.active) >= self.slots:
            return False
        self.active.add(line.address)
        return True

    def wait(self, line: MeterLine, *, first: bool = False) -> None:
        """Queue ``line`` for the next free slot (``first``: ahead of the others)."""
        if line.waiting:
            if first:
                self.waiting.remove(line)
                self.waiting.appendleft(line)
            return
        line.waiting = True
        if first:
            self.waiting.appendleft(line)
        else:
            self.waiting.append(line)

    def give_back(self, line: MeterLine) -> bool:
        """Free ``line``'s slot if it has nothing in flight or queued (True: it did)."""
        if line.busy is not None or line.jobs or line.address not in self.active:
            return False
        self.active.discard(line.address)
        return True

    def forget(self, address: bytes) -> None:
        """The line to ``address`` left the archive."""
        self.active.discard(address)

    def next_waiting(self) -> MeterLine | None:
        """The next line whose turn it is, once a slot is free (None: none waits or no slot)."""
        if not self.waiting or len(self.active) >= self.slots:
            return None
        line = self.waiting.popleft()
        line.waiting = False
        return line
