"""The CA key encrypted at rest under its own passphrase (issue #14): ``wattguard pki --init
--encrypt-key`` seals ``ca.key``; the administrator's later commands need the passphrase, the
services never read the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wattguard.cli import main
from wattguard.clock import SystemClock
from wattguard.errors import ConfigError
from wattguard.network.utility import UtilityPki, ca_key_sealed

STRONG = "a separate long CA passphrase"


def test_a_sealed_ca_key_opens_only_with_its_passphrase(tmp_path: Path) -> None:
    clock = SystemClock()
    made = UtilityPki.create(clock)
    made.save(tmp_path, ca_passphrase=STRONG, random=os.urandom)
    data = (tmp_path / "ca.key").read_bytes()
    assert ca_key_sealed(tmp_path) and b"PRIVATE KEY" not in data
    assert made.ca is not None and made.ca.key.to_pem() not in data
    with pytest.raises(ConfigError, match="is encrypted: give its passphrase"):
        UtilityPki.load(tmp_path, clock)
    with pytest.raises(ConfigError, match=r"passphrase of .* is wrong"):
        UtilityPki.load(tmp_path, clock, ca_passphrase="another long passphrase")
    damaged = bytearray(data)
    damaged[60] = ord("A") if damaged[60] != ord("A") else ord("B")
    (tmp_path / "ca.key").write_bytes(bytes(damaged))
    with pytest.raises(ConfigError):
        UtilityPki.load(tmp_path, clock, ca_passphrase=STRONG)
    (tmp_path / "ca.key").write_bytes(data)
    opened = UtilityPki.load(tmp_path, clock, ca_passphrase=STRONG)
    assert opened.ca is not None and opened.ca.key.to_pem() == made.ca.key.to_pem()
    # the services' view never needs it
    assert UtilityPki.load_party(tmp_path, clock, "fep").fep is not None


def test_the_pki_command_seals_and_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(tmp_path / "pki")
    monkeypatch.setenv("WATTGUARD_CA_PASSPHRASE", "short")
    assert main(["pki", "--init", "--encrypt-key", "--pki", folder]) == 2
    assert "too weak for the CA key" in capsys.readouterr().err
    monkeypatch.setenv("WATTGUARD_CA_PASSPHRASE", STRONG)
    assert main(["pki", "--init", "--encrypt-key", "--pki", folder]) == 0
    assert main(["pki", "--enrol", "990000000001", "--pki", folder]) == 0
    assert ca_key_sealed(Path(folder))  # still sealed after the CA's state was saved again
    monkeypatch.delenv("WATTGUARD_CA_PASSPHRASE")
    assert main(["pki", "--crl", "--pki", folder]) == 2
    assert "set WATTGUARD_CA_PASSPHRASE" in capsys.readouterr().err
    monkeypatch.setenv("WATTGUARD_CA_PASSPHRASE", "not the CA's passphrase")
    assert main(["pki", "--revoke", "990000000001", "--pki", folder]) == 2
    assert "is wrong" in capsys.readouterr().err
