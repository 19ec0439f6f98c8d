"""``wattguard demo`` (and ``wattguard`` with no command): the whole system in one process."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TYPE_CHECKING

from wattguard.cli._common import Commands, positive

if TYPE_CHECKING:
    from collections.abc import Callable

    from wattguard.crypto import sm2
    from wattguard.runtime.deployment import Deployment, DeploymentConfig
    from wattguard.runtime.showcase import Showcase
    from wattguard.station.commands import User

__all__ = ["add", "add_options", "run"]


def add(commands: Commands) -> None:
    """Add the ``demo`` command."""
    demo = commands.add_parser("demo", help="run the whole system in one process (default)")
    add_options(demo)
    demo.set_defaults(run=run)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The demo's options, on its command and on the bare ``wattguard``."""
    parser.add_argument("--meters", type=int, default=100, help="meters in all (default 100)")
    parser.add_argument(
        "--per-terminal", type=int, default=25, help="meters behind each terminal (default 25)"
    )
    parser.add_argument(
        "--speed", type=positive, default=60.0, help="simulated seconds per real second (60)"
    )
    parser.add_argument(
        "--duration", type=positive, default=None, help="stop after this many real seconds"
    )
    parser.add_argument(
        "--virtual", action="store_true", help="no sockets: run simulated time flat out"
    )
    parser.add_argument(
        "--days", type=positive, default=1.0, help="with --virtual: simulated days (1)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="make the run reproducible, master keys included (anyone knowing the seed can "
        "recompute them: tests only); default: fresh random keys, loads from seed 0",
    )
    parser.add_argument(
        "--hplc-loss", type=float, default=0.0, help="per-hop frame loss on HPLC, 0..1 (0)"
    )
    parser.add_argument(
        "--database",
        default="sqlite://",
        help="the station's storage: sqlite:///station.db, postgresql://... (memory)",
    )
    parser.add_argument(
        "--api-port", type=int, default=8080, help="the station's REST API port (8080; 0: any)"
    )
    parser.add_argument(
        "--no-districts",
        action="store_true",
        help="no supply meter per terminal, no seeded irregular meter, no analytics job",
    )
    parser.add_argument(
        "--vendor-key",
        default=None,
        metavar="PEM",
        help="the meters' firmware vendor key (SM2, PEM; made if missing): sign images for "
        "the demo with `wattguard firmware --vendor-key PEM` (default: a key of this run)",
    )
    parser.add_argument(
        "--unprotected",
        action="store_true",
        help="switch the protection off: no ESAMs, no MACs, nothing verified",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo: in simulated time flat out (``--virtual``), or live on loopback TCP."""
    from wattguard.runtime.deployment import DeploymentConfig

    config = DeploymentConfig(
        meters=args.meters,
        per_terminal=args.per_terminal,
        speed=args.speed,
        seed=args.seed,
        hplc_loss=args.hplc_loss,
        protected=not args.unprotected,
        database=args.database,
        districts=not args.no_districts,
        # the evening: the first day closes soon, and the loads are high enough for the
        # operations walkthrough's over-current alarm (runtime/showcase.py); live without
        # districts, simulated time is the real time
        start=_evening() if args.virtual or not args.no_districts else None,
        # live, the FEP and the station sign and check every bus message as the separate
        # processes do (a few ms of CPU a second); flat out in virtual time it would cost a
        # third of the run, so the virtual demo keeps the bare bus
        sealed_bus=not args.unprotected and not args.virtual,
    )
    return _virtual(args, config) if args.virtual else _live(args, config)


def _keys(config: DeploymentConfig) -> str:
    if not config.protected:
        return "master keys: none (--unprotected)"
    if config.seed is None:
        return "master keys: fresh random ones, this run only"
    return f"master keys: derived from --seed {config.seed} (reproducible: anyone can derive them)"


def _storage(database: str) -> str | None:
    """A warning when the station's storage is memory: everything it holds is lost at exit."""
    if database.split("?", 1)[0] in ("sqlite://", "sqlite:///:memory:"):
        return (
            f"storage: in memory (--database {database}): readings, events and alerts are "
            "lost when the demo exits; --database sqlite:///station.db keeps them"
        )
    return None


def _evening() -> float:
    """21:30 UTC today: a live demo's simulated clock starts there, so that its first day
    closes (and the analytics job shows results, at 02:00) a few minutes after the start."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    return now.replace(hour=21, minute=30, second=0, microsecond=0).timestamp()


def _districts(config: DeploymentConfig) -> None:
    if config.districts:
        print(
            "districts: a supply meter at each terminal's transformer, technical losses, and "
            "one seeded irregular customer each (bypass, +/-2 % meter error, evening theft, broken "
            "meter, in turn); the station's analytics job takes in each "
            "complete day (wattguard analyse --database URL reports)"
            + ("" if config.start is None else "; simulated time starts at 21:30 UTC")
        )


def _terminals(n: int) -> str:
    return f"{n} terminal" if n == 1 else f"{n} terminals"


def _vendor(args: argparse.Namespace) -> sm2.PrivateKey | None:
    """The vendor key of ``--vendor-key`` (made if the file is missing), or None."""
    if getattr(args, "vendor_key", None) is None:
        return None
    from wattguard.cli.firmware import vendor_key

    return vendor_key(args.vendor_key)


def _virtual(args: argparse.Namespace, config: DeploymentConfig) -> int:
    from wattguard.runtime.charging_runtime import charge_in
    from wattguard.runtime.deployment import Deployment, virtual_clock

    tty = sys.stdout.isatty()
    deployment = Deployment(config, virtual_clock(config), vendor=_vendor(args))
    print(
        f"wattguard demo (virtual): {deployment.meter_count} meters behind "
        f"{_terminals(len(deployment.nets))}, {args.days:g} simulated day(s) as fast as "
        "this machine allows"
    )
    print(_keys(config))
    _districts(config)
    charging = charge_in(deployment)
    if (warning := _storage(config.database)) is not None:
        print(warning)
    began = time.monotonic()
    shown = [-1]

    def progress(done: float) -> None:
        percent = int(done * 100)
        if percent != shown[0] and (tty or percent % 10 == 0):
            shown[0] = percent
            line = f"  {percent:3d}%  {deployment.summary().line()}"
            print("\r" + line if tty else line, end="" if tty else "\n", flush=True)

    showcase = _showcase(deployment, tty)
    summary = deployment.run_virtual(args.days * 86400, progress)
    if tty:
        print()
    took = time.monotonic() - began
    print(
        f"done in {took:.1f} s: {summary.readings:,} readings stored "
        f"({summary.readings / took:,.0f}/s), {summary.security_events} security events"
    )
    print(summary.final())
    _showcase_summary(showcase)
    if charging is not None:
        print(charging.summary().line())
    return 0


def _showcase(deployment: Deployment, tty: bool) -> Showcase:
    """The operations walkthrough (a rule, an over-current alarm, a tariff change, a trip),
    each step printed as it happens, over the progress line on a terminal."""
    from wattguard.runtime.showcase import Showcase

    def say(text: str) -> None:
        print("\r\033[K" + text if tty else text, flush=True)

    showcase = Showcase(deployment, say)
    deployment.on_tick.append(showcase.step)
    print("operations: a rule, an over-current alarm, a tariff change and a trip follow:")
    return showcase


def _showcase_summary(showcase: Showcase) -> None:
    print("operations:")
    for line in showcase.lines():
        print(f"  {line}")


def _live(args: argparse.Namespace, config: DeploymentConfig) -> int:
    from wattguard.runtime.charging_runtime import charge_in
    from wattguard.runtime.deployment import Deployment, live_clock, random_users
    from wattguard.station.users import new_token

    tty = sys.stdout.isatty()
    # Each run makes its own tokens: a fixed token on a listening port is anyone's.
    deployment = Deployment(
        config, live_clock(config), users=random_users(new_token), vendor=_vendor(args)
    )
    print(
        f"wattguard demo: {deployment.meter_count} meters behind "
        f"{_terminals(len(deployment.nets))}, one front-end processor on loopback TCP, "
        f"the station; simulated time runs at {args.speed:g}x. Ctrl-C stops."
    )
    print(_keys(config))
    _districts(config)
    charging = charge_in(deployment)
    if (warning := _storage(config.database)) is not None:
        print(warning)
    if config.sealed_bus:
        print("bus: every message signed by the FEP or the station, checked by the other")

    def report(summary: object) -> None:
        line = summary.line()  # type: ignore[attr-defined]
        print("\r" + line if tty else line, end="" if tty else "\n", flush=True)

    showcase = _showcase(deployment, tty)
    live = deployment.run_live(
        args.duration, report, api_port=args.api_port, on_api=_print_api(deployment.users)
    )
    try:
        summary = asyncio.run(live)
    except KeyboardInterrupt:
        # run_live's own cleanup has run (the interrupt cancels it); the storage is still open
        print("\nstopped")
        print(deployment.summary().final(), flush=True)
        _showcase_summary(showcase)
        if charging is not None:
            print(charging.summary().line(), flush=True)
        return 0
    if tty:
        print()
    print(summary.final())
    _showcase_summary(showcase)
    if charging is not None:
        print(charging.summary().line())
    return 0


def _print_api(users: dict[str, User]) -> Callable[[int], None]:
    """What to print once the API listens: where, and this run's tokens."""
    from wattguard.station.commands import Role

    def api_ready(port: int) -> None:
        url = f"http://127.0.0.1:{port}/"
        operator = next(t for t, u in users.items() if u.role is Role.OPERATOR)
        print(f"dashboard on {url}#token={operator} (signs the operator in)")
        print(f"station API on {url}docs ; this run's tokens (Authorization: Bearer ...):")
        for token, user in users.items():
            print(f"  {token:<34} {user.name} ({user.role.name.lower()})")

    return api_ready
