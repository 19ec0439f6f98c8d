"""``/api/rules``: the station's rules (:mod:`wattguard.station.rule_book`), read by any user,
created, enabled, disabled and deleted by a supervisor (a lesser role is 403 with the reason,
and a security event), every change audited; ``/api/rules/{id}/firings`` and
``/api/rule-firings``: each firing with the evidence that made its condition true and what its
action did. A condition or action that is not what a rule may say is 400, naming where."""

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from wattguard.station.api._dependencies import Caller, CurrentStation
from wattguard.station.commands import CommandRefused
from wattguard.station.rule_book import RuleNotFound
from wattguard.station.rule_spec import RuleInvalid, action_json, condition_json
from wattguard.station.rules import Firing, Rule

__all__ = ["RuleIn", "router"]

router = APIRouter()
T = TypeVar("T")


class RuleIn(BaseModel):
    """A rule to create (supervisor role): when ``condition`` holds, do ``action``, at most once
    per ``cooldown`` seconds for each meter (or district) it matches. The JSON of conditions
    and actions is described in the README ("Rules") and in ``wattguard.station.rule_spec``:
    e.g. ``{"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300}}`` and
    ``{"alert": {"severity": "warning", "message": "voltage out of band"}}``."""

    name: str = Field(min_length=1, max_length=80)
    condition: dict[str, Any]
    action: dict[str, Any]
    cooldown: float = Field(3600.0, ge=0, le=366 * 86_400)


def rule_out(rule: Rule) -> dict[str, Any]:
    """A rule as the API shows it (its condition and action as the JSON they were made of)."""
    return {
        "id": rule.id, "name": rule.name, "owner": rule.owner,
        "condition": condition_json(rule.condition), "action": action_json(rule.action),
        "cooldown": rule.cooldown, "enabled": rule.enabled, "created": rule.created,
        "updated": rule.updated,
    }  # fmt: skip


def firing_out(firing: Firing) -> dict[str, Any]:
    """A firing as the API shows it."""
    return {
        "id": firing.id, "rule": firing.rule_id, "time": firing.time,
        "subject": firing.subject, "meters": list(firing.meters), "district": firing.district,
        "evidence": dict(firing.evidence), "outcome": firing.outcome,
        "command": firing.command_id,
    }  # fmt: skip


def _answer(step: Callable[[], T]) -> T:
    """What ``step`` gives, or the HTTP error of its refusal: 404 for an unknown rule, 400 for
    an invalid condition or action, 403 with the reason for a role that may not."""
    try:
        return step()
    except RuleNotFound as missing:
        raise HTTPException(404, str(missing)) from None
    except RuleInvalid as invalid:
        raise HTTPException(400, str(invalid)[:300]) from None
    except CommandRefused as refused:
        raise HTTPException(403, refused.reason) from None


@router.get("/api/rules")
async def rules(_: Caller, station: CurrentStation) -> list[dict[str, Any]]:
    return [rule_out(rule) for rule in station.rules.rules()]


@router.post("/api/rules", status_code=201)
async def create(body: RuleIn, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    made = _answer(
        lambda: station.rules.create(caller, body.name, body.condition, body.action, body.cooldown)
    )
    return rule_out(made)


@router.get("/api/rules/{rule_id}")
async def rule(rule_id: int, _: Caller, station: CurrentStation) -> dict[str, Any]:
    return rule_out(_answer(lambda: station.rules.get(rule_id)))


@router.post("/api/rules/{rule_id}/enable")
async def enable(rule_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return rule_out(_answer(lambda: station.rules.set_enabled(caller, rule_id, True)))


@router.post("/api/rules/{rule_id}/disable")
async def disable(rule_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return rule_out(_answer(lambda: station.rules.set_enabled(caller, rule_id, False)))


@router.delete("/api/rules/{rule_id}", status_code=204)
async def delete(rule_id: int, caller: Caller, station: CurrentStation) -> None:
    _answer(lambda: station.rules.delete(caller, rule_id))


@router.get("/api/rules/{rule_id}/firings")
async def rule_firings(
    rule_id: int, _: Caller, station: CurrentStation, limit: int = Query(100, ge=1, le=10_000)
) -> list[dict[str, Any]]:
    _answer(lambda: station.rules.get(rule_id))
    return [firing_out(f) for f in station.storage.firings(rule_id, limit)]


@router.get("/api/rule-firings")
async def all_firings(
    _: Caller, station: CurrentStation, limit: int = Query(100, ge=1, le=10_000)
) -> list[dict[str, Any]]:
    return [firing_out(f) for f in station.storage.firings(None, limit)]
