"""What comes back from a meter outside collection: a command's outcome, an on-demand read's
decoded value, and the relay state the station last learnt of each meter.

An on-demand read (:class:`ReadBook`) is a GET sent now through the meter's terminal, not an
answer from the store: it is ``pending`` until the answer comes, then ``done`` with the value
decoded (numbers scaled by the catalogue's scaler, with the object's name and unit where the
catalogue knows them; a date-time as ISO 8601; an octet string as hex) or ``failed`` with why.
The book keeps the newest :data:`KEPT` reads in memory.

The relay state (:class:`RelayBook`) is what the station last learnt: a trip or close the meter
confirmed ("tripped", "close allowed"), a relay event the meter reported (301F, 3020: also a
trip at zero credit or the customer's button), or an on-demand read of 8000 attribute 2 (the
meter's own word: closed, trip pending, tripped, close allowed). It starts from the commands a
restarted station restored; "unknown" until anything is learnt.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from wattguard.errors import DecodeError, SecurityError
from wattguard.protocol import OAD, Data, DataType, decode_apdu, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionResponseNormal, ActionResponseNormalList
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetResponseNormal
from wattguard.protocol.apdu.proxy import ProxyTransCommandResponse
from wattguard.protocol.apdu.security import SecurityResponse
from wattguard.protocol.apdu.set import SetResponseNormal, SetResponseNormalList
from wattguard.protocol.objects import SYMBOLS, lookup
from wattguard.station.commands import Command, CommandKind, CommandState
from wattguard.station.ingest import Verifier

__all__ = [
    "KEPT",
    "RELAY_STATES",
    "OnDemandRead",
    "ReadBook",
    "RelayBook",
    "dar_name",
    "decoded",
    "outcome_of",
]

#: The on-demand reads kept in memory.
KEPT = 1000
#: 8000 attribute 2's enum, in order (docs/protocol.md, "Remote control").
RELAY_STATES = ("closed", "trip pending", "tripped", "close allowed")
_AFTER = {CommandKind.TRIP: "tripped", CommandKind.CLOSE: "close allowed"}


def dar_name(dar: int) -> str:
    """A DAR code in words ("security mismatch"), or its number if it names none."""
    try:
        return DAR(dar).name.lower().replace("_", " ")
    except ValueError:
        return str(dar)


def opened(
    hsm: Verifier | None, meter: bytes, request: Structure, answer: Structure | None
) -> Structure | str:
    """The meter's answer APDU out of the terminal's PROXY answer to ``request``, opened by
    the cryptographic device ``hsm``; or why there is none (in words)."""
    if not isinstance(answer, ProxyTransCommandResponse):
        return "no answer from the terminal"
    if not isinstance(answer.answer, bytes):
        return f"terminal: DAR {dar_name(answer.answer)}"
    try:
        reply = decode_apdu(decode_frame(answer.answer).apdu)
        if isinstance(reply, SecurityResponse):
            if reply.payload.dar is not None:
                return f"meter refused: DAR {reply.payload.dar}"
            if hsm is None:
                return "a protected answer and no cryptographic device"
            reply = decode_apdu(hsm.open_response(meter, request, reply))  # type: ignore[arg-type]
        return reply
    except DecodeError as exc:
        return f"undecodable answer: {exc.reason}"
    except SecurityError:
        return "the answer failed verification"


def outcome_of(answer: Structure | str) -> str:
    """A command's outcome at one meter: "ok", or why not (a DAR by name, or what went wrong)."""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, ActionResponseNormal):
        dars = [int(answer.result.dar)]
    elif isinstance(answer, ActionResponseNormalList):
        dars = [int(r.dar) for r in answer.results]
    elif isinstance(answer, SetResponseNormal):
        dars = [int(answer.dar)]
    elif isinstance(answer, SetResponseNormalList):
        dars = [int(r.dar) for r in answer.results]
    else:
        return f"unexpected answer {type(answer).__name__}"
    failed = [dar for dar in dars if dar != 0]
    return "ok" if not failed else f"meter: DAR {dar_name(failed[0])}"


def decoded(oad: OAD, value: Data) -> Any:
    """``value`` as JSON: numbers scaled by the catalogue's scaler for ``oad`` (attributes 2
    and 4, where it gives one), date-times ISO 8601, octet strings hex, arrays and structures
    lists."""
    info = lookup(oad.oi)
    scaler = None if info is None or oad.attribute not in (2, 4) else info.scaler
    if scaler is not None and oad.attribute == 4 and info is not None and info.high_precision:
        scaler -= 2
    return _json(value, scaler)


def _json(value: Data, scaler: int | None) -> Any:
    kind, raw = value.type, value.value
    if kind in (DataType.ARRAY, DataType.STRUCTURE):
        return [_json(item, scaler) for item in raw]
    if kind == DataType.NULL:
        return None
    if isinstance(raw, bool) or kind in (DataType.ENUM, DataType.OI):
        return raw
    if isinstance(raw, int):
        return raw if not scaler else round(raw * 10.0**scaler, max(0, -scaler))
    if isinstance(raw, bytes):
        return raw.hex()
    if hasattr(raw, "to_posix"):
        try:
            return dt.datetime.fromtimestamp(raw.to_posix(), dt.UTC).isoformat()
        except ValueError:
            return str(raw)
    if isinstance(raw, OAD):
        return raw.to_bytes().hex()
    return raw if isinstance(raw, str | float) else str(raw)


@dataclass(frozen=True, slots=True)
class OnDemandRead:
    """One on-demand read: which object of which meter, who asked, and what came back."""

    id: int
    meter: str
    object: str  # the OAD, 8 hex digits
    requested_by: str
    at: float
    state: str = "pending"  # pending, done, failed
    name: str | None = None
    unit: str | None = None
    value: Any = None
    error: str | None = None
    answered_at: float | None = None


@dataclass
class ReadBook:
    """The station's on-demand reads, newest :data:`KEPT` of them."""

    reads: dict[int, OnDemandRead] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def start(self, meter: str, oad: OAD, user: str, now: float) -> OnDemandRead:
        """A new pending read."""
        info = lookup(oad.oi)
        unit = None
        if info is not None and info.unit is not None and oad.attribute in (2, 4):
            unit = SYMBOLS.get(info.unit) or None
        read = OnDemandRead(
            next(self._ids), meter, str(oad), user, now,
            name=None if info is None else info.name, unit=unit,
        )  # fmt: skip
        self.reads[read.id] = read
        while len(self.reads) > KEPT:
            del self.reads[next(iter(self.reads))]
        return read

    def finish(self, read_id: int, answer: Structure | str, now: float) -> OnDemandRead:
        """Record what came back for read ``read_id``."""
        read = self.reads[read_id]
        oad = OAD.parse(read.object)
        error = None
        if isinstance(answer, str):
            error = answer
        elif not isinstance(answer, GetResponseNormal):
            error = f"unexpected answer {type(answer).__name__}"
        elif not isinstance(answer.result.result, Data):
            error = f"meter: DAR {dar_name(int(answer.result.result))}"
        if error is not None:
            done = replace(read, state="failed", error=error, answered_at=now)
        else:
            value = decoded(oad, answer.result.result)  # type: ignore[union-attr]
            done = replace(read, state="done", value=value, answered_at=now)
        self.reads[read_id] = done
        return done

    def get(self, read_id: int) -> OnDemandRead | None:
        return self.reads.get(read_id)


@dataclass
class RelayBook:
    """What the station last learnt of each meter outside collection: its relay state (and
    how: a command or a read) and its clock's drift from the station's clock."""

    states: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: meter -> (drift s, meter's time ISO 8601, station time of the reading, uncertainty s:
    #: half the round trip)
    drift: dict[str, tuple[float, str, float, float]] = field(default_factory=dict)

    def learn(self, read: OnDemandRead) -> None:
        """What an on-demand read says: the relay state (8000-02) or the clock (4000-02, its
        drift against the station's clock midway between request and answer)."""
        if read.state != "done":
            return
        if read.object == "80000200":
            self.seen(read.meter, read.value)
        elif read.object == "40000200" and isinstance(read.value, str):
            answered = read.answered_at or read.at
            station = (read.at + answered) / 2
            meter = dt.datetime.fromisoformat(read.value).timestamp()
            spread = round((answered - read.at) / 2, 1)
            self.drift[read.meter] = (round(meter - station, 1), read.value, station, spread)

    def restore(self, commands: Iterable[Command]) -> None:
        """Learn from the trips and closes a restarted station had stored (oldest first)."""
        for command in sorted(commands, key=lambda c: c.id):
            if command.kind in _AFTER and command.state in (CommandState.DONE, CommandState.FAILED):
                for meter, outcome in command.results:
                    if outcome == "ok":
                        self.command_done(command.kind, meter, command.id)

    def command_done(self, kind: CommandKind, meter: str, command_id: int = 0) -> None:
        """A trip or close the meter confirmed (other kinds change nothing)."""
        state = _AFTER.get(kind)
        if state is not None:
            self.states[meter] = (state, f"command #{command_id}" if command_id else "command")

    def reported(self, meter: str, detail: str) -> None:
        """A relay event the meter reported itself (301F trip, 3020 close, detail
        ``"<before> -> <after>[ <reason>]"``): a local trip at zero credit, the customer's
        button, as well as the station's commands."""
        after = detail.partition(" -> ")[2]
        for state in sorted(RELAY_STATES, key=len, reverse=True):
            if after == state or after.startswith(state + " "):
                self.states[meter] = (state, "report")
                return

    def seen(self, meter: str, value: Any) -> None:
        """The meter's own word (8000 attribute 2, read now)."""
        if isinstance(value, int) and 0 <= value < len(RELAY_STATES):
            self.states[meter] = (RELAY_STATES[value], "read")

    def state(self, meter: str) -> str:
        return self.states.get(meter, ("unknown", ""))[0]
