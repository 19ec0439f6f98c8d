"""A lazy fleet: many meters' state as a few numpy columns, advanced only when it is read.

Theory of operation. A :class:`LazyFleet` keeps, per meter, only what a terminal can read from a
meter in profile mode:

* ``energy`` (2, tariffs + 1, n) float64 watt-seconds: forward and reverse active energy, total
  (column 0) and per tariff, charged as the assembled meter charges them (``|P| x 60`` each
  minute, to forward or reverse by the sign of P, at the tariff the
  :class:`~wattguard.meter.expansion.TariffSchedule` puts in force at the minute's start, or
  all at tariff 1 without a schedule, as a meter without cost control does);
* a ring of ``depth`` 15-minute slots (float32 Ws) of what each slot added, forward for every
  meter and reverse only for the meters that ever exported (most never do: a reverse column
  is made for a meter the first time a slot of its has reverse energy, zero before):
  the 15-minute curve (5002) and the daily freeze (5004) at any boundary still in the ring are
  the registers now minus what the later slots added (tariff by tariff: the schedule changes
  on whole hours, so a slot has one tariff, kept once for the whole fleet);
* the last minute's active and reactive power (float32), for the instantaneous values.

Nothing is stepped while nobody looks. :meth:`LazyFleet.advance_to` meters every minute up to a
time in one vectorised pass per 15-minute slot (the load model's block for every meter at
once); the fleet's server calls it when a read arrives, so a quiet fleet costs nothing and a
busy one pays once per slot, not once per meter. Memory is about 600 B per meter, 400 B more
for each meter that exports (see :meth:`LazyFleet.nbytes`, and ``bench/scale.py`` for the
tracemalloc figure).

Precision (docs/protocol.md, "The lazy fleet"): the ring holds float32 slot energies, so a
frozen register rebuilt from it may differ from the assembled meter's by one unit of its last
digit (0.01 kWh) when the exact value lies within a few watt-seconds of a unit boundary;
the registers read now are float64 and equal the assembled meter's arithmetic.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import ConfigError
from wattguard.meter.expansion import TariffSchedule
from wattguard.simulation.profile_fleet import BlockLoad

__all__ = ["SLOT", "LazyFleet"]

F64 = NDArray[np.float64]

#: The curve's slot: 15 minutes (the 5002 freeze period every terminal task reads).
SLOT = 900.0
_MINUTE = 60.0
_FORWARD, _REVERSE = 0, 1


class LazyFleet:
    """``model.n`` meters at ``addresses`` (6 bytes each, in the model's order), metered
    lazily from ``start`` (a slot boundary); ``mac_keys`` (n, 16) are their ESAMs' MAC keys,
    as provisioning diversified them (``lazy_server.diversified_mac_keys``)."""

    def __init__(
        self,
        model: BlockLoad,
        addresses: Sequence[bytes],
        mac_keys: NDArray[np.uint8],
        start: float,
        *,
        tariffs: int = 4,
        schedule: TariffSchedule | None = None,
        depth: int = 100,
        rated_voltage: float = 220.0,
    ) -> None:
        n = model.n
        if len(addresses) != n or mac_keys.shape != (n, 16):
            raise ConfigError(f"a lazy fleet of {n} meters needs {n} addresses and MAC keys")
        if start % SLOT:
            raise ConfigError("a lazy fleet starts on a 15-minute boundary")
        self.schedule = schedule
        highest = 1 if schedule is None else max(schedule.periods)
        if not 1 <= tariffs <= 63 or highest > tariffs or depth < 2:
            raise ConfigError("the schedule's tariffs must fit 1..63 registers; depth >= 2")
        self.model = model
        self.n = n
        self.tariffs = tariffs
        self.start = float(start)
        self.now = float(start)
        self.rated_voltage = rated_voltage
        self.mac_keys = np.ascontiguousarray(mac_keys, dtype=np.uint8)
        numbers = np.array([int.from_bytes(a, "big") for a in addresses], dtype=np.uint64)
        if any(len(a) != 6 for a in addresses) or len(np.unique(numbers)) != n:
            raise ConfigError("meter addresses are 6 bytes each, all different")
        order = np.argsort(numbers)
        # plain arrays: a frame's address is looked up by bisection without numpy's per-call
        # overhead (a lookup per request)
        self._order: array[int] = array("q", order.tolist())
        self._sorted: array[int] = array("Q", numbers[order].tolist())
        self.energy = np.zeros((2, tariffs + 1, n))
        self._partial = np.zeros((2, n))  # what the slot in progress added so far
        self._ring = np.zeros((depth, n), dtype=np.float32)  # forward
        self._exporters = np.zeros(0, dtype=np.int64)  # the meters with a reverse column
        self._reverse_column = np.full(n, -1, dtype=np.int32)  # each meter's, or -1
        self._ring_reverse = np.zeros((depth, 0), dtype=np.float32)
        self._ring_tariff = np.zeros(depth, dtype=np.int8)
        self._slots = 0  # slots closed since start
        self._last_p = np.zeros(n, dtype=np.float32)
        self._last_q = np.zeros(n, dtype=np.float32)
        self.minutes_metered = 0

    # -- addresses ---------------------------------------------------------------------------

    def index(self, address: bytes) -> int | None:
        """The meter at ``address`` (its column), or None when the fleet has no such meter."""
        if len(address) != 6:
            return None
        number = int.from_bytes(address, "big")
        at = bisect_left(self._sorted, number)
        if at < self.n and self._sorted[at] == number:
            return self._order[at]
        return None

    def address(self, meter: int) -> bytes:
        """The address of meter ``meter``."""
        number = self._sorted[self._order.index(meter)]
        return number.to_bytes(6, "big")

    # -- advancing ---------------------------------------------------------------------------

    def advance_to(self, t: float) -> None:
        """Meter every whole minute up to ``t`` (all meters at once, a slot at a time)."""
        target = float(int(t // _MINUTE) * _MINUTE)
        while self.now < target:
            slot_end = (int(self.now // SLOT) + 1) * SLOT
            end = min(slot_end, target)
            minutes = round((end - self.now) / _MINUTE)
            p, q = self.model.power(self.now, minutes)
            self._charge(p, self._tariff(self.now))
            self._last_p[:] = p[-1]
            self._last_q[:] = q[-1]
            self.minutes_metered += minutes
            self.now = end
            if end == slot_end:
                self._close_slot()
                release = getattr(self.model, "release", None)
                if release is not None:
                    release()  # the block is done with: its 240 B a meter need not wait

    def _charge(self, p: F64, tariff: int) -> None:
        e = np.abs(p) * _MINUTE
        forward = np.where(p >= 0.0, e, 0.0)
        added = np.empty((2, self.n))
        np.sum(forward, axis=0, out=added[_FORWARD])
        np.sum(e - forward, axis=0, out=added[_REVERSE])
        self.energy[:, 0] += added
        self.energy[:, tariff] += added
        self._partial += added

    def _close_slot(self) -> None:
        row = self._slots % self._ring.shape[0]
        self._ring[row] = self._partial[_FORWARD]
        reverse = self._partial[_REVERSE]
        new = np.flatnonzero((reverse > 0.0) & (self._reverse_column < 0))
        if new.size:
            self._reverse_column[new] = np.arange(new.size) + self._exporters.size
            self._exporters = np.concatenate([self._exporters, new])
            more = np.zeros((self._ring.shape[0], new.size), dtype=np.float32)
            self._ring_reverse = np.concatenate([self._ring_reverse, more], axis=1)
        self._ring_reverse[row] = reverse[self._exporters]
        self._ring_tariff[row] = self._tariff(self.now - SLOT)
        self._partial[:] = 0.0
        self._slots += 1

    def _tariff(self, t: float) -> int:
        return 1 if self.schedule is None else self.schedule.tariff(t)

    # -- reading -----------------------------------------------------------------------------

    def registers(self, meter: int) -> F64:
        """Meter ``meter``'s registers now, (2, tariffs + 1) Ws: forward, reverse."""
        values: F64 = self.energy[:, :, meter]
        return values

    def frozen(self, meter: int, boundary: float) -> F64 | None:
        """Meter ``meter``'s registers at slot boundary ``boundary`` (2, tariffs + 1) Ws, or
        None when that boundary is not held (not frozen yet, before the start, or older than
        the ring)."""
        if boundary % SLOT or boundary <= self.start:
            return None
        closed_until = self.start + self._slots * SLOT
        later = round((closed_until - boundary) / SLOT)  # slots closed after it
        if boundary > closed_until or later >= self._ring.shape[0]:
            return None
        values = self.energy[:, :, meter].copy()
        tariff_now = self._tariff(closed_until)
        values[:, 0] -= self._partial[:, meter]
        values[:, tariff_now] -= self._partial[:, meter]
        column = int(self._reverse_column[meter])
        for k in range(later):
            row = (self._slots - 1 - k) % self._ring.shape[0]
            reverse = 0.0 if column < 0 else float(self._ring_reverse[row, column])
            added = np.array([float(self._ring[row, meter]), reverse])
            values[:, 0] -= added
            values[:, int(self._ring_tariff[row])] -= added
        np.maximum(values, 0.0, out=values)
        return values

    def instantaneous(self, meter: int) -> tuple[float, float, float, float]:
        """(voltage V, current A, active W, reactive var) of meter ``meter`` over the last
        metered minute; the voltage spreads around 104 % of the rated one (as the assembled
        fleet's does), drawn from the meter and the minute, so a re-read gives the same."""
        minute = int(self.now // _MINUTE)
        z = _normal(meter, minute)
        voltage = self.rated_voltage * (1.04 + 0.01 * z)
        p, q = float(self._last_p[meter]), float(self._last_q[meter])
        return voltage, float(np.hypot(p, q)) / voltage, p, q

    def nbytes(self) -> int:
        """Bytes held in the fleet's per-meter arrays (the load model's parameters excluded)."""
        arrays = (self.energy, self._partial, self._ring, self._last_p, self._last_q, self.mac_keys,
                  self._exporters, self._reverse_column, self._ring_reverse)  # fmt: skip
        lookup = (self._order, self._sorted)
        return sum(a.nbytes for a in arrays) + sum(len(a) * a.itemsize for a in lookup)


def _normal(meter: int, minute: int) -> float:
    """A standard normal number drawn from (meter, minute): a splitmix64 hash of both, two
    uniforms, Box-Muller. Deterministic, and cheap enough for one read."""
    mask = (1 << 64) - 1
    x = (meter * 0x9E3779B97F4A7C15 + minute * 0xBF58476D1CE4E5B9) & mask
    uniforms = []
    for _ in range(2):
        x = (x + 0x9E3779B97F4A7C15) & mask
        z = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        uniforms.append(((z ^ (z >> 31)) >> 11) / float(1 << 53))
    u1 = max(uniforms[0], 1e-300)
    return float(np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * uniforms[1]))
