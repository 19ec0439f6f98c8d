"""Energy and demand registers of the metering chip.

Theory of operation. Every metrology window hands its active and reactive power and the time
it covered to :meth:`EnergyRegisters.accumulate`, with the tariff period in force. Energy is
kept in watt-seconds (float64: a 60 A, 400 V three-phase meter would need 10^9 years to lose
a watt-second to rounding) in four-quadrant form: active forward (P >= 0) and reverse, and
reactive per quadrant (I: P >= 0, Q >= 0; II: P < 0, Q >= 0; III: P < 0, Q < 0;
IV: P >= 0, Q < 0), each as a total and per tariff. The combined registers follow the default
combination words of DL/T 698.45: combined active = forward + reverse, combined reactive 1 =
I + II, combined reactive 2 = III + IV.

Maximum demand uses a sliding window (objects 4100 and 4101): the average active power over
the last ``period`` seconds, recomputed every ``slide`` seconds; the largest value and when it
occurred are kept per direction and tariff.

Register values read out as the protocol's arrays: attribute 2 in 0.01 kWh
(double-long-unsigned), attribute 4 in 0.0001 kWh (long64-unsigned), [total, tariff 1..n].
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.errors import ConfigError
from wattguard.protocol import Data, DataType

__all__ = ["DemandMeter", "EnergyRegisters", "Quadrant"]

_WS_PER_CENTI_KWH = 36_000.0  # 0.01 kWh
_WS_PER_DECI_MILLI_KWH = 360.0  # 0.0001 kWh


class Quadrant(enum.IntEnum):
    """The quadrant of the P-Q plane a metrology window falls in; it picks the reactive energy
    register the window adds to (objects 0050 to 0080 for I to IV)."""

    Q1 = 1  # P >= 0, Q >= 0: importing, inductive
    Q2 = 2  # P < 0, Q >= 0
    Q3 = 3  # P < 0, Q < 0
    Q4 = 4  # P >= 0, Q < 0: importing, capacitive

    @classmethod
    def of(cls, p: float, q: float) -> Quadrant:
        if p >= 0:
            return cls.Q1 if q >= 0 else cls.Q4
        return cls.Q2 if q >= 0 else cls.Q3


def _zeros(tariffs: int) -> list[float]:
    return [0.0] * (tariffs + 1)


@dataclass
class EnergyRegisters:
    """Accumulated energies, total (index 0) and per tariff (1..tariffs), in watt-seconds."""

    tariffs: int = 4
    forward_active: list[float] = field(default_factory=list)
    reverse_active: list[float] = field(default_factory=list)
    reactive: dict[int, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.tariffs <= 63:
            raise ConfigError("a meter has 1 to 63 tariff periods")
        self.forward_active = self.forward_active or _zeros(self.tariffs)
        self.reverse_active = self.reverse_active or _zeros(self.tariffs)
        self.reactive = self.reactive or {q: _zeros(self.tariffs) for q in (1, 2, 3, 4)}

    def accumulate(self, active_w: float, reactive_var: float, seconds: float, tariff: int) -> None:
        """Add ``seconds`` at the given powers to the registers of ``tariff`` (1-based)."""
        if not 1 <= tariff <= self.tariffs:
            raise ConfigError(f"tariff {tariff} is not 1..{self.tariffs}")
        if seconds < 0:
            raise ConfigError("time does not run backwards in a metering window")
        active = self.forward_active if active_w >= 0 else self.reverse_active
        energy = abs(active_w) * seconds
        active[0] += energy
        active[tariff] += energy
        quadrant = self.reactive[Quadrant.of(active_w, reactive_var)]
        energy = abs(reactive_var) * seconds
        quadrant[0] += energy
        quadrant[tariff] += energy

    def combined_active(self) -> list[float]:
        return [f + r for f, r in zip(self.forward_active, self.reverse_active, strict=True)]

    def combined_reactive(self, which: int) -> list[float]:
        a, b = (
            (self.reactive[1], self.reactive[2])
            if which == 1
            else (self.reactive[3], self.reactive[4])
        )
        return [x + y for x, y in zip(a, b, strict=True)]

    def register(self, oi: int) -> list[float]:
        """The watt-seconds behind energy object ``oi`` (0000-0080)."""
        table: dict[int, Callable[[], list[float]]] = {
            0x0000: self.combined_active,
            0x0010: lambda: self.forward_active,
            0x0020: lambda: self.reverse_active,
            0x0030: lambda: self.combined_reactive(1),
            0x0040: lambda: self.combined_reactive(2),
            0x0050: lambda: self.reactive[1],
            0x0060: lambda: self.reactive[2],
            0x0070: lambda: self.reactive[3],
            0x0080: lambda: self.reactive[4],
        }
        if oi not in table:
            raise ConfigError(f"object {oi:04X} is not an energy register of this meter")
        return list(table[oi]())

    def to_data(self, oi: int, attribute: int = 2) -> Data:
        """The register as the protocol carries it: attribute 2 in 0.01 kWh, attribute 4 in
        0.0001 kWh; energy is truncated, never rounded up, as meters do."""
        if attribute == 2:
            kind, unit = DataType.DOUBLE_LONG_UNSIGNED, _WS_PER_CENTI_KWH
        elif attribute == 4:
            kind, unit = DataType.LONG64_UNSIGNED, _WS_PER_DECI_MILLI_KWH
        else:
            raise ConfigError("energy registers are attributes 2 and 4")
        limit = 2**32 if kind == DataType.DOUBLE_LONG_UNSIGNED else 2**64
        return Data.array(*[Data(kind, int(ws // unit) % limit) for ws in self.register(oi)])


@dataclass
class DemandMeter:
    """Sliding-window maximum demand of active power (objects 4100/4101, 1010/1020)."""

    period: float = 900.0
    slide: float = 60.0
    tariffs: int = 4
    _energy: deque[tuple[float, float]] = field(default_factory=deque)  # (seconds, Ws)
    _elapsed: float = 0.0
    _since_slide: float = 0.0
    current: float = 0.0
    maximum: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.slide <= 0 or self.period < self.slide or self.period % self.slide:
            raise ConfigError("the demand period must be a whole number of slide intervals")

    def reconfigure(self, period: float, slide: float) -> None:
        """A new period and slide (4100/4101): the window starts afresh, the maxima stay
        (they belong to the billing period, cleared only by a demand reset)."""
        if slide <= 0 or period < slide or period % slide:
            raise ConfigError("the demand period must be a whole number of slide intervals")
        self.period, self.slide = period, slide
        self._energy.clear()
        self._elapsed = self._since_slide = 0.0

    def accumulate(self, active_w: float, seconds: float, tariff: int, now: float) -> bool:
        """Add one metering window; every ``slide`` seconds the demand is recomputed and the
        maxima (by direction and tariff, and overall as tariff 0) updated at ``now``. True
        when it was recomputed."""
        self._energy.append((seconds, active_w * seconds))
        self._elapsed += seconds
        while self._elapsed - self._energy[0][0] >= self.period:
            gone, _ = self._energy.popleft()
            self._elapsed -= gone
        self._since_slide += seconds
        if self._since_slide + 1e-9 < self.slide or self._elapsed + 1e-9 < self.period:
            return False
        self._since_slide = 0.0
        self.current = sum(ws for _, ws in self._energy) / self._elapsed
        direction = "forward" if self.current >= 0 else "reverse"
        for key in ((direction, 0), (direction, tariff)):
            best = self.maximum.get(key)
            if best is None or abs(self.current) > abs(best[0]):
                self.maximum[key] = (self.current, now)
        return True
