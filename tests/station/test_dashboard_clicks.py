"""Clicking through the dashboard in Debian's Chromium, driven by Selenium through Debian's
chromium-driver: an operator trips a meter, a viewer sees no command form (and the API refuses
one), a
supervisor may not approve their own mass command and a second one may, and a station that
goes away is reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from wattguard.testing import MIDNIGHT
from wattguard.testing.browser import LiveStation, chromium, start_browser, utc
from wattguard.testing.deployment import populated, with_registered_fleet


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()  # skip before starting anything
    station = LiveStation(populated(meters=12, per_terminal=6))
    yield station
    station.stop()


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
    field = browser.find_element(By.ID, "command-meter")
    field.clear()
    field.send_keys(meter)
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
    # a viewer is shown no command form; the API still refuses a viewer's command
    assert not browser.find_element(By.ID, "command-panel").is_displayed()
    assert not browser.find_element(By.ID, "command-issue").is_displayed()
    refused = {"kind": "close", "meters": [target]}
    status, _ = live.call("POST", "/api/commands", "viewer-token", refused)
    assert status == 403
    assert live.get("/api/commands")[0]["id"] == command["id"]  # nothing new was issued
    # the operator's form comes back with the operator's token
    browser.find_element(By.ID, "forget").click()
    sign_in(browser, "operator-token")
    wait(browser, lambda: browser.find_element(By.ID, "command-issue").is_displayed())


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


# a fleet larger than a page

EXTRA = [f"0000090{k:05d}" for k in range(120)]  # registered without simulating them


@pytest.fixture(scope="module")
def fleet() -> Iterator[LiveStation]:
    chromium()
    deployment = with_registered_fleet(MIDNIGHT, EXTRA)
    live = LiveStation(deployment)
    yield live
    live.stop()


def meter_rows(browser: webdriver.Chrome) -> list[list[str]]:
    return list(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('#meters tr'),"
            " (row) => Array.from(row.cells, (cell) => cell.textContent))"
        )
    )


def expected_rows(live: LiveStation, query: str) -> list[list[str]]:
    """The rows the table should show for ``/api/meters/page?<query>``."""
    page = live.get(f"/api/meters/page?limit=50&{query}")["meters"]
    return [
        [m["address"], m["terminal"], f"{m['latest']['value']:.2f}", utc(m["latest"]["time"])]
        if m["latest"] else [m["address"], m["terminal"], "no reading yet", ""]
        for m in page
    ]  # fmt: skip


def shows(browser: webdriver.Chrome, shown: str) -> None:
    wait(browser, lambda: text(browser, "meters-range") == shown)


def enabled(browser: webdriver.Chrome, element_id: str) -> bool:
    return bool(browser.find_element(By.ID, element_id).is_enabled())


def test_the_meters_come_a_page_at_a_time(fleet: LiveStation, browser: webdriver.Chrome) -> None:
    everyone = [m["address"] for m in fleet.get("/api/meters")]
    assert len(everyone) == 122
    browser.get(f"{fleet.url}/#token=viewer-token")
    wait(browser, lambda: text(browser, "status").startswith("Up to date"))
    shows(browser, "meters 1\N{EN DASH}50 of 122")
    assert meter_rows(browser) == expected_rows(fleet, "")
    assert not enabled(browser, "meters-previous") and enabled(browser, "meters-next")
    offered = browser.execute_script(
        "return Array.from(document.getElementById('command-meters').options, (o) => o.value)"
    )
    assert offered == everyone[:50]

    browser.find_element(By.ID, "meters-next").click()
    shows(browser, "meters 51\N{EN DASH}100 of 122")
    assert meter_rows(browser) == expected_rows(fleet, f"after={everyone[49]}")
    assert enabled(browser, "meters-previous") and enabled(browser, "meters-next")
    browser.find_element(By.ID, "meters-next").click()
    shows(browser, "meters 101\N{EN DASH}122 of 122")
    assert [row[0] for row in meter_rows(browser)] == everyone[100:]
    assert not enabled(browser, "meters-next")
    # the refresh every 5 s keeps the page
    before = text(browser, "status")
    wait(browser, lambda: text(browser, "status") not in ("", before), seconds=12)
    assert text(browser, "meters-range") == "meters 101\N{EN DASH}122 of 122"
    browser.find_element(By.ID, "meters-previous").click()
    shows(browser, "meters 51\N{EN DASH}100 of 122")
    assert [row[0] for row in meter_rows(browser)] == everyone[50:100]


def test_meters_are_found_by_the_first_digits_of_their_address(
    fleet: LiveStation, browser: webdriver.Chrome
) -> None:
    browser.get(f"{fleet.url}/#token=viewer-token")
    shows(browser, "meters 1\N{EN DASH}50 of 122")
    malformed = len(fleet.get("/api/events?kind=malformed&limit=1000"))
    field = browser.find_element(By.ID, "meter-search")
    field.send_keys("00000900010")
    shows(browser, "meters 1\N{EN DASH}10 of 10 starting with 00000900010")
    assert meter_rows(browser) == expected_rows(fleet, "q=00000900010")
    assert [row[0] for row in meter_rows(browser)] == EXTRA[100:110]
    assert not enabled(browser, "meters-previous") and not enabled(browser, "meters-next")
    # what is not an address's digits is explained, and never sent
    field.send_keys("x")
    wait(browser, lambda: "first digits" in text(browser, "meters-message"))
    assert field.get_attribute("aria-invalid") == "true"
    assert text(browser, "meters-range") == "meters 1\N{EN DASH}10 of 10 starting with 00000900010"
    field.clear()
    field.send_keys("123\n")
    shows(browser, "no meters starting with 123")
    assert meter_rows(browser) == [["No meter address starts with 123."]]
    assert text(browser, "meters-message") == "" and field.get_attribute("aria-invalid") == "false"
    assert len(fleet.get("/api/events?kind=malformed&limit=1000")) == malformed


def test_a_command_takes_a_typed_address(fleet: LiveStation, browser: webdriver.Chrome) -> None:
    browser.get(f"{fleet.url}/#token=operator-token")
    shows(browser, "meters 1\N{EN DASH}50 of 122")
    before = fleet.get("/api/commands")
    for typed, said in [
        ("", "Enter the 12-digit address of the meter to command"),
        ("12345", "A meter address is 12 digits, not \N{LEFT DOUBLE QUOTATION MARK}12345"),
        ("00000900011a", "A meter address is 12 digits"),
    ]:
        message = issue(browser, "trip", typed)
        assert message.startswith(said), message
        assert "error" in browser.find_element(By.ID, "command-message").get_attribute("class")
    assert fleet.get("/api/commands") == before  # nothing was sent
    target = EXTRA[117]  # on no page shown: typed in
    message = issue(browser, "trip", target)
    command = fleet.get("/api/commands")[0]
    assert command["meters"] == [target] and command["issued_by"] == "otto"
    assert message == f"Command {command['id']} (trip {target}): {command['state']}."
