"""The ``wattguard`` command. With no arguments it runs the demo.

One module per command (``demo``, ``selfcheck``, ``attack``, ``meter``, ``fep``, ``pki``,
``bus``, ``cipher``, ``station``, ``users``, ``meters``, ``terminal``), each with
``add(commands)``, which adds its parser and options, and ``run(args)``, which carries it out;
:func:`build_parser` puts them together in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import wattguard
from wattguard.cli import (
    attack,
    bus,
    cipher,
    demo,
    fep,
    meter,
    meters,
    pki,
    selfcheck,
    station,
    terminal,
    users,
)
from wattguard.errors import ConfigError
from wattguard.settings import CONFIGURABLE, apply_settings

__all__ = ["build_parser", "main"]

#: The commands, in the order ``--help`` lists them.
_COMMANDS = (
    demo, selfcheck, attack, meter, fep, pki, bus, cipher, station, users, meters, terminal,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; without a command it runs the demo with its options."""
    parser = argparse.ArgumentParser(
        prog="wattguard",
        description="Secure smart metering: meters, network, station, and the attacks on them.",
    )
    parser.add_argument("--version", action="version", version=f"wattguard {wattguard.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in _COMMANDS:
        command.add(commands)
    demo.add_options(parser)
    parser.set_defaults(run=demo.run)
    for name in CONFIGURABLE:
        commands.choices[name].add_argument(
            "--config",
            metavar="FILE",
            help=f"a TOML file whose [{name}] table gives options (or WATTGUARD_CONFIG); "
            f"WATTGUARD_{name.upper()}_<OPTION> variables too; the command line wins",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` names (default: the process's arguments); its exit status."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        apply_settings(parser, arguments, os.environ)
    except ConfigError as exc:
        print(f"wattguard: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(arguments)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.run(args)
    except ConfigError as exc:
        print(f"wattguard: {exc}", file=sys.stderr)
        return 2
    return result
