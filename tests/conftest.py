"""Shared test configuration.

Tests that need something outside Python (a server, the ``openssl`` command) call
:func:`wattguard.testing.services.require`: on a user's machine they skip with the reason;
with ``WATTGUARD_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) they fail instead. Helpers shared
by tests live in :mod:`wattguard.testing`; tests import them from there, never by file name.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from wattguard.testing.browser import start_browser
from wattguard.testing.services import require

settings.register_profile("wattguard", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("wattguard")


@pytest.fixture(scope="session")
def openssl_cli() -> str:
    path = shutil.which("openssl")
    require(path is not None, "the openssl command line tool is not installed")
    assert path is not None
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium (selenium) with a fresh profile, quit after the test."""
    driver = start_browser(tmp_path / "profile")
    yield driver
    driver.quit()
