"""Secret files: 0600 from the first instant whatever the umask, written whole or not at all,
and refused when group or others can write them (issue #13 item 5)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from wattguard import secretfile
from wattguard.errors import ConfigError
from wattguard.secretfile import (
    UnprotectedSecretError,
    check_secret,
    create_secret,
    read_secret,
    write_secret,
)
from wattguard.testing.files import umask, watch_modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_written_under_umask_0_is_never_seen_looser_than_0600(tmp_path: Path) -> None:
    target = tmp_path / "ca.key"
    with umask(0), watch_modes(tmp_path) as watch:
        write_secret(target, b"first")
        write_secret(target, b"second")  # replacing it too
    assert watch.checks >= 4 and {name for name, _ in watch.seen} >= {"ca.key"}
    assert watch.loose() == []
    assert mode(target) == 0o600 and target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["ca.key"]  # no temporary file left


def test_the_mode_is_0600_while_the_data_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[int] = []
    real = secretfile._write_all

    def spy(fd: int, data: bytes) -> None:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real(fd, data)

    monkeypatch.setattr(secretfile, "_write_all", spy)
    with umask(0):
        write_secret(tmp_path / "k", b"key")
    assert modes == [0o600]


def test_a_loose_file_is_replaced_by_a_0600_one(tmp_path: Path) -> None:
    target = tmp_path / "old.key"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_secret(target, b"new")
    assert mode(target) == 0o600 and target.read_bytes() == b"new"


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "vault"
    write_secret(target, b"old contents")

    def crash(fd: int, data: bytes) -> None:
        os.write(fd, data[:3])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(secretfile, "_write_all", crash)
    with pytest.raises(OSError, match="No space left"):
        write_secret(target, b"new contents")
    assert os.listdir(tmp_path) == ["vault"]
    assert target.read_bytes() == b"old contents" and mode(target) == 0o600


def test_a_secret_others_can_write_is_refused_with_the_fix(tmp_path: Path) -> None:
    target = tmp_path / "terminal.key"
    write_secret(target, b"key")
    for loose in (0o620, 0o602, 0o666):
        target.chmod(loose)
        with pytest.raises(UnprotectedSecretError, match=r"chmod 600 .*terminal\.key"):
            read_secret(target)
        with pytest.raises(ConfigError, match="group or others can write"):
            check_secret(target)
    target.chmod(0o600)
    assert read_secret(target) == b"key"


def test_a_secret_others_can_read_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "legacy.key"
    target.write_bytes(b"key")
    target.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="wattguard.secretfile"):
        assert read_secret(target) == b"key"
    assert "chmod 600" in caplog.text


def test_create_secret_makes_an_empty_0600_file_once(tmp_path: Path) -> None:
    target = tmp_path / "station.db"
    with umask(0):
        assert create_secret(target) is True
        assert create_secret(target) is False
    assert mode(target) == 0o600 and target.read_bytes() == b""
    target.chmod(0o666)
    with pytest.raises(UnprotectedSecretError):
        create_secret(target)


def test_a_planted_temporary_name_is_not_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O_EXCL: a symlink planted at the temporary name is never followed (the real names are
    random, so the test makes the name predictable)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    planted = tmp_path / ".ca.key.tmp"
    planted.symlink_to(elsewhere)
    monkeypatch.setattr(secretfile, "_temporary_name", lambda path: planted)
    with pytest.raises(FileExistsError):
        write_secret(tmp_path / "ca.key", b"key")
    assert elsewhere.read_bytes() == b"" and not (tmp_path / "ca.key").exists()
    with pytest.raises(FileNotFoundError):
        read_secret(tmp_path / "missing.key")
