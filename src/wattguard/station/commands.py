"""Remote commands at the master station: who may issue what, and the second person's approval.

Theory of operation. Every command to meters (a relay trip or close, a prepaid top-up, a
parameter write, a key update, a firmware upgrade) is a :class:`Command` in the
:class:`CommandBook` and goes through these states::

    issued ──(needs approval)──> AWAITING_APPROVAL ──approve──> APPROVED ──> SENT ──> DONE
       │                                │                                     └──> FAILED
       └──(no approval needed)──> APPROVED          └──reject──> REJECTED

Who may do what (roles are ordered: a supervisor may do what an operator may):

* a VIEWER reads only: no command at all;
* an OPERATOR issues trips, closes, time synchronisations, top-ups, refunds and pile limits;
* a SUPERVISOR also issues parameter writes (tariff table, display list, demand period, event
  thresholds, credit levels), key and certificate updates and firmware upgrades, and approves;
* each kind's own approval rule (amounts, meter counts, a tariff change always) is in
  :mod:`wattguard.station.command_kinds` and reaches the book as ``kind_rule``;
* every key update, certificate update and firmware upgrade needs the approval of a *second*
  person holding the supervisor role: the issuer cannot approve their own command;
* so does a disconnect (trip) that would take one person past the *solo trip budget*: the
  meters an issuer tripped without a second person over the last ``trip_window`` seconds
  (24 h by default), with this command's, may not pass ``approval_threshold`` (10), and the
  meters tripped without a second person in one district (the meters behind one terminal,
  whoever issued them) may not pass ``district_threshold`` (the same by default). Splitting
  a mass trip into small commands therefore gains nothing. The budget is counted from the
  commands themselves (a restarted station restores them, so a restart does not reset it);
  trips a second person approved, and rejected ones, do not count; a trip that is still
  awaiting approval does not count either (it will count as approved, or not at all). A
  ``trip_window`` of 0 counts each command alone (the rule before the budget, for
  comparison). A trip held for the budget says why in :attr:`Command.reason` (counts,
  window, threshold) and is recorded as an UNAUTHORISED security event: someone tried to
  trip more than one person may.

Every refusal raises :class:`CommandRefused` (with the reason a user can act on) and is
recorded as an UNAUTHORISED security event; every step is written to the audit trail
(``audit(action, detail)``), which the station keeps as an SM3 hash chain. An id that names
no command raises :class:`CommandNotFound` (a :class:`CommandRefused`, so a caller that treats
every refusal alike still may; the API answers it with 404 rather than 403).
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from wattguard.errors import ConfigError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent

#: The default window of the solo trip budget: a day.
TRIP_WINDOW = 86_400.0

__all__ = [
    "TRIP_WINDOW",
    "Command",
    "CommandBook",
    "CommandKind",
    "CommandNotFound",
    "CommandRefused",
    "CommandState",
    "Role",
    "UnknownMeter",
    "User",
]


class Role(enum.IntEnum):
    """What a station user may do; roles are ordered, each may do what those below it may."""

    VIEWER = 1
    OPERATOR = 2
    SUPERVISOR = 3


class CommandKind(enum.Enum):
    """What a remote command does to its meters."""

    TRIP = "trip"
    CLOSE = "close"
    TOP_UP = "top-up"
    REFUND = "refund"
    CREDIT_LEVELS = "credit levels"
    TIME_SYNC = "time sync"
    TARIFF = "tariff table"
    DISPLAY = "display list"
    DISPLAY_ALARM = "display alarm"
    ALARM_RELEASE = "alarm release"
    DEMAND_PERIOD = "demand period"
    PILE_LIMIT = "pile limit"
    EVENT_THRESHOLD = "event threshold"
    MAY_EXPORT = "may export"
    FREEZE_OBJECTS = "freeze objects"
    SET_PARAMETER = "set parameter"
    KEY_UPDATE = "key update"
    CERTIFICATE_UPDATE = "certificate update"
    FIRMWARE = "firmware upgrade"


class CommandState(enum.Enum):
    """Where a command stands in its life (the diagram in the module docstring)."""

    AWAITING_APPROVAL = "awaiting approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"


#: The least role that may issue each kind of command.
ISSUER: dict[CommandKind, Role] = {
    CommandKind.TRIP: Role.OPERATOR,
    CommandKind.CLOSE: Role.OPERATOR,
    CommandKind.TOP_UP: Role.OPERATOR,
    CommandKind.REFUND: Role.OPERATOR,
    CommandKind.CREDIT_LEVELS: Role.SUPERVISOR,
    CommandKind.TIME_SYNC: Role.OPERATOR,
    CommandKind.TARIFF: Role.SUPERVISOR,
    CommandKind.DISPLAY: Role.SUPERVISOR,
    CommandKind.DISPLAY_ALARM: Role.OPERATOR,
    CommandKind.ALARM_RELEASE: Role.OPERATOR,
    CommandKind.DEMAND_PERIOD: Role.SUPERVISOR,
    CommandKind.PILE_LIMIT: Role.OPERATOR,
    CommandKind.EVENT_THRESHOLD: Role.SUPERVISOR,
    CommandKind.MAY_EXPORT: Role.SUPERVISOR,
    CommandKind.FREEZE_OBJECTS: Role.SUPERVISOR,
    CommandKind.SET_PARAMETER: Role.SUPERVISOR,
    CommandKind.KEY_UPDATE: Role.SUPERVISOR,
    CommandKind.CERTIFICATE_UPDATE: Role.SUPERVISOR,
    CommandKind.FIRMWARE: Role.SUPERVISOR,
}
#: Kinds that always need a second person's approval.
ALWAYS_APPROVED = frozenset(
    (CommandKind.KEY_UPDATE, CommandKind.CERTIFICATE_UPDATE, CommandKind.FIRMWARE)
)
#: The states of a trip that went (or goes) out: counted in the solo budget unless approved.
_OUT = frozenset((CommandState.APPROVED, CommandState.SENT, CommandState.DONE, CommandState.FAILED))


class CommandRefused(SecurityError):
    """A command was refused; ``reason`` says why in words a user can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CommandNotFound(CommandRefused):
    """No command has the id asked for."""

    def __init__(self, command_id: int) -> None:
        super().__init__(f"no command {command_id}")
        self.command_id = command_id


class UnknownMeter(CommandRefused):
    """A command names meters the station has not registered; ``meters`` lists them."""

    def __init__(self, meters: tuple[str, ...]) -> None:
        super().__init__(f"unknown meter(s): {', '.join(meters[:5])}")
        self.meters = meters


@dataclass(frozen=True, slots=True)
class User:
    """A station user, as commands and the REST API see them: a name and a role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Command:
    """One remote command: what it does, to which meters, who issued and approved it, its state
    and each meter's outcome."""

    id: int
    kind: CommandKind
    meters: tuple[str, ...]  # meter addresses, 12 hex digits
    issued_by: str
    issued_at: float
    argument: str = ""  # e.g. the amount of a top-up, "OI-attribute=value" of a parameter
    state: CommandState = CommandState.APPROVED
    approved_by: str | None = None
    results: tuple[tuple[str, str], ...] = ()  # (meter, outcome)
    updated_at: float = 0.0
    #: Why the command waits for a second person (empty when it does not). Said when it is
    #: issued and kept in the audit trail; a restarted station does not restore it.
    reason: str = ""


@dataclass
class CommandBook:
    """The station's commands and the rules on them: who may issue and approve what, a second
    person's approval where needed, every step audited and every refusal an event."""

    approval_threshold: int = 10
    events: EventSink | None = None
    audit: Callable[[str, str], None] | None = None
    #: Seconds over which each person's (and each district's) solo trips are counted.
    trip_window: float = TRIP_WINDOW
    #: Meters one district may have tripped without a second person in the window (None: the
    #: approval threshold).
    district_threshold: int | None = None
    #: The district (terminal) of a meter address; None: districts are not counted.
    district_of: Callable[[str], str] | None = None
    #: A kind's own approval rule (kind, argument, meters, threshold) -> why a second person
    #: must approve, or "" (the station passes ``command_kinds.approval_reason``).
    kind_rule: Callable[[CommandKind, str, int, int], str] | None = None
    commands: dict[int, Command] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if not 0 <= self.trip_window < float("inf"):
            raise ConfigError(f"the trip window is seconds, 0 or more, not {self.trip_window}")

    def restore(self, commands: Iterable[Command]) -> None:
        """Take back the commands a restarted station had stored; new ids continue after them."""
        for command in commands:
            self.commands[command.id] = command
        if self.commands:
            self._ids = itertools.count(max(self.commands) + 1)

    def issue(
        self, user: User, kind: CommandKind, meters: tuple[str, ...], now: float, argument: str = ""
    ) -> Command:
        if not meters:
            raise CommandRefused("a command needs at least one meter")
        if len(set(meters)) != len(meters):
            raise CommandRefused("a meter appears twice in the command")
        if user.role < ISSUER[kind]:
            self.refuse(user, f"{kind.value} needs the {ISSUER[kind].name.lower()} role", now)
        reason, split = self._approval_reason(user, kind, meters, now, argument)
        state = CommandState.AWAITING_APPROVAL if reason else CommandState.APPROVED
        command = Command(
            next(self._ids), kind, meters, user.name, now, argument, state, updated_at=now,
            reason=reason,
        )  # fmt: skip
        self.commands[command.id] = command
        self._audit("issue", command)
        if split and self.events is not None:
            detail = f"{user.name} ({user.role.name.lower()}): trip #{command.id} held: {reason}"
            self.events.record(
                SecurityEvent(EventKind.UNAUTHORISED, "station/commands", detail, now)
            )
        return command

    def _approval_reason(
        self, user: User, kind: CommandKind, meters: tuple[str, ...], now: float, argument: str
    ) -> tuple[str, bool]:
        """Why a command needs a second person ("" when it does not), and whether only the
        solo trip budget says so (the command alone would have gone out)."""
        if kind in ALWAYS_APPROVED:
            return f"a {kind.value} always needs a second person's approval", False
        if kind != CommandKind.TRIP:
            if self.kind_rule is None:
                return "", False
            return self.kind_rule(kind, argument, len(meters), self.approval_threshold), False
        limit = self.approval_threshold
        if len(meters) > limit:
            return (
                f"a trip of {len(meters)} meters is more than {limit}: "
                "a second person with the supervisor role must approve it"
            ), False
        window = _duration(self.trip_window)
        solo = self.solo_trips(now)
        mine = sum(len(c.meters) for c in solo if c.issued_by == user.name)
        if mine + len(meters) > limit:
            return (
                f"{user.name} tripped {mine} meters without a second person in the last "
                f"{window}; with these {len(meters)} that is {mine + len(meters)}, more than "
                f"{limit} per person: a second person with the supervisor role must approve it"
            ), True
        if self.district_of is not None:
            limit = self.approval_threshold if self.district_threshold is None else (
                self.district_threshold
            )  # fmt: skip
            tripped = _by_district(self.district_of, (m for c in solo for m in c.meters))
            for district, new in sorted(_by_district(self.district_of, meters).items()):
                before = tripped.get(district, 0)
                if before + new > limit:
                    return (
                        f"district {district} had {before} meters tripped without a second "
                        f"person in the last {window}; with these {new} that is {before + new}, "
                        f"more than {limit} per district: a second person with the "
                        "supervisor role must approve it"
                    ), True
        return "", False

    def solo_trips(self, now: float) -> list[Command]:
        """The trips issued in the window before ``now`` that went out without a second
        person's approval (what the solo budget counts)."""
        since = now - self.trip_window
        return [
            c
            for c in self.commands.values()
            if c.kind == CommandKind.TRIP
            and c.state in _OUT
            and c.approved_by is None
            and since < c.issued_at <= now
        ]

    def approve(self, user: User, command_id: int, now: float) -> Command:
        command = self._awaiting(command_id)
        if user.role < Role.SUPERVISOR:
            self.refuse(user, "approving needs the supervisor role", now)
        if user.name == command.issued_by:
            self.refuse(user, "a command needs a second person's approval, not the issuer's", now)
        return self._move(
            command, CommandState.APPROVED, now, approved_by=user.name, action="approve"
        )

    def reject(self, user: User, command_id: int, now: float) -> Command:
        command = self._awaiting(command_id)
        if user.role < Role.SUPERVISOR:
            self.refuse(user, "rejecting needs the supervisor role", now)
        return self._move(
            command, CommandState.REJECTED, now, approved_by=user.name, action="reject"
        )

    def sent(self, command_id: int, now: float) -> Command:
        command = self.get(command_id)
        if command.state != CommandState.APPROVED:
            raise CommandRefused(f"command {command_id} is {command.state.value}, not approved")
        return self._move(command, CommandState.SENT, now, action="send")

    def finished(self, command_id: int, results: dict[str, str], now: float) -> Command:
        """Record each meter's outcome ("ok" or why not); DONE only if every meter says ok."""
        command = self.get(command_id)
        if command.state != CommandState.SENT:
            raise CommandRefused(f"command {command_id} is {command.state.value}, not sent")
        missing = [m for m in command.meters if m not in results]
        outcome = {**results, **{m: "no answer" for m in missing}}
        ok = all(outcome[m] == "ok" for m in command.meters)
        return self._move(
            command,
            CommandState.DONE if ok else CommandState.FAILED,
            now,
            results=tuple((m, outcome[m]) for m in command.meters),
            action="finish",
        )

    def get(self, command_id: int) -> Command:
        try:
            return self.commands[command_id]
        except KeyError:
            raise CommandNotFound(command_id) from None

    def _awaiting(self, command_id: int) -> Command:
        command = self.get(command_id)
        if command.state != CommandState.AWAITING_APPROVAL:
            raise CommandRefused(f"command {command_id} is {command.state.value}")
        return command

    def _move(
        self, command: Command, state: CommandState, now: float, *, action: str, **changes: object
    ) -> Command:
        moved = replace(command, state=state, updated_at=now, **changes)  # type: ignore[arg-type]
        self.commands[command.id] = moved
        self._audit(action, moved)
        return moved

    def refuse(self, user: User, reason: str, now: float) -> None:
        """Refuse ``user``: an UNAUTHORISED security event, an audit entry, CommandRefused."""
        if self.events is not None:
            detail = f"{user.name} ({user.role.name.lower()}): {reason}"
            self.events.record(
                SecurityEvent(EventKind.UNAUTHORISED, "station/commands", detail, now)
            )
        if self.audit is not None:
            self.audit("refuse", f"{user.name}: {reason}")
        raise CommandRefused(reason)

    def _audit(self, action: str, command: Command) -> None:
        if self.audit is not None:
            detail = (
                f"#{command.id} {command.kind.value} x{len(command.meters)} "
                f"by {command.issued_by} -> {command.state.value}"
            )
            if command.approved_by:
                detail += f" (approved by {command.approved_by})"
            elif command.reason and command.state == CommandState.AWAITING_APPROVAL:
                detail += f": {command.reason}"
            self.audit(action, detail)


def _by_district(district_of: Callable[[str], str], meters: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for meter in meters:
        district = district_of(meter)
        counts[district] = counts.get(district, 0) + 1
    return counts


def _duration(seconds: float) -> str:
    """A window in words: "24 h", "90 min", "45 s"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
