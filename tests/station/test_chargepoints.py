"""The station's OCPP core without a socket: charging profiles as the charge point reads them
(Hypothesis), Basic credentials checked against salted hashes, MeterValues parsed without
trusting them."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocpp.charge_point import serialize_as_dict, snake_to_camel_case

from wattguard.events import EventKind, EventLog
from wattguard.simulation.charger import ChargerModel, Schedule
from wattguard.station.chargepoints import ChargePointRegistry, charging_profile

T0 = 1_796_000_400.0
KEY = "0123456789abcdef"


def _wire(profile: object) -> dict[str, object]:
    """The profile as it travels: camelCase JSON, as the ocpp library sends it."""
    loaded = json.loads(json.dumps(snake_to_camel_case(serialize_as_dict(profile))))
    assert isinstance(loaded, dict)
    return loaded


@given(
    st.lists(st.floats(0, 22_000), min_size=1, max_size=48),
    st.sampled_from([60, 300, 900, 1800]),
    st.booleans(),
)
def test_the_charger_reads_each_interval_limit_the_station_sent(
    limits: list[float], step: int, with_transaction: bool
) -> None:
    transaction = 7 if with_transaction else None
    wire = _wire(charging_profile(limits, step, T0, profile_id=1, transaction=transaction))
    schedule = Schedule.from_ocpp(wire, T0)
    for i, limit in enumerate(limits):
        for offset in (0, step // 2, step - 1):
            assert schedule.limit(T0 + i * step + offset) == round(limit, 1)
    assert schedule.limit(T0 - 1) is None and schedule.limit(T0 + len(limits) * step) is None
    model = ChargerModel(max_w=11_000.0, transaction=transaction)
    assert model.set_profile(wire, T0) == "Accepted"
    for i, limit in enumerate(limits):  # and draws no more than it, nor than its maximum
        assert model.limit_w(T0 + i * step) == min(round(limit, 1), 11_000.0)


def test_an_open_ended_profile_holds_its_last_limit() -> None:
    wire = _wire(charging_profile([3700.0], 900, T0, profile_id=1, open_ended=True))
    assert Schedule.from_ocpp(wire, T0).limit(T0 + 86_400) == 3700.0


@pytest.mark.parametrize(
    "broken",
    [
        {"chargingSchedule": None},
        {"chargingProfileKind": "Absolute", "chargingSchedule": {"chargingRateUnit": "W",
         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}},  # no start
        {"chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "W",
         "chargingSchedulePeriod": [{"startPeriod": 60, "limit": 1}]}},  # not from 0
        {"chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "W",
         "chargingSchedulePeriod": [{"startPeriod": 0, "limit": -5}]}},
        {"chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": "W",
         "chargingSchedulePeriod": [{"startPeriod": "x", "limit": 1}]}},
    ],
)  # fmt: skip
def test_profiles_a_charger_cannot_obey_are_rejected(broken: dict[str, object]) -> None:
    profile = {"chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0, **broken}
    model = ChargerModel(max_w=7000.0)
    assert model.set_profile(profile, T0) == "Rejected"
    assert model.limit_w(T0) == 7000.0 and not model.profiles


def test_a_limit_in_amperes_counts_230_volts_per_phase() -> None:
    profile = {
        "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 0,
        "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
            {"startPeriod": 0, "limit": 16, "numberPhases": 1}]},
    }  # fmt: skip
    model = ChargerModel(max_w=11_000.0)
    assert model.set_profile(profile, T0) == "Accepted"
    assert model.limit_w(T0 + 10) == pytest.approx(16 * 230.0)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"\xff\xfe").decode(),
     "Basic " + base64.b64encode(b"no-colon").decode(), _basic("CP-2", KEY), _basic("CP-1", "x")],
)  # fmt: skip
def test_bad_credentials_are_refused_with_one_opaque_event(header: str | None) -> None:
    events = EventLog()
    registry = ChargePointRegistry(events)
    registry.enrol("CP-1", KEY, salt=b"s" * 16)
    assert not registry.admit("CP-1", header, T0)
    [event] = events.events
    assert event.kind == EventKind.AUTHENTICATION and KEY not in event.detail
    assert registry.admit("CP-1", _basic("CP-1", KEY), T0) and len(events.events) == 1


def test_keys_are_checked_for_length_and_kept_only_hashed() -> None:
    registry = ChargePointRegistry(EventLog())
    with pytest.raises(ValueError):
        registry.enrol("CP-1", "short", salt=b"s" * 16)
    registry.enrol("CP-1", KEY, salt=b"s" * 16)
    assert KEY.encode() not in repr(vars(registry)).encode()


def test_meter_values_are_parsed_without_trusting_them() -> None:
    registry = ChargePointRegistry(EventLog())
    kept = registry.metered("CP-1", [
        {"timestamp": "2026-12-01T12:00:00Z", "sampled_value": [
            {"value": "3.5", "measurand": "Power.Active.Import", "unit": "kW"},
            {"value": "1200", "unit": "Wh"}]},
        {"timestamp": "not a time", "sampled_value": [{"value": "1"}]},
        {"timestamp": "2026-12-01T12:15:00Z", "sampled_value": [
            {"value": "nan", "measurand": "Power.Active.Import"}, "junk"]},
        {"timestamp": "2026-12-01T12:30:00Z", "sampled_value": "junk"},
    ])  # fmt: skip
    assert [(s.power_w, s.energy_wh) for s in kept] == [
        (3500.0, 1200.0),
        (None, None),
        (None, None),
    ]


def test_a_step_across_a_lower_period_draws_the_lower_limit() -> None:
    wire = _wire(charging_profile([7000.0, 2000.0, 7000.0], 900, T0, profile_id=1))
    model = ChargerModel(max_w=11_000.0, transaction=1)
    assert model.set_profile(wire, T0) == "Accepted"
    assert model.step(11_000.0, 3 * 900, T0 + 3 * 900) == 2000.0  # one step over all three
    assert model.step(11_000.0, 600, T0 + 600) == 7000.0
    model.transaction = None
    assert model.step(11_000.0, 60, T0 + 660) == 0.0  # no transaction, no charging
