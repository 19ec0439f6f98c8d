"""The charging pile's own energy, kept by the management module and read through DL/T 698.45.

Theory of operation. The pile hangs on the expansion module's user-device port, so only the
expansion module sees what it draws: with each report of the pile's power it sends the
management module a PILE_ENERGY message over the MAC'd UART, {energy drawn since its last
report (mWh), the pile's power now (W)} (``meter/expansion/module.py``). The management module
does not take that blindly: an increment above what a pile of :data:`MAX_PILE_W` could have
drawn since the last accepted one is refused and recorded as an UNAUTHORISED security event
(a compromised expansion module inflating the pile's account), and nothing is added.

What it accepts adds up in :class:`PileEnergy`, exposed as two vendor objects
(docs/protocol.md, "Charging-pile energy (FF13, FF14)"): FF13 attribute 2, the energy the
pile has drawn since the meter was made, double-long-unsigned Wh (scaler -3, kWh), and FF14
attribute 2, its power now, double-long 0.1 W. They read under the F101 policy like any
object, and FF13 is among the private readings (:data:`~wattguard.meter.management.policy.
PRIVATE_OBJECTS`): an EV's charging shows when a household is home. A meter with a pile
freezes FF13 in its 15-minute curve (5002) once :func:`fit_pile` added the column, so a
terminal collects it with the curve and the station has the pile's energy at each boundary.

The total survives a power loss as the energy registers do: it is written to the meter's
non-volatile store (key ``pile``) at most once a minute as it grows and at power fail, and
a module built on that store carries on from it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wattguard.meter.management.freeze import FreezeObject, Freezer
from wattguard.meter.management.freezestore import FreezeAssociation
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.storage import Store
from wattguard.protocol import OAD, Data, DataType

__all__ = ["MAX_PILE_W", "PILE_ENERGY", "PILE_POWER", "PileEnergy", "fit_pile"]

#: The vendor objects (docs/protocol.md): the pile's energy (Wh) and its power (0.1 W).
PILE_ENERGY = 0xFF13
PILE_POWER = 0xFF14
#: The most a pile on a meter's device port can draw (W): a 350 kW DC charger, with margin.
MAX_PILE_W = 400_000.0
#: How often (meter seconds) a growing total is written to the store.
SAVE_EVERY = 60.0
_KEY = "pile"
_SAVED = struct.Struct(">Q")
#: The 15-minute curve's column for the pile: period 15 min, a week deep (as the curve).
CURVE_ENTRY = FreezeAssociation(15, OAD(PILE_ENERGY, 2), 672)


@dataclass
class PileEnergy:
    """The pile's energy (mWh, since the meter was made) and its power now (W)."""

    store: Store
    energy_mwh: int = 0
    power_w: int = 0
    _last_at: float | None = None
    _saved_at: float = -SAVE_EVERY

    @classmethod
    def restore(cls, store: Store) -> PileEnergy:
        """The total saved in ``store`` (none saved, or unreadable: 0)."""
        saved = store.get(_KEY)
        total = _SAVED.unpack(saved)[0] if saved is not None and len(saved) == 8 else 0
        return cls(store, total)

    def power_up(self) -> None:
        """After a restart the expansion module meters afresh: its first report carries
        nothing, and starts the clock of the bound."""
        self._last_at = None

    def plausible(self, delta_mwh: int, now: float) -> bool:
        """Whether ``delta_mwh`` could have been drawn since the last accepted report (none
        since the power-up: one second's worth)."""
        elapsed = 0.0 if self._last_at is None else max(0.0, now - self._last_at)
        return 0 <= delta_mwh <= MAX_PILE_W * (elapsed + 1.0) / 3.6

    def add(self, delta_mwh: int, power_w: int, now: float) -> None:
        """Take one accepted report: the total grows, the power is the pile's now."""
        self.energy_mwh += delta_mwh
        self.power_w = power_w
        self._last_at = now
        if delta_mwh and now - self._saved_at >= SAVE_EVERY:
            self.save(now)

    def save(self, now: float | None = None) -> None:
        """Write the total to the store."""
        self.store.put(_KEY, _SAVED.pack(self.energy_mwh))
        if now is not None:
            self._saved_at = now

    def expose(self, model: ObjectModel) -> None:
        """FF13 and FF14 attribute 2 on ``model`` (read-only)."""
        model.add_attribute(
            PILE_ENERGY,
            2,
            lambda: Data(DataType.DOUBLE_LONG_UNSIGNED, (self.energy_mwh // 1000) & 0xFFFFFFFF),
        )
        model.add_attribute(PILE_POWER, 2, lambda: Data(DataType.DOUBLE_LONG, self.power_w * 10))


def fit_pile(freezer: Freezer) -> None:
    """A pile was fitted to the meter: its energy joins the 15-minute curve (5002), kept in
    the store with the freeze objects (idempotent)."""
    if all(entry.oad != CURVE_ENTRY.oad for entry in freezer.tables[FreezeObject.MINUTE].entries):
        freezer.add(FreezeObject.MINUTE, CURVE_ENTRY)
