"""Remote commands at the master station: who may issue what, and the second person's approval.

Theory of operation. Every command to meters (a relay trip or close, a prepaid top-up, a
parameter write, a key update, a firmware upgrade) is a :class:`Command` in the
:class:`CommandBook` and goes through these states::

    issued ──(needs approval)──> AWAITING_APPROVAL ──approve──> APPROVED ──> SENT ──> DONE
       │                                │                                     └──> FAILED
       └──(no approval needed)──> APPROVED          └──reject──> REJECTED

Who may do what (roles are ordered: a supervisor may do what an operator may):

* a VIEWER reads only: no command at all;
* an OPERATOR issues trips, closes and top-ups;
* a SUPERVISOR also issues parameter writes, key updates and firmware upgrades, and approves;
* a disconnect (trip) of more than ``approval_threshold`` meters, and every key update and
  firmware upgrade, needs the approval of a *second* person holding the supervisor role: the
  issuer cannot approve their own command.

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

from wattguard.errors import SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent

__all__ = [
    "Command",
    "CommandBook",
    "CommandKind",
    "CommandNotFound",
    "CommandRefused",
    "CommandState",
    "Role",
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
    SET_PARAMETER = "set parameter"
    KEY_UPDATE = "key update"
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
    CommandKind.SET_PARAMETER: Role.SUPERVISOR,
    CommandKind.KEY_UPDATE: Role.SUPERVISOR,
    CommandKind.FIRMWARE: Role.SUPERVISOR,
}
#: Kinds that always need a second person's approval.
ALWAYS_APPROVED = frozenset((CommandKind.KEY_UPDATE, CommandKind.FIRMWARE))


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


@dataclass
class CommandBook:
    """The station's commands and the rules on them: who may issue and approve what, a second
    person's approval where needed, every step audited and every refusal an event."""

    approval_threshold: int = 10
    events: EventSink | None = None
    audit: Callable[[str, str], None] | None = None
    commands: dict[int, Command] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

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
            self._refuse(user, f"{kind.value} needs the {ISSUER[kind].name.lower()} role", now)
        needs_approval = kind in ALWAYS_APPROVED or (
            kind == CommandKind.TRIP and len(meters) > self.approval_threshold
        )
        state = CommandState.AWAITING_APPROVAL if needs_approval else CommandState.APPROVED
        command = Command(
            next(self._ids), kind, meters, user.name, now, argument, state, updated_at=now
        )
        self.commands[command.id] = command
        self._audit("issue", command)
        return command

    def approve(self, user: User, command_id: int, now: float) -> Command:
        command = self._awaiting(command_id)
        if user.role < Role.SUPERVISOR:
            self._refuse(user, "approving needs the supervisor role", now)
        if user.name == command.issued_by:
            self._refuse(user, "a command needs a second person's approval, not the issuer's", now)
        return self._move(
            command, CommandState.APPROVED, now, approved_by=user.name, action="approve"
        )

    def reject(self, user: User, command_id: int, now: float) -> Command:
        command = self._awaiting(command_id)
        if user.role < Role.SUPERVISOR:
            self._refuse(user, "rejecting needs the supervisor role", now)
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

    def _refuse(self, user: User, reason: str, now: float) -> None:
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
            self.audit(action, detail)
