"""The fleet's figures (station.fleet): the total load per interval and the day's collection
completeness, on SQLite (memory and file) and PostgreSQL alike; the API's answers and their
schemas in /openapi.json."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from wattguard.station.api import create_app
from wattguard.station.api._models import MeterOut
from wattguard.station.fleet import CURVE, completeness, day_span, due, fleet_load
from wattguard.station.ingest import Reading
from wattguard.testing.deployment import populated
from wattguard.testing.storage import BACKENDS, Backend, Store

DAY = date(2026, 9, 21)
START = day_span(DAY)[0]
Q = 900
T1, T2 = "990000000001", "990000000002"
A, B, C = "000000000001", "000000000002", "000000000003"


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    made = Backend(request.param, tmp_path)
    yield made.open()
    made.cleanup()


def curve(meter: str, values: dict[int, float]) -> list[Reading]:
    """A meter's curve: its counter at the k-th quarter hour of the day."""
    return [Reading(meter, CURVE, START + k * Q, v) for k, v in values.items()]


def test_the_load_sums_each_meters_increase_over_one_interval(storage: Store) -> None:
    storage.register_meter(A, T1, START - 10)
    storage.register_meter(B, T1, START - 10)
    storage.add_readings(curve(A, {0: 10.0, 1: 10.5, 2: 11.5, 3: 12.0}))
    # B misses the freeze at k=2: its k=3 increase spans two intervals and is left out
    storage.add_readings(curve(B, {0: 5.0, 1: 5.25, 3: 6.0, 4: 6.5}))
    storage.add_readings([Reading(A, "00100201", START + Q, 99.0)])  # not the curve
    points = fleet_load(storage, START, START + 4 * Q, Q)
    assert [(p.time - START) // Q for p in points] == [1, 2, 3, 4]
    assert [p.energy for p in points] == [0.75, 1.0, 0.5, 0.5]
    assert [p.power for p in points] == [3.0, 4.0, 2.0, 2.0]  # kWh per quarter hour x 4
    assert [p.meters for p in points] == [2, 1, 1, 1]
    # the span is start < t <= end, the interval before start still gives the first increase
    assert [p.time for p in fleet_load(storage, START + Q, START + 2 * Q, Q)] == [START + 2 * Q]
    assert fleet_load(storage, START + 5 * Q, START + 9 * Q, Q) == []


def test_a_counter_that_goes_back_is_left_out(storage: Store) -> None:
    storage.register_meter(A, T1, START - 10)
    storage.add_readings(curve(A, {0: 10.0, 1: 0.5, 2: 1.0}))  # a replaced meter
    assert [(p.time - START, p.energy) for p in fleet_load(storage, START, START + 2 * Q, Q)] == [
        (2 * Q, 0.5)
    ]


def test_completeness_counts_the_curve_readings_due_per_terminal(storage: Store) -> None:
    storage.register_meter(A, T1, START - 10)
    storage.register_meter(B, T1, START - 10)
    storage.register_meter(C, T2, START + 2 * Q + 1)  # due from the 3rd quarter hour on
    storage.add_readings(curve(A, {k: float(k) for k in range(0, 9)}))  # 00:00 .. 02:00
    storage.add_readings(curve(B, {1: 1.0, 2: 2.0}))
    storage.add_readings(curve(C, {3: 1.0, 4: 2.0, 5: 2.0, 6: 2.0}))
    now = START + 6 * Q + 100  # quarter hours 1..5 are due (each one interval after it)
    assert due(DAY, now, Q)[2] == 5
    fleet, rows = completeness(storage, DAY, now, Q)
    by_terminal = {r.terminal: (r.meters, r.expected, r.arrived) for r in rows}
    # A: 5 of 5 (00:00 is yesterday's, 01:30 and later not due yet), B: 2 of 5, C: 3 of 3
    assert by_terminal == {T1: (2, 10, 7), T2: (1, 3, 3)}
    assert (fleet.meters, fleet.expected, fleet.arrived) == (3, 13, 10)
    assert fleet.share == pytest.approx(10 / 13)
    # the day before: A and B (registered 10 s before its end) owe its last freeze, at 00:00
    before = completeness(storage, date(2026, 9, 20), now, Q)[0]
    assert (before.expected, before.arrived, before.share) == (2, 1, 0.5)
    # a day before any meter was registered expects nothing
    earlier = completeness(storage, date(2026, 9, 19), now, Q)[0]
    assert (earlier.expected, earlier.share) == (0, None)
    nothing_due = completeness(storage, DAY, START + Q, Q)[0]
    assert (nothing_due.expected, nothing_due.arrived, nothing_due.share) == (0, 0, None)
    assert storage.meters_of(T1) == [A, B] and storage.meters_of("99000000000f") == []


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    deployment = populated(meters=4, per_terminal=2)
    with TestClient(create_app(deployment.station, deployment.users)) as client:
        client.headers["Authorization"] = "Bearer viewer-token"
        yield client


def test_the_fleet_endpoint_agrees_with_the_stored_curve(api: TestClient) -> None:
    answer = api.get("/api/fleet").json()
    assert answer["time_zone"] == "UTC" and answer["interval"] == Q
    station = api.app.state.station  # type: ignore[attr-defined]
    meters = [m for m, _ in station.storage.meters()]
    start, _ = day_span(date.fromisoformat(answer["day"]))
    last = start + answer["due"] * Q
    arrived = sum(
        1 for m in meters for r in station.storage.readings(m, CURVE, start + 1, last + 1, 10_000)
    )
    assert arrived > 0 and answer["fleet"]["arrived"] == arrived
    assert answer["fleet"]["expected"] == len(meters) * answer["due"]
    assert [t["terminal"] for t in answer["terminals"]] == [T1, T2]
    assert all(t["online"] and t["last_seen_at"].endswith("Z") for t in answer["terminals"])
    assert sum(t["arrived"] for t in answer["terminals"]) == arrived
    assert api.get("/api/fleet?day=21-09-2026").status_code == 422


def test_the_load_endpoint_and_a_districts_meters(api: TestClient) -> None:
    load = api.get("/api/fleet/load").json()
    assert load["points"] and all(p["meters"] == 4 for p in load["points"])
    assert all(p["power"] == pytest.approx(4 * p["energy"]) for p in load["points"])
    assert api.get("/api/fleet/load?start=2026-09-21T00:00:00Z&end=2026-09-01").status_code == 422
    lowest = -(2**63)
    assert api.get(f"/api/fleet/load?start={lowest}&end={lowest + 10}").status_code == 422
    assert api.get(f"/api/terminals/{T1}/meters").json() == ["000001000001", "000001000002"]
    assert api.get("/api/terminals/99000000000f/meters").status_code == 404
    assert api.get("/api/terminals/xyz/meters").status_code == 400


def test_the_main_answers_have_schemas_in_openapi(api: TestClient) -> None:
    described = api.get("/openapi.json").json()
    paths, schemas = described["paths"], described["components"]["schemas"]
    for path, method, model in [
        ("/api/summary", "get", "SummaryOut"),
        ("/api/meters/page", "get", "MetersPageOut"),
        ("/api/meters/{meter}/readings", "get", "ReadingsPageOut"),
        ("/api/commands/{command_id}", "get", "CommandOut"),
        ("/api/fleet", "get", "FleetOut"),
        ("/api/fleet/load", "get", "LoadOut"),
    ]:
        answer = paths[path][method]["responses"]
        ok = answer.get("200", answer.get("201"))
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/" + model)
    for path, model in [("/api/events", "EventOut"), ("/api/alerts", "AlertOut"),
                        ("/api/commands", "CommandOut"), ("/api/meters", "MeterOut")]:  # fmt: skip
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["items"]["$ref"].endswith("/" + model)
    assert set(schemas["ReadingOut"]["properties"]) == {
        "meter", "quantity", "time", "value", "name", "unit", "at"
    }  # fmt: skip
    # the answers keep their shape
    summary = api.get("/api/summary").json()
    assert set(summary) == set(schemas["SummaryOut"]["properties"])


def test_a_meters_entry_lets_fields_added_beside_it_through() -> None:
    """A route that adds a field to a meter's entry (its relay state) keeps it in the answer."""
    app = FastAPI()

    @app.get("/meters", response_model=list[MeterOut])
    async def meters() -> list[dict[str, Any]]:
        return [{"address": "000000000001", "terminal": "990000000001", "relay": "open"}]

    with TestClient(app) as client:
        assert client.get("/meters").json() == [
            {"address": "000000000001", "terminal": "990000000001", "relay": "open"}
        ]
