"""``wattguard users``: the station's API users (add, list, token, disable)."""

from __future__ import annotations

import argparse

from wattguard.cli._common import DATABASE, Commands, existing_database

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``users`` command."""
    users = commands.add_parser(
        "users", help="the station's API users: add, list, token (a new one), disable"
    )
    users.add_argument("action", choices=("add", "list", "token", "disable"))
    users.add_argument("name", nargs="?", default=None, help="the user's name (not for list)")
    users.add_argument(
        "--role", choices=("viewer", "operator", "supervisor"), help="for add: what they may do"
    )
    users.add_argument(
        "--database", default=DATABASE, help=f"the station's storage URL ({DATABASE})"
    )
    users.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Carry out the users action on the station's storage."""
    from wattguard.runtime import roles

    database = args.database if args.action == "add" else existing_database(args.database)
    return roles.manage_users(database, args.action, args.name, args.role)
