"""OCPP 1.6J over a real websocket on loopback: the station's central system and a simulated
charge point (the ``ocpp`` library on both ends), with Basic authentication and TLS."""

from __future__ import annotations

import asyncio
import os

import pytest

from wattguard.clock import VirtualClock
from wattguard.events import EventKind, EventLog
from wattguard.runtime.ocpp_charger import OcppRefused, charge_point
from wattguard.runtime.ocpp_server import CentralSystem, wait_for
from wattguard.simulation.charger import ChargerModel
from wattguard.station.chargepoints import ChargePointRegistry, iso
from wattguard.testing.ocpp import ocpp_tls

T0 = 1_796_000_400.0  # a quarter-hour boundary
KEY = "0123456789abcdef0123"
STEP = 900
LIMITS = [7000.0, 3500.0, 0.0, 11000.0, 3500.0]


def _registry(events: EventLog, protected: bool = True) -> ChargePointRegistry:
    registry = ChargePointRegistry(events, protected=protected, id_tags=["EV-0001"])
    registry.enrol("CP-1", KEY, salt=os.urandom(16))
    return registry


async def _round_trip(tls: bool) -> tuple[list[float], ChargePointRegistry, EventLog, list[str]]:
    clock = VirtualClock(T0)
    events = EventLog()
    registry = _registry(events)
    pair = ocpp_tls("station CA", T0) if tls else None
    server_ctx = pair.server_context() if pair else None
    client_ctx = pair.client_context() if pair else None
    model = ChargerModel(max_w=11000.0)
    powers: list[float] = []
    async with CentralSystem(registry, clock, ssl_context=server_ctx) as central:
        assert central.url.startswith("wss://" if tls else "ws://")
        async with charge_point(
            central.url, "CP-1", KEY, model, clock, EventLog(), ssl_context=client_ctx
        ) as device:
            assert await device.boot() == "Accepted"
            await wait_for(lambda: "CP-1" in central.sessions)
            statuses = [await central.deliver("CP-1", LIMITS, STEP, T0)]  # TxDefaultProfile
            transaction = await device.plug_in()
            assert registry.states["CP-1"].transaction == transaction
            statuses.append(await central.deliver("CP-1", LIMITS, STEP, T0))  # TxProfile
            for _ in range(len(LIMITS) * 3):  # 5-minute steps, the EV always wants 11 kW
                clock.advance(300)
                powers.append(await device.step(11000.0, 300))
            await device.unplug()
            await wait_for(lambda: registry.states["CP-1"].transaction is None)
    return powers, registry, events, statuses


@pytest.mark.parametrize("tls", [False, True], ids=["profile1-basic", "profile2-tls"])
def test_limits_delivered_obeyed_and_reported(tls: bool) -> None:
    powers, registry, events, statuses = asyncio.run(_round_trip(tls))
    assert statuses == ["Accepted", "Accepted"]
    expected = [limit for limit in LIMITS for _ in range(3)]
    assert powers == expected  # never above the limit, and the EV takes all it may
    reported = [s.power_w for s in registry.states["CP-1"].samples]
    assert reported == expected  # what the station received over the websocket
    energy = registry.states["CP-1"].samples[-1].energy_wh
    assert energy == pytest.approx(sum(expected) * 300 / 3600, abs=0.1)
    assert registry.states["CP-1"].model == "wattguard-sim"
    assert not events.events


def test_a_tx_profile_for_no_transaction_is_rejected() -> None:
    model = ChargerModel(max_w=7000.0)
    profile = {
        "chargingProfileId": 1, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "transactionId": 9,
        "chargingSchedule": {"chargingRateUnit": "W", "startSchedule": iso(T0),
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 0}]},
    }  # fmt: skip
    assert model.set_profile(profile, T0) == "Rejected"
    model.transaction = 9
    assert model.set_profile(profile, T0) == "Accepted"
    assert model.limit_w(T0) == 0.0
    assert model.limit_w(T0 - 1) == 7000.0  # before the schedule: the charger's maximum


@pytest.mark.parametrize(
    ("cp_id", "key"),
    [("CP-1", "wrong-key-wrong-key"), ("CP-2", KEY), ("CP-1", "")],
    ids=["wrong-key", "unknown-id", "no-key"],
)
def test_unknown_or_wrong_key_refused_with_an_event(cp_id: str, key: str) -> None:
    async def attempt(protected: bool) -> tuple[bool, EventLog, ChargePointRegistry]:
        clock, events = VirtualClock(T0), EventLog()
        registry = _registry(events, protected)
        charger_events = EventLog()
        async with CentralSystem(registry, clock) as central:
            model = ChargerModel(max_w=7000.0)
            try:
                async with charge_point(central.url, cp_id, key, model, clock, charger_events):
                    return True, events, registry
            except OcppRefused:
                assert charger_events.of_kind(EventKind.AUTHENTICATION)
                return False, events, registry

    admitted, events, _ = asyncio.run(attempt(True))
    assert not admitted
    [event] = events.of_kind(EventKind.AUTHENTICATION)
    assert KEY not in event.detail and "refused" in event.detail
    admitted, events, _ = asyncio.run(attempt(False))  # without profile 1: anyone gets in
    assert admitted and not events.events


def test_an_impostor_central_system_fails_the_tls_check() -> None:
    async def attempt() -> EventLog:
        clock = VirtualClock(T0)
        genuine, impostor = ocpp_tls("station CA", T0), ocpp_tls("station CA", T0)
        registry = ChargePointRegistry(EventLog(), protected=False)
        charger_events = EventLog()
        async with CentralSystem(registry, clock, ssl_context=impostor.server_context()) as fake:
            with pytest.raises(OcppRefused):
                async with charge_point(
                    fake.url, "CP-1", KEY, ChargerModel(7000.0), clock, charger_events,
                    ssl_context=genuine.client_context(),
                ):  # fmt: skip
                    pass
        assert "CP-1" not in registry.states or not registry.states["CP-1"].connected
        return charger_events

    assert asyncio.run(attempt()).of_kind(EventKind.KEY)


def test_bad_paths_and_deliveries_to_absent_charge_points() -> None:
    async def run() -> None:
        clock, events = VirtualClock(T0), EventLog()
        async with CentralSystem(_registry(events), clock) as central:
            assert await central.deliver("CP-1", [1000.0], STEP, T0) == "Offline"
            with pytest.raises(OcppRefused):
                async with charge_point(
                    central.url, "x" * 60, KEY, ChargerModel(7000.0), clock, EventLog()
                ):
                    pass

    asyncio.run(run())


def test_no_subprotocol_is_refused_and_a_reconnect_replaces_the_session() -> None:
    import base64

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async def run() -> None:
        clock, events = VirtualClock(T0), EventLog()
        registry = _registry(events)
        token = base64.b64encode(f"CP-1:{KEY}".encode()).decode()
        async with CentralSystem(registry, clock) as central:
            headers = {"Authorization": f"Basic {token}"}
            with pytest.raises(InvalidStatus) as refused:  # no ocpp1.6 offered: not upgraded
                await connect(central.url + "CP-1", additional_headers=headers)
            assert refused.value.response.status_code == 400
            model = ChargerModel(7000.0)
            async with charge_point(central.url, "CP-1", KEY, model, clock, EventLog()) as one:
                await one.boot()
                first = central.sessions["CP-1"]
                async with charge_point(central.url, "CP-1", KEY, model, clock, EventLog()) as two:
                    await two.boot()
                    assert central.sessions["CP-1"] is not first
                    assert await central.deliver("CP-1", [1000.0], STEP, T0) == "Accepted"
        assert not events.events

    asyncio.run(run())
