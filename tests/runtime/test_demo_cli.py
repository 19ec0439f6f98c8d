"""`wattguard demo` as a user runs it: the live line, the memory warning, the summary at the end."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

from wattguard.testing.processes import spawn, stop

SMALL = ("--meters", "10", "--per-terminal", "5", "--seed", "1", "--no-districts")


def _until(process: subprocess.Popen[str], pattern: str, limit: int = 200) -> list[str]:
    """The child's lines up to and including the first that matches ``pattern``."""
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if re.search(pattern, line) or len(lines) >= limit:
            break
    return lines


def test_live_demo_shows_the_last_interval_and_a_summary_after_ctrl_c() -> None:
    process = spawn("demo", *SMALL, "--api-port", "0")
    try:
        head = _until(process, r"readings \(")
        assert any("storage: in memory" in line and "lost" in line for line in head), head
        live = head[-1]
        assert re.search(r"readings \([\d,]+/s average, [\d,]+/s last interval\)", live), live
        process.send_signal(signal.SIGINT)  # Ctrl-C
        rest, _ = process.communicate(timeout=30)
    finally:
        stop([process])
    assert process.returncode == 0, rest
    summary = re.search(
        r"summary: ([\d,]+) readings stored from (\d+)/10 meters reporting, (\d+) security "
        r"events, (\d+) alerts \(\d+ open\), in ([\d.,]+) s real time",
        rest,
    )
    assert summary is not None, rest
    assert int(summary[1].replace(",", "")) > 0
    assert float(summary[5].replace(",", "")) > 0


def test_virtual_demo_ends_with_the_summary_and_a_file_database_is_not_called_memory(
    tmp_path: object,
) -> None:
    database = f"sqlite:///{tmp_path}/station.db"
    done = subprocess.run(
        [sys.executable, "-m", "wattguard", "demo", "--virtual", "--days", "0.05", *SMALL,
         "--database", database],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "storage: in memory" not in done.stdout
    assert re.search(r"summary: [\d,]+ readings stored from \d+/10 meters reporting", done.stdout)
