"""``wattguard terminal``: a collection terminal and its simulated meters, connected to a FEP."""

from __future__ import annotations

import argparse
import os

from wattguard.cli._common import (
    PKI_HELP,
    VAULT_HELP,
    Commands,
    folder,
    positive,
    serve_until_interrupted,
    vault,
)

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``terminal`` command."""
    terminal = commands.add_parser("terminal", help="run a terminal and its simulated meters")
    terminal.add_argument("--address", default="990000000001", help="12 digits (990000000001)")
    terminal.add_argument(
        "--fep",
        default=os.environ.get("WATTGUARD_FEP", "127.0.0.1:8765"),
        help="the FEP's HOST:PORT (WATTGUARD_FEP, or 127.0.0.1:8765)",
    )
    terminal.add_argument("--meters", type=int, default=25, help="meters behind it (25)")
    terminal.add_argument("--speed", type=positive, default=60.0, help="simulated speed (60)")
    terminal.add_argument("--seed", type=int, default=0, help="seed of loads and channel")
    terminal.add_argument("--vault", default=None, help=VAULT_HELP)
    terminal.add_argument("--pki", default=None, help=PKI_HELP)
    terminal.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the terminal until Ctrl-C."""
    from wattguard.runtime import roles

    job = roles.run_terminal(
        args.address, args.fep, meters=args.meters, speed=args.speed, seed=args.seed,
        vault=vault(args), pki_folder=folder(args),
    )  # fmt: skip
    return serve_until_interrupted(job, args.command)
