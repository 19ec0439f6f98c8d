"""wattguard's roles as child processes, for tests that run them as a user would: started with
``python -m wattguard`` (output unbuffered, stderr folded into stdout) and stopped as Ctrl-C
stops them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping

__all__ = ["spawn", "stop"]


def spawn(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``wattguard ARGS...`` as a child process, its output readable line by line from
    ``stdout``; ``env`` adds to the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "wattguard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def stop(processes: Iterable[subprocess.Popen[str]], timeout: float = 10.0) -> None:
    """Interrupt every process (SIGINT, as Ctrl-C), wait up to ``timeout`` seconds for each,
    kill what is still running, and close their output pipes."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
