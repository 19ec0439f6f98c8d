"""The cryptographic device's files (vault, counters, audit log) are 0600 from creation,
whatever the umask, and a vault that group or others can write is refused (issue #13 item 5)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wattguard.cipher import CryptoDevice, load_vault, save_vault
from wattguard.crypto import sm2
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.protocol import OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.secretfile import UnprotectedSecretError
from wattguard.testing import T0
from wattguard.testing.files import umask, watch_modes

KEYS = MasterKeys(1, {k: bytes([k * 5 % 256]) * 16 for k in KeyId})
METER = bytes.fromhex("000000000021")
ALARM = ActionRequest(1, OMD(0x8000, 127, 0), Data(DataType.NULL, None)).to_bytes()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_vault_is_0600_from_creation_under_umask_0(tmp_path: Path) -> None:
    vault = tmp_path / "keys.vault"
    with umask(0), watch_modes(tmp_path) as watch:
        save_vault(vault, [KEYS], "pass phrase", iterations=1000)
        save_vault(vault, [KEYS], "pass phrase", iterations=1000)  # rewritten
    assert watch.loose() == [] and mode(vault) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["keys.vault"]
    assert load_vault(vault, "pass phrase") == [KEYS]


def test_a_vault_group_or_others_can_write_is_refused(tmp_path: Path) -> None:
    vault = tmp_path / "keys.vault"
    save_vault(vault, [KEYS], "pass phrase", iterations=1000)
    vault.chmod(0o666)
    with pytest.raises(UnprotectedSecretError, match="chmod 600"):
        load_vault(vault, "pass phrase")
    with pytest.raises(UnprotectedSecretError):
        CryptoDevice.open(vault, "pass phrase")


def test_the_device_state_and_audit_log_are_0600_under_umask_0(tmp_path: Path) -> None:
    vault, audit, state = tmp_path / "v", tmp_path / "v.audit", tmp_path / "v.state"
    with umask(0), watch_modes(tmp_path) as watch:
        save_vault(vault, [KEYS], "pass phrase", iterations=1000)
        device = CryptoDevice.open(
            vault, "pass phrase", audit_path=audit, state_path=state,
            ca_key=sm2.PrivateKey.generate(), clock=lambda: T0,
        )  # fmt: skip
        device.protect(METER, ALARM)
    assert state.exists() and audit.read_text().startswith('{"seq": 0')
    assert watch.loose() == []
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        "v": 0o600, "v.audit": 0o600, "v.state": 0o600, "v.state.journal": 0o600,
    }  # fmt: skip
