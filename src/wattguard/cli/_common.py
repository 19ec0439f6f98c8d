"""What the command modules of :mod:`wattguard.cli` share."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeAlias

from wattguard.errors import ConfigError

__all__ = [
    "BUS_KEYS_HELP",
    "DATABASE",
    "PKI_HELP",
    "VAULT_HELP",
    "Commands",
    "bus_default",
    "bus_keys",
    "existing_database",
    "folder",
    "positive",
    "serve_until_interrupted",
    "vault",
]

#: What ``add_subparsers`` returns: each command module adds its parser to it. (A string: the
#: class is generic only to type checkers.)
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

PKI_HELP = "the utility PKI directory (wattguard pki --init): WAN secure channel on"
BUS_KEYS_HELP = "the bus credentials directory (wattguard bus --init): authenticated, signed bus"
VAULT_HELP = "the key vault (passphrase in WATTGUARD_PASSPHRASE): protection on"
#: The station's storage when no --database is given (relative to the working directory).
DATABASE = "sqlite:///wattguard-station.db"


def positive(text: str) -> float:
    """An argparse type: a number above zero."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def bus_default() -> str:
    """The NATS URL the bus options default to (``WATTGUARD_BUS``, read when the parser is
    built)."""
    return os.environ.get("WATTGUARD_BUS", "nats://127.0.0.1:4222")


def vault(args: argparse.Namespace) -> Path | None:
    """The ``--vault`` path, if the command has one and it was given."""
    return Path(args.vault) if getattr(args, "vault", None) else None


def bus_keys(args: argparse.Namespace) -> Path | None:
    """The ``--bus-keys`` directory, if the command has one and it was given."""
    return Path(args.bus_keys) if getattr(args, "bus_keys", None) else None


def folder(args: argparse.Namespace) -> Path | None:
    """The ``--pki`` directory, if the command has one and it was given."""
    return Path(args.pki) if getattr(args, "pki", None) else None


def serve_until_interrupted(job: Coroutine[Any, Any, Any], command: str) -> int:
    """Run a service until it ends or Ctrl-C stops it."""
    try:
        asyncio.run(job)
    except KeyboardInterrupt:
        print(f"\n{command} stopped")
    return 0


def existing_database(url: str) -> str:
    """``url``, unless it names an SQLite file that does not exist: a command that only reads
    or changes what is there must not leave an empty database behind (ConfigError)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.exists():
            raise ConfigError(
                f"no station database at {path}: give the station's with --database URL "
                f"(e.g. sqlite:///station.db or postgresql://host/db)"
            )
    return url
