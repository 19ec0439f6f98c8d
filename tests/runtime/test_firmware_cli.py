"""``wattguard firmware`` signs images with a vendor key file that ``wattguard demo
--vendor-key`` gives its meters: the demo's station takes the image, a key of another vendor
is refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wattguard.cli import build_parser, main
from wattguard.cli.firmware import vendor_key
from wattguard.cli.station import _vendor_key
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.meter.management.firmware import FirmwareImage, FirmwareRefused, Version
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.station.commands import Role, User
from wattguard.testing import MIDNIGHT

SUPERVISOR = User("sun", Role.SUPERVISOR)


def test_an_image_signed_with_the_demo_vendor_key_is_taken_by_the_demo_station(
    tmp_path: Path,
) -> None:
    key_file, image_file = tmp_path / "vendor.pem", tmp_path / "fw.img"
    argv = ["firmware", "--vendor-key", str(key_file), "--version", "1.1.0", "-o", str(image_file)]
    assert main(argv) == 0
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = vendor_key(str(key_file))  # read back, not made again
    public = Path(f"{key_file}.pub").read_bytes()  # for `wattguard station --vendor-key`
    assert _vendor_key(f"{key_file}.pub") == key.public_key == sm2.PublicKey.from_pem(public)
    with pytest.raises(ConfigError, match="not a readable SM2 public key"):
        _vendor_key(str(image_file))
    image = FirmwareImage.from_bytes(image_file.read_bytes(), key.public_key, vendor_id="WTGD")
    assert image.version == Version(1, 1, 0)
    args = build_parser().parse_args(["demo", "--vendor-key", str(key_file)])
    assert args.vendor_key == str(key_file)
    config = DeploymentConfig(meters=1, per_terminal=1, start=MIDNIGHT)
    demo = Deployment(config, virtual_clock(config), vendor=key)
    stored = demo.station.campaigns.upload(SUPERVISOR, image_file.read_bytes())
    assert stored.version == "1.1.0"
    other = Deployment(config, virtual_clock(config))  # a vendor key of its own
    with pytest.raises(FirmwareRefused, match="another key"):
        other.station.campaigns.upload(SUPERVISOR, image_file.read_bytes())
