"""The load switch (relay) and its remote control, objects 8000 (remote control) and 8001
(power keeping, "protect").

Theory of operation. The relay is a table-driven state machine::

    CLOSED --trip--> TRIP_PENDING --(alarm delay over)--> TRIPPED
    CLOSED --trip with no delay--> TRIPPED
    TRIPPED --close allowed--> CLOSE_ALLOWED --(customer presses the button)--> CLOSED
    TRIPPED or CLOSE_ALLOWED --direct close--> CLOSED
    TRIP_PENDING --close (either kind)--> CLOSED       (a trip cancelled before it happened)

Alarm (a warning light and buzzer without switching) is a flag beside the state. While the
meter is *protected* (8001, power keeping: e.g. a hospital, or a holiday when cutting supply is
not allowed) every trip is refused with DAR 2 (temporary failure); a protect can only be set
and released by the station. Every operation returns an event for the meter's log.
A trip with a duration closes by itself (into CLOSE_ALLOWED) when the duration is over.
Sans-IO: every operation takes ``now``; :meth:`Relay.get_timer` says when the next delayed
operation falls due and :meth:`Relay.handle_timer` carries out what is due.

The relay's state outlives a power loss: a latching relay stays where it was, and the meter
keeps in its non-volatile store the state, the alarm, the protect, the pending trip and re-close
times and whether the credit tripped it (:meth:`Relay.to_bytes`, written at each change
through ``persist``). Without that, pulling the customer's main breaker would undo a remote
trip when the power came back (attack scenario ``power-cycle-after-trip``).

Which commands may reach the relay is not decided here: the management module passes only
station commands the ESAM verified (and its own cost-control guard); see ``management.py``.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.errors import DecodeError, LocalProtocolError

__all__ = ["Relay", "RelayCommand", "RelayState"]


class RelayState(enum.Enum):
    """Where the load switch stands (the states in the module docstring); the meter reports it by
    position, 0 closed to 3 close allowed (UART RELAY_STATE, object 8000)."""

    CLOSED = "closed"
    TRIP_PENDING = "trip pending"
    TRIPPED = "tripped"
    CLOSE_ALLOWED = "close allowed"

    @property
    def supplying(self) -> bool:
        """Whether the load has power in this state (a pending trip still supplies it)."""
        return self in (RelayState.CLOSED, RelayState.TRIP_PENDING)


class RelayCommand(enum.Enum):
    """The inputs of the relay's state machine: trip and close commands, the end of an alarm delay,
    and the customer's button."""

    TRIP = "trip"  #: a trip after an alarm delay: TRIP_PENDING until the delay is over
    TRIP_NOW = "trip now"  # the alarm delay is over (or there was none)
    CLOSE_ALLOWED = "close allowed"  #: the customer may close the relay with the button
    DIRECT_CLOSE = "direct close"  #: close at once, without the customer
    BUTTON = "button pressed"


_S, _C = RelayState, RelayCommand
TRANSITIONS: dict[RelayState, dict[RelayCommand, RelayState]] = {
    _S.CLOSED: {_C.TRIP: _S.TRIP_PENDING, _C.TRIP_NOW: _S.TRIPPED, _C.DIRECT_CLOSE: _S.CLOSED,
                _C.CLOSE_ALLOWED: _S.CLOSED, _C.BUTTON: _S.CLOSED},
    _S.TRIP_PENDING: {_C.TRIP: _S.TRIP_PENDING, _C.TRIP_NOW: _S.TRIPPED,
                      _C.CLOSE_ALLOWED: _S.CLOSED, _C.DIRECT_CLOSE: _S.CLOSED,
                      _C.BUTTON: _S.TRIP_PENDING},
    _S.TRIPPED: {_C.TRIP: _S.TRIPPED, _C.TRIP_NOW: _S.TRIPPED,
                 _C.CLOSE_ALLOWED: _S.CLOSE_ALLOWED, _C.DIRECT_CLOSE: _S.CLOSED,
                 _C.BUTTON: _S.TRIPPED},
    _S.CLOSE_ALLOWED: {_C.TRIP: _S.TRIP_PENDING, _C.TRIP_NOW: _S.TRIPPED,
                       _C.CLOSE_ALLOWED: _S.CLOSE_ALLOWED, _C.DIRECT_CLOSE: _S.CLOSED,
                       _C.BUTTON: _S.CLOSED},
}  # fmt: skip


class ProtectedError(LocalProtocolError):
    """A trip while the meter is protected (power keeping)."""


@dataclass
class Relay:
    """The load switch's state machine (see the module docstring), with its alarm flag, the
    power-keeping protect, and the times of a pending delayed trip and timed re-close."""

    state: RelayState = RelayState.CLOSED
    alarm: bool = False
    #: What the display shows with a remote alarm (8000 method 127's message; "" none).
    alarm_message: str = ""
    protected: bool = False
    operations: int = 0
    #: The relay is open because the credit ran out (a top-up then allows it to close).
    credit_trip: bool = False
    _trip_at: float | None = None
    _close_at: float | None = None
    log: list[tuple[float, str]] = field(default_factory=list)
    #: Called with :meth:`to_bytes` after every change (the module's non-volatile store).
    persist: Callable[[bytes], None] | None = field(default=None, repr=False, compare=False)

    def to_bytes(self) -> bytes:
        """The state that survives a power loss (the log does not: the meter's event log
        keeps the operations)."""
        flags = self.alarm | self.protected << 1 | self.credit_trip << 2
        times = [math.nan if t is None else t for t in (self._trip_at, self._close_at)]
        message = self.alarm_message.encode()[:255]
        state = _STATES.index(self.state)
        head = _SAVED.pack(state, flags, self.operations, *times, len(message))
        return head + message

    @classmethod
    def from_bytes(cls, blob: bytes) -> Relay:
        """The relay :meth:`to_bytes` saved; :class:`~wattguard.errors.DecodeError` if the
        bytes are not one."""
        if len(blob) < _SAVED.size:
            raise DecodeError(f"a saved relay is {_SAVED.size}+ bytes, not {len(blob)}")
        state, flags, operations, trip_at, close_at, size = _SAVED.unpack_from(blob)
        message = blob[_SAVED.size :]
        if state >= len(_STATES) or flags > 7 or len(message) != size:
            raise DecodeError("the saved relay state is not one this meter wrote")
        try:
            text = message.decode()
        except UnicodeDecodeError:
            raise DecodeError("the saved alarm message is not UTF-8") from None
        return cls(
            _STATES[state], bool(flags & 1), text, bool(flags & 2), operations, bool(flags & 4),
            None if math.isnan(trip_at) else trip_at, None if math.isnan(close_at) else close_at,
        )  # fmt: skip

    def set_credit_trip(self, on: bool) -> None:
        """Mark (or clear) that the credit, not the station, tripped the relay."""
        if on != self.credit_trip:
            self.credit_trip = on
            self._saved()

    def _saved(self) -> None:
        if self.persist is not None:
            self.persist(self.to_bytes())

    @property
    def supplying(self) -> bool:
        """Whether the load has power."""
        return self.state.supplying

    def trip(self, now: float, delay: float = 0.0, duration: float = 0.0) -> None:
        """Trip after ``delay`` seconds (the alarm sounds meanwhile); with a ``duration`` the
        supply comes back (close allowed) after it."""
        if self.protected:
            raise ProtectedError("the meter is protected (power keeping): no trip", dar=2)
        if delay > 0:
            self._apply(RelayCommand.TRIP, now, f"trip in {delay:g} s")
            self.alarm = True
            self._trip_at = now + delay
        else:
            self._apply(RelayCommand.TRIP_NOW, now, "trip")
        self._close_at = (now + delay + duration) if duration > 0 else None
        self._saved()

    def close(self, now: float, direct: bool = False) -> None:
        command = RelayCommand.DIRECT_CLOSE if direct else RelayCommand.CLOSE_ALLOWED
        self._apply(command, now, command.value)
        self._trip_at = self._close_at = None
        self.alarm = False
        self.alarm_message = ""
        self._saved()

    def press_button(self, now: float) -> None:
        self._apply(RelayCommand.BUTTON, now, "button pressed")
        self._saved()

    def set_alarm(self, on: bool, now: float, message: str = "") -> None:
        """Sound (or release) the remote alarm; ``message`` is what the display shows with
        it (a release clears it)."""
        self.alarm = on
        self.alarm_message = message if on else ""
        shown = f": {message}" if on and message else ""
        self.log.append((now, ("alarm on" if on else "alarm off") + shown))
        self._saved()

    def set_protected(self, on: bool, now: float) -> None:
        self.protected = on
        self.log.append((now, "protect on" if on else "protect off"))
        self._saved()

    def get_timer(self) -> float | None:
        """When a delayed trip or a timed re-close falls due (None: nothing pending)."""
        pending = [t for t in (self._trip_at, self._close_at) if t is not None]
        return min(pending, default=None)

    def handle_timer(self, now: float) -> None:
        """Carry out a delayed trip or a timed re-close when it falls due."""
        if self._trip_at is not None and now >= self._trip_at:
            self._trip_at = None
            self.alarm = False
            self._apply(RelayCommand.TRIP_NOW, now, "delayed trip")
            self._saved()
        if self._close_at is not None and now >= self._close_at:
            self._close_at = None
            self._apply(RelayCommand.CLOSE_ALLOWED, now, "trip duration over")
            self._saved()

    def _apply(self, command: RelayCommand, now: float, what: str) -> None:
        before = self.state
        self.state = TRANSITIONS[before][command]
        if self.state != before:
            self.operations += 1
        self.log.append((now, f"{what}: {before.value} -> {self.state.value}"))


_STATES = list(RelayState)
#: state index, flags (alarm, protected, credit trip), operations, trip at, close at (NaN: none),
#: the alarm message's length (its UTF-8 bytes follow)
_SAVED = struct.Struct(">BBIddB")
