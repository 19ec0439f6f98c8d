"""The catalogue of the interface objects a wattguard meter exposes (DL/T 698.45-2017
Appendix: object identifiers, interface classes, units and scalers).

Each :class:`ObjectInfo` names one OI in English, its interface class and the scaler and unit
of its value attribute (attribute 2, and attribute 4 where the standard gives the energies a
high-precision copy). Where the independent ``dlt698`` package catalogues the same OI, a test
holds both to the same class, scaler and unit; the OIs it does not know are marked
``checked=False`` here and listed in docs/protocol.md.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from wattguard.protocol.values import COMDCB, OAD, OMD

__all__ = [
    "CATALOGUE",
    "HPLC_PORT",
    "HPLC_SERIAL",
    "MINUTE_FREEZE_COLUMNS",
    "ObjectInfo",
    "Unit",
    "describe",
    "lookup",
]


class Unit(enum.IntEnum):
    """The unit enumeration of Scaler_Unit (the codes DL/T 698.45 assigns)."""

    MINUTE = 6
    CELSIUS = 9
    W = 27
    KW = 28
    VA = 29
    KVA = 30
    VAR = 31
    KVAR = 32
    KWH = 33
    KVAH = 34
    KVARH = 35
    A = 36
    V = 38
    HZ = 47
    PERCENT = 51
    NONE = 255


SYMBOLS = {
    Unit.MINUTE: "min",
    Unit.CELSIUS: "°C",
    Unit.W: "W",
    Unit.KW: "kW",
    Unit.VA: "VA",
    Unit.KVA: "kVA",
    Unit.VAR: "var",
    Unit.KVAR: "kvar",
    Unit.KWH: "kWh",
    Unit.KVAH: "kVAh",
    Unit.KVARH: "kvarh",
    Unit.A: "A",
    Unit.V: "V",
    Unit.HZ: "Hz",
    Unit.PERCENT: "%",
    Unit.NONE: "",
}


class InterfaceClass(enum.IntEnum):
    """The interface classes of the objects a wattguard meter exposes (the standard's class
    numbers)."""

    ENERGY = 1
    DEMAND = 2
    PHASE_VARIABLE = 3
    POWER = 4
    HARMONIC = 5
    DATA_VARIABLE = 6
    EVENT = 7
    PARAMETER = 8
    FREEZE = 9
    DISPLAY = 17
    ESAM = 21
    PORT = 22


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One catalogue entry: an OI, its English name, its interface class, and the scaler and unit
    of its value attribute."""

    oi: int
    name: str
    interface_class: InterfaceClass
    scaler: int | None = None
    unit: Unit | None = None
    high_precision: bool = False  # attribute 4 holds the value with scaler - 2
    checked: bool = True  # cross-checked against dlt698's catalogue

    def oad(self, attribute: int = 2, element: int = 0) -> OAD:
        return OAD(self.oi, attribute, element)

    def omd(self, method: int, mode: int = 0) -> OMD:
        return OMD(self.oi, method, mode)


def _energy(oi: int, name: str, unit: Unit) -> ObjectInfo:
    return ObjectInfo(oi, name, InterfaceClass.ENERGY, -2, unit, high_precision=True)


_ENERGIES = [
    (0x0000, "combined active energy", Unit.KWH),
    (0x0010, "forward active energy", Unit.KWH),
    (0x0020, "reverse active energy", Unit.KWH),
    (0x0030, "combined reactive energy 1", Unit.KVARH),
    (0x0040, "combined reactive energy 2", Unit.KVARH),
    (0x0050, "quadrant I reactive energy", Unit.KVARH),
    (0x0060, "quadrant II reactive energy", Unit.KVARH),
    (0x0070, "quadrant III reactive energy", Unit.KVARH),
    (0x0080, "quadrant IV reactive energy", Unit.KVARH),
    (0x0090, "forward apparent energy", Unit.KVAH),
    (0x00A0, "reverse apparent energy", Unit.KVAH),
]
_PHASES = ("A", "B", "C")

_PHASE_ENERGIES = range(0x0010, 0x0090, 0x0010)  # forward/reverse/reactive carry phases


def _energy_family(oi: int, name: str, unit: Unit) -> list[ObjectInfo]:
    """An energy, its per-phase copies and their maximum demands (OI + 0x1000)."""
    demand = name.replace("energy", "maximum demand")
    family = [_energy(oi, name, unit)]
    if oi:
        family.append(ObjectInfo(oi + 0x1000, demand, InterfaceClass.DEMAND))
    if oi in _PHASE_ENERGIES:
        for index, phase in enumerate(_PHASES, start=1):
            family.append(_energy(oi + index, f"phase {phase} {name}", unit))
            family.append(
                ObjectInfo(oi + 0x1000 + index, f"phase {phase} {demand}", InterfaceClass.DEMAND)
            )
    return family


_OBJECTS: list[ObjectInfo] = [
    info for oi, name, unit in _ENERGIES for info in _energy_family(oi, name, unit)
]
#: Fundamental and harmonic active energy (docs/protocol.md, "Harmonics": not in dlt698's
#: catalogue; the numbers independent public object tables agree on).
_OBJECTS += [
    ObjectInfo(oi, name, InterfaceClass.ENERGY, -2, Unit.KWH, high_precision=True, checked=False)
    for oi, name in (
        (0x0110, "forward fundamental active energy"),
        (0x0120, "reverse fundamental active energy"),
        (0x0210, "forward harmonic active energy"),
        (0x0220, "reverse harmonic active energy"),
    )
]
_OBJECTS += [
    ObjectInfo(0x2000, "voltage", InterfaceClass.PHASE_VARIABLE, -1, Unit.V),
    ObjectInfo(0x2001, "current", InterfaceClass.PHASE_VARIABLE, -3, Unit.A),
    ObjectInfo(0x2004, "active power", InterfaceClass.POWER, -1, Unit.W),
    ObjectInfo(0x2005, "reactive power", InterfaceClass.POWER, -1, Unit.VAR),
    ObjectInfo(0x2006, "apparent power", InterfaceClass.POWER, -1, Unit.VA),
    ObjectInfo(0x200A, "power factor", InterfaceClass.POWER, -3, Unit.NONE),
    ObjectInfo(
        0x200B, "voltage total harmonic distortion", InterfaceClass.PHASE_VARIABLE, -2, Unit.PERCENT
    ),
    ObjectInfo(
        0x200C, "current total harmonic distortion", InterfaceClass.PHASE_VARIABLE, -2, Unit.PERCENT
    ),
    ObjectInfo(0x200D, "voltage harmonic content", InterfaceClass.HARMONIC, -2, Unit.PERCENT),
    ObjectInfo(0x200E, "current harmonic content", InterfaceClass.HARMONIC, -2, Unit.PERCENT),
    ObjectInfo(0x200F, "grid frequency", InterfaceClass.DATA_VARIABLE, -2, Unit.HZ),
    ObjectInfo(0x2010, "meter temperature", InterfaceClass.DATA_VARIABLE, -1, Unit.CELSIUS),
    ObjectInfo(
        0x2011, "clock battery voltage", InterfaceClass.DATA_VARIABLE, -2, Unit.V, checked=False
    ),
    ObjectInfo(
        0x2012,
        "power-down reading battery voltage",
        InterfaceClass.DATA_VARIABLE,
        -2,
        Unit.V,
        checked=False,
    ),
    ObjectInfo(0x2014, "meter running status words", InterfaceClass.DATA_VARIABLE),
    ObjectInfo(0x2017, "current active demand", InterfaceClass.DATA_VARIABLE, -4, Unit.KW),
    ObjectInfo(0x2018, "current reactive demand", InterfaceClass.DATA_VARIABLE, -4, Unit.KVAR),
    ObjectInfo(0x2019, "current apparent demand", InterfaceClass.DATA_VARIABLE, -4, Unit.KVA),
    ObjectInfo(0x2021, "data freeze time", InterfaceClass.PARAMETER),
    ObjectInfo(0x2023, "freeze record number", InterfaceClass.PARAMETER),
    ObjectInfo(0x3001, "under-voltage event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3002, "over-voltage event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3005, "over-current event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3007, "power reversal event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3008, "overload event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x300C, "power factor below limit event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3011, "meter power-down event", InterfaceClass.EVENT),
    ObjectInfo(0x3013, "meter clear event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3015, "event clear event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x3016, "clock set event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x301B, "meter cover open event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x301C, "terminal cover open event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x302A, "constant magnetic field event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x302E, "clock fault event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0x4000, "date and time", InterfaceClass.PARAMETER),
    ObjectInfo(0x4001, "communication address", InterfaceClass.PARAMETER),
    ObjectInfo(0x4002, "meter number", InterfaceClass.PARAMETER),
    ObjectInfo(0x4003, "customer number", InterfaceClass.PARAMETER),
    ObjectInfo(0x400E, "harmonic analysis order", InterfaceClass.PARAMETER),
    ObjectInfo(
        0x4009, "backup day-period table switch time", InterfaceClass.PARAMETER, checked=False
    ),
    ObjectInfo(0x4016, "current day-period tables", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x4017, "backup day-period tables", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x401E, "amount limits (alarm levels)", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x401F, "other amount limits", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x4100, "maximum demand period", InterfaceClass.PARAMETER, 0, Unit.MINUTE),
    ObjectInfo(0x4101, "sliding window time", InterfaceClass.PARAMETER, 0, Unit.MINUTE),
    ObjectInfo(0x4104, "rated voltage", InterfaceClass.PARAMETER),
    ObjectInfo(0x4105, "rated (basic) current", InterfaceClass.PARAMETER),
    ObjectInfo(0x4106, "maximum current", InterfaceClass.PARAMETER),
    ObjectInfo(0x5000, "instantaneous freeze", InterfaceClass.FREEZE, checked=False),
    ObjectInfo(0x5001, "second freeze", InterfaceClass.FREEZE, checked=False),
    ObjectInfo(0x5002, "minute freeze", InterfaceClass.FREEZE, checked=False),
    ObjectInfo(0x5003, "hour freeze", InterfaceClass.FREEZE, checked=False),
    ObjectInfo(0x5004, "day freeze", InterfaceClass.FREEZE),
    ObjectInfo(0x5005, "settlement-day freeze", InterfaceClass.FREEZE, checked=False),
    ObjectInfo(0x5006, "month freeze", InterfaceClass.FREEZE),
    ObjectInfo(0x8000, "remote control (relay)", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x8001, "power keeping (protect)", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0x202C, "current wallet file", InterfaceClass.DATA_VARIABLE, checked=False),
    ObjectInfo(0x202D, "overdraft amount (fen)", InterfaceClass.DATA_VARIABLE, checked=False),
    ObjectInfo(0xF100, "ESAM", InterfaceClass.ESAM),
    ObjectInfo(0xF101, "security mode parameters", InterfaceClass.PARAMETER),
    ObjectInfo(0xF300, "automatic display rotation", InterfaceClass.DISPLAY, checked=False),
    ObjectInfo(
        0xFF10, "charging-pile power limit", InterfaceClass.PARAMETER, 0, Unit.W, checked=False
    ),
    ObjectInfo(0xFF12, "display alarm", InterfaceClass.PARAMETER, checked=False),
    # vendor objects (docs/protocol.md, "Charging-pile energy (FF13, FF14)")
    ObjectInfo(0xFF13, "charging-pile energy", InterfaceClass.ENERGY, -3, Unit.KWH, checked=False),
    ObjectInfo(
        0xFF14, "charging-pile power", InterfaceClass.DATA_VARIABLE, -1, Unit.W, checked=False
    ),
    ObjectInfo(0xF200, "RS-232 port", InterfaceClass.PORT),
    ObjectInfo(0xF201, "RS-485 port", InterfaceClass.PORT),
    ObjectInfo(0xF202, "infrared port", InterfaceClass.PORT, checked=False),
    ObjectInfo(0xF209, "carrier (HPLC) port", InterfaceClass.PORT, checked=False),
    # vendor objects (docs/protocol.md): a Bluetooth sensor's readings (docs/bluetooth.md)
    ObjectInfo(
        0xFF30,
        "external temperature",
        InterfaceClass.DATA_VARIABLE,
        -1,
        Unit.CELSIUS,
        checked=False,
    ),
    ObjectInfo(0xFF31, "water leak", InterfaceClass.DATA_VARIABLE, checked=False),
    # vendor objects (docs/protocol.md, "Power quality, export, demand window, overdraft")
    ObjectInfo(0xFF11, "export permitted", InterfaceClass.PARAMETER, checked=False),
    ObjectInfo(0xFF26, "frequency deviation event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0xFF27, "voltage THD over limit event", InterfaceClass.EVENT, checked=False),
    ObjectInfo(0xFF28, "current THD over limit event", InterfaceClass.EVENT, checked=False),
]

#: OI -> object.
CATALOGUE: dict[int, ObjectInfo] = {info.oi: info for info in _OBJECTS}

#: The terminal's carrier (HPLC) port towards its meters (F209, attribute 2, port 1): the port
#: a PROXY trans-command names, and the one a terminal's trans-data report comes from.
HPLC_PORT = OAD(0xF209, 2, 1)
#: The port settings a PROXY trans-command carries for that port (9600 baud, even parity, 8
#: data bits, 1 stop bit, no flow control); a carrier port ignores them, the APDU needs them.
HPLC_SERIAL = COMDCB(6, 2, 8, 1, 0)

#: The columns a wattguard meter freezes every minute (object 5002, attribute 3).
MINUTE_FREEZE_COLUMNS: tuple[OAD, ...] = (
    OAD(0x2021, 2),  # data freeze time
    OAD(0x0010, 2),  # forward active energy, total and per tariff
    OAD(0x0020, 2),  # reverse active energy
    OAD(0x2000, 2),  # voltage per phase
    OAD(0x2001, 2),  # current per phase
    OAD(0x2004, 2),  # active power
    OAD(0x200A, 2),  # power factor
)


def lookup(oi: int) -> ObjectInfo | None:
    return CATALOGUE.get(oi)


def describe(oad: OAD) -> str:
    """A readable name for an OAD, e.g. ``"forward active energy [2] (10^-2 kWh)"``."""
    info = CATALOGUE.get(oad.oi)
    if info is None:
        return f"object {oad.oi:04X} attribute {oad.attribute}"
    text = f"{info.name} [{oad.attribute}]" + (f" #{oad.element}" if oad.element else "")
    if info.unit is not None and info.scaler is not None and oad.attribute in (2, 4):
        scaler = info.scaler - (2 if oad.attribute == 4 else 0)
        text += f" (10^{scaler} {SYMBOLS[info.unit]})".replace(" )", ")")
    return text
