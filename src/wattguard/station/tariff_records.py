"""The time-of-use table each meter runs, as the station's own tariff commands set it, for the
analyses' peak/flat/valley split (:meth:`wattguard.station.analysis_store.AnalysisStore.
set_tariff`).

Theory of operation. A tariff-table command (``CommandKind.TARIFF``: the day table 4017 and
the time it takes over, 4009) that a meter confirmed becomes that meter's table at its
switch-over time, not before: the analyses split the days before it by the table the meter
ran then. So a confirmed table waits in a queue ordered by switch-over time, and the station's
tick records each one whose time has come. The queue is rebuilt from the stored commands when
the station starts (the commands are kept; the rule is "a meter's table is the one of its
latest confirmed tariff command whose switch-over has passed"), so a restart between the
command and its switch-over loses nothing, and recording a table again is harmless.

The table's times are the meter's clock time (the simulated meters keep UTC, as the station's
analyses do). DL/T 698.45's tariff numbers map to the analyses' periods as a utility reports
them: 1 (sharp) and 2 (peak) to peak, 3 (flat) to flat, 4 (valley) to valley (docs/protocol.md,
"Tariff tables").
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from wattguard.errors import ConfigError, WattguardError
from wattguard.station.command_kinds import parse
from wattguard.station.commands import Command, CommandKind

__all__ = ["TariffRecords", "day_steps"]

log = logging.getLogger(__name__)

#: The analyses' period (0 peak, 1 flat, 2 valley) of each DL/T 698.45 tariff number.
PERIOD_OF_TARIFF = {1: 0, 2: 0, 3: 1, 4: 2}
STEPS = 96  # 15-minute intervals of a day


def day_steps(table: Iterable[tuple[int, int, int]]) -> npt.NDArray[np.intp]:
    """The period of each of the day's 96 15-minute intervals under a day table of
    ``(hour, minute, tariff)`` starts in time order (the last period runs on past midnight
    until the first start); an interval takes the period in force at its start."""
    starts = sorted(table)
    if not starts:
        raise ConfigError("a tariff day table has at least one period")
    steps = np.empty(STEPS, dtype=np.intp)
    for step in range(STEPS):
        minute = step * 15
        current = starts[-1]  # before the first start: the day's last period, from yesterday
        for start in starts:
            if start[0] * 60 + start[1] <= minute:
                current = start
        steps[step] = PERIOD_OF_TARIFF[current[2]]
    return steps


class TariffRecords:
    """Confirmed tariff tables waiting for their switch-over time, recorded into the analyses'
    storage by :meth:`tick` (see the module docstring)."""

    def __init__(self, record: Callable[[str, npt.ArrayLike], None] | None) -> None:
        # record(meter, steps): AnalysisStore.set_tariff, or None where there is no SQL storage
        self._record = record
        self._queue: list[tuple[float, int, str, tuple[int, ...]]] = []

    def confirmed(self, command: Command, meter: str) -> None:
        """``meter`` confirmed tariff ``command``: its table takes over at the switch time."""
        if command.kind != CommandKind.TARIFF:
            return
        try:
            table, switch_at, _ = parse(CommandKind.TARIFF, command.argument)
        except WattguardError as refused:  # stored by an older station: nothing to learn
            log.warning("tariff command %d: %s", command.id, refused)
            return
        steps = tuple(int(p) for p in day_steps(table))
        heapq.heappush(self._queue, (switch_at, command.id, meter, steps))

    def restore(self, commands: Iterable[Command]) -> None:
        """Queue again every meter's confirmed tariff commands (a restarted station)."""
        for command in commands:
            if command.kind == CommandKind.TARIFF:
                for meter, outcome in command.results:
                    if outcome == "ok":
                        self.confirmed(command, meter)

    def tick(self, now: float) -> int:
        """Record each table whose switch-over time has come, oldest first; how many."""
        recorded = 0
        while self._queue and self._queue[0][0] <= now:
            _, _, meter, steps = heapq.heappop(self._queue)
            if self._record is not None:
                self._record(meter, np.asarray(steps))
            recorded += 1
        return recorded

    @property
    def waiting(self) -> int:
        """Confirmed tables whose switch-over time has not come yet."""
        return len(self._queue)
