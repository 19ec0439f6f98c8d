"""``wattguard attack``: the attack scenarios, protected and unprotected, and their report."""

from __future__ import annotations

import argparse

from wattguard.cli._common import Commands
from wattguard.errors import ConfigError

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``attack`` command."""
    attack = commands.add_parser(
        "attack", help="run the attack scenarios, protected and unprotected, and report"
    )
    attack.add_argument("name", nargs="?", default="all", help="a scenario, or all (default)")
    attack.add_argument("--html", default=None, help="also write the HTML report here")
    attack.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run one scenario or all, print the table (and write the HTML report); 1 if any attack
    got through where the protection should hold."""
    from wattguard import attacks
    from wattguard.attacks.report import html_report, table

    if args.name != "all" and args.name not in attacks.REGISTRY:
        known = ", ".join(sorted(attacks.REGISTRY))
        raise ConfigError(f"no attack scenario {args.name!r}; choose all or one of: {known}")

    def progress(found: object) -> None:
        print(f"  running {found.number:>2} {found.name} ...", flush=True)  # type: ignore[attr-defined]

    results = attacks.run_all(progress) if args.name == "all" else [attacks.run(args.name)]
    print(table(results))
    if args.html:
        with open(args.html, "w") as out:
            out.write(html_report(results))
        print(f"report with the evidence: {args.html}")
    return 0 if all(r.holds for r in results) else 1
