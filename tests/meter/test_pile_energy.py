"""The charging pile's own energy is a meter object (FF13, FF14): metered on the expansion
module's port, kept by the management module, frozen in the 15-minute curve once a pile is
fitted, bounded against an inflating expansion module, and kept across a power loss."""

from __future__ import annotations

import itertools

from wattguard.events import EventKind
from wattguard.meter.device import MeterConfig
from wattguard.meter.links.uart import UartMessage
from wattguard.meter.management.freezestore import FreezeObject
from wattguard.meter.management.pile_energy import PILE_ENERGY, PILE_POWER, fit_pile
from wattguard.meter.management.policy import PRIVATE_OBJECTS
from wattguard.meter.management.storage import MemoryStore
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.get import GetRecord, GetRequestRecord
from wattguard.protocol.data import CSD, RCSD, RSD, encode_data
from wattguard.protocol.objects import lookup
from wattguard.protocol.values import TI, DateTimeS
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter

QUARTER = 900.0


def _start(store: MemoryStore | None = None, *, protected: bool = False):  # type: ignore[no-untyped-def]
    meter = new_meter(config=MeterConfig(protected=protected), store=store or MemoryStore())
    meter.power_up(T0)
    return meter


def _charge(meter, watts: float, start: float, seconds: float, tick: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    """The pile draws ``watts`` for ``seconds`` from ``start`` (reports every ``tick``)."""
    now = start
    while now < start + seconds:
        now += tick
        meter.pile_drawn(watts, now)
    return now


def test_the_pile_energy_is_read_as_ff13_and_its_power_as_ff14() -> None:
    meter = _start()
    meter.pile_drawn(0.0, T0)
    end = _charge(meter, 7000.0, T0, 3600.0)
    line = Line(meter)
    energy = line.get(OAD(PILE_ENERGY, 2), end)
    assert energy.type == DataType.DOUBLE_LONG_UNSIGNED
    assert energy.value == 7000  # Wh: an hour at 7 kW
    assert line.get(OAD(PILE_POWER, 2), end).value == 70_000  # 0.1 W
    info = lookup(PILE_ENERGY)
    assert info is not None and info.scaler == -3  # kWh, as the station scales it


def test_the_pile_energy_is_private_like_the_energy_registers() -> None:
    assert PILE_ENERGY in PRIVATE_OBJECTS and 0x0010 in PRIVATE_OBJECTS


def test_a_fitted_pile_is_in_the_15_minute_curve() -> None:
    meter = _start()
    fit_pile(meter.management.freezer)
    fit_pile(meter.management.freezer)  # idempotent
    entries = meter.management.freezer.tables[FreezeObject.MINUTE].entries
    assert sum(e.oad == OAD(PILE_ENERGY, 2) for e in entries) == 1
    first = T0 - T0 % QUARTER + QUARTER
    meter.pile_drawn(0.0, first)
    meter.handle_timer(first)
    now = first
    for watts in (4000.0, 2000.0):  # the pile draws 4 kW, then 2 kW (an EV nearly full)
        for _ in range(30):
            now += 30.0
            meter.pile_drawn(watts, now)
            meter.handle_timer(now)
    columns = RCSD((CSD(OAD(0x2021, 2)), CSD(OAD(PILE_ENERGY, 2))))
    window = RSD(2, (OAD(0x2021, 2), _time(first), _time(first + 3 * QUARTER),
                     Data(DataType.TI, TI(1, 15))))  # fmt: skip
    answer = Line(meter).exchange(GetRequestRecord(1, GetRecord(OAD(0x5002, 2), window, columns)))
    rows = answer.result.result  # type: ignore[attr-defined]
    values = [row[1].value for row in rows]
    assert len(values) == 3
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert steps == [1000, 500]  # Wh per quarter: 4 kW, then 2 kW


def _time(posix: float) -> Data:
    return Data(DataType.DATE_TIME_S, DateTimeS.from_posix(posix))


def test_the_pile_energy_survives_a_power_loss() -> None:
    store = MemoryStore()
    meter = _start(store)
    meter.pile_drawn(0.0, T0)
    end = _charge(meter, 3600.0, T0, 1800.0)
    meter.mains_lost(end + 1)
    again = new_meter(config=MeterConfig(protected=False), store=store)
    again.mains_restored(end + 2)
    assert Line(again).get(OAD(PILE_ENERGY, 2), end + 2).value == 1800


def test_an_expansion_module_cannot_inflate_the_pile_energy() -> None:
    meter = _start(protected=True)
    meter.pile_drawn(0.0, T0)
    meter.pile_drawn(0.0, T0 + 60)
    before = meter.management.pile.energy_mwh
    # a compromised expansion module claims a megawatt-hour in a minute
    forged = Data.structure(
        Data(DataType.DOUBLE_LONG_UNSIGNED, 10**9), Data(DataType.DOUBLE_LONG_UNSIGNED, 7000)
    )
    meter.expansion.send(UartMessage.PILE_ENERGY, encode_data(forged))
    meter.handle_timer(T0 + 120)
    assert meter.management.pile.energy_mwh == before
    assert meter.log.security[-1].kind == EventKind.UNAUTHORISED
    assert "pile energy" in meter.log.security[-1].detail
    # what a pile can draw is taken
    fair = Data.structure(
        Data(DataType.DOUBLE_LONG_UNSIGNED, 100_000), Data(DataType.DOUBLE_LONG_UNSIGNED, 7000)
    )
    meter.expansion.send(UartMessage.PILE_ENERGY, encode_data(fair))
    meter.handle_timer(T0 + 180)
    assert meter.management.pile.energy_mwh == before + 100_000
