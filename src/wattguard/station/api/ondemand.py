"""``/api/meters/{meter}`` (one meter's entry: terminal, relay state, clock drift),
``/api/meters/{meter}/reads`` and ``/api/reads/{id}`` (on-demand reads: any object of a
meter read now through its terminal, not from the store) and ``/api/clock-drift`` (each
meter's clock against the station's, as last read)."""

import asyncio
import datetime as dt
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from wattguard.protocol import OAD
from wattguard.station.api._dependencies import Caller, CurrentStation, known_meter
from wattguard.station.commands import CommandRefused
from wattguard.station.ondemand import OnDemandRead
from wattguard.station.service import Station

__all__ = ["ReadIn", "meter_entry", "router"]

router = APIRouter()


class ReadIn(BaseModel):
    """An on-demand read: the object (an OAD, 8 hex digits, e.g. ``00100200`` forward active
    energy) and how long to wait for the answer (0: answer at once, ``pending``)."""

    object: str = Field(pattern="^[0-9A-Fa-f]{8}$", description="OAD, 8 hex digits")
    wait: float = Field(0.0, ge=0.0, le=30.0, description="seconds to wait for the answer")


def _iso(posix: float) -> str:
    return dt.datetime.fromtimestamp(posix, dt.UTC).isoformat()


def _read(read: OnDemandRead) -> dict[str, Any]:
    out = asdict(read)
    out["at"] = _iso(read.at)
    out["answered_at"] = None if read.answered_at is None else _iso(read.answered_at)
    return out


def meter_entry(station: Station, meter: str) -> dict[str, Any]:
    """One meter as the list and its page show it: address, terminal, relay state (as last
    learnt: ``unknown`` until a command or a read told), clock drift (seconds, or null)."""
    terminal = station.registered_terminal(meter)
    relay, how = station.relays.states.get(meter, ("unknown", ""))
    drift = station.relays.drift.get(meter)
    return {
        "address": meter,
        "terminal": None if terminal is None else terminal.hex(),
        "relay": relay,
        "relay_from": how or None,
        "clock_drift": None if drift is None else drift[0],
    }


@router.get("/api/meters/{meter}")
async def meter(meter: str, _: Caller, station: CurrentStation) -> dict[str, Any]:
    """One meter's entry (see :func:`meter_entry`); 404 for a meter the station does not know."""
    return meter_entry(station, known_meter(station, meter))


@router.post("/api/meters/{meter}/reads", status_code=202)
async def read_now(
    meter: str, body: ReadIn, caller: Caller, station: CurrentStation
) -> dict[str, Any]:
    """Read one object of a meter now, through its terminal, protected by the cryptographic
    device (operator role or above; audited). The answer is the read: ``pending`` (poll
    ``GET /api/reads/{id}``), or, once the meter answered within ``wait`` seconds, ``done``
    with the decoded ``value`` (scaled, with ``name`` and ``unit`` where the catalogue knows
    the object) or ``failed`` with the ``error``."""
    address = known_meter(station, meter)
    try:
        read = station.read_now(caller, address, OAD.parse(body.object))
    except CommandRefused as refused:
        raise HTTPException(403, refused.reason) from None
    waited = 0.0
    while read.state == "pending" and waited < body.wait:
        await asyncio.sleep(0.05)
        waited += 0.05
        read = station.reads.get(read.id) or read
    return _read(read)


@router.get("/api/reads/{read_id}")
async def read(read_id: int, _: Caller, station: CurrentStation) -> dict[str, Any]:
    """An on-demand read (the newest thousand are kept); 404 if there is no such read."""
    found = station.reads.get(read_id)
    if found is None:
        raise HTTPException(404, f"no read {read_id}")
    return _read(found)


@router.get("/api/clock-drift")
async def clock_drift(_: Caller, station: CurrentStation) -> list[dict[str, Any]]:
    """Each meter's clock against the station's, as last read (a time synchronisation reads
    it first; an on-demand read of 40000200 does too): ``drift`` in seconds (positive: the
    meter is ahead) give or take ``uncertainty`` (half the read's round trip through the
    terminal), the meter's time, and when the station read it."""
    return [
        {"meter": m, "drift": drift, "uncertainty": spread, "meter_time": seen,
         "read_at": _iso(at)}
        for m, (drift, seen, at, spread) in sorted(station.relays.drift.items())
    ]  # fmt: skip
