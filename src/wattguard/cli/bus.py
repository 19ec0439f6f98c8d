"""``wattguard bus``: the bus's credentials (one identity per service) and the NATS server's
configuration with each role's permissions."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from wattguard.cli._common import Commands, bus_default

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``bus`` command."""
    bus = commands.add_parser(
        "bus", help="issue the bus's credentials (station, FEPs) and the NATS server config"
    )
    action = bus.add_mutually_exclusive_group(required=True)
    action.add_argument("--init", metavar="DIR", help="create the station's and FEPs' credentials")
    action.add_argument("--add-fep", metavar="NAME", help="issue one more FEP's credentials")
    action.add_argument("--remove", metavar="NAME", help="withdraw an FEP's credentials")
    bus.add_argument("--fep", action="append", default=[], metavar="NAME",
                     help="an FEP to create with --init (repeat; default fep-1)")  # fmt: skip
    bus.add_argument("--bus-keys", default=None, help="the directory (--add-fep, --remove)")
    listen = _listen_default()
    bus.add_argument(
        "--listen", default=listen,
        help=f"where the NATS server listens (the host and port of WATTGUARD_BUS: {listen})",
    )  # fmt: skip
    bus.set_defaults(run=run)


def _listen_default() -> str:
    """HOST:PORT of the bus URL the services will use (``WATTGUARD_BUS``), so that the server
    the configuration describes is the one they dial."""
    url = urlsplit(bus_default())
    return f"{url.hostname or '127.0.0.1'}:{url.port or 4222}"


def run(args: argparse.Namespace) -> int:
    """Create the credentials directory, or add an FEP to it or remove one."""
    from wattguard.errors import ConfigError
    from wattguard.runtime import buskeys

    if args.init is not None:
        folder = Path(args.init)
        feps = args.fep or ["fep-1"]
        buskeys.init_bus(folder, feps, args.listen)
        print(f"bus: credentials for station and {', '.join(feps)} written to {folder}")
        print("bus: secret files are 0600: give each service only its <name>.nk and <name>.sm2")
    else:
        if args.bus_keys is None:
            raise ConfigError("wattguard bus --add-fep|--remove NAME needs --bus-keys DIR")
        folder = Path(args.bus_keys)
        if args.add_fep is not None:
            buskeys.add_fep(folder, args.add_fep, args.listen)
            print(f"bus: {args.add_fep} added; reload the NATS server and restart the station")
        else:
            buskeys.remove_fep(folder, args.remove, args.listen)
            print(f"bus: {args.remove} removed; reload the NATS server and restart the station")
    print(f"bus: start the server: nats-server -c {folder / buskeys.SERVER_CONFIG}")
    print(f"bus: then: wattguard station --bus-keys {folder}; "
          f"wattguard fep --bus-keys {folder} --name NAME")  # fmt: skip
    return 0
