"""Helpers shared by the test packages (a plain module: conftest files share one name)."""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES = os.environ.get("WATTGUARD_REQUIRE_SERVICES") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``condition``; under WATTGUARD_REQUIRE_SERVICES=1, fail."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (WATTGUARD_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)
