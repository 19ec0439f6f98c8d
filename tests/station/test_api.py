"""The station's REST API over a running (virtual) deployment: reads, and remote commands
that reach the relay through terminal, ESAM and back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wattguard.meter.management.relay import RelayState
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.testing import MIDNIGHT as START
from wattguard.testing.deployment import with_registered_fleet

OPERATOR = {"Authorization": "Bearer operator-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=14, per_terminal=7, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(3600)
    return deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> TestClient:
    return TestClient(create_app(deployment.station, deployment.users))


def relay(deployment: Deployment, address: str) -> RelayState:
    for net in deployment.nets:
        meter = net.meters.get(bytes.fromhex(address))
        if meter is not None:
            return meter.management.relay.state
    raise KeyError(address)


def test_reads_need_a_token_and_give_stored_data(api: TestClient) -> None:
    assert api.get("/api/meters").status_code == 401
    assert api.get("/api/meters", headers={"Authorization": "Bearer nope"}).status_code == 401
    meters = api.get("/api/meters", headers=VIEWER).json()
    assert len(meters) == 14
    first = meters[0]["address"]
    page = api.get(f"/api/meters/{first}/readings?quantity=00100201", headers=VIEWER).json()
    rows = page["readings"]
    assert [r["time"] for r in rows] == [START + 900 * k for k in range(len(rows))][::-1] and rows
    assert page["next"] is None
    assert api.get("/api/meters/12/readings", headers=VIEWER).status_code == 400
    assert api.get("/api/meters/999999999999/readings", headers=VIEWER).status_code == 404
    curve = api.get(f"/api/meters/{first}/freezes?object=50020200", headers=VIEWER).json()
    assert [r["time"] for r in curve["readings"]] == [START + 900 * k for k in (2, 1)]
    assert api.get(f"/api/meters/{first}/freezes?object=9999", headers=VIEWER).status_code == 422
    latest = api.get("/api/readings/latest", headers=VIEWER).json()
    assert len(latest) == 14
    summary = api.get("/api/summary", headers=VIEWER).json()
    assert summary["readings_stored"] > 0 and summary["verified"] > 0
    assert api.get("/api/events?kind=nonsense", headers=VIEWER).status_code == 400
    assert api.get("/api/events?meter=12", headers=VIEWER).status_code == 400
    assert api.get(f"/api/events?meter={first}&until=0", headers=VIEWER).json() == []
    curve = f"/api/meters/{first}/readings?quantity=50020200/00100201"
    assert api.get(curve, headers=VIEWER).status_code == 200
    assert api.get("/openapi.json").json()["info"]["title"] == "wattguard master station"


def test_a_remote_trip_reaches_the_relay_and_its_result_comes_back(
    api: TestClient, deployment: Deployment
) -> None:
    target = api.get("/api/meters", headers=VIEWER).json()[2]["address"]
    answer = api.post("/api/commands", json={"kind": "trip", "meters": [target]}, headers=OPERATOR)
    assert answer.status_code == 201, answer.text
    command = answer.json()
    assert command["state"] == "sent"
    deployment.run_virtual(120)
    done = api.get(f"/api/commands/{command['id']}", headers=VIEWER).json()
    assert done["state"] == "done" and done["results"] == {target: "ok"}
    deployment.run_virtual(60)
    assert relay(deployment, target) != RelayState.CLOSED
    # the device audited the protection, the station its command trail
    assert deployment.station.audit.verify() is None
    assert deployment.hsm is not None and deployment.hsm.audit.verify() is None


def test_roles_and_the_second_person_rule(api: TestClient, deployment: Deployment) -> None:
    meters = [m["address"] for m in api.get("/api/meters", headers=VIEWER).json()]
    refused = api.post("/api/commands", json={"kind": "trip", "meters": meters[:1]}, headers=VIEWER)
    assert refused.status_code == 403 and "operator role" in refused.json()["detail"]
    mass = api.post(
        "/api/commands", json={"kind": "trip", "meters": meters[3:14]}, headers=SUPERVISOR
    )
    assert mass.status_code == 201 and mass.json()["state"] == "awaiting approval"
    command_id = mass.json()["id"]
    own = api.post(f"/api/commands/{command_id}/approve", headers=SUPERVISOR)
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    approved = api.post(f"/api/commands/{command_id}/approve", headers=SECOND)
    assert approved.status_code == 200 and approved.json()["state"] == "sent"
    deployment.run_virtual(300)
    done = api.get(f"/api/commands/{command_id}", headers=VIEWER).json()
    assert done["state"] == "done", done["results"]
    events = api.get("/api/events?kind=unauthorised", headers=VIEWER).json()
    assert len(events) >= 2  # the viewer's attempt and the self-approval
    assert api.post("/api/commands/999/approve", headers=SECOND).status_code == 404
    unknown = api.post(
        "/api/commands", json={"kind": "trip", "meters": ["000000000000"]}, headers=OPERATOR
    )
    assert unknown.status_code == 404 and "unknown meter" in unknown.json()["detail"]
    assert "000000000000" in unknown.json()["detail"]
    bad = api.post(
        "/api/commands", json={"kind": "explode", "meters": meters[:1]}, headers=OPERATOR
    )
    assert bad.status_code == 400


def test_the_audit_trail_is_checked_on_request(deployment: Deployment, api: TestClient) -> None:
    # the deployment's users were made through the directory: audit entries, witnessed
    deployment.run_virtual(60)
    answer = api.get("/api/audit", headers=VIEWER)
    assert answer.status_code == 200
    body = answer.json()
    entries = deployment.station.storage.audit()
    assert body == {"entries": len(entries), "broken_at": None, "witnessed": entries[-1].seq}
    assert api.get("/api/audit").status_code == 401


# a large fleet, a page at a time

EXTRA = [f"0000090{k:05d}" for k in range(120)]  # registered without simulating them


@pytest.fixture(scope="module")
def fleet() -> TestClient:
    deployment = with_registered_fleet(START, EXTRA)
    return TestClient(create_app(deployment.station, deployment.users))


def walk(api: TestClient, query: str) -> list[dict[str, Any]]:
    """Every page of ``/api/meters/page?<query>``, following ``next``."""
    pages: list[dict[str, Any]] = []
    after = ""
    while True:
        answer = api.get(f"/api/meters/page?{query}{after}", headers=VIEWER)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        if pages[-1]["next"] is None:
            return pages
        after = f"&after={pages[-1]['next']}"


def test_meters_come_a_page_at_a_time_with_their_latest_reading(fleet: TestClient) -> None:
    assert fleet.get("/api/meters/page").status_code == 401
    everyone = fleet.get("/api/meters", headers=VIEWER).json()  # still the plain list
    assert len(everyone) == 122
    latest = {r["meter"]: r for r in fleet.get("/api/readings/latest", headers=VIEWER).json()}
    assert len(latest) == 80
    pages = walk(fleet, "q=")
    assert [(len(p["meters"]), p["offset"], p["total"]) for p in pages] == [
        (50, 0, 122), (50, 50, 122), (22, 100, 122),
    ]  # fmt: skip
    assert [p["next"] for p in pages] == [everyone[49]["address"], everyone[99]["address"], None]
    rows = [row for page in pages for row in page["meters"]]
    shown = ("address", "terminal", "relay")  # the list and the page show the same columns
    assert [{k: r[k] for k in shown} for r in rows] == everyone
    for row in rows:
        reading = latest.get(row["address"])
        expected = None if reading is None else {k: reading[k] for k in ("time", "value")}
        assert row["latest"] == expected, row
    assert rows[-1]["latest"] == {"time": START + 2700, "value": 119.75}
    # another quantity: nothing read yet
    voltage = fleet.get("/api/meters/page?limit=3&quantity=20000201", headers=VIEWER).json()
    assert [row["latest"] for row in voltage["meters"]] == [None] * 3


def test_a_search_keeps_the_meters_whose_address_starts_with_it(fleet: TestClient) -> None:
    (page,) = walk(fleet, "q=00000900011")
    assert [r["address"] for r in page["meters"]] == [f"00000900011{k}" for k in range(10)]
    assert page["total"] == 10 and page["offset"] == 0
    pages = walk(fleet, "q=0000090&limit=7")
    assert [len(p["meters"]) for p in pages] == [7] * 17 + [1]
    assert [p["offset"] for p in pages] == list(range(0, 120, 7))
    assert [r["address"] for p in pages for r in p["meters"]] == EXTRA
    nothing = fleet.get("/api/meters/page?q=123", headers=VIEWER).json()
    assert nothing == {"meters": [], "total": 0, "offset": 0, "next": None}
    end = fleet.get("/api/meters/page?after=ffffffffffff", headers=VIEWER).json()
    assert end == {"meters": [], "total": 122, "offset": 122, "next": None}
    assert len(fleet.get("/api/meters/page?limit=1000", headers=VIEWER).json()["meters"]) == 122


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ("q=12x", 400, "search '12x' is not the first digits of an address"),
        ("q=1234567890123", 400, "search"),
        ("q=%25", 400, "search"),
        ("after=12", 400, "cursor '12' is not an address"),
        ("after=' OR 1=1 --", 400, "cursor"),
        ("limit=0", 422, "limit"),
        ("limit=1001", 422, "limit"),
        ("limit=ten", 422, "limit"),
        ("quantity=0010", 422, "quantity"),
    ],
)
def test_a_bad_page_request_is_refused_with_the_reason(
    fleet: TestClient, query: str, status: int, reason: str
) -> None:
    answer = fleet.get(f"/api/meters/page?{query}", headers=VIEWER)
    assert answer.status_code == status
    assert reason in str(answer.json()["detail"])


def test_the_page_endpoint_is_described(fleet: TestClient) -> None:
    described = fleet.get("/openapi.json").json()["paths"]["/api/meters/page"]["get"]
    assert "keyed on the address" in described["description"]
    names = {p["name"]: p for p in described["parameters"]}
    assert set(names) == {"q", "after", "limit", "quantity"}  # the token: a security scheme
    assert described["security"] == [{"HTTPBearer": []}]
    assert names["limit"]["schema"]["maximum"] == 1000


def test_readings_are_named_in_units_rounded_to_the_scaler_with_iso_times(api: TestClient) -> None:
    first = api.get("/api/meters", headers=VIEWER).json()[0]["address"]
    rows = api.get(f"/api/meters/{first}/readings?quantity=00100201", headers=VIEWER).json()
    rows = rows["readings"][::-1]  # oldest first
    assert rows and {r["name"] for r in rows} == {"forward active energy, total"}
    assert {r["unit"] for r in rows} == {"kWh"}
    for row in rows:  # the meter's scaler is -2: two decimals, no float noise
        assert row["value"] == round(row["value"], 2) and len(repr(row["value"])) <= 14
        assert row["at"] == datetime.fromtimestamp(row["time"], UTC).isoformat()[:19] + "Z"
    curve = api.get(f"/api/meters/{first}/freezes?object=50020200", headers=VIEWER).json()
    curve = curve["readings"]
    assert (
        curve[0]["name"] == "forward active energy, total (minute freeze)"
        and curve[0]["unit"] == "kWh"
    )
    latest = api.get("/api/readings/latest", headers=VIEWER).json()
    assert all(r["unit"] == "kWh" and r["at"].endswith("Z") for r in latest)
    # ISO 8601 in as well as POSIX seconds, the same rows
    second = rows[1]
    for start in (
        str(second["time"]),
        second["at"],
        second["at"][:-1],
        second["at"][:-1] + "+00:00",
    ):
        query = {"quantity": "00100201", "start": start}
        got = api.get(f"/api/meters/{first}/readings", params=query, headers=VIEWER).json()
        assert [r["time"] for r in got["readings"]] == [r["time"] for r in rows[:0:-1]], start
    bad = api.get(f"/api/meters/{first}/readings?start=yesterday", headers=VIEWER)
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["detail"][0]["msg"]
    assert bad.json()["detail"][0]["loc"] == ["query", "start"]


def test_readings_page_newest_first_with_a_next_cursor(api: TestClient) -> None:
    first = api.get("/api/meters", headers=VIEWER).json()[0]["address"]
    url = f"/api/meters/{first}/readings"
    whole = api.get(url, params={"limit": 100_000}, headers=VIEWER).json()
    assert whole["next"] is None and len(whole["readings"]) >= 5
    keys = [(r["time"], r["quantity"]) for r in whole["readings"]]
    assert keys == sorted(keys, reverse=True)  # newest first, every quantity
    pages: list[tuple[int, str]] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = api.get(url, params=query, headers=VIEWER).json()
        pages += [(r["time"], r["quantity"]) for r in page["readings"]]
        if page["next"] is None:
            break
        query["cursor"] = page["next"]
    assert pages == keys  # each row once, none left out
    assert api.get(url, params={"cursor": "soon"}, headers=VIEWER).status_code == 422


def test_readings_export_as_streamed_csv_with_names_and_units(api: TestClient) -> None:
    meters = [m["address"] for m in api.get("/api/meters", headers=VIEWER).json()]
    span = {"start": datetime.fromtimestamp(START, UTC).isoformat(), "end": str(int(START) + 86400)}
    assert api.get("/api/readings/export.csv", params=span).status_code == 401
    answer = api.get("/api/readings/export.csv", params=span, headers=VIEWER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.text.splitlines()[0] == "meter,quantity,name,unit,at,time,value"
    rows = list(csv.reader(io.StringIO(answer.text)))[1:]
    assert {r[0] for r in rows} == set(meters)
    stored = api.get(f"/api/meters/{meters[0]}/readings", params={"limit": 100_000},
                     headers=VIEWER).json()["readings"]  # fmt: skip
    assert [r for r in rows if r[0] == meters[0]] == [
        [r["meter"], r["quantity"], r["name"], r["unit"] or "", r["at"], str(r["time"]),
         str(r["value"])] for r in stored
    ]  # fmt: skip
    one = api.get("/api/readings/export.csv", params={**span, "meters": meters[1]},
                  headers=VIEWER)  # fmt: skip
    assert {line.split(",")[0] for line in one.text.splitlines()[1:]} == {meters[1]}
    unknown = api.get("/api/readings/export.csv", params={**span, "meters": "999999999999"},
                      headers=VIEWER)  # fmt: skip
    assert unknown.status_code == 404
