"""``wattguard selfcheck``: the crypto layer against published examples."""

from __future__ import annotations

import argparse
import sys

from wattguard.cli._common import Commands

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``selfcheck`` command."""
    check = commands.add_parser(
        "selfcheck", help="check the crypto layer against published examples"
    )
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run every self-check and print each result; 1 if any failed."""
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
