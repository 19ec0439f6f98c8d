"""``/api/rules`` over a running (virtual) deployment: supervisors manage rules, every firing
is listed with its evidence, and the issue's three examples work end to end: voltage outside
+/-10 % for 5 minutes raises an operational alert, a meter's credit at its alarm level sends a
command to that meter, and a district's load above 90 % of its transformer's capacity sends a
command to the district's meters (both as the rule's owner, through the command rules)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from wattguard.meter.expansion.cost_control import CostControl
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.api import create_app
from wattguard.station.commands import CommandKind
from wattguard.station.rule_spec import parse_action, parse_condition
from wattguard.testing import MIDNIGHT as START

OPERATOR = {"Authorization": "Bearer operator-token"}
SUPERVISOR = {"Authorization": "Bearer supervisor-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
VOLTAGE = {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300}}
ALERT = {"alert": {"severity": "warning", "message": "voltage outside +/-10 %"}}
#: The command kinds the examples use.
DISPLAY_ALARM = CommandKind.DISPLAY_ALARM.value
PILE_LIMIT = CommandKind.PILE_LIMIT.value


def running(**options: Any) -> tuple[Deployment, TestClient]:
    config = DeploymentConfig(start=START, seed=1, **{"meters": 2, "per_terminal": 2, **options})
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(900)
    return deployment, TestClient(create_app(deployment.station, deployment.users))


def create(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post("/api/rules", json=body, headers=SUPERVISOR)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def test_supervisors_manage_rules_others_read_them_and_every_change_is_audited() -> None:
    deployment, api = running()
    body = {"name": "volts", "condition": VOLTAGE, "action": ALERT, "cooldown": 600}
    assert api.post("/api/rules", json=body).status_code == 401
    refused = api.post("/api/rules", json=body, headers=OPERATOR)
    assert refused.status_code == 403 and "supervisor role" in refused.json()["detail"]
    bad = api.post("/api/rules", json={**body, "condition": {"reading": {"quantity": "x"}}},
                   headers=SUPERVISOR)  # fmt: skip
    assert bad.status_code == 400 and "condition.reading" in bad.json()["detail"]
    unknown = {**body, "action": {"command": {"kind": "self-destruct"}}}
    bad = api.post("/api/rules", json=unknown, headers=SUPERVISOR)
    assert bad.status_code == 400 and "action.command.kind" in bad.json()["detail"]
    rule = create(api, body)
    assert rule["owner"] == "sun" and rule["enabled"] and rule["cooldown"] == 600
    assert rule["condition"]["reading"]["outside"] == [198.0, 242.0]
    assert api.get("/api/rules", headers=VIEWER).json() == [rule]
    assert api.get(f"/api/rules/{rule['id']}", headers=VIEWER).json() == rule
    assert api.get("/api/rules/999", headers=VIEWER).status_code == 404
    path = f"/api/rules/{rule['id']}"
    assert api.post(f"{path}/disable", headers=OPERATOR).status_code == 403
    assert api.post(f"{path}/disable", headers=SUPERVISOR).json()["enabled"] is False
    assert api.post(f"{path}/enable", headers=SUPERVISOR).json()["enabled"] is True
    assert api.delete(path, headers=VIEWER).status_code == 403
    assert api.delete(path, headers=SUPERVISOR).status_code == 204
    assert api.get(path, headers=VIEWER).status_code == 404
    assert api.get("/api/rules", headers=VIEWER).json() == []
    huge = {**body, "name": "x" * 70_000}
    assert api.post("/api/rules", json=huge, headers=SUPERVISOR).status_code == 413
    trail = [row.action for row in deployment.station.storage.audit()]
    assert [a for a in trail if a.startswith("rule")] == [
        "rule create", "rule disable", "rule enable", "rule delete",
    ]  # fmt: skip
    assert trail.count("refuse") == 3 and deployment.station.verify_audit() is None


def test_voltage_outside_ten_percent_for_five_minutes_raises_an_operational_alert() -> None:
    deployment, api = running()
    rule = create(api, {"name": "voltage band", "condition": VOLTAGE, "action": ALERT})
    deployment.run_virtual(1800)
    assert api.get("/api/rule-firings", headers=VIEWER).json() == []  # 220 V +4 %: in band
    fleet = deployment.nets[0].fleet
    fleet.rated_voltage = 250.0  # the supply rises to about 260 V
    deployment.run_virtual(2700)
    firings = api.get(f"/api/rules/{rule['id']}/firings", headers=VIEWER).json()
    assert {f["subject"] for f in firings} == {m.address.hex() for m in fleet.meters}
    evidence = firings[0]["evidence"]
    assert evidence["latest"] > 242 and evidence["first"] > 242
    assert evidence["held"] >= 300 and evidence["at"] - evidence["since"] == evidence["held"]
    rules = {(a["rule"], a["subject"]) for a in api.get("/api/alerts?open=true",
                                                        headers=VIEWER).json()}  # fmt: skip
    assert (f"rule #{rule['id']}: voltage band", firings[0]["subject"].join(("meter ", ""))) in (
        rules
    )
    fleet.rated_voltage = 220.0
    deployment.run_virtual(1800)
    still = [a for a in deployment.storage.alerts(open_only=True) if a.rule.startswith("rule #")]
    assert still == []  # back in band: the alerts closed
    assert api.get("/api/rule-firings", headers=VIEWER).json() == firings


def test_credit_at_its_alarm_level_sends_the_display_alarm_to_that_meter() -> None:
    deployment, api = running()
    action = {"command": {"kind": DISPLAY_ALARM, "argument": "credit low", "targets": "matched"}}
    condition = {"event": {"operational": "credit low"}}
    rule = create(api, {"name": "credit alarm", "condition": condition, "action": action})
    prepaid = deployment.nets[0].fleet.meters[0]
    prepaid.expansion.cost = CostControl()  # a prepayment meter with an empty wallet
    deployment.run_virtual(1800)
    [firing] = api.get(f"/api/rules/{rule['id']}/firings", headers=VIEWER).json()
    address = prepaid.address.hex()
    assert firing["meters"] == [address] and firing["evidence"]["operational"] == "credit low"
    assert any("credit low: 0" in event for event in firing["evidence"]["events"])
    issued = [c for c in deployment.station.commands.commands.values() if c.meters == (address,)]
    assert [(c.kind.value, c.issued_by, c.argument) for c in issued] == [
        (DISPLAY_ALARM, "sun", "credit low")
    ]
    assert firing["outcome"].startswith("command #")
    [command] = issued
    done = deployment.station.commands.get(command.id)
    assert done.state.value == "done" and dict(done.results) == {address: "ok"}
    # the meter's display shows it, and the meter says so over 698 (FF12 attribute 2)
    assert "credit low" in prepaid.management.display.render(deployment.clock.time())
    read = api.post(f"/api/meters/{address}/reads", json={"object": "FF120200"}, headers=OPERATOR)
    assert read.status_code == 202, read.text
    deployment.run_virtual(60)
    answer = api.get(f"/api/reads/{read.json()['id']}", headers=VIEWER).json()
    assert answer["state"] == "done" and answer["value"] == [True, "credit low"], answer


def test_district_load_above_ninety_percent_of_capacity_lowers_the_pile_limits() -> None:
    deployment, api = running(meters=3, per_terminal=3, districts=True)
    [supply] = deployment.supply_meters
    terminal = next(m["terminal"] for m in api.get("/api/meters", headers=VIEWER).json()
                    if m["address"] == supply)  # fmt: skip
    deployment.run_virtual(4500)
    curve = deployment.storage.readings(supply, "50020200/00100201")
    assert len(curve) >= 3
    kw = (curve[-1].value - curve[0].value) * 3600 / (curve[-1].time - curve[0].time)
    action = {"command": {"kind": PILE_LIMIT, "argument": "3000", "targets": "district"}}

    def rule(name: str, capacity: float) -> dict[str, Any]:
        # no supply meter named: the deployment registered it, the station stored it
        load = {"terminal": terminal, "capacity_kw": round(capacity, 3), "above_share": 0.9}
        return create(api, {"name": name, "condition": {"district_load": load}, "action": action})

    small = rule("transformer too small", kw / 3)  # the district draws about 300 %
    large = rule("transformer large enough", kw * 5)  # about 20 %
    deployment.run_virtual(3600)
    firings = api.get(f"/api/rules/{small['id']}/firings", headers=VIEWER).json()
    assert firings and api.get(f"/api/rules/{large['id']}/firings", headers=VIEWER).json() == []
    evidence = firings[-1]["evidence"]
    assert evidence["share"] > 0.9 and evidence["supply_meter"] == supply
    assert evidence["terminal"] == terminal and firings[-1]["subject"] == f"district {terminal}"
    customers = sorted(m.address.hex() for m in deployment.nets[0].fleet.meters)
    assert supply not in customers and len(customers) == 3
    issued = [c for c in deployment.station.commands.commands.values() if c.issued_by == "sun"]
    assert issued and all(c.meters == tuple(customers) for c in issued)  # not the supply meter
    assert {c.kind.value for c in issued} == {PILE_LIMIT}


def test_the_readmes_rule_examples_are_rules() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Station rules") : readme.index("## Tests")]
    bodies = [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", section, re.DOTALL)]
    assert len(bodies) == 3
    for body in bodies:
        parse_condition(body["condition"])
        parse_action(body["action"])
    kinds = [body["action"]["command"]["kind"] for body in bodies if "command" in body["action"]]
    assert kinds == [DISPLAY_ALARM, PILE_LIMIT]


def test_a_name_or_message_no_database_can_store_is_refused() -> None:
    _, api = running()
    body = {"name": "volts", "condition": VOLTAGE, "action": ALERT}
    for bad in ({"name": "\ud800"}, {"name": "tab\there"},
                {"action": {"alert": {"message": "\ud800"}}}):  # fmt: skip
        sent = json.dumps({**body, **bad})  # "\ud800" escaped, as an attacker would send it
        headers = {**SUPERVISOR, "Content-Type": "application/json"}
        answer = api.post("/api/rules", content=sent, headers=headers)
        assert answer.status_code in (400, 422), answer.text  # 422: pydantic's, for a str field
    assert api.get("/api/rules", headers=VIEWER).json() == []
