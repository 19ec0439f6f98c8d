"""The analytics endpoints and ``wattguard analyse`` on a station database holding simulated
districts: the API answers the stored results (any known user; 401 without a token; 404 for
what is not analysed), the OpenAPI describes them, the CLI report has its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wattguard.cli import main
from wattguard.clock import VirtualClock
from wattguard.network.bus import InProcessBus
from wattguard.simulation.district import simulate_districts
from wattguard.station import Station
from wattguard.station.analysis import AnalysisJob
from wattguard.station.api import create_app
from wattguard.station.commands import Role, User
from wattguard.station.storage import open_storage
from wattguard.testing.analysis import store_districts, terminal_address

DAY = 86400
START = 1_796_515_200
DAYS = 10
VIEWER = {"Authorization": "Bearer viewer"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'station.db'}"
    storage = open_storage(url)
    customers = store_districts(storage, simulate_districts(2, 8, DAYS, seed=9), START)
    storage.close()
    return url, customers


@pytest.fixture(scope="module")
def api(database: tuple[str, list[str]]) -> TestClient:
    storage = open_storage(database[0])
    clock = VirtualClock(START + DAYS * DAY + 7200)
    station = Station(storage, InProcessBus(), clock)
    AnalysisJob(storage).run(clock.time())
    return TestClient(create_app(station, {"viewer": User("vera", Role.VIEWER)}))


def test_the_results_are_served_to_any_known_user(
    api: TestClient, database: tuple[str, list[str]]
) -> None:
    meter = database[1][0]
    assert api.get(f"/api/analytics/meters/{meter}").status_code == 401
    view: dict[str, Any] = api.get(f"/api/analytics/meters/{meter}", headers=VIEWER).json()
    assert len(view["days"]) == DAYS and view["energy"] > 0
    assert set(view["time_of_use"]) == {"peak", "flat", "valley"}
    assert len(view["typical_day_kwh_per_hour"]["weekday"]) == 24
    assert view["cluster_name"] and view["estimated_error"] is not None
    curve = api.get(
        f"/api/analytics/meters/{meter}/curve", params={"day": START + DAY}, headers=VIEWER
    ).json()
    assert len(curve["energy"]) == 96 and None not in curve["energy"]
    district = api.get(f"/api/analytics/districts/{terminal_address(1)}", headers=VIEWER).json()
    assert len(district["loss"]) == DAYS and len(district["suspects"]) == 8
    fleet = api.get("/api/analytics/fleet", params={"n": 3}, headers=VIEWER).json()
    assert len(fleet["top_score"]) == 3 and sum(fleet["clusters"].values()) == 16


def test_unknown_and_bad_requests_are_refused(api: TestClient) -> None:
    assert api.get("/api/analytics/meters/999999999999", headers=VIEWER).status_code == 404
    assert api.get("/api/analytics/meters/12ab", headers=VIEWER).status_code == 400
    assert api.get("/api/analytics/districts/990000000077", headers=VIEWER).status_code == 404
    assert api.get("/api/analytics/districts/x'--", headers=VIEWER).status_code == 422


def test_the_endpoints_are_in_the_openapi_description(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/analytics/fleet",
        "/api/analytics/meters/{address}",
        "/api/analytics/meters/{address}/curve",
        "/api/analytics/districts/{terminal}",
    ):
        assert path in paths


def test_the_cli_report_has_its_plots(
    database: tuple[str, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    assert main(["analyse", "--database", database[0], "--days", "5", "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "district 990000000001: mean line loss" in out and "analysed" in out
    text = page.read_text()
    assert text.count("<svg") >= 3 and "<script" not in text
