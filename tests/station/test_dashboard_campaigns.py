"""The dashboard's campaigns view in headless Chromium: a supervisor uploads a vendor-signed
image and creates a firmware campaign over a district, a second supervisor approves it from
its row, the canary wave is started there, and after the deployment ran the row shows what
the API says: every meter done, each running the new version; a viewer sees no form and no
buttons."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT
from wattguard.testing.browser import LiveStation, chromium

VERSION = "1.2.0"


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()
    config = DeploymentConfig(meters=4, per_terminal=4, start=MIDNIGHT, seed=7)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(600)
    station = LiveStation(deployment)
    yield station
    station.stop()


def wait(browser: webdriver.Chrome, ready: Callable[[], Any], seconds: float = 20) -> Any:
    return WebDriverWait(
        browser, seconds, 0.05, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda _: ready())


def signed_in(browser: webdriver.Chrome, live: LiveStation, token: str) -> None:
    browser.get(f"{live.url}/#token={token}")
    wait(browser, lambda: browser.find_element(By.ID, "campaigns").is_displayed())


def rows(browser: webdriver.Chrome) -> list[list[str]]:
    return list(
        browser.execute_script(
            "return Array.from(document.getElementById('campaigns').rows,"
            " (row) => Array.from(row.cells, (cell) => cell.textContent))"
        )
    )


def click(browser: webdriver.Chrome, label: str) -> None:
    wait(browser, lambda: browser.find_element(
        By.XPATH, f"//tbody[@id='campaigns']//button[text()='{label}']")).click()  # fmt: skip


def test_a_campaign_made_approved_and_started_from_the_dashboard(
    live: LiveStation, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    deployment = live.deployment
    image = tmp_path / "firmware.img"
    image.write_bytes(deployment.vendor.build(b"management firmware\n" * 64, VERSION))
    district = deployment.nets[0].terminal.address.hex()

    signed_in(browser, live, "viewer-token")  # a viewer: no form, no buttons
    assert not browser.find_element(By.ID, "campaign-form").is_displayed()

    signed_in(browser, live, "supervisor-token")
    wait(browser, lambda: browser.find_element(By.ID, "campaign-form").is_displayed())
    wait(browser, lambda: Select(browser.find_element(By.ID, "campaign-district")).options)
    Select(browser.find_element(By.ID, "campaign-district")).select_by_value(district)
    browser.find_element(By.ID, "campaign-image").send_keys(str(image))
    browser.find_element(By.ID, "campaign-create").click()
    said = wait(browser, lambda: browser.find_element(By.ID, "campaign-message").text)
    assert "awaiting approval" in said and VERSION in said, said
    [campaign] = live.get("/api/campaigns", "supervisor-token")
    assert campaign["target"] == VERSION and len(campaign["meters"]) == 4
    wait(browser, lambda: rows(browser) and rows(browser)[0][3] == "awaiting approval")

    signed_in(browser, live, "second-supervisor-token")  # the second person approves
    click(browser, "Approve")
    wait(browser, lambda: rows(browser)[0][3] == "approved")
    click(browser, "Start")
    wait(browser, lambda: rows(browser)[0][3] == "running")

    browser.get("about:blank")  # nothing asks the station while the deployment runs
    deployment.run_virtual(3600)
    signed_in(browser, live, "viewer-token")
    status = live.get(f"/api/campaigns/{campaign['id']}")
    assert status["state"] == "done" and status["counts"] == {"done": 4}, status
    row = wait(browser, lambda: rows(browser)[0] if rows(browser)[0][3] == "done" else None)
    assert row[5] == "4 done" and row[6] == ""  # a viewer gets no buttons
    running = {
        meter.upgrader.active_version for net in deployment.nets for meter in net.meters.values()
        if meter.upgrader is not None
    }  # fmt: skip
    assert {str(v) for v in running} == {VERSION}
