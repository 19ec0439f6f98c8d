"""Scenario 15, an insider at the station: a mass trip split into small commands.

``split-mass-trip``: an operator (or whoever holds an operator's token) wants to cut the supply
of a whole district, 100 meters behind four terminals, without the second person the station
asks for a trip of more than 10 meters. They split it into ten trips of 10 meters each, every
one of them under the per-command threshold, issued one after the other. The goal: more than
the threshold of meters tripped with nobody else's approval.

Protected, the station counts each person's (and each district's) trips made without a second
person over a sliding window (24 h): the first 10 meters go out, and every later command waits
for a supervisor's approval with the counts, the window and the threshold in its reason, each
one an UNAUTHORISED security event. Unprotected (a window of 0: each command counted alone,
the rule before the budget) all ten go out and all 100 relays open.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.events import EventKind

__all__: list[str] = []

_METERS = 100
_SPLIT = 10


@scenario(
    16,
    "split-mass-trip",
    "an operator trips 100 meters as ten 10-meter commands, each under the threshold that "
    "asks for a second person's approval",
    (Protection.IDENTITY, Protection.MONITORING),
)
def split_mass_trip(protected: bool) -> Outcome:
    from wattguard.meter.management.relay import RelayState
    from wattguard.runtime.deployment import (
        FIXED_USERS,
        Deployment,
        DeploymentConfig,
        virtual_clock,
    )
    from wattguard.station.commands import CommandKind, CommandState, Role

    config = DeploymentConfig(
        meters=_METERS, per_terminal=25, start=T0 - T0 % 86_400, protected=protected, seed=0,
        trip_window=86_400.0 if protected else 0.0,
    )  # fmt: skip
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(600)
    station = deployment.station
    operator = next(u for u in FIXED_USERS.values() if u.role == Role.OPERATOR)
    fleet = sorted(station.terminal_of)
    commands = [
        station.issue(operator, CommandKind.TRIP, tuple(fleet[k : k + _SPLIT]))
        for k in range(0, _METERS, _SPLIT)
    ]
    deployment.run_virtual(600)
    open_relays = sum(
        1
        for net in deployment.nets
        for meter in net.meters.values()
        if meter.management.relay.state != RelayState.CLOSED
    )
    held = [c for c in commands if c.state == CommandState.AWAITING_APPROVAL]
    threshold = station.commands.approval_threshold
    outcome = Outcome(
        succeeded=open_relays > threshold,
        summary=(
            f"{open_relays} of {_METERS} relays opened with no second person; "
            f"{len(held)} of {len(commands)} commands wait for approval"
        ),
        evidence=[f"#{c.id} x{len(c.meters)}: {c.state.value}" for c in commands]
        + [f"reason: {c.reason}" for c in held[:1]],
    )
    found = deployment.storage.events(EventKind.UNAUTHORISED, "station/commands", None, 100)
    outcome.events.extend(f"unauthorised: {e.source}: {e.detail}" for e in found)
    return outcome
