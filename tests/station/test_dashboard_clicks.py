"""Clicking through the dashboard in Debian's Chromium, driven by Selenium through Debian's
chromium-driver: an operator trips a meter, a viewer is refused with the API's reason, a
supervisor may not approve their own mass command and a second one may, and a station that
goes away is reported."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_testing import CHROMIUM_FLAGS, LiveStation, chromium, populated
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from wattguard_testing import require


def start_browser(profile: Path) -> webdriver.Chrome:
    browser = chromium()
    driver = shutil.which("chromedriver")
    require(driver is not None, "install Debian's chromium-driver: apt-get install chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # a service with the driver's path: Selenium Manager (which downloads drivers) never runs
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(str(driver)))


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()  # skip before starting anything
    station = LiveStation(populated(meters=12, per_terminal=6))
    yield station
    station.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = start_browser(tmp_path / "profile")
    yield driver
    driver.quit()


def text(browser: webdriver.Chrome, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def wait(browser: webdriver.Chrome, ready: Callable[[], Any], seconds: float = 15) -> Any:
    return WebDriverWait(browser, seconds, poll_frequency=0.05).until(lambda _: ready())


def click(browser: webdriver.Chrome, selector: str) -> None:
    """Click the element (found again if a refresh replaced it meanwhile)."""

    def clicked() -> bool:
        found = browser.find_elements(By.CSS_SELECTOR, selector)
        if found:
            found[0].click()
        return bool(found)

    WebDriverWait(browser, 15, 0.05, ignored_exceptions=[StaleElementReferenceException]).until(
        lambda _: clicked()
    )


def sign_in(browser: webdriver.Chrome, token: str) -> None:
    """Enter ``token`` in the page's field, as a user would, and wait for the data."""
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
    wait(browser, lambda: text(browser, "status").startswith("Up to date"))


def issue(browser: webdriver.Chrome, kind: str, meter: str) -> str:
    """Issue a command from the form; the message the page shows about it."""
    browser.execute_script("document.getElementById('command-message').textContent = ''")
    Select(browser.find_element(By.ID, "command-kind")).select_by_value(kind)
    Select(browser.find_element(By.ID, "command-meter")).select_by_value(meter)
    browser.find_element(By.ID, "command-issue").click()
    return str(wait(browser, lambda: text(browser, "command-message")))


def command_row(browser: webdriver.Chrome, command_id: int) -> list[str]:
    """The cells of a command's row (read in one step: a refresh may replace the rows)."""
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('#commands tr'),"
        " (row) => Array.from(row.cells, (cell) => cell.textContent))"
    )
    return next((row for row in rows if row[0] == str(command_id)), [])


def test_an_operator_trips_a_meter_and_a_viewer_is_refused(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    browser.get(f"{live.url}/#token=operator-token")
    wait(browser, lambda: text(browser, "status").startswith("Up to date"))
    # the token left the address bar, and stays with this tab only
    assert browser.current_url == f"{live.url}/"
    assert browser.execute_script("return sessionStorage.getItem('wattguard-token')") == (
        "operator-token"
    )
    target = live.get("/api/meters")[5]["address"]
    message = issue(browser, "trip", target)
    command = live.get("/api/commands")[0]
    assert command["meters"] == [target] and command["kind"] == "trip"
    assert command["issued_by"] == "otto"
    assert message == f"Command {command['id']} (trip {target}): {command['state']}."
    row = wait(browser, lambda: command_row(browser, command["id"]))
    assert row[1:6] == ["trip", target, "otto", "", command["state"]]

    browser.find_element(By.ID, "forget").click()
    wait(browser, lambda: text(browser, "status").startswith("Enter your API token"))
    sign_in(browser, "viewer-token")
    message = issue(browser, "close", target)
    refused = {"kind": "close", "meters": [target]}
    status, answer = live.call("POST", "/api/commands", "viewer-token", refused)
    assert status == 403
    assert message == f"Refused by the station: {answer['detail']}"
    assert "error" in browser.find_element(By.ID, "command-message").get_attribute("class")
    assert live.get("/api/commands")[0]["id"] == command["id"]  # nothing new was issued


def test_a_second_supervisor_approves_a_mass_command(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    meters = [m["address"] for m in live.get("/api/meters")][:11]
    mass = {"kind": "trip", "meters": meters}
    status, pending = live.call("POST", "/api/commands", "supervisor-token", mass)
    assert status == 201 and pending["state"] == "awaiting approval"
    approve = f"#commands button[data-action=approve][data-command='{pending['id']}']"

    browser.get(f"{live.url}/")
    sign_in(browser, "supervisor-token")
    click(browser, approve)
    message = str(wait(browser, lambda: text(browser, "command-message")))
    own = live.call("POST", f"/api/commands/{pending['id']}/approve", "supervisor-token")
    assert own[0] == 403 and message == f"Refused by the station: {own[1]['detail']}"

    browser.find_element(By.ID, "forget").click()
    sign_in(browser, "second-supervisor-token")
    click(browser, approve)
    message = str(wait(browser, lambda: text(browser, "command-message")))
    approved = live.get(f"/api/commands/{pending['id']}")
    assert approved["approved_by"] == "shi" and approved["state"] != "awaiting approval"
    assert message == f"Command {pending['id']} approved: now {approved['state']}."
    # the refresh after the click shows who approved it, and no more buttons
    wait(browser, lambda: command_row(browser, pending["id"])[4:5] == ["shi"])
    assert not browser.find_elements(By.CSS_SELECTOR, approve)


def test_a_station_that_goes_away_is_reported(tmp_path: Path) -> None:
    station = LiveStation(populated(meters=2, per_terminal=2))
    browser = start_browser(tmp_path / "profile")
    try:
        browser.get(f"{station.url}/#token=viewer-token")
        wait(browser, lambda: text(browser, "status").startswith("Up to date"))
        station.stop()
        # the next refresh (every 5 s) finds no station
        wait(browser, lambda: "cannot be reached" in text(browser, "status"), seconds=20)
        assert "Check that it runs" in text(browser, "status")
    finally:
        browser.quit()
        station.stop()
