"""OCPP hardening over a real websocket: failed Basic-auth attempts lock a source (and an
identity) out with backoff, a LOCKOUT event each time, so a key guesser that would find the
key without the lockout does not; unknown driver ID tags are answered Invalid."""

from __future__ import annotations

import asyncio
import os

import pytest

from wattguard.clock import VirtualClock
from wattguard.events import EventKind, EventLog
from wattguard.runtime.ocpp_charger import OcppRefused, charge_point
from wattguard.runtime.ocpp_server import CentralSystem
from wattguard.simulation.charger import ChargerModel
from wattguard.station.chargepoints import ChargePointRegistry
from wattguard.station.lockout import Lockout

T0 = 1_796_000_400.0
KEY = "0123456789abcdef0123"
GUESSES = [f"guess-{i:02d}-0000000000" for i in range(12)] + [KEY]


async def _try(central: CentralSystem, key: str, clock: VirtualClock) -> str:
    try:
        async with charge_point(central.url, "CP-1", key, ChargerModel(7000.0), clock, EventLog()):
            return "in"
    except OcppRefused as refused:
        return str(refused)


async def _guessing(lockout: bool) -> tuple[list[str], EventLog, ChargePointRegistry]:
    clock, events = VirtualClock(T0), EventLog()
    registry = ChargePointRegistry(events)
    registry.enrol("CP-1", KEY, salt=os.urandom(16))
    if not lockout:  # the protection off: as many guesses as the guesser likes
        registry.by_identity = registry.by_source = Lockout(limit=10**9)
    async with CentralSystem(registry, clock) as central:
        answers = [await _try(central, key, clock) for key in GUESSES]
    return answers, events, registry


def test_without_the_lockout_a_guesser_finds_the_key() -> None:
    answers, events, _ = asyncio.run(_guessing(lockout=False))
    assert answers[-1] == "in"
    assert not [e for e in events.events if e.kind == EventKind.LOCKOUT]


def test_the_lockout_stops_the_guesser_with_an_event_and_backs_off() -> None:
    answers, events, registry = asyncio.run(_guessing(lockout=True))
    assert all("401" in a for a in answers[:5]) and all("429" in a for a in answers[5:])
    [lockout] = [e for e in events.events if e.kind == EventKind.LOCKOUT]
    assert "127.0.0.1" in lockout.detail and "60 s" in lockout.detail
    failures = [e for e in events.events if e.kind == EventKind.AUTHENTICATION]
    assert len(failures) == 5  # locked attempts hash no key and log nothing more
    assert registry.locked_for("CP-1", "127.0.0.1", T0 + 59) == pytest.approx(1.0)

    async def later() -> list[str]:
        clock = VirtualClock(T0 + 61)
        async with CentralSystem(registry, clock) as central:
            wrong = [await _try(central, g, clock) for g in GUESSES[:5]]
            right = await _try(central, KEY, clock)
            clock.advance(121)  # the second lockout lasts twice the first
            return [*wrong, right, await _try(central, KEY, clock)]

    second = asyncio.run(later())
    assert all("401" in a for a in second[:5]) and "429" in second[5] and second[6] == "in"
    assert "120 s" in [e for e in events.events if e.kind == EventKind.LOCKOUT][-1].detail


def test_backoff_doubles_up_to_the_ceiling_and_memory_is_bounded() -> None:
    lockout = Lockout(limit=2, window=10.0, base=5.0, ceiling=15.0, max_keys=3)
    assert lockout.failed("a", 0.0) == 0.0 and lockout.failed("a", 20.0) == 0.0  # window
    assert lockout.failed("a", 21.0) == 5.0 and lockout.locked("a", 22.0) == 4.0
    assert [lockout.failed("a", t) for t in (30.0, 31.0)] == [0.0, 10.0]
    assert [lockout.failed("a", t) for t in (50.0, 51.0)] == [0.0, 15.0]  # ceiling
    lockout.succeeded("b")  # unknown: nothing
    for key in "bcdef":
        lockout.failed(key, 52.0)
    assert len(lockout._keys) <= 3 and lockout.locked("a", 60.0) > 0  # a locked key stays
    with pytest.raises(ValueError):
        Lockout(limit=0)


async def _driver(protected: bool) -> tuple[list[str], list[int], EventLog, ChargePointRegistry]:
    clock, events = VirtualClock(T0), EventLog()
    registry = ChargePointRegistry(events, protected=protected, id_tags=["EV-0001"])
    registry.enrol("CP-1", KEY, salt=os.urandom(16))
    model = ChargerModel(7000.0)
    async with (
        CentralSystem(registry, clock) as central,
        charge_point(central.url, "CP-1", KEY, model, clock, EventLog()) as cp,
    ):
        await cp.boot()
        statuses = [await cp.authorize("EV-0001"), await cp.authorize("STOLEN-TAG")]
        transactions = [await cp.plug_in("STOLEN-TAG")]
        await cp.unplug()
        transactions.append(await cp.plug_in("EV-0001"))
    return statuses, transactions, events, registry


def test_unknown_driver_tags_are_invalid_and_never_charge() -> None:
    statuses, transactions, events, registry = asyncio.run(_driver(protected=True))
    assert statuses == ["Accepted", "Invalid"]
    assert transactions[0] == 0 and transactions[1] > 0
    assert registry.states["CP-1"].transaction == transactions[1]
    refused = [e for e in events.events if e.kind == EventKind.UNAUTHORISED]
    assert len(refused) == 2 and all("STOLEN-TAG" in e.detail for e in refused)
    with pytest.raises(ValueError):
        registry.allow_tag("x" * 21)


def test_without_the_whitelist_any_tag_charges() -> None:
    statuses, transactions, _, _ = asyncio.run(_driver(protected=False))
    assert statuses == ["Accepted", "Accepted"] and transactions[0] > 0
