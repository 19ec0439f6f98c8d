"""Settings of the service commands from a file and from the environment.

`wattguard cipher|station|fep|terminal|users` take each option from, first to last:

1. the command line (``--database sqlite:///station.db``);
2. the environment, ``WATTGUARD_<COMMAND>_<OPTION>`` (``WATTGUARD_STATION_DATABASE``,
   ``WATTGUARD_STATION_API_PORT``; a switch such as ``--no-api`` takes 1/true/yes/on or
   0/false/no/off);
3. a TOML file named by ``--config FILE`` or ``WATTGUARD_CONFIG``, one table per command, keys
   the options' long names::

       [station]
       database = "sqlite:///station.db"
       api-port = 8080
       cipher = "127.0.0.1:8766"
       pki = "pki"

4. the defaults the command's ``--help`` shows.

A key or variable that names no option of the command is refused with the list of those that
do, so a misspelt setting cannot be silently ignored. Values go through the same checks as on
the command line. The choices that say what a command does (``cipher --init|--serve``, ``pki
--enrol ...``, the ``users`` action) stay on the command line. Secrets do not belong in the file:
the vault passphrase comes from ``WATTGUARD_PASSPHRASE`` or the terminal, API tokens from
`wattguard users`.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wattguard.errors import ConfigError

__all__ = ["CONFIGURABLE", "apply_settings"]

#: The commands whose options a file or the environment may give.
CONFIGURABLE = ("cipher", "station", "fep", "terminal", "users", "meters", "pki", "meter")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _config_path(argv: Sequence[str], environ: Mapping[str, str]) -> Path | None:
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            return Path(argv[index + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    named = environ.get("WATTGUARD_CONFIG")
    return Path(named) if named else None


def _settable(sub: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long option name (without --) -> action, for the options a file may give."""
    fixed = {
        id(action)
        for group in sub._mutually_exclusive_groups
        if group.required
        for action in group._group_actions
    }
    out = {}
    for action in sub._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or action.dest in ("help", "config") or id(action) in fixed:
            continue
        out[longs[0][2:]] = action
    return out


def _value(action: argparse.Action, raw: object, where: str) -> object:
    if isinstance(action, argparse._StoreTrueAction):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ConfigError(f"{where} is a switch: 1/true/yes/on or 0/false/no/off, not {raw!r}")
    if isinstance(raw, bool | dict | list):
        raise ConfigError(f"{where} takes a single value, not {raw!r}")
    return str(raw)  # a string default goes through the option's own type check


def apply_settings(
    parser: argparse.ArgumentParser, argv: Sequence[str], environ: Mapping[str, str]
) -> None:
    """Set the defaults of the command named in ``argv`` from the file and the environment
    (see the module docstring); the command line, parsed afterwards, still wins."""
    commands = _subcommands(parser)
    command = next((arg for arg in argv if arg in commands), None)
    if command is None or command not in CONFIGURABLE:
        return
    sub = commands[command]
    options = _settable(sub)
    defaults: dict[str, object] = {}
    path = _config_path(argv, environ)
    if path is not None:
        try:
            table = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read the settings file {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        unknown = sorted(set(table) - set(CONFIGURABLE))
        if unknown:
            raise ConfigError(
                f"{path}: no command {unknown[0]!r}; tables are {', '.join(CONFIGURABLE)}"
            )
        section: Any = table.get(command, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{command}] must be a table")
        for key, raw in section.items():
            action = options.get(key)
            if action is None:
                known = ", ".join(sorted(options))
                raise ConfigError(f"{path}: [{command}] has no setting {key!r}; known: {known}")
            defaults[action.dest] = _value(action, raw, f"{path}: [{command}] {key}")
    prefix = f"WATTGUARD_{command.upper()}_"
    by_variable = {prefix + name.upper().replace("-", "_"): a for name, a in options.items()}
    for variable, raw in environ.items():
        if not variable.startswith(prefix):
            continue
        action = by_variable.get(variable)
        if action is None:
            known = ", ".join(sorted(by_variable))
            raise ConfigError(
                f"{variable} names no setting of `wattguard {command}`; known: {known}"
            )
        defaults[action.dest] = _value(action, raw, variable)
    if defaults:
        sub.set_defaults(**defaults)
