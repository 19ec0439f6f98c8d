"""Command authorisation at the station: roles and the second person's approval."""

from __future__ import annotations

import pytest

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
