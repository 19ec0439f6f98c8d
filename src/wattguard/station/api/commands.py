"""``/api/commands``: remote commands, read, issued, approved and rejected under the rules of
:mod:`wattguard.station.commands` (an unknown command or meter is 404, a refusal 403 with its
reason)."""

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field, field_validator

from wattguard.station.api._dependencies import Caller, CurrentStation, address
from wattguard.station.api._models import CommandOut
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
    """A command to issue: trip or close the relays of the listed meters (operator role or above).
    A trip that takes its issuer past the solo trip budget (more than the approval threshold, 10
    by default, of meters tripped without a second person in the last 24 h, counted per person
    and per district) waits for a second person with the supervisor role to approve it, and its
    ``reason`` says the counts; any other is sent to the meters at once."""

    kind: str = Field(max_length=16, description="trip or close")
    meters: list[str] = Field(min_length=1, max_length=10_000, description="12-digit addresses")
    argument: str = Field("", max_length=1000)

    @field_validator("argument")
    @classmethod
    def _storable(cls, value: str) -> str:
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
    return _answer(lambda: station.issue(caller, kind, meters, body.argument))


@router.post("/api/commands/{command_id}/approve", response_model=CommandOut)
async def approve(command_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(lambda: station.approve(caller, command_id))


@router.post("/api/commands/{command_id}/reject", response_model=CommandOut)
async def reject(command_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(lambda: station.reject(caller, command_id))
