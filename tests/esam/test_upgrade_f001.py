"""Software upgrade of an assembled meter over 698 object F001: the station sends the image
in ciphertext + MAC ACTIONs through the ESAM; bad images are refused with their DAR and a
FIRMWARE event; without the protection a plaintext, unsigned image gets installed."""

from __future__ import annotations

from wattguard.crypto import sm2, sm3
from wattguard.events import EventKind, EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.firmware import FirmwareBuilder, Version
from wattguard.protocol import OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.security import Protection, SecurityResponse
from wattguard.protocol.values import BitString
from wattguard.testing import ADDRESS, T0
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line

VENDOR = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard test vendor"))
BUILDER = FirmwareBuilder(VENDOR, "WTGD")
FACTORY = BUILDER.build(b"factory firmware " * 40, "1.0.0")
UPDATE = BUILDER.build(b"better firmware " * 200, "1.1.0")
BLOCK = 512


def start(size: int) -> Data:
    info = Data.structure(
        Data(DataType.VISIBLE_STRING, "management.img"),
        Data(DataType.VISIBLE_STRING, "/fw/management"),
        Data(DataType.DOUBLE_LONG_UNSIGNED, size),
        Data(DataType.BIT_STRING, BitString(b"\xe0", 3)),
        Data(DataType.VISIBLE_STRING, "1.1.0"),
        Data(DataType.ENUM, 0),
    )
    check = Data.structure(Data(DataType.ENUM, 0), Data(DataType.OCTET_STRING, b""))
    return Data.structure(info, Data(DataType.LONG_UNSIGNED, BLOCK), check)


def actions(image: bytes) -> list[tuple[OMD, Data]]:
    out = [(OMD(0xF001, 7, 0), start(len(image)))]
    for i in range(0, len(image), BLOCK):
        block = Data.structure(
            Data(DataType.LONG_UNSIGNED, i // BLOCK),
            Data(DataType.OCTET_STRING, image[i : i + BLOCK]),
        )
        out.append((OMD(0xF001, 8, 0), block))
    return out


def protected_meter() -> tuple[Meter, Line, object, EventLog]:
    events = EventLog()
    config = MeterConfig(vendor_key=VENDOR.public_key)
    meter, _client = fitted_meter(config=config, events=events)
    assert meter.upgrader is not None
    meter.upgrader.provision(FACTORY, T0)
    meter.restart(T0)
    return meter, Line(meter), rig().station, events


def send_secured(line: Line, station: object, image: bytes, now: float) -> list[int]:
    dars = []
    for k, (omd, value) in enumerate(actions(image)):
        request = ActionRequest(k % 60 + 1, omd, value)
        wrapped = station.wrap(ADDRESS, request, protection=Protection.CIPHERTEXT)  # type: ignore[attr-defined]
        answer = line.exchange(wrapped, now + k)
        assert isinstance(answer, SecurityResponse)
        inner = decode_apdu(station.open_response(ADDRESS, wrapped, answer))  # type: ignore[attr-defined]
        assert isinstance(inner, ActionResponseNormal)
        dars.append(int(inner.result.dar))
    return dars


def test_a_signed_newer_image_is_installed_through_the_esam_and_runs_on_trial() -> None:
    meter, line, station, _ = protected_meter()
    dars = send_secured(line, station, UPDATE, T0 + 100)
    assert set(dars) == {0}
    boot = meter.restart(T0 + 1000)  # the self-test passes: the new image is kept
    assert boot is not None and boot.trial and boot.version == Version.parse("1.1.0")
    assert meter.upgrader is not None
    assert meter.upgrader.active_version == Version.parse("1.1.0")
    assert any("upgraded to 1.1.0" in e.detail for e in meter.log.entries)


def test_an_image_that_fails_its_self_test_is_rolled_back() -> None:
    meter, line, station, _ = protected_meter()
    send_secured(line, station, UPDATE, T0 + 100)
    boot = meter.restart(T0 + 1000, self_test_ok=False)
    assert boot is not None and boot.rolled_back and boot.version == Version.parse("1.0.0")
    assert meter.upgrader is not None
    assert meter.upgrader.active_version == Version.parse("1.0.0")
    assert any("rolled back" in e.detail for e in meter.log.entries)


def test_bad_images_are_refused_with_a_dar_and_a_firmware_event() -> None:
    meter, line, station, events = protected_meter()
    tampered = bytearray(UPDATE)
    tampered[-5] ^= 0x01
    older = BUILDER.build(b"old firmware " * 100, "0.9.0")
    unsigned = BUILDER.build(b"unsigned " * 100, "2.0.0", sign=False)
    other = FirmwareBuilder(sm2.PrivateKey.generate(), "WTGD").build(b"rogue " * 100, "3.0.0")
    for k, image in enumerate((bytes(tampered), older, unsigned, other)):
        dars = send_secured(line, station, image, T0 + 1000 * (k + 1))
        assert dars[-1] != 0, f"image {k} accepted"
        assert set(dars[:-1]) == {0}
    assert len(events.of_kind(EventKind.FIRMWARE)) >= 4
    boot = meter.restart(T0 + 9000)
    assert boot is not None and not boot.trial and boot.version == Version.parse("1.0.0")


def test_a_plaintext_transfer_is_refused_by_the_security_policy() -> None:
    _meter, line, _station, events = protected_meter()
    omd, value = actions(UPDATE)[0]
    answer = line.exchange(ActionRequest(1, omd, value), T0 + 100)
    assert isinstance(answer, ActionResponseNormal) and answer.result.dar == 20
    assert events.of_kind(EventKind.UNAUTHORISED)


def test_without_protection_an_unsigned_image_is_installed_in_plaintext() -> None:
    config = MeterConfig(protected=False, vendor_key=VENDOR.public_key)
    meter, _ = fitted_meter(fitted=False, config=config)
    assert meter.upgrader is not None
    meter.upgrader.provision(FACTORY, T0)
    line = Line(meter)
    rogue = BUILDER.build(b"malicious firmware " * 100, "0.1.0", sign=False)
    for k, (omd, value) in enumerate(actions(rogue)):
        answer = line.exchange(ActionRequest(k % 60 + 1, omd, value), T0 + 100 + k)
        assert isinstance(answer, ActionResponseNormal) and answer.result.dar == 0
    boot = meter.restart(T0 + 1000)
    assert boot is not None and boot.version == Version.parse("0.1.0")
