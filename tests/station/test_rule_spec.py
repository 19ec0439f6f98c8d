"""A rule's condition and action are a small declarative JSON structure: checked part by part
with an error that names where, written back to the same JSON, never run as code."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import ConfigError
from wattguard.station.rule_spec import (
    AllOf,
    Band,
    CommandAction,
    DistrictLoad,
    EventCondition,
    ReadingCondition,
    RuleInvalid,
    TimeWindow,
    action_json,
    condition_json,
    parse_action,
    parse_condition,
)

VOLTAGE = {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300}}
LOAD = {"district_load": {"terminal": "0000000000F1", "capacity_kw": 100, "above_share": 0.9}}


def test_the_issues_examples_parse_to_what_they_say() -> None:
    assert parse_condition(VOLTAGE) == ReadingCondition("20000201", Band(242.0, 198.0), 300.0)
    assert parse_condition(LOAD) == DistrictLoad(
        "0000000000f1", 100.0, 0.9, 0.0, "50020200/00100201"
    )
    assert parse_condition({"event": {"operational": "credit low"}}) == EventCondition(
        "operational", "credit low", 1, 3600.0
    )
    named = {"district_load": {**LOAD["district_load"], "supply_meter": "000001000000"}}
    parsed = parse_condition(named)
    assert isinstance(parsed, DistrictLoad) and parsed.supply_meter == "000001000000"
    assert parse_condition(condition_json(parsed)) == parsed
    evening = parse_condition({"all": [LOAD, {"time": {"between": ["22:00", "06:00"]}}]})
    assert isinstance(evening, AllOf) and isinstance(evening.parts[1], TimeWindow)
    assert parse_action({"command": {"kind": "trip", "targets": "district"}}) == CommandAction(
        "trip", "", "district"
    )


BAD: list[tuple[Any, str]] = [
    ("trip if voltage > 240", "condition: must be an object"),
    ({}, "condition: must have exactly one key"),
    ({"reading": {"quantity": "20000201"}}, "condition.reading: needs exactly one of above"),
    ({"reading": {"quantity": "2000", "above": 1}}, "condition.reading.quantity: must be an OAD"),
    ({"reading": {"quantity": "20000201", "above": "240"}}, "condition.reading.above: must be a"),
    ({"reading": {"quantity": "20000201", "above": 1, "for": -1}}, "condition.reading.for"),
    ({"reading": {"quantity": "20000201", "outside": [242, 198]}}, "low must be below high"),
    ({"reading": {"quantity": "20000201", "above": 1, "meters": ["12"]}}, "meters[0]"),
    ({"reading": {"quantity": "20000201", "above": 1, "eval": "os"}}, "unknown key 'eval'"),
    ({"event": {"operational": "rm -rf"}}, "condition.event.operational: unknown kind"),
    ({"event": {"security": "tamper", "count": 1.5}}, "condition.event.count: must be a whole"),
    ({"district_load": {"terminal": "0000000000f1"}}, "needs capacity_kw, above_share"),
    (
        {"district_load": {**LOAD["district_load"], "quantity": "20000201"}},
        "condition.district_load.quantity: must be an energy (kWh) or an active power",
    ),
    ({"time": {"between": ["25:00", "06:00"]}}, "condition.time.between[0]: must be a time"),
    ({"time": {"between": ["06:00", "06:00"]}}, "the window is empty"),
    ({"time": {"between": ["06:00", "07:00"], "weekdays": [7]}}, "condition.time.weekdays"),
    ({"all": [VOLTAGE, LOAD]}, "combine at most one reading, event or district_load"),
    ({"all": [{"all": [VOLTAGE]}]}, "condition.all[0].all: an all inside an all"),
    ({"all": []}, "condition.all: must be a list of 1 to 8"),
]


@pytest.mark.parametrize(("value", "where"), BAD)
def test_a_bad_condition_is_refused_naming_where(value: Any, where: str) -> None:
    with pytest.raises(RuleInvalid) as refused:
        parse_condition(value)
    assert where in str(refused.value)
    assert isinstance(refused.value, ConfigError) and isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"command": {"kind": "__import__('os')"}}, "action.command.kind: unknown command kind"),
        ({"command": {"kind": "trip", "targets": "everyone"}}, "action.command.targets"),
        ({"command": {"kind": "trip", "targets": ["000000000001"] * 2}}, "names a meter twice"),
        ({"command": {"kind": "trip", "argument": "\x00"}}, "action.command.argument"),
        ({"alert": {"severity": "panic"}}, "action.alert.severity"),
        ({"alert": {}, "command": {}}, "action: must have exactly one key"),
    ],
)
def test_a_bad_action_is_refused_naming_where(value: Any, where: str) -> None:
    with pytest.raises(RuleInvalid, match=r".") as refused:
        parse_action(value)
    assert where in str(refused.value)


def test_a_time_window_over_midnight_belongs_to_the_day_it_began() -> None:
    monday = 4 * 86_400  # 1970-01-05 was a Monday
    window = parse_condition({"time": {"between": ["22:00", "06:00"], "weekdays": [0]}})
    assert isinstance(window, TimeWindow)
    assert window.holds(monday + 23 * 3600)
    assert window.holds(monday + 86_400 + 5 * 3600)  # Tuesday 05:00: Monday's night
    assert not window.holds(monday + 86_400 + 7 * 3600)
    assert not window.holds(monday + 86_400 + 23 * 3600)  # Tuesday's night is not wanted
    assert not window.holds(monday + 12 * 3600)


_numbers = st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3))
_readings = st.builds(
    lambda q, lo, width, hold: {
        "reading": {"quantity": q, "outside": [lo, lo + width + 1], "for": hold}
    },
    st.sampled_from(["20000201", "50020200/00100201", "202C0201"]),
    _numbers,
    st.floats(0, 1e3, allow_nan=False),
    st.integers(0, 86_400),
)
_events = st.builds(
    lambda kind, count: {"event": {"security": kind, "count": count, "within": 60}},
    st.sampled_from(["tamper", "replay", "unauthorised"]),
    st.integers(1, 20),
)
_times = st.builds(
    lambda a, b, days: {"time": {"between": [f"{a:02d}:00", f"{b:02d}:30"], "weekdays": days}},
    st.integers(0, 23),
    st.integers(0, 23),
    st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
)


@given(
    st.one_of(
        _readings, _events, _times, st.builds(lambda r, t: {"all": [r, t]}, _readings, _times)
    )
)
def test_a_condition_round_trips_through_its_json(value: dict[str, Any]) -> None:
    parsed = parse_condition(value)
    assert parse_condition(condition_json(parsed)) == parsed


def test_an_action_round_trips_through_its_json() -> None:
    for value in (
        {"command": {"kind": "close", "argument": "x", "targets": ["0000000000AB"]}},
        {"command": {"kind": "set parameter", "argument": "4100-02=15", "targets": "matched"}},
        {"alert": {"severity": "critical", "message": "district overload"}},
    ):
        parsed = parse_action(value)
        assert parse_action(action_json(parsed)) == parsed
