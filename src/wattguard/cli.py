"""The ``wattguard`` command. With no arguments it runs the demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import wattguard
from wattguard.errors import ConfigError
from wattguard.settings import CONFIGURABLE, apply_settings


def _print_self_check() -> int:
    from wattguard.crypto import self_check

    results = self_check()
    width = max(len(r.name) for r in results)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        print(f"  {mark} {result.name:<{width}}  {result.detail}  ({result.seconds * 1000:.1f} ms)")
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(f"crypto self-check FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("crypto self-check passed")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from wattguard.runtime.deployment import (
        Deployment,
        DeploymentConfig,
        live_clock,
        random_users,
        virtual_clock,
    )
    from wattguard.station.commands import Role
    from wattguard.station.users import new_token

    config = DeploymentConfig(
        meters=args.meters,
        per_terminal=args.per_terminal,
        speed=args.speed,
        seed=args.seed,
        hplc_loss=args.hplc_loss,
        protected=not args.unprotected,
        database=args.database,
    )
    tty = sys.stdout.isatty()
    if args.virtual:
        deployment = Deployment(config, virtual_clock(config))
        print(
            f"wattguard demo (virtual): {deployment.meter_count} meters behind "
            f"{_terminals(len(deployment.nets))}, {args.days:g} simulated day(s) as fast as "
            "this machine allows"
        )
        began = time.monotonic()
        shown = [-1]

        def progress(done: float) -> None:
            percent = int(done * 100)
            if percent != shown[0] and (tty or percent % 10 == 0):
                shown[0] = percent
                line = f"  {percent:3d}%  {deployment.summary().line()}"
                print("\r" + line if tty else line, end="" if tty else "\n", flush=True)

        summary = deployment.run_virtual(args.days * 86400, progress)
        if tty:
            print()
        took = time.monotonic() - began
        print(
            f"done in {took:.1f} s: {summary.readings:,} readings stored "
            f"({summary.readings / took:,.0f}/s), {summary.security_events} security events"
        )
        return 0
    # Each run makes its own tokens: a fixed token on a listening port is anyone's.
    deployment = Deployment(config, live_clock(config), users=random_users(new_token))
    print(
        f"wattguard demo: {deployment.meter_count} meters behind "
        f"{_terminals(len(deployment.nets))}, one front-end processor on loopback TCP, "
        f"the station; simulated time runs at {args.speed:g}x. Ctrl-C stops."
    )

    def api_ready(port: int) -> None:
        url = f"http://127.0.0.1:{port}/"
        operator = next(t for t, u in deployment.users.items() if u.role is Role.OPERATOR)
        print(f"dashboard on {url}#token={operator} (signs the operator in)")
        print(f"station API on {url}docs ; this run's tokens (Authorization: Bearer ...):")
        for token, user in deployment.users.items():
            print(f"  {token:<34} {user.name} ({user.role.name.lower()})")

    def report(summary: object) -> None:
        line = summary.line()  # type: ignore[attr-defined]
        print("\r" + line if tty else line, end="" if tty else "\n", flush=True)

    try:
        summary = asyncio.run(
            deployment.run_live(args.duration, report, api_port=args.api_port, on_api=api_ready)
        )
    except KeyboardInterrupt:
        print("\nstopped")
        return 0
    if tty:
        print()
    print(f"{summary.readings:,} readings stored; {summary.security_events} security events")
    return 0


def _meter(args: argparse.Namespace) -> int:
    from wattguard.meter.device import Meter, MeterConfig
    from wattguard.meter.management.module import LinkKeys
    from wattguard.meter.metering.module import Measurement
    from wattguard.runtime.meter import MeterServer
    from wattguard.runtime.pacing import PacedClock
    from wattguard.simulation.profile import LoadClass, LoadModel

    try:
        address = bytes.fromhex(args.address)
    except ValueError:
        address = b""
    if len(address) != 6:
        raise ConfigError(
            f"--address takes 12 decimal digits, e.g. 000000000001, not {args.address!r}"
        )
    clock = PacedClock(time.time(), args.speed)
    config = MeterConfig(protected=not args.unprotected, password=args.password)
    meter = Meter(address, keys=LinkKeys.generate(os.urandom), random=os.urandom, config=config)
    load = LoadModel.mixed(1, seed=args.seed, mix={LoadClass.HOUSEHOLD: 1.0}).load

    async def serve() -> None:
        server = MeterServer(meter, clock)
        port = await server.start(args.host, args.port)
        meter.power_up(clock.time())
        mode = "unprotected" if args.unprotected else "F101 security policy enforced"
        print(
            f"meter {args.address} answers DL/T 698.45 on {args.host}:{port} ({mode});",
            "Ctrl-C stops",
            flush=True,
        )
        try:
            while True:
                now = clock.time()
                p, q = load(now, 60.0)
                current = float((p[0] ** 2 + q[0] ** 2) ** 0.5 / 229.0)
                meter.measure(Measurement(229.0, current, float(p[0]), float(q[0])), 60.0, now)
                server.wake()
                await asyncio.sleep(60.0 / args.speed)
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        print("\nstopped")
    return 0


def _role(args: argparse.Namespace) -> int:
    from wattguard.runtime import roles

    vault = Path(args.vault) if getattr(args, "vault", None) else None
    folder = Path(args.pki) if getattr(args, "pki", None) else None
    if args.command == "pki":
        if folder is None:
            raise ConfigError("wattguard pki needs --pki DIR")
        if args.init:
            roles.init_pki(folder)
        else:
            roles.administer_pki(folder, enrol=args.enrol, revoke=args.revoke)
        return 0
    job: Any
    if args.command == "cipher":
        if vault is None:
            raise ConfigError("wattguard cipher needs --vault PATH")
        if args.init:
            roles.init_vault(vault, args.versions)
            return 0
        if folder is None:
            raise ConfigError("wattguard cipher --serve needs --pki DIR (station-only access)")
        job = roles.run_cipher(args.listen, vault, folder)
    elif args.command == "fep":
        job = roles.run_fep(args.listen, args.bus, pki_folder=folder)
    elif args.command == "station":
        job = roles.run_station(
            args.bus, database=args.database, vault=vault, cipher=args.cipher, pki_folder=folder,
            api_port=None if args.no_api else args.api_port,
        )  # fmt: skip
    else:
        job = roles.run_terminal(
            args.address, args.fep, meters=args.meters, speed=args.speed, seed=args.seed,
            vault=vault, pki_folder=folder,
        )  # fmt: skip
    try:
        asyncio.run(job)
    except KeyboardInterrupt:
        print(f"\n{args.command} stopped")
    return 0


def _users(args: argparse.Namespace) -> int:
    from wattguard.runtime import roles

    return roles.manage_users(args.database, args.action, args.name, args.role)


def _terminals(n: int) -> str:
    return f"{n} terminal" if n == 1 else f"{n} terminals"


def _attack(args: argparse.Namespace) -> int:
    from wattguard.attacks import REGISTRY, run, run_all
    from wattguard.attacks.report import html_report, table

    if args.name != "all" and args.name not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"no attack scenario {args.name!r}; choose all or one of: {known}")

    def progress(found: object) -> None:
        print(f"  running {found.number:>2} {found.name} ...", flush=True)  # type: ignore[attr-defined]

    results = run_all(progress) if args.name == "all" else [run(args.name)]
    print(table(results))
    if args.html:
        with open(args.html, "w") as out:
            out.write(html_report(results))
        print(f"report with the evidence: {args.html}")
    return 0 if all(r.holds for r in results) else 1


def _selfcheck(args: argparse.Namespace) -> int:
    return _print_self_check()


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wattguard",
        description="Secure smart metering: meters, network, station, and the attacks on them.",
    )
    parser.add_argument("--version", action="version", version=f"wattguard {wattguard.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the whole system in one process (default)")
    _demo_options(demo)
    demo.set_defaults(run=_demo)
    check = commands.add_parser(
        "selfcheck", help="check the crypto layer against published examples"
    )
    check.set_defaults(run=_selfcheck)
    attack = commands.add_parser(
        "attack", help="run the attack scenarios, protected and unprotected, and report"
    )
    attack.add_argument("name", nargs="?", default="all", help="a scenario, or all (default)")
    attack.add_argument("--html", default=None, help="also write the HTML report here")
    attack.set_defaults(run=_attack)
    meter = commands.add_parser("meter", help="serve one simulated meter over TCP")
    meter.add_argument("--address", default="000000000001", help="12 digits (000000000001)")
    meter.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    meter.add_argument("--port", type=int, default=8698, help="TCP port (8698; 0: any)")
    meter.add_argument("--speed", type=_positive, default=1.0, help="simulated time speed (1)")
    meter.add_argument("--seed", type=int, default=0, help="seed of the household load")
    meter.add_argument("--password", default=None, help="accept CONNECT with this password")
    meter.add_argument(
        "--unprotected", action="store_true", help="do not enforce the F101 security policy"
    )
    meter.set_defaults(run=_meter)
    bus = os.environ.get("WATTGUARD_BUS", "nats://127.0.0.1:4222")
    pki_help = "the utility PKI directory (wattguard pki --init): WAN secure channel on"
    fep = commands.add_parser("fep", help="run a front-end processor (TCP in, NATS bus out)")
    fep.add_argument("--listen", default="127.0.0.1:8765", help="HOST:PORT (127.0.0.1:8765)")
    fep.add_argument("--bus", default=bus, help=f"NATS URL (WATTGUARD_BUS, or {bus})")
    fep.add_argument("--pki", default=None, help=pki_help)
    fep.set_defaults(run=_role)
    pki_parser = commands.add_parser(
        "pki", help="the utility's CA: create it, enrol or revoke terminals, sign the CRL"
    )
    pki_action = pki_parser.add_mutually_exclusive_group(required=True)
    pki_action.add_argument("--init", action="store_true", help="create the CA and certificates")
    pki_action.add_argument("--enrol", metavar="ADDRESS", help="issue a terminal's certificate")
    pki_action.add_argument("--revoke", metavar="ADDRESS", help="revoke a terminal's certificate")
    pki_action.add_argument("--crl", action="store_true", help="sign a fresh CRL (daily)")
    pki_parser.add_argument("--pki", default=None, help="the directory to create")
    pki_parser.set_defaults(run=_role)
    cipher = commands.add_parser(
        "cipher", help="the cryptographic device: create its vault (--init) or serve (--serve)"
    )
    mode = cipher.add_mutually_exclusive_group(required=True)
    mode.add_argument("--init", action="store_true", help="create the key vault")
    mode.add_argument("--serve", action="store_true", help="serve the station over the WAN")
    cipher.add_argument("--vault", default=None, help="the key vault file")
    cipher.add_argument("--versions", type=int, default=1, help="master key versions (1)")
    cipher.add_argument("--listen", default="127.0.0.1:8766", help="HOST:PORT (127.0.0.1:8766)")
    cipher.add_argument("--pki", default=None, help=pki_help)
    cipher.set_defaults(run=_role)
    vault_help = "the key vault (passphrase in WATTGUARD_PASSPHRASE): protection on"
    station = commands.add_parser("station", help="run the master station on the NATS bus")
    station.add_argument("--bus", default=bus, help=f"NATS URL (WATTGUARD_BUS, or {bus})")
    station.add_argument("--database", default="sqlite:///wattguard-station.db", help="storage URL")
    station.add_argument("--vault", default=None, help=vault_help)
    station.add_argument(
        "--cipher", default=None, help="HOST:PORT of `wattguard cipher --serve` (needs --pki)"
    )
    station.add_argument("--pki", default=None, help=pki_help)
    station.add_argument(
        "--api-port", type=int, default=8080, help="the REST API and dashboard (8080; 0: any)"
    )
    station.add_argument("--no-api", action="store_true", help="serve no API or dashboard")
    station.set_defaults(run=_role)
    users = commands.add_parser(
        "users", help="the station's API users: add, list, token (a new one), disable"
    )
    users.add_argument("action", choices=("add", "list", "token", "disable"))
    users.add_argument("name", nargs="?", default=None, help="the user's name (not for list)")
    users.add_argument(
        "--role", choices=("viewer", "operator", "supervisor"), help="for add: what they may do"
    )
    users.add_argument(
        "--database", default="sqlite:///wattguard-station.db", help="the station's storage URL"
    )
    users.set_defaults(run=_users)
    terminal = commands.add_parser("terminal", help="run a terminal and its simulated meters")
    terminal.add_argument("--address", default="990000000001", help="12 digits (990000000001)")
    terminal.add_argument(
        "--fep",
        default=os.environ.get("WATTGUARD_FEP", "127.0.0.1:8765"),
        help="the FEP's HOST:PORT (WATTGUARD_FEP, or 127.0.0.1:8765)",
    )
    terminal.add_argument("--meters", type=int, default=25, help="meters behind it (25)")
    terminal.add_argument("--speed", type=_positive, default=60.0, help="simulated speed (60)")
    terminal.add_argument("--seed", type=int, default=0, help="seed of loads and channel")
    terminal.add_argument("--vault", default=None, help=vault_help)
    terminal.add_argument("--pki", default=None, help=pki_help)
    terminal.set_defaults(run=_role)
    _demo_options(parser)
    parser.set_defaults(run=_demo)
    for name in CONFIGURABLE:
        commands.choices[name].add_argument(
            "--config",
            metavar="FILE",
            help=f"a TOML file whose [{name}] table gives options (or WATTGUARD_CONFIG); "
            f"WATTGUARD_{name.upper()}_<OPTION> variables too; the command line wins",
        )
    return parser


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--meters", type=int, default=100, help="meters in all (default 100)")
    parser.add_argument(
        "--per-terminal", type=int, default=25, help="meters behind each terminal (default 25)"
    )
    parser.add_argument(
        "--speed", type=_positive, default=60.0, help="simulated seconds per real second (60)"
    )
    parser.add_argument(
        "--duration", type=_positive, default=None, help="stop after this many real seconds"
    )
    parser.add_argument(
        "--virtual", action="store_true", help="no sockets: run simulated time flat out"
    )
    parser.add_argument(
        "--days", type=_positive, default=1.0, help="with --virtual: simulated days (1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of loads and the channel")
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
        "--unprotected",
        action="store_true",
        help="switch the protection off: no ESAMs, no MACs, nothing verified",
    )


def main(argv: Sequence[str] | None = None) -> int:
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
