"""Tests that need something outside Python (a database, a NATS server, the ``openssl``
command, Chromium) call :func:`require`: on a developer's machine they skip with the reason;
with ``WATTGUARD_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) they fail instead.

For tests only: this module imports pytest.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest

__all__ = [
    "NATS_SERVER",
    "NATS_URL",
    "POSTGRES_URL",
    "REQUIRE_SERVICES",
    "free_port",
    "free_ports",
    "nats_reachable",
    "nats_server",
    "require",
]

REQUIRE_SERVICES = os.environ.get("WATTGUARD_REQUIRE_SERVICES") == "1"
#: The nats-server binary tests start servers of their own with (Debian's package).
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
#: The test NATS server (``WATTGUARD_NATS_URL``).
NATS_URL = os.environ.get("WATTGUARD_NATS_URL", "nats://127.0.0.1:4222")
#: The test PostgreSQL database (``WATTGUARD_POSTGRES_URL``).
POSTGRES_URL = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``condition``; under WATTGUARD_REQUIRE_SERVICES=1, fail."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (WATTGUARD_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def nats_reachable(url: str = NATS_URL) -> bool:
    """Whether something accepts TCP connections at the NATS server ``url`` (within 1 s)."""
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), 1):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that nothing listens on now (all bound at once,
    so no two are the same)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def nats_server(arguments: Sequence[str], port: int) -> Iterator[str]:
    """A nats-server of the test's own, started with ``arguments`` and listening on ``port``
    (which the arguments or their configuration file name): its URL once it accepts
    connections (within 10 s), stopped afterwards. Skips (fails under REQUIRE_SERVICES)
    without the binary."""
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    process = subprocess.Popen(
        [NATS_SERVER, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
