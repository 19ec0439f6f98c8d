"""The dashboard's analytics view in Debian's Chromium (Selenium through chromium-driver): the
line-loss chart and a meter's daily energy drawn by the shipped uPlot under the page's strict
CSP (script-src 'self'), the suspects ranked, nothing loaded from another origin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.simulation.district import simulate_districts
from wattguard.station.analysis import AnalysisJob
from wattguard.testing.analysis import store_districts
from wattguard.testing.browser import LiveStation, chromium

START = 1_796_515_200
DAYS = 9


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LiveStation, list[str]]]:
    chromium()  # skip before starting anything
    config = DeploymentConfig(meters=1, per_terminal=1, start=START, seed=1)
    deployment = Deployment(config, virtual_clock(config))
    sim = simulate_districts(2, 6, DAYS, seed=4)
    customers = store_districts(deployment.storage, sim, START)
    AnalysisJob(deployment.storage).run(START + DAYS * 86400 + 7200)
    station = LiveStation(deployment)
    yield station, customers
    station.stop()


def test_the_analytics_charts_are_drawn_by_the_shipped_library(
    live: tuple[LiveStation, list[str]], browser: webdriver.Chrome
) -> None:
    station, _ = live
    browser.get(f"{station.url}/#token=viewer-token")
    wait = WebDriverWait(browser, 20, poll_frequency=0.1)
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#loss-chart canvas"))
    chart = browser.find_element(By.ID, "loss-chart")
    assert chart.get_attribute("data-points") == str(DAYS)
    assert "line-loss rate" in chart.text
    rows = browser.find_elements(By.CSS_SELECTOR, "#suspects tr")
    assert len(rows) == 6
    rows[0].find_element(By.TAG_NAME, "button").click()
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#meter-chart canvas"))
    assert browser.find_element(By.ID, "meter-chart").get_attribute("data-points") == str(DAYS)
    shown = browser.find_element(By.ID, "analytics-meter").text
    assert "cluster" in shown and "time of use (station default table): peak" in shown
    # every script and style came from the station itself
    sources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert sources and all(s.startswith(station.url) for s in sources)
    assert "uPlot" in browser.execute_script("return typeof uPlot === 'function' ? 'uPlot' : ''")
