"""The dashboard's fleet view and meter pages in Debian's Chromium (Selenium through
chromium-driver): the figures, tables and charts show what the API answers, the charts are
drawn (their pixels read back from screenshots), a command goes to several selected meters or
to a district, and the command form follows the station's command kinds and the user's role."""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from wattguard.testing.browser import CHROMIUM_FLAGS, LiveStation, chromium, utc
from wattguard.testing.deployment import populated
from wattguard.testing.services import require

QUARTER = 900
TAMPERED = "000001000001"  # its cover was opened (populated())
RED, BLUE = (179, 38, 30), (31, 119, 180)  # the load chart's and the meter curve's strokes


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()  # skip before starting anything
    station = LiveStation(populated(meters=6, per_terminal=3))
    yield station
    station.stop()


def wait(browser: webdriver.Chrome, ready: Callable[[], Any], seconds: float = 15) -> Any:
    return WebDriverWait(
        browser, seconds, 0.05, ignored_exceptions=[StaleElementReferenceException]
    ).until(lambda _: ready())


def text(browser: webdriver.Chrome, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def rows(browser: webdriver.Chrome, body: str) -> list[list[str]]:
    """The cells' texts of a table body (read in one step: a refresh may replace the rows)."""
    return list(
        browser.execute_script(
            "return Array.from(document.getElementById(arguments[0]).rows,"
            " (row) => Array.from(row.cells, (cell) => cell.textContent))",
            body,
        )
    )


def signed_in(browser: webdriver.Chrome, live: LiveStation, token: str, hash: str = "") -> None:
    browser.get(f"{live.url}/#token={token}{hash}")
    wait(browser, lambda: text(browser, "status").startswith("Up to date"))


def png_pixels(png: bytes) -> list[tuple[int, int, int]]:
    """The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots
    are), decoded here: PNG specification (W3C, 2003) clauses 11.2.2 IHDR and 9 filtering."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data, header = 8, b"", b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        header = body if kind == b"IHDR" else header
        data += body if kind == b"IDAT" else b""
        at += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    size = 3 if colour == 2 else 4
    raw, stride, previous, pixels = zlib.decompress(data), width * size, bytearray(), []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for x in range(stride):
            a = line[x - size] if x >= size else 0
            b, c = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + a) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + b) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels += [tuple(line[x : x + 3]) for x in range(0, stride, size)]
        previous = line
    return pixels  # type: ignore[return-value]


def stroked(browser: webdriver.Chrome, element_id: str, colour: tuple[int, int, int]) -> int:
    """How many pixels of a screenshot of the element are (nearly) ``colour``."""
    png = browser.find_element(By.ID, element_id).screenshot_as_png
    return sum(1 for p in png_pixels(png) if all(abs(p[k] - colour[k]) <= 12 for k in range(3)))


def js_number(value: float) -> str:
    """A number as JavaScript's String() writes it (for these values)."""
    shown = repr(float(value))
    return shown[:-2] if shown.endswith(".0") else shown


def test_the_png_reader_reads_what_it_is_given() -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    # 2x2 RGB: the second line Up-filtered (filter 2), from the first line's red and blue
    lines = b"\x00" + bytes([255, 0, 0, 0, 0, 255]) + b"\x02" + bytes([0, 10, 0, 5, 0, 0])
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(lines)) + chunk(b"IEND", b""))  # fmt: skip
    assert png_pixels(png) == [(255, 0, 0), (0, 0, 255), (255, 10, 0), (5, 0, 255)]


def test_the_fleet_view_shows_the_apis_figures_and_load(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    signed_in(browser, live, "viewer-token")
    fleet = live.get("/api/fleet")
    share = fleet["fleet"]["completeness"]
    assert share is not None and fleet["fleet"]["arrived"] > 0
    wait(browser, lambda: text(browser, "fleet-completeness") == f"{100 * share:.1f} %")
    expected = fleet["fleet"]
    assert text(browser, "fleet-collected") == f"{expected['arrived']} of {expected['expected']}"
    assert text(browser, "fleet-day").startswith(fleet["day"] + " (UTC)")
    assert rows(browser, "terminals") == [
        [t["terminal"], "online" if t["online"] else "offline", utc(t["last_seen"]),
         str(t["meters"]), str(t["meters_behind"]), str(t["refused"]),
         f"{t['arrived']} / {t['expected']}", f"{100 * t['completeness']:.1f} %"]
        for t in fleet["terminals"]
    ]  # fmt: skip
    points = live.get("/api/fleet/load")["points"]
    assert len(points) > 10
    chart = wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#load-chart canvas"))
    assert chart[0].size["width"] > 300
    assert browser.find_element(By.ID, "load-chart").get_attribute("data-points") == str(
        len(points)
    )
    assert text(browser, "fleet-load") == f"{points[-1]['power']:.2f} kW"
    assert stroked(browser, "load-chart", RED) > 100  # the line is drawn, in its colour
    # a viewer sees no command form
    assert not browser.find_element(By.ID, "command-panel").is_displayed()


def increases(freezes: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """The curve's quarter-hour increases, oldest first (as the page counts them)."""
    old = sorted(freezes, key=lambda r: r["time"])
    return [
        (b["time"], b["value"] - a["value"])
        for a, b in pairwise(old)
        if b["time"] - a["time"] == QUARTER and b["value"] >= a["value"]
    ]


def test_a_meters_page_shows_its_values_curve_events_and_commands(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    signed_in(browser, live, "viewer-token")
    wait(
        browser,
        lambda: browser.find_elements(By.CSS_SELECTOR, f"#meters a[href='#meter={TAMPERED}']"),
    )[0].click()
    wait(browser, lambda: text(browser, "meter-title") == f"Meter {TAMPERED}")
    assert browser.current_url.endswith(f"#meter={TAMPERED}")
    assert not browser.find_element(By.ID, "fleet-view").is_displayed()
    readings = live.get(f"/api/meters/{TAMPERED}/readings?limit=200")["readings"]
    newest: dict[str, dict[str, Any]] = {}
    for r in readings:
        if "/" not in r["quantity"]:
            newest.setdefault(r["quantity"], r)
    expected = [
        [r["name"], js_number(r["value"]), r["unit"] or "", utc(r["time"]), r["quantity"]]
        for _, r in sorted(newest.items())
    ]
    assert any(row[0] == "forward active energy, total" and row[2] == "kWh" for row in expected)
    wait(browser, lambda: rows(browser, "meter-latest") == expected)
    entry = live.get(f"/api/meters/page?limit=1&q={TAMPERED}")["meters"][0]
    assert text(browser, "meter-terminal") == entry["terminal"]
    if entry.get("relay") is not None:  # the station reports relay states
        assert text(browser, "meter-relay") == str(entry["relay"])
    curve = live.get(f"/api/meters/{TAMPERED}/freezes?object=50020200&limit=1000")["readings"]
    steps = increases(curve)
    assert len(steps) > 10
    curve_chart = browser.find_element(By.ID, "meter-curve")
    assert curve_chart.find_elements(By.TAG_NAME, "canvas")
    assert curve_chart.get_attribute("data-points") == str(len(steps))
    days = {(t - 1) // 86400 for t, _ in steps}
    assert browser.find_element(By.ID, "meter-daily").get_attribute("data-points") == str(len(days))
    total = sum(v for _, v in steps)
    assert text(browser, "meter-daily-table") == f"{utc(steps[0][0])[:10]}: {total:.2f} kWh"
    assert stroked(browser, "meter-curve", BLUE) > 100
    # its events: the cover opened (a security event), newest first
    events = live.get(f"/api/events?meter={TAMPERED}&limit=20")
    assert events and rows(browser, "meter-events")[0][:3] == [
        utc(events[0]["time"]),
        "security",
        events[0]["kind"],
    ]
    assert rows(browser, "meter-freezes") == [["No day freeze stored yet."]]
    # back to the fleet
    browser.find_element(By.ID, "to-fleet").click()
    wait(browser, lambda: browser.find_element(By.ID, "fleet-view").is_displayed())


def reading_done(browser: webdriver.Chrome) -> str | None:
    """The read's message, once it no longer says that the read is under way."""
    said = text(browser, "meter-read-message")
    return None if not said or said.startswith("Reading ") else said


def test_read_now_asks_the_station_and_says_what_it_answered(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    signed_in(browser, live, "operator-token", f"&meter={TAMPERED}")
    wait(browser, lambda: text(browser, "meter-title") == f"Meter {TAMPERED}")
    station = live.deployment.station
    before = len(station.reads.reads)
    browser.find_element(By.ID, "meter-read").click()
    wait(browser, lambda: len(station.reads.reads) - before == 4)  # four reads asked, pending
    assert text(browser, "meter-read-message").startswith("Reading ")
    live.deployment.run_virtual(120)  # the terminal relays them; the page polls meanwhile
    message = wait(browser, lambda: reading_done(browser), seconds=30)
    assert message.startswith("Read at "), message
    asked = sorted(station.reads.reads.values(), key=lambda r: r.id)[-4:]
    assert [r.state for r in asked] == ["done"] * 4, [(r.object, r.error) for r in asked]
    shown = text(browser, "meter-read-result")
    for read in asked:  # an array (energy by tariff, power by phase) element by element
        values = read.value if isinstance(read.value, list) else [read.value]
        value = " / ".join(f"{v:g}" for v in values)
        assert f"{read.name} {value} {read.unit}" in shown, (shown, read)


def issued(browser: webdriver.Chrome) -> str:
    browser.find_element(By.ID, "command-issue").click()
    return str(wait(browser, lambda: text(browser, "command-message")))


def test_a_trip_of_several_selected_meters_and_a_close_of_a_district(
    live: LiveStation, browser: webdriver.Chrome
) -> None:
    signed_in(browser, live, "operator-token")
    status, kinds = live.call("GET", "/api/command-kinds", "operator-token")
    offered = ["trip", "close"] if status == 404 else [
        k["kind"] for k in kinds if k["role"] in ("viewer", "operator")
    ]  # fmt: skip
    wait(browser, lambda: browser.find_element(By.ID, "command-panel").is_displayed())
    options = browser.find_elements(By.CSS_SELECTOR, "#command-kind option")
    assert [o.get_attribute("value") for o in options] == offered
    meters = [m["address"] for m in live.get("/api/meters")]
    chosen = [meters[4], meters[1], meters[2]]
    for address in chosen:
        browser.find_element(By.CSS_SELECTOR, f"input.select-meter[value='{address}']").click()
    assert text(browser, "selected-count") == "3 meters selected"
    assert (
        Select(browser.find_element(By.ID, "command-target")).first_selected_option.get_attribute(
            "value"
        )
        == "selected"
    )
    Select(browser.find_element(By.ID, "command-kind")).select_by_value("trip")
    browser.execute_script("document.getElementById('command-message').textContent = ''")
    message = issued(browser)
    command = live.get("/api/commands")[0]
    assert command["kind"] == "trip" and command["meters"] == sorted(chosen)
    assert command["issued_by"] == "otto"
    assert message == f"Command {command['id']} (trip 3 meters): {command['state']}."
    carry_out(browser, live)
    tripped = live.get(f"/api/commands/{command['id']}")
    assert tripped["state"] == "done" and tripped["results"] == dict.fromkeys(chosen, "ok")
    signed_in(browser, live, "operator-token")
    row = wait(
        browser,
        lambda: next((r for r in rows(browser, "commands") if r[0] == str(command["id"])), None),
    )
    assert row[5:7] == ["done", "ok x3"]
    # every meter of a district
    district = live.get("/api/fleet")["terminals"][1]["terminal"]
    Select(browser.find_element(By.ID, "command-target")).select_by_value("district")
    Select(browser.find_element(By.ID, "command-district")).select_by_value(district)
    Select(browser.find_element(By.ID, "command-kind")).select_by_value("close")
    browser.execute_script("document.getElementById('command-message').textContent = ''")
    message = issued(browser)
    closing = live.get("/api/commands")[0]
    members = live.get(f"/api/terminals/{district}/meters")
    assert closing["kind"] == "close" and closing["meters"] == members and len(members) == 3
    assert message == f"Command {closing['id']} (close 3 meters): {closing['state']}."
    carry_out(browser, live)
    assert live.get(f"/api/commands/{closing['id']}")["state"] == "done"
    # the meter's page lists both commands, with its own outcome, and its relay as last closed
    target = chosen[0]
    assert target in members
    signed_in(browser, live, "operator-token", f"&meter={target}")
    wait(browser, lambda: text(browser, "meter-title") == f"Meter {target}")
    mine = [c for c in live.get("/api/commands") if target in c["meters"]]
    assert [c["id"] for c in mine] == [closing["id"], command["id"]]
    listed = wait(browser, lambda: rows(browser, "meter-commands"))
    assert [row[0] for row in listed] == [str(c["id"]) for c in mine]
    assert [row[1] for row in listed] == ["close", "trip"] and [r[5] for r in listed] == [
        "ok",
        "ok",
    ]
    entry = live.get(f"/api/meters/page?limit=1&q={target}")["meters"][0]
    relay = f"closed by command {closing['id']} (as last commanded)"
    if entry.get("relay") is not None:  # the station reports relay states
        relay = str(entry["relay"])
    wait(browser, lambda: text(browser, "meter-relay") == relay)


def carry_out(browser: webdriver.Chrome, live: LiveStation) -> None:
    """Let the virtual deployment run two minutes, so the commands reach the meters and their
    answers come back (with the page closed, so that no request runs meanwhile)."""
    browser.get("about:blank")
    live.deployment.run_virtual(120)


#: A station's command kinds with one the dashboard's code never heard of.
KINDS = [
    {"kind": "trip", "role": "operator", "approval": "above the solo trip budget",
     "argument": None},
    {"kind": "close", "role": "operator", "approval": None, "argument": None},
    {"kind": "tariff", "role": "supervisor", "approval": None,
     "argument": "the tariff table, e.g. 4 rates"},
]  # fmt: skip


@pytest.fixture(scope="module")
def kinds_station() -> Iterator[LiveStation]:
    """A station whose /api/command-kinds answers :data:`KINDS` (its route put first)."""
    chromium()
    station = LiveStation(populated(meters=2, per_terminal=2))

    async def command_kinds() -> list[dict[str, Any]]:
        return KINDS

    app = station.server.config.app
    app.router.routes.insert(0, APIRoute("/api/command-kinds", command_kinds))
    yield station
    station.stop()


def offered_kinds(browser: webdriver.Chrome) -> list[str]:
    options = browser.find_elements(By.CSS_SELECTOR, "#command-kind option")
    return [str(o.get_attribute("value")) for o in options]


def test_the_form_offers_the_stations_kinds_that_the_role_may_issue(
    kinds_station: LiveStation, browser: webdriver.Chrome
) -> None:
    live = kinds_station
    assert live.get("/api/command-kinds") == KINDS
    signed_in(browser, live, "operator-token")
    wait(browser, lambda: offered_kinds(browser) == ["trip", "close"])
    assert "above the solo trip budget" in text(browser, "command-approval")
    browser.find_element(By.ID, "forget").click()
    wait(browser, lambda: text(browser, "status").startswith("Enter your API token"))
    browser.find_element(By.ID, "token").send_keys("supervisor-token\n")
    wait(browser, lambda: offered_kinds(browser) == ["trip", "close", "tariff"])
    assert not browser.find_element(By.ID, "command-argument").is_displayed()
    Select(browser.find_element(By.ID, "command-kind")).select_by_value("tariff")
    field = browser.find_element(By.ID, "command-argument")
    assert field.is_displayed()
    assert field.get_attribute("placeholder") == "the tariff table, e.g. 4 rates"
    field.send_keys("4 rates")
    meter = live.get("/api/meters")[0]["address"]
    browser.find_element(By.ID, "command-meter").send_keys(meter)
    message = issued(browser)
    # the API decides: whatever it answers to the same command is what the page says
    body = {"kind": "tariff", "meters": [meter], "argument": "4 rates"}
    status, answer = live.call("POST", "/api/commands", "supervisor-token", body)
    if status == 201:
        assert message.startswith("Command ") and "(tariff " + meter + ")" in message
    else:
        assert message == f"The station answered {status}: {answer['detail']}"


def test_every_time_is_utc_in_a_browser_far_from_it(live: LiveStation, tmp_path: Path) -> None:
    """In a browser whose zone is UTC+8, the tables and the charts' axes still say UTC."""
    driver_path = shutil.which("chromedriver")
    require(driver_path is not None, "install Debian's chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    service = webdriver.ChromeService(str(driver_path), env={**os.environ, "TZ": "Asia/Shanghai"})
    browser = webdriver.Chrome(options=options, service=service)
    try:
        signed_in(browser, live, "viewer-token")
        assert browser.execute_script("return new Date().getTimezoneOffset()") == -480
        fleet = live.get("/api/fleet")
        wait(
            browser,
            lambda: rows(browser, "terminals")[0][2] == utc(fleet["terminals"][0]["last_seen"]),
        )
        wait(browser, lambda: browser.find_elements(By.CSS_SELECTOR, "#load-chart canvas"))
        splits, labels = browser.execute_script(
            "const axis = timeCharts.get('load-chart').plot.axes[0];"
            " return [axis._splits, axis._values]"
        )
        assert len(splits) > 3
        for split, label in zip(splits, labels, strict=True):
            at = datetime.fromtimestamp(split, UTC)
            assert label.split("\n")[0] == at.strftime("%I:%M%p").lstrip("0").lower(), label
    finally:
        browser.quit()
