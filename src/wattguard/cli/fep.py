"""``wattguard fep``: a front-end processor (terminals in over TCP, the NATS bus out)."""

from __future__ import annotations

import argparse

from wattguard.cli._common import (
    BUS_KEYS_HELP,
    PKI_HELP,
    Commands,
    bus_default,
    bus_keys,
    folder,
    serve_until_interrupted,
)

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``fep`` command."""
    bus = bus_default()
    fep = commands.add_parser("fep", help="run a front-end processor (TCP in, NATS bus out)")
    fep.add_argument("--listen", default="127.0.0.1:8765", help="HOST:PORT (127.0.0.1:8765)")
    fep.add_argument("--bus", default=bus, help=f"NATS URL (WATTGUARD_BUS, or {bus})")
    fep.add_argument("--pki", default=None, help=PKI_HELP)
    fep.add_argument("--bus-keys", default=None, help=BUS_KEYS_HELP)
    fep.add_argument("--name", default="fep-1", help="this FEP's name on the bus (fep-1)")
    fep.add_argument(
        "--jetstream", action="store_true",
        help="durable NATS JetStream streams instead of NATS core (the server runs with -js)",
    )  # fmt: skip
    fep.add_argument(
        "--replicas", type=int, default=1,
        help="with --jetstream: keep each stream on this many servers of a NATS cluster (1)",
    )  # fmt: skip
    fep.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve as a front-end processor until Ctrl-C."""
    from wattguard.runtime import roles

    return serve_until_interrupted(
        roles.run_fep(
            args.listen,
            args.bus,
            pki_folder=folder(args),
            bus_keys=bus_keys(args),
            name=args.name,
            jetstream=args.jetstream,
            replicas=args.replicas,
        ),
        args.command,
    )
