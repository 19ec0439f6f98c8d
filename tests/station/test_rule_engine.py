"""The rules' sans-IO core: readings, events and time go in, firings with their evidence come
out; ``for`` is measured between readings, cool-downs are per subject, and a rule fires again
only on new evidence."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from wattguard.station.ingest import Reading
from wattguard.station.rule_spec import parse_action, parse_condition
from wattguard.station.rules import EventFact, Rule, RuleEngine

M1, M2 = "000000000001", "000000000002"
SUPPLY, TERMINAL = "000001000000", "0000000000f1"
T0 = 1_700_000_000 - 1_700_000_000 % 86_400  # a midnight
ALERT = parse_action({"alert": {}})
VOLTAGE = {"reading": {"quantity": "20000201", "outside": [198, 242], "for": 300}}


def rule(condition: dict[str, Any], cooldown: float = 3600.0, rule_id: int = 1) -> Rule:
    return Rule(rule_id, "r", "sun", parse_condition(condition), ALERT, cooldown)


def volts(meter: str, t: int, value: float) -> Reading:
    return Reading(meter, "20000201", T0 + t, value)


def test_voltage_outside_ten_percent_for_five_minutes_fires_with_its_evidence() -> None:
    engine = RuleEngine()
    engine.put(rule(VOLTAGE))
    engine.observe_readings([volts(M1, 0, 230.0), volts(M2, 0, 251.0)])
    engine.observe_readings([volts(M2, 60, 255.5), volts(M2, 240, 249.0)])
    assert engine.evaluate(T0 + 250) == []  # 4 minutes out of band: not yet
    engine.observe_readings([volts(M2, 300, 248.0), volts(M1, 300, 240.0)])
    [firing] = engine.evaluate(T0 + 310)
    assert firing.subject == M2 and firing.meters == (M2,) and firing.time == T0 + 310
    assert firing.evidence == {
        "quantity": "20000201", "meter": M2, "since": T0, "at": T0 + 300, "first": 251.0,
        "latest": 248.0, "extreme": 255.5, "held": 300, "above": 242.0, "below": 198.0,
        "for": 300.0,
    }  # fmt: skip
    assert engine.holds(1, M2, T0 + 310) and not engine.holds(1, M1, T0 + 310)


def test_a_reading_back_in_band_starts_the_five_minutes_again() -> None:
    engine = RuleEngine()
    engine.put(rule(VOLTAGE))
    engine.observe_readings([volts(M1, 0, 190.0), volts(M1, 200, 220.0), volts(M1, 240, 191.0)])
    engine.observe_readings([volts(M1, 400, 185.0)])
    assert engine.evaluate(T0 + 400) == []  # 160 s since it left the band again
    engine.observe_readings([volts(M1, 100, 230.0)])  # late and old: ignored
    engine.observe_readings([volts(M1, 540, 189.0)])
    [firing] = engine.evaluate(T0 + 541)
    assert firing.evidence["since"] == T0 + 240 and firing.evidence["extreme"] == 185.0


def test_cool_down_per_meter_and_only_on_new_evidence() -> None:
    engine = RuleEngine()
    engine.put(rule({"reading": {"quantity": "20000201", "above": 242}}, cooldown=600))
    engine.observe_readings([volts(M1, 0, 250.0)])
    assert [f.subject for f in engine.evaluate(T0 + 1)] == [M1]
    engine.observe_readings([volts(M2, 10, 250.0), volts(M1, 20, 251.0)])
    assert [f.subject for f in engine.evaluate(T0 + 30)] == [M2]  # M1 cools down, M2 does not
    [again] = engine.evaluate(T0 + 700)  # cooled down: the reading during the cool-down
    assert again.subject == M1 and again.evidence["at"] == T0 + 20
    assert engine.evaluate(T0 + 1400) == []  # cooled down, but no reading since it fired
    engine.observe_readings([volts(M1, 1500, 252.0)])
    assert [f.subject for f in engine.evaluate(T0 + 1501)] == [M1]
    engine.restore(1, M2, T0 + 1600)  # a restarted station's last firing
    engine.observe_readings([volts(M2, 1700, 250.0)])
    assert engine.evaluate(T0 + 1700) == []


def curve(t: int, kwh: float) -> Reading:
    return Reading(SUPPLY, "50020200/00100201", T0 + t, kwh)


def test_district_load_above_ninety_percent_of_capacity_from_the_supply_meter() -> None:
    load = {"district_load": {"terminal": TERMINAL, "capacity_kw": 40, "above_share": 0.9}}
    engine = RuleEngine({TERMINAL: SUPPLY})
    engine.put(rule(load))
    # 15-minute curve: 8 kWh a quarter hour is 32 kW (80 %), 9.5 kWh is 38 kW (95 %)
    engine.observe_readings([curve(0, 1000.0), curve(900, 1008.0)])
    assert engine.evaluate(T0 + 901) == []
    engine.observe_readings([curve(1800, 1017.5), Reading(M1, "50020200/00100201", T0, 1e9)])
    [firing] = engine.evaluate(T0 + 1801)
    assert firing.subject == f"district {TERMINAL}" and firing.district == TERMINAL
    assert firing.evidence["share"] == 0.95 and firing.evidence["latest"] == 38.0
    assert firing.evidence["supply_meter"] == SUPPLY and firing.evidence["capacity_kw"] == 40.0
    power = {
        "district_load": {"terminal": TERMINAL, "capacity_kw": 40, "above_share": 0.9,
                          "quantity": "20040201"}
    }  # fmt: skip
    engine.put(rule(power, rule_id=2))
    engine.observe_readings([Reading(SUPPLY, "20040201", T0 + 1900, 35_000.0)])  # W
    assert [f.rule_id for f in engine.evaluate(T0 + 1901)] == []  # 87.5 %
    engine.observe_readings([Reading(SUPPLY, "20040201", T0 + 2000, 36_500.0)])
    assert [f.evidence["share"] for f in engine.evaluate(T0 + 2001)] == [0.9125]


def fact(kind: str, meter: str, at: float) -> EventFact:
    return EventFact("operational", kind, meter, f"{kind}: 1500", at, meter)


def test_events_count_within_their_window_per_meter_and_are_used_up() -> None:
    engine = RuleEngine()
    engine.put(rule({"event": {"operational": "credit_low"}}, cooldown=0))
    engine.put(rule({"event": {"security": "tamper", "count": 2, "within": 60}}, rule_id=2))
    engine.observe_event(fact("credit low", M1, T0), T0 + 5)
    engine.observe_event(fact("over current", M2, T0), T0 + 5)
    [firing] = engine.evaluate(T0 + 6)
    assert (firing.rule_id, firing.meters) == (1, (M1,))
    assert firing.evidence == {
        "operational": "credit low", "subject": M1, "count": 1, "within": 3600.0,
        "events": [f"{T0}: credit low: 1500"],
    }  # fmt: skip
    assert engine.evaluate(T0 + 7) == []  # the event is used up
    tamper = EventFact("security", "tamper", "station/balance x", "loss", T0)
    engine.observe_event(tamper, T0 + 10)
    engine.observe_event(tamper, T0 + 100)
    assert engine.evaluate(T0 + 100) == []  # two, but 90 s apart
    engine.observe_event(tamper, T0 + 130)
    assert [f.subject for f in engine.evaluate(T0 + 131)] == ["station/balance x"]


def test_time_windows_gate_a_rule_and_a_disabled_rule_is_silent() -> None:
    night = {"all": [VOLTAGE, {"time": {"between": ["22:00", "06:00"]}}]}
    engine = RuleEngine()
    engine.put(rule(night, cooldown=0))
    engine.observe_readings([volts(M1, 12 * 3600, 250.0), volts(M1, 12 * 3600 + 300, 250.0)])
    assert engine.evaluate(T0 + 12 * 3600 + 301) == []  # noon
    assert not engine.holds(1, M1, T0 + 12 * 3600 + 301)
    engine.observe_readings([volts(M1, 23 * 3600, 251.0)])
    [firing] = engine.evaluate(T0 + 23 * 3600)
    assert firing.evidence["between"] == [["22:00", "06:00"]]
    engine.put(Rule(1, "r", "sun", parse_condition(night), ALERT, enabled=False))
    engine.observe_readings([volts(M1, 23 * 3600 + 600, 251.0)])
    assert engine.evaluate(T0 + 23 * 3600 + 601) == [] and engine.rules == []
    alone = Rule(3, "daily", "sun", parse_condition({"time": {"between": ["06:00", "07:00"]}}),
                 ALERT, cooldown=3600)  # fmt: skip
    engine.put(alone)
    assert [f.subject for f in engine.evaluate(T0 + 6 * 3600 + 60)] == ["*"]
    assert engine.evaluate(T0 + 6 * 3600 + 120) == []


def test_a_flood_of_sources_keeps_the_event_counts_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr("wattguard.station.rules.MAX_COUNTS", 100)
    engine = RuleEngine()
    engine.put(rule({"event": {"security": "authentication", "count": 3, "within": 60}}))
    for k in range(1000):
        source = f"station/api 10.0.{k // 256}.{k % 256}"
        engine.observe_event(EventFact("security", "authentication failure", source, "", 0), k)
    assert sum(map(len, engine._events.values())) <= 100
    victim = "station/api 192.0.2.1"
    for t in (1000, 1001, 1002):
        engine.observe_event(EventFact("security", "authentication failure", victim, "", t), t)
    assert [f.subject for f in engine.evaluate(1003)] == [victim]


@given(
    st.lists(st.tuples(st.integers(0, 20_000), st.floats(150, 300)), max_size=60),
    st.integers(0, 3000),
    st.integers(0, 900),
)
def test_a_meter_fires_at_most_once_a_cool_down_and_only_out_of_band(
    readings: list[tuple[int, float]], cooldown: int, hold: int
) -> None:
    condition = {"reading": {"quantity": "20000201", "outside": [198, 242], "for": hold}}
    engine = RuleEngine()
    engine.put(rule(condition, cooldown=cooldown))
    fired: list[float] = []
    for t, value in sorted(readings):
        engine.observe_readings([volts(M1, t, value)])
        for firing in engine.evaluate(T0 + t):
            assert not 198 <= firing.evidence["latest"] <= 242
            assert firing.evidence["held"] >= hold
            fired.append(firing.time)
    assert all(b - a >= cooldown for a, b in pairwise(fired))
