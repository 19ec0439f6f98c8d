"""``/api/commands``: remote commands, read, issued, approved and rejected under the rules of
:mod:`wattguard.station.commands` (an unknown command or meter is 404, a refusal 403 with its
reason)."""

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from wattguard.station.api._dependencies import Caller, CurrentStation, address
from wattguard.station.api._models import CommandOut
from wattguard.station.command_kinds import BadArgument, describe
from wattguard.station.commands import (
    Command,
    CommandKind,
    CommandNotFound,
    CommandRefused,
    UnknownMeter,
)
from wattguard.station.records import shown

__all__ = ["CommandIn", "router"]

router = APIRouter()


class CommandIn(BaseModel):
    """A command to issue to the listed meters: one of the kinds ``GET /api/command-kinds``
    lists, with its least role, approval rule and argument. A trip that takes its issuer past
    the solo trip budget (more than the approval threshold, 10 by default, of meters tripped
    without a second person in the last 24 h, counted per person and per district), and any
    command its kind's rule holds (a large top-up, a tariff change...), waits for a second
    person with the supervisor role to approve it, and its ``reason`` says why; any other is
    sent to the meters at once. An argument that is not what the kind takes is refused with
    400 and what is wrong; a structured argument may be sent as a JSON object (it is stored
    as its compact JSON text)."""

    kind: str = Field(max_length=16, description="a kind of GET /api/command-kinds, e.g. trip")
    meters: list[str] = Field(min_length=1, max_length=10_000, description="12-digit addresses")
    argument: str | dict[str, Any] = Field("", description="see GET /api/command-kinds")

    @field_validator("argument")
    @classmethod
    def _storable(cls, value: str | dict[str, Any]) -> str:
        if isinstance(value, dict):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if len(value) > 1000:
            raise ValueError("the argument is at most 1000 characters")
        # A lone surrogate ("\ud800" in JSON) decodes to a str that no database and no JSON
        # answer can encode: refuse it before the command exists anywhere.
        if not value.isprintable():  # surrogates are not printable (category Cs)
            raise ValueError("the argument must be printable text (no control characters)")
        return value


def _command(command: Command) -> dict[str, Any]:
    out = asdict(command)
    out["kind"] = command.kind.value
    out["state"] = command.state.value
    out["results"] = dict(command.results)
    return out


def _answer(step: Callable[[], Command]) -> dict[str, Any]:
    """The command ``step`` left, or the HTTP error for its refusal: 404 for an unknown
    command or meter (the meters named), 403 with the reason for any other refusal."""
    try:
        return _command(step())
    except (CommandNotFound, UnknownMeter) as missing:
        raise HTTPException(404, missing.reason) from None
    except BadArgument as bad:
        raise HTTPException(400, bad.reason) from None
    except CommandRefused as refused:
        raise HTTPException(403, refused.reason) from None


@router.get("/api/commands", response_model=list[CommandOut])
async def commands(_: Caller, station: CurrentStation) -> list[dict[str, Any]]:
    return [_command(c) for c in station.storage.commands(limit=1000)]


@router.get("/api/commands/{command_id}", response_model=CommandOut)
async def command(command_id: int, _: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(lambda: station.commands.get(command_id))


@router.post("/api/commands", status_code=201, response_model=CommandOut)
async def issue(body: CommandIn, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    try:
        kind = CommandKind(body.kind.lower())
    except ValueError:
        raise HTTPException(400, f"unknown command kind {shown(body.kind)}") from None
    meters = tuple(address(m) for m in body.meters)
    argument = str(body.argument)
    return _answer(lambda: station.issue(caller, kind, meters, argument))


@router.get("/api/command-kinds")
async def command_kinds(_: Caller) -> list[dict[str, Any]]:
    """Every kind of command the station sends: ``kind`` (what ``POST /api/commands`` takes),
    the least ``role`` that may issue it, its ``approval`` rule, a ``description`` and its
    ``argument`` described JSON-schema-like (``{"type": "none"}``: no argument)."""
    return describe()


@router.post("/api/commands/{command_id}/approve", response_model=CommandOut)
async def approve(command_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(lambda: station.approve(caller, command_id))


@router.post("/api/commands/{command_id}/reject", response_model=CommandOut)
async def reject(command_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(lambda: station.reject(caller, command_id))
