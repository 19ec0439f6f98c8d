"""``wattguard pki``: the utility's certificate authority (create it, enrol or revoke terminals,
sign the CRL)."""

from __future__ import annotations

import argparse

from wattguard.cli._common import Commands, folder
from wattguard.errors import ConfigError

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``pki`` command."""
    pki = commands.add_parser(
        "pki", help="the utility's CA: create it, enrol or revoke terminals, sign the CRL"
    )
    action = pki.add_mutually_exclusive_group(required=True)
    action.add_argument("--init", action="store_true", help="create the CA and certificates")
    action.add_argument("--enrol", metavar="ADDRESS", help="issue a terminal's certificate")
    action.add_argument("--revoke", metavar="ADDRESS", help="revoke a terminal's certificate")
    action.add_argument("--crl", action="store_true", help="sign a fresh CRL (daily)")
    pki.add_argument("--pki", default=None, help="the directory to create")
    pki.add_argument(
        "--encrypt-key", action="store_true",
        help="with --init: encrypt ca.key under its own passphrase (WATTGUARD_CA_PASSPHRASE, "
        "or asked for); later commands ask for it",
    )  # fmt: skip
    pki.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create the PKI directory, or carry out one administration step on it."""
    from wattguard.runtime import roles

    directory = folder(args)
    if directory is None:
        raise ConfigError("wattguard pki needs --pki DIR")
    if args.init:
        roles.init_pki(directory, encrypt_key=args.encrypt_key)
    else:
        roles.administer_pki(directory, enrol=args.enrol, revoke=args.revoke)
    return 0
