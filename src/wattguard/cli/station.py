"""``wattguard station``: the master station on the NATS bus, with its API and dashboard."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from wattguard.cli._common import (
    BUS_KEYS_HELP,
    DATABASE,
    PKI_HELP,
    VAULT_HELP,
    Commands,
    bus_default,
    bus_keys,
    folder,
    positive,
    serve_until_interrupted,
    vault,
)
from wattguard.errors import ConfigError, SecurityError
from wattguard.station.freshness import ANSWER_TOLERANCE, ANSWER_WINDOW

if TYPE_CHECKING:
    from wattguard.crypto import sm2

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``station`` command."""
    bus = bus_default()
    station = commands.add_parser("station", help="run the master station on the NATS bus")
    station.add_argument("--bus", default=bus, help=f"NATS URL (WATTGUARD_BUS, or {bus})")
    station.add_argument(
        "--database", default=DATABASE, help=f"the station's storage URL ({DATABASE})"
    )
    station.add_argument("--vault", default=None, help=VAULT_HELP)
    station.add_argument(
        "--cipher", default=None, help="HOST:PORT of `wattguard cipher --serve` (needs --pki)"
    )
    station.add_argument("--pki", default=None, help=PKI_HELP)
    station.add_argument("--bus-keys", default=None, help=BUS_KEYS_HELP)
    station.add_argument(
        "--api-port", type=int, default=8080, help="the REST API and dashboard (8080; 0: any)"
    )
    station.add_argument("--no-api", action="store_true", help="serve no API or dashboard")
    station.add_argument(
        "--answer-window", type=positive, default=ANSWER_WINDOW,
        help="seconds a real-time answer stays acceptable, by the meter's own time (6 h)",
    )  # fmt: skip
    station.add_argument(
        "--clock-tolerance", type=positive, default=ANSWER_TOLERANCE,
        help="seconds a meter's time may run ahead of the station's (600; inf for terminals "
        "simulating faster than real time)",
    )  # fmt: skip
    station.add_argument(
        "--jetstream", action="store_true",
        help="durable NATS JetStream streams instead of NATS core (the server runs with -js)",
    )  # fmt: skip
    station.add_argument(
        "--retain-days", type=_days, default=None, metavar="N",
        help="keep the readings of the last N whole days and today, drop older days every "
        "hour (PostgreSQL: whole partitions); default: keep everything",
    )  # fmt: skip
    station.add_argument(
        "--vendor-key", default=None, metavar="PEM",
        help="the public key (PEM) of the vendor whose firmware images the station takes "
        "(wattguard firmware writes KEY.pub); without it no image is accepted",
    )  # fmt: skip
    station.add_argument("--vendor-id", default="WTGD", help="the vendor id of its images")
    station.add_argument(
        "--charging", type=Path, default=None, metavar="FILE",
        help="orderly EV charging: the districts, capacities and piles (JSON; README)",
    )  # fmt: skip
    station.add_argument(
        "--role", choices=("all", "ingest", "api"), default="all",
        help="all: one process does everything (the default); ingest: one of any number of "
        "workers sharing the up stream (needs --jetstream; no API); api: the API, dashboard, "
        "commands and rules, one at a time (others wait as standbys): docs/deploy.md",
    )  # fmt: skip
    station.add_argument(
        "--replicas", type=int, default=1,
        help="with --jetstream: keep each stream on this many servers of a NATS cluster (1; 3 "
        "survives the loss of one node)",
    )  # fmt: skip
    station.set_defaults(run=run)


def _days(text: str) -> int:
    """A whole number of days, 0 or more (argparse type)."""
    try:
        days = int(text)
    except ValueError:
        days = -1
    if days < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days >= 0")
    return days


def run(args: argparse.Namespace) -> int:
    """Run the station until Ctrl-C."""
    from wattguard.runtime import roles
    from wattguard.runtime.station_roles import StationRole
    from wattguard.station.freshness import AnswerFreshness

    job = roles.run_station(
        args.bus, database=args.database, vault=vault(args), cipher=args.cipher,
        pki_folder=folder(args), bus_keys=bus_keys(args),
        api_port=None if args.no_api else args.api_port,
        freshness=AnswerFreshness(args.answer_window, args.clock_tolerance),
        jetstream=args.jetstream, charging=args.charging,
        retain_days=args.retain_days,
        vendor_key=_vendor_key(args.vendor_key), vendor_id=args.vendor_id,
        role=StationRole(args.role), replicas=args.replicas,
    )  # fmt: skip
    return serve_until_interrupted(job, args.command)


def _vendor_key(path: str | None) -> sm2.PublicKey | None:
    """The vendor's public key in ``path`` (PEM), or None."""
    if path is None:
        return None
    from pathlib import Path

    from wattguard.crypto import sm2

    try:
        return sm2.PublicKey.from_pem(Path(path).read_bytes())
    except (OSError, ValueError, SecurityError) as exc:
        raise ConfigError(f"--vendor-key {path}: not a readable SM2 public key ({exc})") from None
