"""`wattguard fep`, `station` and `terminal` as separate processes over TCP and NATS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from wattguard.testing.processes import spawn, stop
from wattguard.testing.services import NATS_URL, free_port, nats_reachable, require

PASSPHRASE = {"WATTGUARD_PASSPHRASE": "correct horse battery staple"}


def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return spawn(*args, env={**PASSPHRASE, **(env or {})})


def _run(*args: str) -> str:
    made = subprocess.run(
        [sys.executable, "-m", "wattguard", *args],
        capture_output=True, text=True, timeout=60, env={**os.environ, **PASSPHRASE},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return made.stdout


def _get(url: str, token: str) -> dict[str, object]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


@pytest.mark.parametrize("protected", [True, False])
def test_each_role_as_its_own_process(protected: bool, tmp_path: Path) -> None:
    """Protected: the cryptographic device as its own service, the station reaching it over
    the WAN channel, terminals reaching the FEP over it too, every reading verified.
    Unprotected: station, FEP and terminal with nothing of that."""
    require(nats_reachable(NATS_URL), f"no NATS server at {NATS_URL} (set WATTGUARD_NATS_URL)")
    port, cipher_port = free_port(), free_port()
    # a private terminal address keeps parallel runs on the shared NATS server apart
    address = f"99{uuid.uuid4().int % 10**10:010d}"
    vault, pki, station_security = [], [], []
    processes: list[subprocess.Popen[str]] = []
    if protected:
        _run("cipher", "--init", "--vault", str(tmp_path / "keys.vault"))
        _run("pki", "--init", "--pki", str(tmp_path / "pki"))
        _run("pki", "--enrol", address, "--pki", str(tmp_path / "pki"))
        # the CA key goes offline: no service may need it
        (tmp_path / "pki" / "ca.key").rename(tmp_path / "ca.key.offline")
        vault = ["--vault", str(tmp_path / "keys.vault")]
        pki = ["--pki", str(tmp_path / "pki")]
        cipher = _spawn("cipher", "--serve", *vault, *pki, "--listen", f"127.0.0.1:{cipher_port}")
        processes.append(cipher)
        assert cipher.stdout is not None and "serving" in cipher.stdout.readline()
        station_security = ["--cipher", f"127.0.0.1:{cipher_port}", *pki]
    database = f"sqlite:///{tmp_path / 'station.db'}"
    token = _run("users", "add", "vera", "--role", "viewer", "--database", database).split()[-1]
    api_port = free_port()
    # the station configured by a file, the FEP by its environment
    settings = tmp_path / "wattguard.toml"
    settings.write_text(
        f'[station]\nbus = "{NATS_URL}"\ndatabase = "{database}"\napi-port = {api_port}\n'
    )
    # the terminal simulates 900 times faster than real time: its meters' clocks run ahead
    station = _spawn(
        "station", "--config", str(settings), *station_security, "--clock-tolerance", "inf"
    )
    fep = _spawn(
        "fep",
        *pki,
        env={"WATTGUARD_FEP_LISTEN": f"127.0.0.1:{port}", "WATTGUARD_FEP_BUS": NATS_URL},
    )
    processes += [station, fep]
    try:
        assert station.stdout is not None and fep.stdout is not None
        first = station.stdout.readline()
        assert "collecting" in first
        assert ("verifying every reading's MAC" in first) == protected
        assert f"API and dashboard on http://127.0.0.1:{api_port}/ for 1 users" in (
            station.stdout.readline()
        )
        assert ("WAN secure channel" in fep.stdout.readline()) == protected
        terminal = _spawn(
            "terminal", "--address", address, "--fep", f"127.0.0.1:{port}", "--meters", "5",
            "--speed", "900", *vault, *pki,
        )  # fmt: skip
        processes.append(terminal)
        deadline = time.monotonic() + 40
        readings = 0
        while time.monotonic() < deadline and readings < 50:
            line = station.stdout.readline()
            match = re.search(r"station: ([\d,]+) readings from (\d+) terminals", line)
            if match:
                readings = int(match.group(1).replace(",", ""))
        assert readings >= 50
        api = f"http://127.0.0.1:{api_port}"
        assert _get(f"{api}/api/whoami", token) == {"name": "vera", "role": "viewer"}
        summary = _get(f"{api}/api/summary", token)
        assert isinstance(summary["readings_stored"], int) and summary["readings_stored"] >= 50
        with pytest.raises(urllib.error.HTTPError, match="401"):
            _get(f"{api}/api/summary", "not-vera's-token")
    finally:
        stop(processes)


def test_a_vault_is_never_overwritten_and_needs_its_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "keys.vault"
    path.write_bytes(b"precious")
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "cipher", "--init", "--vault", str(path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **PASSPHRASE},
    )  # fmt: skip
    assert result.returncode == 2 and "never overwritten" in result.stderr
    assert path.read_bytes() == b"precious"


def test_bad_role_options_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "terminal", "--fep", "nowhere"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "expected HOST:PORT" in result.stderr


def test_the_pki_commands(tmp_path: Path) -> None:
    folder = str(tmp_path / "pki")
    assert "enrol each terminal" in _run("pki", "--init", "--pki", folder)
    assert "enrolled" in _run("pki", "--enrol", "990000000001", "--pki", folder)
    assert (tmp_path / "pki" / "terminal-990000000001.key").exists()
    crl = (tmp_path / "pki" / "ca.crl").read_bytes()
    assert "revoked" in _run("pki", "--revoke", "990000000001", "--pki", folder)
    assert (tmp_path / "pki" / "ca.crl").read_bytes() != crl
    assert "CRL signed" in _run("pki", "--crl", "--pki", folder)
    for args, reason in [
        (("--enrol", "990000000001"), "already enrolled"),
        (("--revoke", "990000000002"), "has no certificate"),
        (("--enrol", "12ab"), "12 decimal digits"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "wattguard", "pki", *args, "--pki", folder],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 2 and reason in result.stderr, result.stderr
    # a terminal that was never enrolled is told how to be
    result = subprocess.run(
        [sys.executable, "-m", "wattguard", "terminal", "--address", "990000000005",
         "--pki", folder],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "wattguard pki --enrol 990000000005" in result.stderr
