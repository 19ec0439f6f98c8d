"""The production layout's configuration files in deploy/ parse: each NATS cluster node's
configuration passes ``nats-server -t`` (with the authorization block ``wattguard bus --init``
writes), the systemd units parse as unit files and run commands wattguard's own parser
accepts, and the PostgreSQL settings are ones the server knows, with values it takes."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from wattguard.testing.services import NATS_SERVER, POSTGRES_URL, require
from wattguard.testing.storage import postgres_unreachable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NODES = sorted((DEPLOY / "nats-cluster").glob("nats-*.conf"))
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def test_the_layout_is_there() -> None:
    assert [node.name for node in NODES] == ["nats-1.conf", "nats-2.conf", "nats-3.conf"]
    names = {unit.name for unit in UNITS}
    assert {"wattguard-fep@.service", "wattguard-ingest@.service", "wattguard-api.service",
            "nats-server.service"} <= names  # fmt: skip


@pytest.mark.parametrize("node", NODES, ids=lambda p: p.name)
def test_each_cluster_node_configuration_passes_nats_server_t(node: Path, tmp_path: Path) -> None:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    pytest.importorskip("nkeys", reason="the nats extra (nkeys) is absent")
    from wattguard.runtime.buskeys import AUTHORIZATION, init_bus

    init_bus(tmp_path / "bus", ["fep-1", "fep-2"])
    shutil.copy(node, tmp_path / node.name)
    shutil.copy(tmp_path / "bus" / AUTHORIZATION, tmp_path / AUTHORIZATION)
    checked = subprocess.run([NATS_SERVER, "-t", "-c", str(tmp_path / node.name)],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = node.read_text()
    assert text.count("nats-route://") == 2 and f'"{node.stem}"' in text
    others = {n.stem for n in NODES} - {node.stem}
    assert all(f"{other}.grid.example:6222" in text for other in others)


def test_without_its_authorization_a_node_does_not_start(tmp_path: Path) -> None:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    shutil.copy(NODES[0], tmp_path / NODES[0].name)
    checked = subprocess.run([NATS_SERVER, "-t", "-c", str(tmp_path / NODES[0].name)],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert checked.returncode != 0, "the include is checked: a missing file is an error"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(path.read_text(), source=str(path))
    return parser


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_systemd_unit_parses(unit: Path, tmp_path: Path) -> None:
    parsed = _unit(unit)
    assert parsed.sections() == ["Unit", "Service", "Install"]
    assert parsed["Unit"]["Description"]
    assert parsed["Service"]["ExecStart"].startswith("/")
    assert parsed["Install"]["WantedBy"] == "multi-user.target"
    if shutil.which("systemd-analyze") is None:
        return
    # systemd's own reading, where it is installed: no unknown keys or sections, no value it
    # cannot parse (the programs themselves are not installed here, so that line is expected)
    shutil.copy(unit, tmp_path / unit.name)
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / unit.name)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    complaints = [line for line in (checked.stdout + checked.stderr).splitlines()
                  if line.strip() and "is not executable" not in line]  # fmt: skip
    assert complaints == []


@pytest.mark.parametrize("unit", [u for u in UNITS if u.name.startswith("wattguard")],
                         ids=lambda p: p.name)  # fmt: skip
def test_each_wattguard_unit_runs_a_command_wattguard_accepts(unit: Path) -> None:
    from wattguard.cli import build_parser

    environment = dict(
        line.split("=", 1)
        for line in (DEPLOY / "systemd" / "wattguard.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    command = _unit(unit)["Service"]["ExecStart"].replace("%i", "fep-1")
    for name, value in environment.items():
        command = command.replace("${" + name + "}", value)
    arguments = shlex.split(command)[1:]
    assert "$" not in " ".join(arguments), "every variable comes from wattguard.env"
    parsed = build_parser().parse_args(arguments)
    assert parsed.jetstream and parsed.replicas == 3


POSTGRES_CONF = DEPLOY / "postgresql" / "wattguard.conf"
_UNITS = {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}
_TIMES = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400}


def _settings(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, value = line.partition("=")
            pairs[name.strip()] = value.strip().strip("'")
    return pairs


def test_the_postgresql_settings_are_the_servers_own_and_in_range() -> None:
    """Each setting of deploy/postgresql/wattguard.conf is one the running server knows, of
    its type, within its bounds (memory and times in the server's units), an enum one of its
    values: a misspelt name or a value the server would refuse at start fails here."""
    problem = postgres_unreachable()
    require(problem is None, problem or "")
    import psycopg

    settings = _settings(POSTGRES_CONF)
    assert {"shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"} <= set(
        settings
    )
    with psycopg.connect(POSTGRES_URL) as db:
        rows = db.execute(
            "SELECT name, vartype, unit, min_val, max_val, enumvals FROM pg_settings "
            "WHERE name = ANY(%s)",
            (list(settings),),
        ).fetchall()
    known = {row[0]: row[1:] for row in rows}
    assert set(settings) == set(known), f"unknown to the server: {set(settings) - set(known)}"
    for name, value in settings.items():
        vartype, unit, low, high, choices = known[name]
        if vartype == "enum":
            assert value in choices, (name, value, choices)
        elif vartype == "bool":
            assert value in ("on", "off", "true", "false"), (name, value)
        elif vartype == "integer":
            digits = value.rstrip("kMGTBminsdh")
            suffix = value[len(digits) :]
            assert digits.isdigit(), (name, value)
            amount = float(digits)
            if unit and unit[-1] == "B":  # memory: "8kB" pages, "MB"...
                base = unit.lstrip("0123456789") or "kB"
                scale = float(unit[: len(unit) - len(base)] or 1) * _UNITS[base]
                amount = amount * _UNITS[suffix or base] / scale
            elif unit in _TIMES:
                amount = amount * _TIMES[suffix or unit] / _TIMES[unit]
            else:
                assert not suffix, (name, value)
            assert float(low) <= amount <= float(high), (name, value, low, high)
