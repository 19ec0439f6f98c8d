"""The ``wattguard`` command. With no arguments it runs the demo.

One module per command (``demo``, ``selfcheck``, ``attack``, ``analyse``, ``meter``, ``fep``,
``pki``, ``bus``, ``cipher``, ``station``, ``users``, ``meters``, ``terminal``), each with
``add(commands)``, which adds its parser and options, and ``run(args)``, which carries it out;
:func:`build_parser` puts them together in the order ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence

import wattguard
from wattguard.cli import (
    analyse,
    attack,
    bus,
    cipher,
    demo,
    export,
    fep,
    firmware,
    meter,
    meters,
    pki,
    selfcheck,
    station,
    terminal,
    users,
)
from wattguard.errors import ConfigError, SecurityError
from wattguard.settings import CONFIGURABLE, apply_settings
from wattguard.station.records import StorageError

__all__ = ["build_parser", "main"]

#: The commands, in the order ``--help`` lists them.
_COMMANDS = (
    demo, selfcheck, attack, analyse, meter, fep, pki, bus, cipher, station, users, meters,
    terminal, export, firmware,
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
    except (ConfigError, SecurityError, StorageError, OSError) as exc:
        # an expected failure (a setting, a file, a key, a database, a port): one line saying
        # what is wrong and what to do; the traceback too only with --verbose
        if args.verbose:
            traceback.print_exc()
        print(f"wattguard: {' '.join(_explain(exc).split())}", file=sys.stderr)
        return 2
    return result


def _explain(exc: BaseException) -> str:
    """One line for an expected failure: the error's own message, which says what to do, or
    for the operating system's errors what they mean here."""
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        if exc.errno == errno.EADDRINUSE:
            found = re.search(r"\('([^']*)', (\d+)\)", str(exc))
            address = f" {found.group(1)}:{found.group(2)}" if found else ""
            return (
                f"the address{address} is already in use by another program: give this one "
                "another port (0 picks a free one), or stop that program"
            )
        if exc.errno == errno.EACCES:
            return f"permission denied{where}: run as a user who may use it, or choose another"
        if exc.errno == errno.ENOENT:
            return f"no such file{where}: check the path given"
        if exc.errno == errno.ECONNREFUSED:
            return f"nothing answers{where}: start that service first, or check HOST:PORT"
        return f"{exc.strerror or exc}{where}"
    return str(exc)
