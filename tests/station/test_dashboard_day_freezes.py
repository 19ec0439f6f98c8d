"""The meter page's day freezes (5004) in the browser, from a deployment that ran past
midnight: the rows the page shows are the station's stored day freezes, value for value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT
from wattguard.testing.browser import LiveStation, chromium


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()
    config = DeploymentConfig(meters=2, per_terminal=2, start=MIDNIGHT, seed=0)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(26 * 3600)  # past midnight and the next hourly daily task
    station = LiveStation(deployment)
    yield station
    station.stop()


def _rows(browser: webdriver.Chrome, body: str) -> list[list[str]]:
    return list(
        browser.execute_script(
            "return Array.from(document.getElementById(arguments[0]).rows,"
            " (row) => Array.from(row.cells, (cell) => cell.textContent))",
            body,
        )
    )


def test_the_meter_page_lists_the_stored_day_freezes(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    meter = live.get("/api/meters")[0]["address"]
    stored: list[dict[str, Any]] = live.get(
        f"/api/meters/{meter}/freezes?object=50040200&limit=31"
    )["readings"]
    assert stored, "a day freeze was collected after midnight"
    browser.get(f"{live.url}/#token=viewer-token&meter={meter}")

    def shown() -> list[list[str]] | None:
        found = _rows(browser, "meter-freezes")
        return found if len(found) == len(stored) and len(found[0]) == 4 else None

    rows = WebDriverWait(browser, 20, 0.05, [StaleElementReferenceException]).until(
        lambda _: shown()
    )
    assert [r[1] for r in rows] == [s["name"] for s in stored]
    assert [float(r[2]) for r in rows] == [float(s["value"]) for s in stored]
    assert [r[3] for r in rows] == [s["unit"] or "" for s in stored]
    assert all(r[0].startswith(s["at"][:10]) for r, s in zip(rows, stored, strict=True))
    assert browser.find_element(By.ID, "meter-freezes").is_displayed()
