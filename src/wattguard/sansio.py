"""The one shape of every sans-IO core in wattguard.

Theory of operation. A core (a DL/T 698.45 connection, the WAN secure channel, a FEP session,
a collection terminal, a meter and each of its modules, the HPLC channel, the station's link
to a terminal) does no I/O and reads no clock. It is driven through five calls, as h11 and
aioquic drive theirs:

* ``receive_data(data, now)``: bytes from the peer, at ``now`` (seconds; each core documents
  which clock its ``now`` is). ``b""`` means the peer's stream ended.
* ``next_event()``: what those bytes (or a timer) meant, one event at a time, ``None`` when
  there is nothing more. The events of a core are one precise union of frozen dataclasses.
* ``data_to_send()``: the bytes the core wants written to the peer (empty when none).
* ``get_timer()``: when the core next needs to run without new bytes (``None``: never).
* ``handle_timer(now)``: run the core's timers that are due at ``now``.

A peer's violation of the protocol is an event, never an exception: a core facing an
untrusted peer reports and carries on (or closes, and says so in an event). Our own illegal
moves raise :class:`~wattguard.errors.LocalProtocolError`.

A core with more than one port (a meter has its power-line port and its Bluetooth port; a
terminal has the power line below and the station above) keeps this shape for its primary
port and names the others explicitly (``receive_hplc(address, data, now)`` and the like).

The same core then runs over TCP in one asyncio shell
(:class:`wattguard.runtime.shell.CoreShell`), or in a simulation on a virtual clock.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

__all__ = ["Core"]

EventT_co = TypeVar("EventT_co", covariant=True)


class Core(Protocol[EventT_co]):
    """A sans-IO core: bytes and time in, events and bytes out (see the module docstring)."""

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the peer at ``now``; ``b""`` when the peer's stream ended."""

    def next_event(self) -> EventT_co | None:
        """The next thing that happened, or None."""

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer (cleared once taken)."""

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next run, or None."""

    def handle_timer(self, now: float) -> None:
        """Run the timers due at ``now``."""
