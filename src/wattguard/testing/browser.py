"""The dashboard in a real browser: a station's API served by uvicorn on a free loopback port
(in a thread), Debian's headless Chromium, and a reader for the DOM it dumps.

Without Chromium the browser tests skip with the reason (``apt-get install chromium``); with
``WATTGUARD_REQUIRE_SERVICES=1`` (CI) they fail instead.

For tests only: this module imports pytest (through :mod:`wattguard.testing.services`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import uvicorn

from wattguard.runtime.deployment import Deployment
from wattguard.station.api import create_app
from wattguard.testing.services import require

__all__ = [
    "CHROMIUM_FLAGS",
    "HOSTILE",
    "LiveStation",
    "Page",
    "chromium",
    "dump_dom",
    "start_browser",
    "utc",
]

#: What an attacker puts where the station will show it.
HOSTILE = "<img src=x onerror=alert(1)>"
#: Headless, and nothing but the page: no sandbox (CI runs as root), no proxy, no updates.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
]
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def chromium() -> str:
    """The path of Debian's Chromium (skips, or fails under REQUIRE_SERVICES, without it)."""
    path = shutil.which("chromium")
    require(path is not None, "install Debian's chromium: apt-get install chromium")
    assert path is not None
    return path


def start_browser(profile: Path) -> Any:
    """Headless Chromium driven by Debian's chromium-driver (a ``selenium`` ``Chrome``), with
    its own profile folder; skips (fails under REQUIRE_SERVICES) without either. Selenium is a
    development dependency: imported here, not at the module's top."""
    from selenium import webdriver

    browser = chromium()
    driver = shutil.which("chromedriver")
    require(driver is not None, "install Debian's chromium-driver: apt-get install chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    # a service with the driver's path: Selenium Manager (which downloads drivers) never runs
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(str(driver)))


class LiveStation:
    """A deployment's station API, served by uvicorn in a thread on a free loopback port."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        app = create_app(deployment.station, deployment.users)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="station-api", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "API did not start"
            time.sleep(0.02)
        port = int(self.server.servers[0].sockets[0].getsockname()[1])
        self.url = f"http://127.0.0.1:{port}"

    def call(
        self, method: str, path: str, token: str | None = None, body: object = None
    ) -> tuple[int, Any]:
        """(status, JSON answer) of a request to the API, as ``token``'s user."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        try:
            with _DIRECT.open(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read())

    def get(self, path: str, token: str = "viewer-token") -> Any:
        status, answer = self.call("GET", path, token)
        assert status == 200, (path, status, answer)
        return answer

    def probe_with_hostile_paths(self, times: int) -> None:
        """Unauthenticated requests whose path carries :data:`HOSTILE`: each is refused and
        stored as an event with the path; five of them open an alert."""
        path = f"/api/meters/{urllib.parse.quote(HOSTILE)}/readings"
        for _ in range(times):
            assert self.call("GET", path)[0] == 401

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(15)


def dump_dom(url: str, profile: Path, budget_ms: int = 8000) -> str:
    """The DOM after the page's scripts ran for ``budget_ms`` of virtual time."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def utc(seconds: float) -> str:
    """POSIX seconds as the dashboard shows them (UTC)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip


class Page(HTMLParser):
    """A dumped DOM: every tag, the attributes and text of each element with an id, the rows
    of each table body with an id (cell texts)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.attrs: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self._open: list[tuple[str, str | None]] = []
        self._body: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        element_id = found.get("id")
        if element_id is not None:
            self.attrs[element_id] = found
        if tag in _VOID:
            return
        self._open.append((tag, element_id))
        if element_id is not None:
            self.text[element_id] = ""
        if tag == "tbody" and element_id is not None:
            self._body = element_id
            self.rows[element_id] = []
        elif tag == "tr" and self._body is not None:
            self.rows[self._body].append([])
        elif tag in ("td", "th") and self._body is not None:
            self.rows[self._body][-1].append("")

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            closed, _ = self._open.pop()
            if closed == "tbody":
                self._body = None
            if closed == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, element_id in self._open:
            if element_id is not None:
                self.text[element_id] += data
        if self._body is not None and any(tag == "td" for tag, _ in self._open):
            self.rows[self._body][-1][-1] += data
