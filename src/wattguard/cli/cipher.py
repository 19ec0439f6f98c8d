"""``wattguard cipher``: the cryptographic device (create its key vault, or serve the station)."""

from __future__ import annotations

import argparse

from wattguard.cli._common import PKI_HELP, Commands, folder, serve_until_interrupted, vault
from wattguard.errors import ConfigError

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``cipher`` command."""
    cipher = commands.add_parser(
        "cipher", help="the cryptographic device: create its vault (--init) or serve (--serve)"
    )
    mode = cipher.add_mutually_exclusive_group(required=True)
    mode.add_argument("--init", action="store_true", help="create the key vault")
    mode.add_argument("--serve", action="store_true", help="serve the station over the WAN")
    cipher.add_argument("--vault", default=None, help="the key vault file")
    cipher.add_argument("--versions", type=int, default=1, help="master key versions (1)")
    cipher.add_argument("--listen", default="127.0.0.1:8766", help="HOST:PORT (127.0.0.1:8766)")
    cipher.add_argument("--pki", default=None, help=PKI_HELP)
    cipher.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create the vault (``--init``), or serve the station until Ctrl-C (``--serve``)."""
    from wattguard.runtime import roles

    path, directory = vault(args), folder(args)
    if path is None:
        raise ConfigError("wattguard cipher needs --vault PATH")
    if args.init:
        roles.init_vault(path, args.versions)
        return 0
    if directory is None:
        raise ConfigError("wattguard cipher --serve needs --pki DIR (station-only access)")
    return serve_until_interrupted(roles.run_cipher(args.listen, path, directory), args.command)
