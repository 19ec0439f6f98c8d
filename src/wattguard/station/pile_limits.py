"""The charging job's delivery to meters' piles: each interval's limit as the station's
"pile limit" command (a protected DL/T 698.45 set of FF10 attribute 2 through the
cryptographic device, in a PROXY through the meter's terminal), issued by the job's owner.

Theory of operation. :class:`PileLimits` is the :data:`~wattguard.station.charging.Delivery`
of every meter's pile: calling it with (meter address, kW) only notes the limit. After the
job's :meth:`~wattguard.station.charging.DistrictCharging.dispatch`, :meth:`PileLimits.flush`
sends what changed, batched: one command per distinct limit (at most ``batch`` meters each),
so an interval in which nothing changed sends nothing, and a fleet whose limits changed sends
a handful of commands rather than one per pile. Every command goes through
:meth:`Station.issue <wattguard.station.service.Station.issue>` like an operator's: the role
check, the audit trail, the storage, the cryptographic device. :meth:`track` follows each
pile's last command: a meter that did not confirm (no answer, a DAR) gets its limit again at
the next flush; :meth:`view` says where each pile stands.

FF10 attribute 2 reads 0 as "no limit" (``meter/expansion/pile.py``), so a planned 0 kW goes
out as :data:`PAUSE_W` (1 W): no pile charges at 1 W (IEC 61851-1 pauses below 6 A), and the
meter's pile setpoint is then at most 1 W. docs/protocol.md records this reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattguard.errors import ConfigError
from wattguard.station.commands import Command, CommandKind, CommandRefused, CommandState, User

__all__ = ["PAUSE_W", "PileLimits", "PileStatus"]

log = logging.getLogger(__name__)

#: The limit (W) that stands for a planned 0 kW (FF10 reads 0 as no limit).
PAUSE_W = 1
#: Meters per command: at most the station's approval threshold of meters (10 by default),
#: so the job's own limits never wait for a second person (docs/security.md says why).
BATCH = 10

Issue = Callable[[User, CommandKind, tuple[str, ...], str], Command]


@dataclass(frozen=True, slots=True)
class PileStatus:
    """Where one meter's pile stands: the limit (W) last sent, the command that carries it,
    its state and the meter's outcome ("ok", why not, or "" while it is on its way)."""

    watts: int
    command: int
    state: str
    outcome: str


class PileLimits:
    """Deliver pile limits as pile-limit commands of ``owner`` through ``issue`` (the
    station's :meth:`~wattguard.station.service.Station.issue`); ``command`` looks a command
    up by its id (the station's ``commands.get``)."""

    def __init__(
        self, issue: Issue, command: Callable[[int], Command], owner: User, *, batch: int = BATCH
    ) -> None:
        if batch < 1:
            raise ConfigError("a pile-limit batch holds at least one meter")
        self.issue, self.command, self.owner, self.batch = issue, command, owner, batch
        self._pending: dict[str, int] = {}
        self._sent: dict[str, tuple[int, int]] = {}  # meter -> (watts, command id)
        self.refused: list[str] = []  # why a batch could not be issued (newest last)

    def __call__(self, meter: str, kw: float) -> None:
        """Note ``meter``'s limit for this interval (sent by :meth:`flush` if it changed)."""
        self._pending[meter] = max(PAUSE_W, round(kw * 1000.0))

    def flush(self) -> list[Command]:
        """Send the noted limits that changed, one command per limit and batch of meters;
        the commands issued."""
        self.track()
        by_watts: dict[int, list[str]] = {}
        for meter, watts in sorted(self._pending.items()):
            sent = self._sent.get(meter)
            if sent is not None and sent[0] == watts:
                continue  # unchanged, and not known to have failed
            by_watts.setdefault(watts, []).append(meter)
        self._pending.clear()
        issued = []
        for watts, meters in sorted(by_watts.items()):
            for first in range(0, len(meters), self.batch):
                chunk = tuple(meters[first : first + self.batch])
                try:
                    command = self.issue(self.owner, CommandKind.PILE_LIMIT, chunk, str(watts))
                except (CommandRefused, ConfigError) as exc:  # tried again at the next flush
                    self.refused.append(f"{watts} W to {len(chunk)} meters: {exc}")
                    del self.refused[:-100]
                    log.warning("charging: pile limits not sent: %s", exc)
                    continue
                issued.append(command)
                self._sent.update(dict.fromkeys(chunk, (watts, command.id)))
        return issued

    def track(self) -> None:
        """Forget the limit of every meter whose command finished without its "ok", so the
        next flush sends it again."""
        for meter, (_, command_id) in list(self._sent.items()):
            command = self.command(command_id)
            if command.state in (CommandState.DONE, CommandState.FAILED):
                if dict(command.results).get(meter) != "ok":
                    del self._sent[meter]
            elif command.state == CommandState.REJECTED:
                del self._sent[meter]

    def status(self, meter: str) -> PileStatus | None:
        """Where ``meter``'s pile stands (None: nothing sent yet, or to be sent again)."""
        sent = self._sent.get(meter)
        if sent is None:
            return None
        command = self.command(sent[1])
        outcome = dict(command.results).get(meter, "")
        return PileStatus(sent[0], command.id, command.state.value, outcome)

    def view(self) -> dict[str, Any]:
        """Every pile's status, for the API."""
        out: dict[str, Any] = {}
        for meter in sorted(self._sent):
            status = self.status(meter)
            if status is not None:
                out[meter] = {"watts": status.watts, "command": status.command,
                              "state": status.state, "outcome": status.outcome}  # fmt: skip
        return out
