"""The web dashboard: served with a strict Content-Security-Policy, and, in Debian's headless
Chromium, showing what the API holds, with attacker-controlled text as text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.monitor import times_counted
from wattguard.testing.browser import HOSTILE, LiveStation, Page, chromium, dump_dom, utc
from wattguard.testing.deployment import populated


@pytest.fixture(scope="module")
def api() -> TestClient:
    config = DeploymentConfig(meters=2, per_terminal=2)
    deployment = Deployment(config, virtual_clock(config))
    return TestClient(create_app(deployment.station, deployment.users))


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


@pytest.mark.parametrize("path", ["/", "/dashboard", "/docs"])
def test_the_page_needs_no_token_and_sends_a_strict_policy(api: TestClient, path: str) -> None:
    page = api.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = policy(page.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and csp["connect-src"] == ["'self'"]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    # with no inline script, every script of the page is a file the app serves
    parsed = Page(page.text)
    scripts = [attrs.get("src") for tag, attrs in parsed.tags if tag == "script"]
    sheets = [attrs.get("href") for tag, attrs in parsed.tags if tag == "link"]
    assert scripts and all(scripts) and sheets
    assert "<script>" not in page.text and "style=" not in page.text
    for asset in [*scripts, *sheets]:
        assert asset is not None
        served = api.get(asset)
        assert served.status_code == 200, asset
        assert "content-security-policy" in served.headers
    assert api.get(str(scripts[0])).headers["content-type"].startswith("text/javascript")
    assert api.get(str(sheets[0])).headers["content-type"].startswith("text/css")


def test_the_dashboard_leaves_the_api_as_it_was(api: TestClient) -> None:
    assert api.get("/api/summary").status_code == 401
    assert api.get("/dashboard/missing.js").status_code == 404
    paths = api.get("/openapi.json").json()["paths"]
    assert paths and all(path.startswith("/api/") for path in paths)


def test_the_docs_page_is_served_from_the_package_with_an_authorize_button(
    api: TestClient,
) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    parsed = Page(page.text)
    assets = [v for _, attrs in parsed.tags for k, v in attrs.items() if k in ("src", "href")]
    assert any(str(a).endswith("swagger-ui-bundle.js") for a in assets), assets
    assert "://" not in page.text  # no CDN, no other host of any kind
    assert all(str(a).startswith("/docs/") for a in assets), assets
    for asset in [*assets, "/docs/vendor/swagger-ui.LICENSE"]:
        assert api.get(str(asset)).status_code == 200, asset
    assert "SwaggerUIBundle" in api.get("/docs/vendor/swagger-ui-bundle.js").text
    script = api.get("/docs/docs.js").text
    assert "/openapi.json" in script and "validatorUrl: null" in script
    described = api.get("/openapi.json").json()
    schemes = described["components"]["securitySchemes"]
    assert [s["scheme"] for s in schemes.values()] == ["bearer"]
    name = next(iter(schemes))
    assert described["paths"]["/api/summary"]["get"]["security"] == [{name: []}]


# in the browser


@pytest.fixture(scope="module")
def live() -> Iterator[LiveStation]:
    chromium()  # skip before starting anything
    station = LiveStation(populated(meters=4, per_terminal=2))
    station.probe_with_hostile_paths(5)  # stored events, and an alert, carrying markup
    yield station
    station.stop()


def test_the_dashboard_shows_what_the_api_holds(live: LiveStation, tmp_path: Path) -> None:
    dom = dump_dom(f"{live.url}/#token=viewer-token", tmp_path)
    page = Page(dom)
    assert page.text["status"].startswith("Up to date"), page.text["status"]
    assert page.text["whoami"] == "Signed in as vera (viewer)"
    summary = live.get("/api/summary")
    for name, value in summary.items():
        assert page.text[f"summary-{name}"] == ("n/a" if value is None else str(value)), name
    assert summary["meters"] == 4 and summary["open_alerts"] >= 2
    latest = {r["meter"]: r for r in live.get("/api/readings/latest?quantity=00100201")}
    meters = live.get("/api/meters")
    assert len(page.rows["meters"]) == len(meters) == len(latest)
    assert page.text["meters-range"] == "meters 1\N{EN DASH}4 of 4"
    for row, meter in zip(page.rows["meters"], meters, strict=True):
        reading = latest[meter["address"]]
        assert row == [meter["address"], meter["terminal"], f"{reading['value']:.2f}",
                       utc(reading["time"])]  # fmt: skip
    alerts = live.get("/api/alerts?open=true")
    assert [(r[0], r[1], r[2], r[5]) for r in page.rows["alerts"]] == [
        (a["severity"], a["rule"], a["subject"], a["evidence"]) for a in alerts
    ]
    assert {"tamper", "authentication failures"} <= {a["rule"] for a in alerts}
    # attacker-controlled text is shown as text, and never becomes an element
    details = [row[3] for row in page.rows["events"]]
    assert any(HOSTILE in detail for detail in details)
    assert any(HOSTILE in row[5] for row in page.rows["alerts"])
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert not [attrs for tag, attrs in page.tags if tag == "img"]


def test_the_docs_page_runs_offline_under_its_policy(live: LiveStation, tmp_path: Path) -> None:
    page = Page(dump_dom(f"{live.url}/docs", tmp_path))
    buttons = [t for t in page.tags if t[0] == "button"]
    assert buttons, "Swagger UI did not render"
    assert any("authorize" in str(attrs.get("class", "")) for _, attrs in buttons), buttons
    assert any("/api/summary" in text for text in page.text.values())


def refused(live: LiveStation) -> int:
    """How many tokens the API refused (repeated refusals are counted in one event)."""
    events = live.get("/api/events?kind=authentication&limit=1000")
    return sum(times_counted(e["detail"]) for e in events)


def test_a_bad_token_is_explained_and_not_retried(live: LiveStation, tmp_path: Path) -> None:
    refusals = refused(live)
    # the budget outlasts the refresh period: a refused token must not be tried again
    page = Page(dump_dom(f"{live.url}/#token=not-a-token", tmp_path, budget_ms=12000))
    status = page.text["status"]
    assert "unknown token" in status and "Enter a token that wattguard demo printed" in status
    assert page.attrs["status"]["class"] == "notice error"
    assert not any(row for row in page.rows["meters"])
    assert page.text["summary-meters"] == "\N{EN DASH}"
    assert page.text.get("whoami", "") == ""
    assert refused(live) == refusals + 1


def test_without_a_token_the_page_asks_for_one(live: LiveStation, tmp_path: Path) -> None:
    refusals = refused(live)
    page = Page(dump_dom(f"{live.url}/dashboard", tmp_path))
    assert page.text["status"].startswith("Enter your API token")
    assert refused(live) == refusals
