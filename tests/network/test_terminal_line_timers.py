"""A terminal's line timers: the earliest of its lines' next runs, and the lines due at a time,
whether the lines share their times or each has its own, with stale entries left behind by
lines whose time moved."""

from __future__ import annotations

import tracemalloc

from wattguard.network.terminal import CollectionTask
from wattguard.network.terminal.lines import LineTimers, MeterLine, TaskMarks
from wattguard.protocol import OAD

T0 = 1_784_073_600.0
TASK = CollectionTask("real-time", 900.0, (OAD(0x0010, 2, 0),))
TASKS = (TASK,)


def _timers(count: int) -> tuple[LineTimers, dict[bytes, MeterLine], TaskMarks]:
    lines: dict[bytes, MeterLine] = {}
    marks = TaskMarks()
    timers = LineTimers(lines, marks, T0)
    for i in range(count):
        address = (i + 1).to_bytes(6, "big")
        line = MeterLine(address, 30.0, marks.add())
        marks.set_next_run(TASK.name, line.row, T0)
        lines[address] = line
        timers.touch(address)
    return timers, lines, marks


def _move(timers: LineTimers, marks: TaskMarks, line: MeterLine, run: float) -> None:
    marks.set_next_run(TASK.name, line.row, run)
    timers.touch(line.address)


def test_lines_with_times_of_their_own_come_due_one_by_one_in_time_order() -> None:
    timers, lines, marks = _timers(5)
    for k, line in enumerate(lines.values()):  # as a terminal polling one line after another
        _move(timers, marks, line, T0 + 900 + 7 * (4 - k))
    assert timers.earliest(TASKS) == T0 + 900
    assert timers.due(TASKS, T0 + 899) == []
    last = list(lines.values())[-1]
    assert timers.due(TASKS, T0 + 900) == [last]
    _move(timers, marks, last, T0 + 1800)
    assert timers.earliest(TASKS) == T0 + 907
    due = timers.due(TASKS, T0 + 920)
    assert [line.row for line in due] == [2, 3]  # archive order, whatever their times
    assert timers.earliest(TASKS) == T0 + 907  # still due: their runs have not moved
    for line in due:
        _move(timers, marks, line, T0 + 1800)  # as the terminal does once it has read them
    assert timers.earliest(TASKS) == T0 + 921


def test_lines_sharing_a_time_come_due_together_and_a_moved_line_leaves_it() -> None:
    timers, lines, marks = _timers(4)
    every = list(lines.values())
    assert timers.earliest(TASKS) == T0
    assert timers.due(TASKS, T0) == every
    for line in every:
        _move(timers, marks, line, T0 + 900)
    _move(timers, marks, every[2], T0 + 950)  # its entry at T0 + 900 is stale now
    assert timers.earliest(TASKS) == T0 + 900
    assert timers.due(TASKS, T0 + 900) == [every[0], every[1], every[3]]
    for line in (every[0], every[1], every[3]):
        _move(timers, marks, line, T0 + 1800)
    assert timers.earliest(TASKS) == T0 + 950
    assert timers.due(TASKS, T0 + 1000) == [every[2]]


def test_a_stale_single_entry_is_skipped_for_the_next_time() -> None:
    timers, lines, marks = _timers(2)
    first, second = lines.values()
    _move(timers, marks, first, T0 + 100)
    _move(timers, marks, second, T0 + 200)
    assert timers.earliest(TASKS) == T0 + 100
    _move(timers, marks, first, T0 + 300)  # the entry at T0 + 100 is now stale
    assert timers.earliest(TASKS) == T0 + 200
    assert timers.due(TASKS, T0 + 250) == [second]
    _move(timers, marks, second, T0 + 1100)
    assert timers.due(TASKS, T0 + 300) == [first]
    _move(timers, marks, first, T0 + 1000)
    assert timers.earliest(TASKS) == T0 + 1000


def test_a_line_with_a_time_of_its_own_costs_less_than_a_list_of_its_own() -> None:
    """A terminal polling its lines in turn gives each a next run of its own; what the timers
    hold for that, per line, stays under what a one-line list alone took (88 B)."""
    count = 2000
    timers, lines, marks = _timers(count)
    timers.earliest(TASKS)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for k, line in enumerate(lines.values()):
            _move(timers, marks, line, T0 + 900 + 0.5 * k)
        timers.earliest(TASKS)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert timers.due(TASKS, T0 + 900 + count) == list(lines.values())
    assert held / count < 88, f"{held / count:.0f} B a line"
