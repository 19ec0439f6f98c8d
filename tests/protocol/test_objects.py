"""The object catalogue, checked against dlt698's independent catalogue."""

from __future__ import annotations

from wattguard.protocol import OAD
from wattguard.protocol.objects import CATALOGUE, MINUTE_FREEZE_COLUMNS, Unit, describe, lookup

try:
    from dlt698 import standard
except ImportError:  # pragma: no cover
    standard = None


def test_the_objects_the_meter_needs_are_named() -> None:
    for oi in (
        0x0010,
        0x0020,
        0x2000,
        0x2001,
        0x2004,
        0x200A,
        0x200F,
        0x200D,
        0x4000,
        0x4001,
        0x5002,
        0x5004,
        0xF100,
        0xF101,
        0x8000,
        0xF209,
    ):
        assert lookup(oi) is not None, f"{oi:04X}"
    assert describe(OAD.parse("00100200")) == "forward active energy [2] (10^-2 kWh)"
    assert describe(OAD.parse("00100400")) == "forward active energy [4] (10^-4 kWh)"
    assert describe(OAD.parse("20000201")) == "voltage [2] #1 (10^-1 V)"
    assert describe(OAD.parse("200A0200")) == "power factor [2] (10^-3)"
    assert describe(OAD.parse("EEEE0200")) == "object EEEE attribute 2"
    assert all(lookup(oad.oi) for oad in MINUTE_FREEZE_COLUMNS)


def test_catalogue_agrees_with_dlt698() -> None:
    from wattguard.testing.services import require

    require(standard is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    theirs = {obj.oi: obj for obj in standard.objects()}
    compared = 0
    for oi, ours in CATALOGUE.items():
        if oi not in theirs:
            assert not ours.checked, f"{oi:04X} is marked checked but dlt698 does not know it"
            continue
        assert ours.checked, f"{oi:04X} is in dlt698's catalogue: mark it checked"
        other = theirs[oi]
        assert int(ours.interface_class) == other.class_id, f"{oi:04X} class"
        scaled = {
            number: (attribute.scaling.scaler, attribute.scaling.unit)
            for number, attribute in enumerate(other.attributes, start=1)
            if getattr(attribute, "scaling", None) is not None
        }
        if ours.unit is not None:
            assert scaled.get(2) == (ours.scaler, int(ours.unit)), f"{oi:04X} scaler/unit"
        if ours.high_precision:
            assert scaled.get(4) == (ours.scaler - 2, int(ours.unit)), f"{oi:04X} attribute 4"
        compared += 1
    assert compared >= 60
    assert Unit.KWH == 33  # the enumeration is 698's own, not DLMS's


def test_every_object_number_is_catalogued_once() -> None:
    """Two entries with one OI would silently hide the first (the catalogue is a dict): two
    features once claimed vendor object FF11."""
    from collections import Counter

    from wattguard.protocol import objects

    counts = Counter(info.oi for info in objects._OBJECTS)
    assert [f"{oi:04X}" for oi, n in counts.items() if n > 1] == []
