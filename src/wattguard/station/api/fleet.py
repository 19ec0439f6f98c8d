"""``/api/fleet``, ``/api/fleet/load`` and ``/api/terminals/{terminal}/meters``: the fleet at
a glance (:mod:`wattguard.station.fleet`): each terminal's health and the day's collection
completeness, the fleet's total load per collection interval, and the meters of a terminal
(its district, for commands to all of them). Every time is UTC."""

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from wattguard.station.api._dependencies import INT64, Caller, CurrentStation
from wattguard.station.api._models import FleetOut, LoadOut
from wattguard.station.api.readings import instant
from wattguard.station.fleet import (
    Completeness,
    completeness,
    due,
    fleet_load,
    terminal_health,
)
from wattguard.station.records import InvalidRecord, normalise_meter, shown
from wattguard.station.service import Station

__all__ = ["router"]

router = APIRouter()

_DAYS = 31  # the longest span of one load chart


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _day(value: str | None, now: float) -> date:
    if value is None:
        return datetime.fromtimestamp(now, UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, [{"loc": ["query", "day"], "msg": "give YYYY-MM-DD"}]) from None


def _counts(share: Completeness | None) -> dict[str, int | float | None]:
    if share is None:
        return {"meters": 0, "expected": 0, "arrived": 0, "completeness": None}
    return {"meters": share.meters, "expected": share.expected, "arrived": share.arrived,
            "completeness": share.share}  # fmt: skip


def _behind(station: Station) -> dict[str, int]:
    """How many silent meters (the reporting watch's) each terminal has."""
    behind: dict[str, int] = {}
    for meter in station.watch.silent:
        terminal = station.terminal_of.get(meter)
        if terminal is not None:
            behind[terminal.hex()] = behind.get(terminal.hex(), 0) + 1
    return behind


def _terminals(station: Station, rows: list[Completeness], now: float) -> list[dict[str, Any]]:
    shares = {r.terminal: r for r in rows if r.terminal is not None}
    links = station.collector.links
    health = terminal_health(shares, links, _behind(station), (station.clock.monotonic(), now))
    return [
        {"terminal": h.terminal, "online": h.online, "last_seen": h.last_seen,
         "last_seen_at": None if h.last_seen is None else _iso(h.last_seen),
         "exchanges": h.exchanges, "refused": h.refused, "meters_behind": h.meters_behind,
         **_counts(shares.get(h.terminal))}
        for h in health
    ]  # fmt: skip


@router.get("/api/fleet", response_model=FleetOut)
async def fleet(
    _: Caller,
    station: CurrentStation,
    day: str | None = Query(None, max_length=10, description="YYYY-MM-DD (UTC); today"),
) -> dict[str, Any]:
    """Each terminal's health and a UTC day's collection completeness: the readings of the
    15-minute curve that arrived, of those expected from the registered meters and the
    quarter hours due (a quarter hour is due one collection interval after it ends)."""
    now = station.clock.time()
    interval = int(station.watch.interval)
    wanted = _day(day, now)
    total, rows = completeness(station.storage, wanted, now, interval)
    return {"day": wanted.isoformat(), "time_zone": "UTC", "interval": interval,
            "due": due(wanted, now, interval)[2], "fleet": _counts(total),
            "terminals": _terminals(station, rows, now)}  # fmt: skip


@router.get("/api/fleet/load", response_model=LoadOut)
async def load(
    _: Caller,
    station: CurrentStation,
    start: str | None = Query(None, max_length=40, description="default: a day before end"),
    end: str | None = Query(None, max_length=40, description="default: now"),
) -> dict[str, Any]:
    """The fleet's total load in each collection interval ending in ``start < t <= end``
    (at most 31 days): energy (kWh), mean power (kW) and the meters counted."""
    interval = int(station.watch.interval)
    last = instant(end, "end")
    last = int(station.clock.time()) if last is None else last
    first = instant(start, "start")
    first = last - 86_400 if first is None else first
    if not 0 <= last - first <= _DAYS * 86_400 or first - interval < INT64[0]:
        raise HTTPException(422, [{"loc": ["query", "start"], "msg": "start must be before end, "
                                   f"at most {_DAYS} days"}])  # fmt: skip
    points = fleet_load(station.storage, first, last, interval)
    return {"interval": interval, "time_zone": "UTC", "points": [
        {"time": p.time, "at": _iso(p.time), "energy": p.energy, "power": p.power,
         "meters": p.meters} for p in points]}  # fmt: skip


@router.get("/api/terminals/{terminal}/meters")
async def terminal_meters(terminal: str, _: Caller, station: CurrentStation) -> list[str]:
    """The addresses of the meters registered behind ``terminal`` (its district); 404 for a
    terminal with none."""
    try:
        name = normalise_meter(terminal, what="terminal")
    except InvalidRecord:
        raise HTTPException(
            400, f"a terminal address is 12 hex digits, not {shown(terminal)}"
        ) from None
    found = station.storage.meters_of(name)
    if not found:
        raise HTTPException(404, f"no meters behind terminal {name}")
    return found
