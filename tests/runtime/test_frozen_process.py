"""The whole demo as a process, frozen with SIGSTOP for 16 s and then 25 s (issue #13, item 4).

At 60x a 16 s stop is 16 simulated minutes: on SIGCONT every terminal catches up on its timers
(in simulated time) before it reads its socket, misses three heartbeats, logs in again, and
only then reads the station's late acknowledgements of the batches it sent during the catch-up.
Before the fix one of them, under the login's PIID, took the login and the terminal never
reported again, while the summary still said every terminal was online. Now every meter must
report again, and every terminal count as online, within two collection rounds of SIGCONT.

Slow (two minutes of real time): ``pytest -m slow tests/runtime/test_frozen_process.py``. The
default suite covers the same collision without a process: ``tests/network/
test_terminal_link.py`` and the ``frozen-loop`` attack scenario.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

SPEED = 60.0
ROUND = 900.0 / SPEED  # one collection round, in real seconds
METERS, PER_TERMINAL = 16, 4
_LINE = re.compile(r"meters reporting (\d+)/(\d+) \| terminals online (\d+)/(\d+)")


class Demo:
    """``wattguard demo`` live in a subprocess; its summary lines, as they come."""

    def __init__(self) -> None:
        src = Path(__file__).resolve().parents[2] / "src"
        env = {**os.environ, "PYTHONPATH": str(src)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wattguard", "demo", "--meters", str(METERS),
             "--per-terminal", str(PER_TERMINAL), "--speed", str(SPEED), "--api-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )  # fmt: skip
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.strip()))

    def latest(self, after: float) -> tuple[int, int, int, int] | None:
        """The counts of the newest summary line printed after ``after``."""
        for at, line in reversed(self.lines):
            if at < after:
                return None
            if found := _LINE.search(line):
                m, mt, t, tt = (int(g) for g in found.groups())
                return m, mt, t, tt
        return None

    def wait_all_reporting(self, within: float) -> tuple[int, int, int, int] | None:
        """Wait up to ``within`` seconds for a summary with every meter and terminal; the
        last counts seen."""
        began = time.monotonic()
        seen = None
        while time.monotonic() - began < within:
            time.sleep(0.5)
            seen = self.latest(time.monotonic() - 1.5) or seen
            if seen is not None and seen[0] == seen[1] and seen[2] == seen[3]:
                return seen
        return seen

    def freeze(self, seconds: float) -> None:
        self.process.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.mark.slow
def test_every_meter_reports_again_after_the_process_was_frozen() -> None:
    demo = Demo()
    try:
        everyone = (METERS, METERS, METERS // PER_TERMINAL, METERS // PER_TERMINAL)
        assert demo.wait_all_reporting(30.0) == everyone
        for stall in (16.0, 25.0):
            demo.freeze(stall)
            thawed = time.monotonic()
            # The meters the summary counts are those with a reading from the last two rounds
            # and two minutes: past that, a terminal that never came back shows.
            time.sleep(2 * ROUND + 120 / SPEED + 3.0)
            assert demo.latest(thawed) == everyone, f"after a {stall:g} s stop"
            assert time.monotonic() - thawed < 2 * ROUND + 10
    finally:
        demo.stop()
