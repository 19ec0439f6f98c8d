"""Helpers shared by the test packages (a plain module: conftest files share one name)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from wattguard.meter.device import Meter
from wattguard.meter.management.module import LinkKeys

REQUIRE_SERVICES = os.environ.get("WATTGUARD_REQUIRE_SERVICES") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``condition``; under WATTGUARD_REQUIRE_SERVICES=1, fail."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (WATTGUARD_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def new_meter(address: bytes, **options: Any) -> Meter:
    """A meter as provisioning makes one: fresh link keys and the OS's random bytes, unless
    ``options`` name others (``keys=``, ``random=``); the other options go to :class:`Meter`."""
    options.setdefault("keys", LinkKeys.generate(os.urandom))
    options.setdefault("random", os.urandom)
    return Meter(address, **options)
