"""Tests that need something outside Python (a database, a NATS server, the ``openssl``
command, Chromium) call :func:`require`: on a developer's machine they skip with the reason;
with ``WATTGUARD_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) they fail instead.

For tests only: this module imports pytest.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

__all__ = ["NATS_URL", "POSTGRES_URL", "REQUIRE_SERVICES", "nats_reachable", "require"]

REQUIRE_SERVICES = os.environ.get("WATTGUARD_REQUIRE_SERVICES") == "1"
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
