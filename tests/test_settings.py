"""Options of the service commands from a TOML file and the environment, under the command
line, with every unknown or malformed setting refused by name."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import pytest

from wattguard.cli import build_parser, main
from wattguard.errors import ConfigError
from wattguard.settings import apply_settings


def parse(argv: list[str], environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    apply_settings(parser, argv, environ or {})
    return parser.parse_args(argv)


STATION = """
[station]
database = "sqlite:///from-file.db"
api-port = 9090
no-api = false
cipher = "127.0.0.1:8766"

[fep]
listen = "127.0.0.1:9765"
"""


def test_the_command_line_beats_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "wattguard.toml"
    config.write_text(STATION)
    args = parse(["station", "--config", str(config)])
    assert (args.database, args.api_port, args.no_api) == ("sqlite:///from-file.db", 9090, False)
    assert args.cipher == "127.0.0.1:8766" and args.bus.startswith("nats://")  # a default
    environ = {"WATTGUARD_STATION_API_PORT": "7070", "WATTGUARD_STATION_NO_API": "yes"}
    args = parse(["station", "--config", str(config)], environ)
    assert (args.database, args.api_port, args.no_api) == ("sqlite:///from-file.db", 7070, True)
    args = parse(["station", "--config", str(config), "--api-port", "6060"], environ)
    assert args.api_port == 6060
    # WATTGUARD_CONFIG names the file when --config does not; each command reads its own table
    args = parse(["fep"], {"WATTGUARD_CONFIG": str(config)})
    assert args.listen == "127.0.0.1:9765"
    assert parse(["fep"]).listen == "127.0.0.1:8765"


@pytest.mark.parametrize(
    ("text", "environ", "reason"),
    [
        (
            "[station]\ndatabse = 'x'\n",
            {},
            "has no setting 'databse'; known: answer-window, api-port",
        ),
        ("[stations]\n", {}, "no command 'stations'"),
        ("[station\n", {}, "not valid TOML"),
        ("[station]\nno-api = 'maybe'\n", {}, "is a switch"),
        ("[station]\ndatabase = ['a', 'b']\n", {}, "single value"),
        ("station = 3\n", {}, "must be a table"),
        ("", {"WATTGUARD_STATION_DATABSE": "x"}, "WATTGUARD_STATION_DATABSE names no setting"),
        ("[cipher]\nserve = true\n", {}, "has no setting 'serve'"),  # modes stay on the line
    ],
)
def test_unknown_and_malformed_settings_are_refused_by_name(
    tmp_path: Path, text: str, environ: dict[str, str], reason: str
) -> None:
    config = tmp_path / "wattguard.toml"
    config.write_text(text)
    command = "cipher" if "cipher" in text else "station"
    with pytest.raises(ConfigError, match=reason.replace("[", r"\[")):
        apply_settings(build_parser(), [command, "--config", str(config)], environ)


def test_values_get_the_command_lines_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wattguard.toml"
    config.write_text("[station]\napi-port = 'eighty'\n")
    with pytest.raises(SystemExit):
        parse(["station", "--config", str(config)])
    assert "invalid int value: 'eighty'" in capsys.readouterr().err


def test_the_command_says_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the settings file" in capsys.readouterr().err
    config = tmp_path / "wattguard.toml"
    config.write_text("[users]\ndatabase = 'sqlite:///" + str(tmp_path / "s.db") + "'\n")
    # the file's database is used: listing does not create it (issue #14), adding does
    assert main(["users", "list", "--config", str(config)]) == 2
    assert f"no station database at {tmp_path / 's.db'}" in capsys.readouterr().err
    assert main(["users", "add", "vera", "--role", "viewer", "--config", str(config)]) == 0
    assert main(["users", "list", "--config", str(config)]) == 0
    assert "vera" in capsys.readouterr().out
