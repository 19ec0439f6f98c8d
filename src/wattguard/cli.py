"""The ``wattguard`` command. With no arguments it runs the demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import wattguard


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
    print("wattguard demo: the meter, network and station are not built yet (issues 4-5);")
    print("until they are, the demo runs the crypto layer's self-check.\n")
    return _print_self_check()


def _selfcheck(args: argparse.Namespace) -> int:
    return _print_self_check()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wattguard",
        description="Secure smart metering: meters, network, station, and the attacks on them.",
    )
    parser.add_argument("--version", action="version", version=f"wattguard {wattguard.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="run the whole system in one process (default)")
    demo.set_defaults(run=_demo)
    check = commands.add_parser(
        "selfcheck", help="check the crypto layer against published examples"
    )
    check.set_defaults(run=_selfcheck)
    parser.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.run(args)
    return result
