"""Every kind of command through the REST API of a running (virtual) deployment, end to end:
issued with its role and approval rule, protected by the cryptographic device, carried by
PROXY through the terminal, done by the meter, and read back over DL/T 698.45 (an on-demand
read through the terminal, not the store); the refusals (role, approval, bad argument, unknown
meter); a replayed top-up refused with a security event."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from wattguard.attacks.scenarios.deployed import Tap, apdu_of, transmit
from wattguard.meter.device import Meter
from wattguard.meter.management.freezestore import FreezeObject
from wattguard.protocol import OAD, OMD, Data
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import Protection, SecurityRequest
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.analysis_store import AnalysisStore
from wattguard.station.api import create_app
from wattguard.station.command_kinds import KINDS
from wattguard.station.commands import ISSUER
from wattguard.station.ondemand import outcome_of
from wattguard.testing import MIDNIGHT as START

OPERATOR = {"Authorization": "Bearer operator-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
SECOND = {"Authorization": "Bearer second-supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    config = DeploymentConfig(meters=4, per_terminal=4, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment


@pytest.fixture(scope="module")
def api(deployment: Deployment) -> TestClient:
    return TestClient(create_app(deployment.station, deployment.users))


def addresses(api: TestClient) -> list[str]:
    return [m["address"] for m in api.get("/api/meters", headers=VIEWER).json()]


def meter(deployment: Deployment, address: str) -> Meter:
    return next(n.meters[bytes.fromhex(address)] for n in deployment.nets
                if bytes.fromhex(address) in n.meters)  # fmt: skip


def issue(
    api: TestClient, deployment: Deployment, kind: str, argument: Any, address: str,
    headers: dict[str, str] = OPERATOR,
) -> dict[str, Any]:  # fmt: skip
    body = {"kind": kind, "meters": [address], "argument": argument}
    answer = api.post("/api/commands", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    deployment.run_virtual(120)
    done: dict[str, Any] = api.get(f"/api/commands/{answer.json()['id']}", headers=VIEWER).json()
    return done


def read(api: TestClient, deployment: Deployment, address: str, oad: str) -> Any:
    answer = api.post(f"/api/meters/{address}/reads", json={"object": oad}, headers=OPERATOR)
    assert answer.status_code == 202 and answer.json()["state"] == "pending", answer.text
    deployment.run_virtual(60)
    found = api.get(f"/api/reads/{answer.json()['id']}", headers=VIEWER).json()
    assert found["state"] == "done", found
    return found["value"]


def test_the_command_kinds_are_listed_with_role_approval_and_argument(api: TestClient) -> None:
    kinds = {k["kind"]: k for k in api.get("/api/command-kinds", headers=VIEWER).json()}
    assert set(kinds) == {kind.value for kind in KINDS}
    for kind in KINDS:
        entry = kinds[kind.value]
        assert entry["role"] == ISSUER[kind].name.lower()
        assert entry["approval"] and entry["description"] and "type" in entry["argument"]
    assert kinds["top-up"]["argument"]["unit"] == "fen"
    assert kinds["tariff table"]["role"] == "supervisor"
    assert api.get("/api/command-kinds").status_code == 401


#: kind, argument, issuer, object read back, value expected there
PARAMETERS: list[tuple[str, Any, dict[str, str], str, Any]] = [
    ("pile limit", "7000", OPERATOR, "FF100200", 7000),
    ("demand period", "30", SUPERVISOR, "41000200", 30),
    ("display list", {"objects": ["20000200", "00100200"]}, SUPERVISOR, "F3000200",
     [["20000200", 1], ["00100200", 2]]),
    ("event threshold", {"event": "over-voltage", "limit": 245.5, "delay": 30}, SUPERVISOR,
     "30020500", [2455, 30]),
    ("event threshold", {"event": "over-current", "limit": 40}, SUPERVISOR, "30050500",
     [400_000, 60]),
    ("credit levels", {"alarm1": 3000, "alarm2": 1000, "hoarding": 80_000}, SUPERVISOR,
     "401F0200", [0, 80_000, 0]),
    ("display alarm", "credit low", OPERATOR, "FF120200", [True, "credit low"]),
    ("event threshold", {"event": "overload", "limit": 9000, "delay": 30}, SUPERVISOR,
     "30080500", [90_000, 30]),
    ("event threshold", {"event": "power factor", "limit": 65}, SUPERVISOR, "300C0600",
     [650, 60]),
    ("event threshold", {"event": "frequency deviation", "limit": 0.3, "delay": 5},
     SUPERVISOR, "FF260500", [30, 5]),
    ("event threshold", {"event": "voltage THD", "limit": 6.5}, SUPERVISOR, "FF270500",
     [650, 60]),
    ("may export", "true", SUPERVISOR, "FF110200", True),
    ("demand period", {"period": 30, "slip": 5}, SUPERVISOR, "41010200", 5),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "argument", "issuer", "oad", "expected"), PARAMETERS)
def test_a_parameter_command_changes_the_meter(
    api: TestClient, deployment: Deployment, kind: str, argument: Any,
    issuer: dict[str, str], oad: str, expected: Any,
) -> None:  # fmt: skip
    address = addresses(api)[0]
    assert read(api, deployment, address, oad) != expected
    done = issue(api, deployment, kind, argument, address, issuer)
    assert done["state"] == "done" and done["results"] == {address: "ok"}, done
    assert read(api, deployment, address, oad) == expected


def test_freeze_objects_adds_a_column_to_the_curve_and_deletes_it(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[2]
    entry = [15, "ff130200", 672]
    assert entry not in read(api, deployment, address, "50020300")
    change = {"freeze": "minute", "add": [{"oad": "FF130200", "period": 15, "depth": 672}]}
    done = issue(api, deployment, "freeze objects", change, address, SUPERVISOR)
    assert done["state"] == "done" and done["results"] == {address: "ok"}, done
    assert entry in read(api, deployment, address, "50020300")
    deployment.run_virtual(1800)  # the curve now records the pile's energy
    group = meter(deployment, address).management.freezer.table(FreezeObject.MINUTE).groups
    assert OAD(0xFF13, 2, 0) in group[(15, 672)].columns and group[(15, 672)].count >= 2
    done = issue(api, deployment, "freeze objects", {"freeze": "minute", "delete": "FF130200"},
                 address, SUPERVISOR)  # fmt: skip
    assert done["state"] == "done", done
    assert entry not in read(api, deployment, address, "50020300")
    refused = api.post("/api/commands", headers=OPERATOR, json={
        "kind": "freeze objects", "meters": [address], "argument": change})  # fmt: skip
    assert refused.status_code == 403, refused.text  # a supervisor's command


def test_a_display_alarm_shows_on_the_display_until_released(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[1]
    display = meter(deployment, address).management.display
    assert "credit low" not in display.render(deployment.clock.time())
    assert issue(api, deployment, "display alarm", "credit low", address)["state"] == "done"
    shown = display.render(deployment.clock.time())
    assert "[ALARM]" in shown and shown.endswith(" credit low")
    done = issue(api, deployment, "alarm release", "", address)
    assert done["state"] == "done" and done["results"] == {address: "ok"}, done
    assert read(api, deployment, address, "FF120200") == [False, ""]
    assert "ALARM" not in display.render(deployment.clock.time())


def test_the_pile_limit_reaches_the_pile(api: TestClient, deployment: Deployment) -> None:
    address = addresses(api)[1]
    done = issue(api, deployment, "pile limit", "3500", address)
    assert done["state"] == "done", done
    assert meter(deployment, address).expansion.pile.limit == 3500


def test_a_tariff_table_waits_for_a_second_person_then_takes_over(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[2]
    switch = deployment.clock.time() + 600
    argument = {"periods": [["00:00", 3], ["08:00", 1], ["22:00", 2]],
                "switch_at": f"{_iso(switch)}", "prices": [0.62, 0.4805, 0.3]}  # fmt: skip
    body = {"kind": "tariff table", "meters": [address], "argument": argument}
    assert api.post("/api/commands", json=body, headers=OPERATOR).status_code == 403
    held = api.post("/api/commands", json=body, headers=SUPERVISOR).json()
    assert held["state"] == "awaiting approval" and "second person" in held["reason"]
    own = api.post(f"/api/commands/{held['id']}/approve", headers=SUPERVISOR)
    assert own.status_code == 403
    assert api.post(f"/api/commands/{held['id']}/approve", headers=SECOND).status_code == 200
    deployment.run_virtual(120)
    done = api.get(f"/api/commands/{held['id']}", headers=VIEWER).json()
    assert done["state"] == "done" and done["approved_by"] == "shi", done
    table = [[[0, 0, 3], [8, 0, 1], [22, 0, 2]]]
    assert read(api, deployment, address, "40170200") == table
    assert read(api, deployment, address, "40190200") == [6200, 4805, 3000]
    assert read(api, deployment, address, "40180200") == []
    analyses = AnalysisStore(deployment.station.storage)
    assert address not in analyses.tariffs([address])  # not before its switch-over
    deployment.run_virtual(600)
    assert read(api, deployment, address, "40160200") == table  # switched over
    assert read(api, deployment, address, "40180200") == [6200, 4805, 3000]
    # the analyses split this meter's days by its own table now: 00-08 flat, then peak
    assert analyses.tariffs([address])[address].tolist() == [1] * 32 + [0] * 64


def test_time_sync_reports_the_drift_and_sets_the_clock(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[3]
    management = meter(deployment, address).management
    management.set_calendar(management.calendar() + 300, management.now)  # five minutes fast
    done = issue(api, deployment, "time sync", "", address)
    assert done["state"] == "done", done
    drift = {d["meter"]: d for d in api.get("/api/clock-drift", headers=VIEWER).json()}[address]
    assert abs(drift["drift"] - 300) <= drift["uncertainty"] + 1
    read(api, deployment, address, "40000200")
    entry = api.get(f"/api/meters/{address}", headers=VIEWER).json()
    assert abs(entry["clock_drift"]) <= 31  # within the read's half round trip


def test_a_top_up_and_a_refund_move_the_wallet(api: TestClient, deployment: Deployment) -> None:
    address = addresses(api)[1]
    balance, count = read(api, deployment, address, "202C0200")
    assert issue(api, deployment, "top-up", "5000", address)["state"] == "done"
    assert read(api, deployment, address, "202C0200") == [balance + 5000, count + 1]
    assert issue(api, deployment, "refund", "1500", address)["state"] == "done"
    assert read(api, deployment, address, "202C0200") == [balance + 3500, count + 2]
    too_much = issue(api, deployment, "refund", "9999", address)  # more than it holds
    assert too_much["state"] == "failed" and "DAR" in too_much["results"][address]
    assert read(api, deployment, address, "202C0200")[0] == balance + 3500


def test_a_large_top_up_waits_for_a_second_person(api: TestClient) -> None:
    address = addresses(api)[0]
    body = {"kind": "top-up", "meters": [address], "argument": "150000"}
    held = api.post("/api/commands", json=body, headers=OPERATOR).json()
    assert held["state"] == "awaiting approval" and "150000 fen" in held["reason"]
    assert api.post(f"/api/commands/{held['id']}/reject", headers=SUPERVISOR).status_code == 200


@pytest.mark.parametrize(
    ("kind", "argument", "says"),
    [
        ("top-up", "-5", "whole number"),
        ("top-up", "12.5", "whole number"),
        ("refund", "0", "1 to"),
        ("demand period", "7", "one of"),
        ("pile limit", "lots", "whole number"),
        ("trip", "now", "no argument"),
        ("display list", {"objects": ["0010020"]}, "8 hex digits"),
        ("display list", {"items": []}, "unknown field"),
        ("event threshold", {"event": "over-voltage", "limit": 1000}, "200 to 400 V"),
        ("event threshold", {"event": "flood", "limit": 1}, "event is one of"),
        ("event threshold", {"event": "frequency deviation", "limit": 9}, "0.05 to 5 Hz"),
        ("may export", "yes", "true or false"),
        ("demand period", {"period": 15, "slip": 4}, "does not divide"),
        ("demand period", {"slip": 5}, "missing field"),
        ("tariff table", {"periods": [["25:00", 1]], "switch_at": "2027-01-01T00:00Z"}, "hh:mm"),
        ("tariff table", {"periods": [["00:00", 1]], "switch_at": "tomorrow"}, "ISO 8601"),
        ("tariff table", {"periods": [["00:00", 9]], "switch_at": "2027-01-01T00:00Z"}, "1 to 4"),
        (
            "tariff table",
            {"periods": [["00:00", 1]], "switch_at": "2027-01-01T00:00Z", "prices": [0.123456]},
            "4 decimals",
        ),
        ("credit levels", {"alarm1": 100, "alarm2": 500}, "at least alarm2"),
        ("credit levels", "{not json", "JSON object"),
        ("freeze objects", {"freeze": "weekly", "delete": "FF130200"}, "freeze is one of"),
        ("freeze objects", {"freeze": "minute"}, "either add"),
        (
            "freeze objects",
            {"freeze": "minute", "add": [{"oad": "FF13", "period": 15, "depth": 9}]},
            "8 hex digits",
        ),
        (
            "freeze objects",
            {"freeze": "minute", "add": [{"oad": "FF130200", "period": 0, "depth": 9}]},
            "1 to 65535",
        ),
    ],
)
def test_a_bad_argument_is_refused_with_what_is_wrong(
    api: TestClient, kind: str, argument: Any, says: str
) -> None:
    before = len(api.get("/api/commands", headers=VIEWER).json())
    body = {"kind": kind, "meters": [addresses(api)[0]], "argument": argument}
    answer = api.post("/api/commands", json=body, headers=SUPERVISOR)
    assert answer.status_code == 400 and says in answer.json()["detail"], answer.text
    assert len(api.get("/api/commands", headers=VIEWER).json()) == before  # nothing stored


def test_the_refusals_of_role_and_meter(api: TestClient) -> None:
    address = addresses(api)[0]
    viewer = {"kind": "time sync", "meters": [address]}
    assert api.post("/api/commands", json=viewer, headers=VIEWER).status_code == 403
    operator = {"kind": "demand period", "meters": [address], "argument": "15"}
    refused = api.post("/api/commands", json=operator, headers=OPERATOR)
    assert refused.status_code == 403 and "supervisor" in refused.json()["detail"]
    unknown = {"kind": "pile limit", "meters": ["999999999999"], "argument": "1"}
    assert api.post("/api/commands", json=unknown, headers=OPERATOR).status_code == 404
    kind = {"kind": "self destruct", "meters": [address]}
    assert api.post("/api/commands", json=kind, headers=OPERATOR).status_code == 400
    reads = api.post(f"/api/meters/{address}/reads", json={"object": "00100200"}, headers=VIEWER)
    assert reads.status_code == 403
    missing = api.post("/api/meters/999999999999/reads", json={"object": "00100200"},
                       headers=OPERATOR)  # fmt: skip
    assert missing.status_code == 404
    assert api.get("/api/reads/99999", headers=VIEWER).status_code == 404


def test_an_on_demand_read_names_the_value_and_its_unit(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[0]
    answer = api.post(f"/api/meters/{address}/reads", json={"object": "20000200"},
                      headers=OPERATOR).json()  # fmt: skip
    deployment.run_virtual(60)
    found = api.get(f"/api/reads/{answer['id']}", headers=VIEWER).json()
    assert found["name"] == "voltage" and found["unit"] == "V"
    assert 200 < found["value"][0] < 250
    assert read(api, deployment, address, "40010200") == address  # the meter's own address
    undefined = api.post(f"/api/meters/{address}/reads", json={"object": "ABCD0200"},
                         headers=OPERATOR).json()  # fmt: skip
    deployment.run_virtual(60)
    failed = api.get(f"/api/reads/{undefined['id']}", headers=VIEWER).json()
    assert failed["state"] == "failed" and "object undefined" in failed["error"]


def test_the_relay_state_shows_in_the_meter_list_and_entry(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[3]
    assert issue(api, deployment, "trip", "", address)["state"] == "done"
    listed = {m["address"]: m["relay"] for m in api.get("/api/meters", headers=VIEWER).json()}
    assert listed[address] == "tripped"
    assert read(api, deployment, address, "80000200") == 2  # the meter's own word: tripped
    assert api.get(f"/api/meters/{address}", headers=VIEWER).json()["relay_from"] == "read"
    assert issue(api, deployment, "close", "", address)["state"] == "done"
    assert api.get(f"/api/meters/{address}", headers=VIEWER).json()["relay"] == "close allowed"
    meter(deployment, address).press_button(deployment.clock.time())  # the customer, locally
    deployment.run_virtual(120)
    entry = api.get(f"/api/meters/{address}", headers=VIEWER).json()
    assert (entry["relay"], entry["relay_from"]) == ("closed", "report")  # the meter said so
    assert api.get("/api/meters/999999999999", headers=VIEWER).status_code == 404


def recording(deployment: Deployment) -> list[Data]:
    """Keep a copy of every wallet parameter the cryptographic device makes."""
    hsm = deployment.hsm
    assert hsm is not None
    made: list[Data] = []
    original: Callable[..., Data] = hsm.top_up

    def top_up(*args: Any, **kwargs: Any) -> Data:
        made.append(original(*args, **kwargs))
        return made[-1]

    hsm.top_up = top_up  # type: ignore[method-assign]
    return made


def test_a_replayed_top_up_is_refused_with_a_security_event(
    api: TestClient, deployment: Deployment
) -> None:
    address = addresses(api)[2]
    net = next(n for n in deployment.nets if bytes.fromhex(address) in n.meters)
    made = recording(deployment)
    tap = Tap(net)
    assert issue(api, deployment, "top-up", "2500", address)["state"] == "done"
    tap.remove()
    after = read(api, deployment, address, "202C0200")
    protected = [f for f in tap.down(bytes.fromhex(address)) if _ciphertext(apdu_of(f))]
    assert protected and made
    # on the power line: the captured frame again (refused by the ESAM's command counter)
    transmit(deployment, net, bytes.fromhex(address), protected[0])
    deployment.run_virtual(120)
    # from inside: the same wallet parameter in a freshly protected request (the purchase count)
    outcomes: list[str] = []
    replay = ActionRequest(1, OMD(0xF100, 6, 0), made[0])
    deployment.station.exchange(address, replay, "mallory", lambda a: outcomes.append(_dar(a)))
    deployment.run_virtual(120)
    assert outcomes == ["meter: DAR duplicate recharge"]
    assert read(api, deployment, address, "202C0200") == after  # not credited twice
    events = api.get(f"/api/events?kind=replay&meter={address}", headers=VIEWER).json()
    details = {e["detail"] for e in events}
    assert "reported: replay: ESAM refused OPEN_REQUEST: SW 6989 (REPLAY)" in details  # line
    assert "reported: replay: ESAM refused WALLET_TOP_UP: SW 6989 (REPLAY)" in details  # count


def _ciphertext(apdu: Structure | None) -> bool:
    return isinstance(apdu, SecurityRequest) and apdu.payload.protection == Protection.CIPHERTEXT


def _dar(answer: Structure | str) -> str:
    return outcome_of(answer)


def _iso(posix: float) -> str:
    return dt.datetime.fromtimestamp(posix, dt.UTC).isoformat()


def test_command_arguments_are_stored_as_compact_json(api: TestClient) -> None:
    listed = api.get("/api/commands", headers=VIEWER).json()
    tariff = next(c for c in listed if c["kind"] == "tariff table")
    assert json.loads(tariff["argument"])["periods"][0] == ["00:00", 3]
