"""``wattguard firmware``: the vendor's side of an upgrade, for the demo and tests: build a
management-module image signed with a vendor key (an SM2 private key in PEM, made 0600 if it
does not exist: the same file ``wattguard demo --vendor-key`` gives its meters).

    wattguard firmware --vendor-key vendor.pem --version 1.1.0 -o fw-1.1.0.img [--body FILE]

It also writes the key's public half to ``vendor.pem.pub``: ``wattguard station --vendor-key
vendor.pem.pub`` then takes the images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wattguard.cli._common import Commands

if TYPE_CHECKING:
    from wattguard.crypto import sm2

__all__ = ["add", "run", "vendor_key"]


def add(commands: Commands) -> None:
    """Add the ``firmware`` command."""
    parser = commands.add_parser(
        "firmware", help="build a vendor-signed management-module image (demo and tests)"
    )
    parser.add_argument("--vendor-key", required=True, help="the vendor's SM2 key (PEM)")
    parser.add_argument("--vendor-id", default="WTGD", help="4 ASCII characters (WTGD)")
    parser.add_argument("--version", required=True, help="the image's version, e.g. 1.1.0")
    parser.add_argument("--body", default=None, help="the software (a file; default: a demo)")
    parser.add_argument("-o", "--output", required=True, help="where to write the image")
    parser.set_defaults(run=run)


def vendor_key(path: str) -> sm2.PrivateKey:
    """The vendor's SM2 private key in ``path`` (PEM), made (mode 0600) if there is none."""
    from wattguard.crypto import sm2
    from wattguard.secretfile import read_secret, write_secret

    if not Path(path).exists():
        key = sm2.PrivateKey.generate()
        write_secret(path, key.to_pem())
        print(f"made a new vendor key in {path}", file=sys.stderr)
        return key
    return sm2.PrivateKey.from_pem(read_secret(path))


def run(args: argparse.Namespace) -> int:
    """Build and write the image; print its version, size and SM3 digest."""
    from wattguard.crypto import sm3
    from wattguard.meter.management.firmware import FirmwareBuilder

    key = vendor_key(args.vendor_key)
    Path(args.vendor_key + ".pub").write_bytes(key.public_key.to_pem())  # for the station
    body = (
        Path(args.body).read_bytes()
        if args.body
        else (b"wattguard management firmware %s\n" % args.version.encode()) * 64
    )
    image = FirmwareBuilder(key, args.vendor_id).build(body, args.version)
    Path(args.output).write_bytes(image)
    print(f"{args.output}: version {args.version}, {len(image)} bytes, SM3 {sm3.hash(image).hex()}")
    return 0
