"""The dashboard's optimisation view in Debian's Chromium (Selenium through chromium-driver):
the forecast and the charging plan against the capacity drawn by the shipped uPlot under the
page's strict CSP, and a demand response requested from the page by an operator."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.charging import DistrictCharging, PileSpec
from wattguard.testing.browser import LiveStation, chromium

START = 1_796_515_200
STEP, STEPS = 900, 96
DISTRICT = "0000000000b2"


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveStation, DistrictCharging]]:
    chromium()  # skip before starting anything
    config = DeploymentConfig(meters=1, per_terminal=1, start=START, seed=1)
    deployment = Deployment(config, virtual_clock(config))
    piles = [PileSpec(f"00000000000{i}", 7.0, comfort_per_kw=float(i)) for i in range(1, 4)]
    job = DistrictCharging(
        DISTRICT, 70.0, STEP, np.full(STEPS, 0.4), piles, {p.name: lambda *_: None for p in piles}
    )
    hour = (np.arange(4 * STEPS) % STEPS) / 4
    job.begin(START, 40 + 20 * np.exp(-((hour - 19) ** 2) / 6))
    now = deployment.station.clock.time()
    for pile in piles:
        job.plug_in(pile.name, 28.0, now + 4 * 3600, now)
    station = LiveStation(deployment)
    station.server.config.app.state.charging = {DISTRICT: job}
    yield station, job
    station.stop()


def test_the_plan_is_drawn_and_a_demand_response_sent(
    live: tuple[LiveStation, DistrictCharging], browser: webdriver.Chrome
) -> None:
    station, job = live
    browser.get(f"{station.url}/#token=operator-token")
    wait = WebDriverWait(browser, 20, poll_frequency=0.1)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#plan-chart canvas"))
    for chart in ("forecast-chart", "plan-chart"):
        assert browser.find_element(By.ID, chart).get_attribute("data-points") == str(STEPS)
    assert "capacity" in browser.find_element(By.ID, "plan-chart").text
    browser.find_element(By.ID, "dr-kw").clear()
    browser.find_element(By.ID, "dr-kw").send_keys("5")
    browser.find_element(By.CSS_SELECTOR, "#dr-form button").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#dr-results tr"))
    assert "Demand response sent" in browser.find_element(By.ID, "optimisation-status").text
    assert len(job.responses) == 1 and job.responses[0].asked_kw == 5.0
    sources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(s.startswith(station.url) for s in sources)
