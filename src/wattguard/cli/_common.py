"""What the command modules of :mod:`wattguard.cli` share."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeAlias

__all__ = [
    "BUS_KEYS_HELP",
    "PKI_HELP",
    "VAULT_HELP",
    "Commands",
    "bus_default",
    "bus_keys",
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
