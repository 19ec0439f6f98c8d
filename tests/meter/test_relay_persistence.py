"""The relay's state outlives a power loss (management/persistence.py): saved at each change,
restored at boot, every field round-tripped; an unreadable saved state comes back tripped, and
a prepaid meter tripped for credit still closes after a top-up once it has restarted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.errors import DecodeError
from wattguard.meter.management.persistence import restore_relay
from wattguard.meter.management.relay import Relay, RelayState
from wattguard.meter.management.storage import MemoryStore

T = 1_780_000_000.0


def test_every_change_is_saved_and_restored() -> None:
    store = MemoryStore()
    relay = restore_relay(store, "m")
    assert relay.state is RelayState.CLOSED and store.get("relay") is None  # a new meter
    relay.trip(T, delay=30.0, duration=600.0)
    relay.set_alarm(True, T, "pay by Friday")
    back = restore_relay(store, "m")
    assert (back.state, back.alarm, back.alarm_message) == (
        RelayState.TRIP_PENDING, True, "pay by Friday",
    )  # fmt: skip
    assert back.get_timer() == T + 30.0  # the pending trip survives, and then happens
    back.handle_timer(T + 30.0)
    assert restore_relay(store, "m").state is RelayState.TRIPPED
    back.handle_timer(T + 630.0)  # the trip's duration is over: close allowed
    again = restore_relay(store, "m")
    assert again.state is RelayState.CLOSE_ALLOWED
    again.press_button(T + 700.0)
    assert restore_relay(store, "m").supplying
    again.set_protected(True, T + 800.0)
    again.set_credit_trip(True)
    kept = restore_relay(store, "m")
    assert kept.protected and kept.credit_trip and kept.operations == again.operations


@given(
    st.sampled_from(list(RelayState)), st.booleans(), st.text(max_size=40), st.booleans(),
    st.integers(0, 2**32 - 1), st.booleans(),
    st.none() | st.floats(0, 4e9), st.none() | st.floats(0, 4e9),
)  # fmt: skip
def test_the_saved_form_round_trips(
    state: RelayState, alarm: bool, message: str, protected: bool, operations: int,
    credit: bool, trip_at: float | None, close_at: float | None,
) -> None:  # fmt: skip
    relay = Relay(state, alarm, message, protected, operations, credit, trip_at, close_at)
    back = Relay.from_bytes(relay.to_bytes())
    assert back.to_bytes() == relay.to_bytes()
    assert (back.state, back.alarm, back.protected, back.credit_trip) == (
        state, alarm, protected, credit,
    )  # fmt: skip
    assert back.alarm_message == message  # 40 characters are at most 160 bytes


@pytest.mark.parametrize("blob", [b"", b"\x09" + bytes(30), Relay().to_bytes() + b"x"])
def test_an_unreadable_saved_state_is_refused_and_the_meter_stays_tripped(blob: bytes) -> None:
    with pytest.raises(DecodeError):
        Relay.from_bytes(blob)
    store = MemoryStore()
    store.put("relay", blob)
    assert restore_relay(store, "m").state is RelayState.TRIPPED
