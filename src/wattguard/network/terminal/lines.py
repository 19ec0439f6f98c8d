"""The terminal's line to each meter of its archive: one DL/T 698.45 client connection and a
queue of jobs, at most one of them in flight (HPLC is half-duplex and slow), and the
terminal's polling slots: at most a few lines busy at a time (:class:`Polling`)."""

from __future__ import annotations

import heapq
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wattguard.network.terminal.tasks import CollectionTask
from wattguard.protocol import ClientConnection, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.stream import FrameDecoder

__all__ = ["POLLING_SLOTS", "Answer", "Job", "LineTimers", "MeterLine", "Polling", "TaskMarks"]

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
    APDU bytes as they arrived are in ``answered`` by then (b"": not kept), once: :meth:`finish`
    calls it and lets it go. A ``done`` that reads its job (the collection's does) makes a
    cycle, job to closure to job, which only the cyclic collector would free; letting go of it
    frees the job at once (at scale, a thousand finished jobs were waiting for the collector
    at any time in a 4,000-meter run)."""

    apdu: Structure | None
    done: Callable[[Answer], None]
    raw: bytes = b""
    deadline: float = 0.0
    task: str | None = None
    sent_at: float = 0.0
    encoded: bytes = b""
    answered: bytes = b""
    #: A raw job's reader of the meter's answer, while it is in flight.
    raw_decoder: FrameDecoder | None = None

    def finish(self, answer: Answer) -> None:
        """Call ``done`` with ``answer`` (the first time only) and let it go."""
        done, self.done = self.done, _finished
        done(answer)


def _finished(_answer: Answer) -> None:
    """A finished job's ``done``: nothing more to do."""


@dataclass(slots=True)
class MeterLine:
    """One meter's line: its connection, its jobs (``busy`` is the one in flight, ``jobs`` the
    queued ones or None), and its ``row`` in
    the terminal's :class:`TaskMarks` (where each collection task stands for it) and
    :class:`LineTimers` (its place in the archive order).

    The connection exists only while the line has something going on (:attr:`connection`
    makes it, :meth:`release` lets it go once the line is idle): a terminal of hundreds of
    meters holds a few connections at a time, not one each (about 3 KB apiece). Nothing else
    is held per line but these slots: a terminal of 250 meters is one of hundreds in a
    simulated district, and a line's dictionaries and lists would weigh more than the meter."""

    address: bytes
    timeout: float
    row: int = 0
    jobs: list[Job] | None = None
    busy: Job | None = None
    piid: int = 0
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

    def push(self, job: Job) -> None:
        """Queue ``job`` after the others."""
        if self.jobs is None:
            self.jobs = [job]
        else:
            self.jobs.append(job)

    def pop(self) -> Job | None:
        """The oldest queued job, taken off the queue (None: none queued)."""
        jobs = self.jobs
        if not jobs:
            return None
        job = jobs.pop(0)
        if not jobs:
            self.jobs = None
        return job

    def queued(self, task: str) -> bool:
        """Whether a job of the task named ``task`` is queued."""
        return self.jobs is not None and any(job.task == task for job in self.jobs)

    def next_piid(self) -> int:
        """The next PIID for a request to this meter (0-63, wrapping)."""
        self.piid = (self.piid + 1) % 64
        return self.piid


_UNSET = float("nan")


class TaskMarks:
    """Where each collection task stands on each line: ``since`` (the start of its next
    window) and ``next_run`` (when it next runs), a column of doubles per task and mark, a row
    per line (NaN: not set yet). Eight bytes per meter, task and mark, where a dictionary per
    line held a few hundred. Rows of lines taken out are given to the next lines added."""

    def __init__(self) -> None:
        self._since: dict[str, array[float]] = {}
        self._next: dict[str, array[float]] = {}
        self._rows = 0
        self._free: list[int] = []

    def add(self) -> int:
        """A row for a new line (every mark unset)."""
        if self._free:
            return self._free.pop()
        self._rows += 1
        for column in (*self._since.values(), *self._next.values()):
            column.append(_UNSET)
        return self._rows - 1

    def remove(self, row: int) -> None:
        """The line of ``row`` left: its marks are cleared and the row is free."""
        for column in (*self._since.values(), *self._next.values()):
            column[row] = _UNSET
        self._free.append(row)

    def since(self, task: str, row: int) -> float | None:
        """Where ``task``'s next window starts for the line of ``row`` (None: not set)."""
        return self._get(self._since, task, row)

    def next_run(self, task: str, row: int) -> float | None:
        """When ``task`` next runs for the line of ``row`` (None: not set)."""
        return self._get(self._next, task, row)

    def set_since(self, task: str, row: int, value: float) -> None:
        self._column(self._since, task)[row] = value

    def set_next_run(self, task: str, row: int, value: float) -> None:
        self._column(self._next, task)[row] = value

    def due(self, line: MeterLine, tasks: Sequence[CollectionTask], now: float) -> bool:
        """Whether a task of ``tasks`` that reads ``line``'s meter is due to run at ``now``
        (a task with no mark yet is)."""
        for task in tasks:
            if task.covers(line.address):
                run = self.next_run(task.name, line.row)
                if run is None or run <= now:
                    return True
        return False

    @staticmethod
    def _get(table: dict[str, array[float]], task: str, row: int) -> float | None:
        column = table.get(task)
        if column is None:
            return None
        value = column[row]
        return None if value != value else value  # NaN: unset

    def _column(self, table: dict[str, array[float]], task: str) -> array[float]:
        column = table.get(task)
        if column is None:
            column = table[task] = array("d", [_UNSET]) * self._rows
        return column


class LineTimers:
    r"""When each line of ``lines`` next needs the terminal (its tasks' next runs from
    ``start``, per ``marks``, its connection's timeouts, a raw job's deadline), kept in a heap
    and worked out again only for the lines passed to :meth:`touch` since (a frame from its
    meter, a run of its timers), or for every line after :meth:`touch_all` or when the tasks
    change: a terminal of hundreds of meters does not go through all of them at every frame.
    Each line's timer is a double in a column by its row (NaN: none), not an entry of a
    dictionary, and the heap holds each distinct time once, with the line set to it (its
    address) or, once a second line shares the time, the lines in a list: eight bytes a line
    where a heap entry of its own took eighty. Lines share a time when their tasks' next run
    is the same; a terminal that polls its lines one after another sets each to a time of its
    own, and a one-line list would cost it about a hundred bytes a line. A line whose timer
    moved leaves a stale entry behind, dropped when its time comes or when the terminal looks
    at the earliest timer."""

    def __init__(self, lines: dict[bytes, MeterLine], marks: TaskMarks, start: float) -> None:
        self.lines = lines
        self.marks = marks
        self.start = start
        self._timers: array[float] = array("d")
        self._heap: list[float] = []
        self._at: dict[float, bytes | list[bytes]] = {}  # the line(s) set to each heap time
        self._entries = 0
        self._dirty: set[bytes] = set()
        self._all = True
        self._tasks: Sequence[CollectionTask] = ()

    def touch(self, address: bytes) -> None:
        """The line to ``address`` changed (or came, or went)."""
        self._dirty.add(address)

    def touch_all(self) -> None:
        """Any line may have changed."""
        self._all = True

    def earliest(self, tasks: Sequence[CollectionTask]) -> float | None:
        """The earliest timer of any line under ``tasks`` (None: none)."""
        self._refresh(tasks)
        heap, at = self._heap, self._at
        while heap:
            timer = heap[0]
            bucket = at[timer]
            if isinstance(bucket, bytes):
                if self._current(timer, bucket):
                    return timer
                self._entries -= 1
            else:
                while bucket and not self._current(timer, bucket[-1]):
                    bucket.pop()
                    self._entries -= 1
                if bucket:
                    return timer
            heapq.heappop(heap)
            del at[timer]
        return None

    def due(self, tasks: Sequence[CollectionTask], now: float) -> list[MeterLine]:
        """The lines with a timer due at ``now``, in archive order (each is touched)."""
        self._refresh(tasks)
        heap, at = self._heap, self._at
        due: set[bytes] = set()
        while heap and heap[0] <= now:
            timer = heapq.heappop(heap)
            bucket = at.pop(timer)
            if isinstance(bucket, bytes):
                self._entries -= 1
                if self._current(timer, bucket):
                    due.add(bucket)
            else:
                self._entries -= len(bucket)
                due.update(address for address in bucket if self._current(timer, address))
        self._dirty |= due
        found = [self.lines[a] for a in due]
        found.sort(key=lambda line: line.row)
        return found

    def _current(self, timer: float, address: bytes) -> bool:
        """Whether a heap entry is the line's timer now (not a stale one)."""
        line = self.lines.get(address)
        return line is not None and line.row < len(self._timers) and self._timers[line.row] == timer

    def _refresh(self, tasks: Sequence[CollectionTask]) -> None:
        if tasks is not self._tasks or self._entries > 4 * len(self.lines) + 64:
            self._tasks = tasks
            self._all = True
        timers = self._timers
        if self._all:
            self._all = False
            self._dirty = set(self.lines)
            del timers[:]
            self._heap.clear()
            self._at.clear()
            self._entries = 0
        for address in self._dirty:
            line = self.lines.get(address)
            if line is None:
                continue  # gone: its heap entries are stale (_current)
            while len(timers) <= line.row:
                timers.append(_UNSET)
            timer = self._timer(line, tasks)
            if timer is None:
                timers[line.row] = _UNSET
            else:
                timers[line.row] = timer
                self._push(timer, address)
        self._dirty.clear()

    def _push(self, timer: float, address: bytes) -> None:
        at = self._at
        bucket = at.get(timer)
        if bucket is None:
            at[timer] = address
            heapq.heappush(self._heap, timer)
        elif isinstance(bucket, bytes):
            at[timer] = [bucket, address]
        else:
            bucket.append(address)
        self._entries += 1

    def _timer(self, line: MeterLine, tasks: Sequence[CollectionTask]) -> float | None:
        # only the tasks in force: a task taken out leaves no timer behind
        times: list[float] = []
        if not line.waiting:  # its turn comes when a polling slot frees, not at a time
            for task in tasks:
                if task.covers(line.address):
                    run = self.marks.next_run(task.name, line.row)
                    times.append(self.start if run is None else run)
        timer = line.connection_timer()
        if timer is not None:
            times.append(timer)
        if line.busy is not None and line.busy.raw_decoder is not None:
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
