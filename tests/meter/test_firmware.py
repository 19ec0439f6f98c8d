"""Firmware images: the documented layout, and a specific refusal for every kind of bad image."""

from __future__ import annotations

import struct

import pytest

from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError, SecurityError
from wattguard.meter.management.firmware import (
    HEADER_SIZE,
    FirmwareBuilder,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Refusal,
    Version,
    key_id,
)
from wattguard.protocol.apdu.common import DAR

VENDOR = sm2.PrivateKey.generate()
ATTACKER = sm2.PrivateKey.generate()
BUILDER = FirmwareBuilder(VENDOR, "WTGD")
BODY = bytes(range(256)) * 4


def check(data: bytes, **kwargs: object) -> FirmwareImage:
    return FirmwareImage.from_bytes(data, VENDOR.public_key, **kwargs)  # type: ignore[arg-type]


def refusal(data: bytes, **kwargs: object) -> Refusal:
    with pytest.raises(FirmwareRefused) as caught:
        check(data, **kwargs)
    return caught.value.reason


def test_layout_is_as_documented() -> None:
    data = BUILDER.build(BODY, "1.2.3")
    assert data[0:4] == b"WGFW"
    assert data[4] == 1
    assert data[5] == Module.MANAGEMENT == 2
    assert data[6:10] == b"WTGD"
    assert struct.unpack(">HHHI", data[10:20]) == (1, 2, 3, len(BODY))
    assert data[20:28] == sm3.hash(VENDOR.public_key.to_bytes())[:8] == key_id(VENDOR.public_key)
    assert data[28:60] == sm3.hash(BODY)
    VENDOR.public_key.verify(data[:60], data[60:124])  # the signature covers bytes 0..59
    assert data[HEADER_SIZE:] == BODY
    image = check(data)
    assert (image.version, image.vendor_id, image.target, image.body) == (
        Version(1, 2, 3),
        "WTGD",
        Module.MANAGEMENT,
        BODY,
    )
    assert image.to_bytes() == data
    assert check(data, installed=Version(1, 2, 2), vendor_id="WTGD") == image


def test_bad_format() -> None:
    good = BUILDER.build(BODY, "1.0.0")
    for bad in (
        b"",
        good[: HEADER_SIZE - 1],
        b"XXXX" + good[4:],
        good[:4] + b"\x02" + good[5:],  # another format version
        good[:5] + b"\x09" + good[6:],  # unknown target
        good + b"\x00",  # trailing byte: length mismatch
        good[:-1],
        good[:6] + b"\xff\xfe\xfd\xfc" + good[10:],  # vendor id not ASCII
    ):
        assert refusal(bad) == Refusal.BAD_FORMAT


def test_unsigned() -> None:
    assert refusal(BUILDER.build(BODY, "1.0.0", sign=False)) == Refusal.UNSIGNED


def test_wrong_signer() -> None:
    foreign = FirmwareBuilder(ATTACKER, "WTGD").build(BODY, "9.0.0")
    assert refusal(foreign) == Refusal.WRONG_SIGNER


def test_wrongly_signed_while_claiming_the_vendors_key() -> None:
    # The attacker copies the vendor's key id into the header and signs with his own key.
    image = FirmwareImage.parse(BUILDER.build(BODY, "9.0.0"))
    forged = image.signed_part + ATTACKER.sign(image.signed_part) + image.body
    assert refusal(forged) == Refusal.BAD_SIGNATURE


def test_altered_header() -> None:
    data = bytearray(BUILDER.build(BODY, "1.0.0"))
    data[10:12] = (7).to_bytes(2, "big")  # a newer major version, without re-signing
    assert refusal(bytes(data)) == Refusal.BAD_SIGNATURE


def test_tampered_body() -> None:
    data = bytearray(BUILDER.build(BODY, "1.0.0"))
    data[HEADER_SIZE + 100] ^= 0x01
    assert refusal(bytes(data)) == Refusal.TAMPERED


def test_metering_module_image_is_refused() -> None:
    data = BUILDER.build(BODY, "2.0.0", Module.METERING)
    with pytest.raises(FirmwareRefused, match="legal metrology") as caught:
        check(data)
    assert caught.value.reason == Refusal.WRONG_TARGET
    assert caught.value.dar == DAR.READ_WRITE_DENIED
    assert refusal(BUILDER.build(BODY, "2.0.0", Module.EXPANSION)) == Refusal.WRONG_TARGET


def test_version_must_increase() -> None:
    installed = Version(1, 4, 0)
    for older in ("1.4.0", "1.3.9", "0.99.99"):
        assert refusal(BUILDER.build(BODY, older), installed=installed) == Refusal.NOT_NEWER
    for newer in ("1.4.1", "1.5.0", "2.0.0"):
        check(BUILDER.build(BODY, newer), installed=installed)


def test_another_vendors_image() -> None:
    other = FirmwareBuilder(VENDOR, "ACME").build(BODY, "1.0.0")
    assert refusal(other, vendor_id="WTGD") == Refusal.WRONG_VENDOR


def test_every_refusal_carries_its_dar_and_is_a_security_error() -> None:
    assert Refusal.BAD_FORMAT.dar == DAR.TYPE_MISMATCH
    assert Refusal.NOT_NEWER.dar == DAR.OUT_OF_RANGE
    for reason in (Refusal.UNSIGNED, Refusal.WRONG_SIGNER, Refusal.TAMPERED):
        assert reason.dar == DAR.SIGNATURE_ERROR
    assert issubclass(FirmwareRefused, SecurityError)


def test_no_single_byte_change_is_accepted() -> None:
    data = BUILDER.build(b"tiny body of an image", "1.0.0")
    for position in range(len(data)):
        changed = bytearray(data)
        changed[position] ^= 0x80
        with pytest.raises(FirmwareRefused):
            check(bytes(changed))


def test_builder_refuses_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        FirmwareBuilder(VENDOR, "TOOLONG")
    with pytest.raises(ConfigError):
        BUILDER.build(BODY, "1.2")
    with pytest.raises(ConfigError):
        BUILDER.build(BODY, Version(1, 2, 70000))
    assert str(Version.parse("3.2.1")) == "3.2.1"
