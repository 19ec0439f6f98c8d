"""Command authorisation at the station: roles and the second person's approval."""

from __future__ import annotations

import pytest

from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.station.commands import (
    CommandBook,
    CommandKind,
    CommandRefused,
    CommandState,
    Role,
    User,
)

VIEWER = User("vera", Role.VIEWER)
OPERATOR = User("otto", Role.OPERATOR)
SUPERVISOR = User("sun", Role.SUPERVISOR)
SUPERVISOR2 = User("shi", Role.SUPERVISOR)
METERS = tuple(f"{i:012d}" for i in range(1, 30))


def book() -> tuple[CommandBook, EventLog, list[tuple[str, str]]]:
    events, trail = EventLog(), []
    return (
        CommandBook(approval_threshold=10, events=events, audit=lambda a, d: trail.append((a, d))),
        events,
        trail,
    )


def test_an_operator_trips_a_few_meters_without_approval() -> None:
    b, events, trail = book()
    command = b.issue(OPERATOR, CommandKind.TRIP, METERS[:3], 1.0)
    assert command.state == CommandState.APPROVED
    b.sent(command.id, 2.0)
    done = b.finished(command.id, {m: "ok" for m in METERS[:3]}, 3.0)
    assert done.state == CommandState.DONE and not events.events
    assert [a for a, _ in trail] == ["issue", "send", "finish"]


def test_a_viewer_cannot_command_and_the_refusal_is_recorded() -> None:
    b, events, trail = book()
    with pytest.raises(CommandRefused, match="operator role"):
        b.issue(VIEWER, CommandKind.TRIP, METERS[:1], 1.0)
    assert events.of_kind(EventKind.UNAUTHORISED)
    assert trail[-1][0] == "refuse" and not b.commands


def test_an_operator_cannot_write_parameters_or_keys() -> None:
    b, _, _ = book()
    for kind in (CommandKind.SET_PARAMETER, CommandKind.KEY_UPDATE, CommandKind.FIRMWARE):
        with pytest.raises(CommandRefused, match="supervisor role"):
            b.issue(OPERATOR, kind, METERS[:1], 1.0)


def test_a_mass_disconnect_needs_a_second_supervisor() -> None:
    b, events, _ = book()
    command = b.issue(SUPERVISOR, CommandKind.TRIP, METERS[:11], 1.0)
    assert command.state == CommandState.AWAITING_APPROVAL
    with pytest.raises(CommandRefused, match="not approved"):
        b.sent(command.id, 2.0)
    with pytest.raises(CommandRefused, match="second person"):
        b.approve(SUPERVISOR, command.id, 2.0)  # not one's own
    with pytest.raises(CommandRefused, match="supervisor role"):
        b.approve(OPERATOR, command.id, 2.0)
    assert len(events.of_kind(EventKind.UNAUTHORISED)) == 2
    approved = b.approve(SUPERVISOR2, command.id, 3.0)
    assert approved.state == CommandState.APPROVED and approved.approved_by == "shi"
    b.sent(command.id, 4.0)
    with pytest.raises(CommandRefused):
        b.approve(SUPERVISOR2, command.id, 5.0)  # no approving twice


def test_ten_meters_is_still_below_the_threshold() -> None:
    b, _, _ = book()
    assert b.issue(OPERATOR, CommandKind.TRIP, METERS[:10], 1.0).state == CommandState.APPROVED


def test_key_updates_always_need_approval_and_can_be_rejected() -> None:
    b, _, _ = book()
    command = b.issue(SUPERVISOR, CommandKind.KEY_UPDATE, METERS[:1], 1.0)
    assert command.state == CommandState.AWAITING_APPROVAL
    rejected = b.reject(SUPERVISOR2, command.id, 2.0)
    assert rejected.state == CommandState.REJECTED
    with pytest.raises(CommandRefused, match="rejected"):
        b.sent(command.id, 3.0)


def test_partial_results_fail_the_command_and_say_which_meter() -> None:
    b, _, _ = book()
    command = b.issue(OPERATOR, CommandKind.TRIP, METERS[:3], 1.0)
    b.sent(command.id, 2.0)
    failed = b.finished(command.id, {METERS[0]: "ok", METERS[1]: "ESAM verification failed"}, 3.0)
    assert failed.state == CommandState.FAILED
    assert dict(failed.results) == {
        METERS[0]: "ok",
        METERS[1]: "ESAM verification failed",
        METERS[2]: "no answer",
    }


def test_bad_requests_are_refused_clearly() -> None:
    b, _, _ = book()
    with pytest.raises(CommandRefused, match="at least one meter"):
        b.issue(OPERATOR, CommandKind.TRIP, (), 1.0)
    with pytest.raises(CommandRefused, match="twice"):
        b.issue(OPERATOR, CommandKind.TRIP, (METERS[0], METERS[0]), 1.0)
    with pytest.raises(CommandRefused, match="no command 99"):
        b.get(99)


# the solo trip budget: per person and per district over a sliding window

OTHER_OPERATOR = User("olga", Role.OPERATOR)
FLEET = tuple(f"{i:012d}" for i in range(1, 201))


def districts(meter: str) -> str:
    return f"district-{int(meter) // 100}"  # meters 1-99: district-0, 100-199: district-1


def budget_book(window: float = 86_400.0) -> tuple[CommandBook, EventLog]:
    events = EventLog()
    return CommandBook(10, events=events, trip_window=window, district_of=districts), events


def test_a_split_mass_trip_waits_for_a_second_person_beyond_the_budget() -> None:
    b, events = budget_book()
    states = [
        b.issue(OPERATOR, CommandKind.TRIP, FLEET[10 * k : 10 * k + 10], 100.0 + k).state
        for k in range(10)
    ]
    assert states == [CommandState.APPROVED] + [CommandState.AWAITING_APPROVAL] * 9
    held = b.commands[2]
    assert held.reason == (
        "otto tripped 10 meters without a second person in the last 24 h; with these 10 that "
        "is 20, more than 10 per person: a second person with the supervisor role must "
        "approve it"
    )
    assert len(events.of_kind(EventKind.UNAUTHORISED)) == 9
    assert "trip #2 held" in events.of_kind(EventKind.UNAUTHORISED)[0].detail
    # a second person approves one: it goes, and does not count against otto's own budget
    assert b.approve(SUPERVISOR, 2, 200.0).state == CommandState.APPROVED
    again = b.issue(OPERATOR, CommandKind.TRIP, FLEET[150:151], 300.0)
    assert again.state == CommandState.AWAITING_APPROVAL
    assert "otto tripped 10 meters" in again.reason


def test_another_operator_has_a_budget_of_their_own_but_shares_the_district() -> None:
    b, _ = budget_book()
    assert b.issue(OPERATOR, CommandKind.TRIP, FLEET[:8], 1.0).state == CommandState.APPROVED
    theirs = b.issue(OTHER_OPERATOR, CommandKind.TRIP, FLEET[100:110], 2.0)
    assert theirs.state == CommandState.APPROVED  # another district, their own budget
    same_district = b.issue(OTHER_OPERATOR, CommandKind.TRIP, FLEET[99:100], 3.0)
    assert same_district.state == CommandState.AWAITING_APPROVAL  # olga's own 10 + 1
    b2, _ = budget_book()
    b2.issue(OPERATOR, CommandKind.TRIP, FLEET[:8], 1.0)
    shared = b2.issue(OTHER_OPERATOR, CommandKind.TRIP, FLEET[8:11], 2.0)
    assert shared.state == CommandState.AWAITING_APPROVAL
    assert shared.reason.startswith(
        "district district-0 had 8 meters tripped without a second person in the last 24 h; "
        "with these 3 that is 11, more than 10 per district"
    )


def test_the_window_slides_and_rejected_or_waiting_trips_do_not_count() -> None:
    b, _ = budget_book(window=3600.0)
    b.issue(OPERATOR, CommandKind.TRIP, FLEET[:10], 0.0)
    held = b.issue(OPERATOR, CommandKind.TRIP, FLEET[10:12], 1800.0)
    assert held.state == CommandState.AWAITING_APPROVAL and "last 1 h" in held.reason
    b.reject(SUPERVISOR, held.id, 1900.0)
    later = b.issue(OPERATOR, CommandKind.TRIP, FLEET[10:20], 3600.0)
    assert later.state == CommandState.APPROVED  # the first trip has left the window


def test_a_window_of_zero_counts_each_command_alone() -> None:
    b, events = budget_book(window=0.0)
    states = {b.issue(OPERATOR, CommandKind.TRIP, FLEET[10 * k : 10 * k + 10], 1.0).state
              for k in range(10)}  # fmt: skip
    assert states == {CommandState.APPROVED} and not events.events
    with pytest.raises(ConfigError):
        CommandBook(trip_window=-1.0)


def test_a_restarted_book_counts_the_stored_trips() -> None:
    b, _ = budget_book()
    b.issue(OPERATOR, CommandKind.TRIP, FLEET[:10], 1.0)
    restarted, _ = budget_book()
    restarted.restore(b.commands.values())
    after = restarted.issue(OPERATOR, CommandKind.TRIP, FLEET[10:11], 2.0)
    assert after.state == CommandState.AWAITING_APPROVAL
