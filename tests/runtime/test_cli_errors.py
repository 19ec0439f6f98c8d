"""Every expected failure of a command is one line on stderr saying what is wrong and what to
do, with exit code 2; a traceback only with ``--verbose`` (issue #14, errors and defaults).
One test per command walks its error paths, in process, in an empty working directory."""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattguard.cipher import save_vault
from wattguard.cli import build_parser, main
from wattguard.esam.profile import MasterKeys

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", PASSPHRASE)
    for variable in [v for v in os.environ if v.startswith("WATTGUARD_") and v.count("_") > 1]:
        if variable != "WATTGUARD_PASSPHRASE":
            monkeypatch.delenv(variable)


@pytest.fixture
def taken() -> Iterator[str]:
    """HOST:PORT that another program listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def vault(tmp_path: Path) -> str:
    path = tmp_path / "keys.vault"
    save_vault(path, [MasterKeys.generate(1, os.urandom)], PASSPHRASE, iterations=1000)
    return str(path)


@pytest.fixture
def pki(tmp_path: Path) -> str:
    assert main(["pki", "--init", "--pki", str(tmp_path / "pki")]) == 0
    return str(tmp_path / "pki")


def refused(capsys: pytest.CaptureFixture[str], *argv: str, says: str) -> str:
    """Run ``wattguard ARGV``: exit code 2 and one line on stderr that ``says`` so."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wattguard: "), err
    assert says in lines[0], lines[0]
    return lines[0]


def _help(command: str) -> str:
    """``wattguard COMMAND --help`` with its line breaks and indents taken out."""
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return "".join(action.choices[command].format_help().split())
    raise AssertionError("no commands")


def test_cipher(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    vault: str, pki: str, taken: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", "x")
    refused(capsys, "cipher", "--init", "--vault", "new.vault", says="too weak")
    refused(capsys, "cipher", "--serve", "--vault", vault, "--pki", pki, "--listen", "127.0.0.1:0",
            says=f"passphrase is wrong, or the vault is damaged ({vault})")  # fmt: skip
    assert not Path("new.vault").exists()
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", "aaaaaaaaaaaaaaaa")
    refused(capsys, "cipher", "--init", "--vault", "new.vault", says="only 1 different")
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", PASSPHRASE)
    refused(capsys, "cipher", "--init", "--vault", vault, says="never overwritten")
    refused(capsys, "cipher", "--serve", "--vault", "none.vault", "--pki", pki,
            "--listen", "127.0.0.1:0", says="wattguard cipher --init")  # fmt: skip
    refused(capsys, "cipher", "--serve", "--vault", vault, "--pki", "nopki",
            "--listen", "127.0.0.1:0", says="wattguard pki --init")  # fmt: skip
    refused(capsys, "cipher", "--serve", "--vault", vault, "--pki", pki, "--listen", taken,
            says=f"{taken} is already in use")  # fmt: skip
    # with --verbose, the traceback too, then the same line
    assert main(["--verbose", "cipher", "--serve", "--vault", vault, "--pki", pki,
                 "--listen", taken]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("wattguard: the address")


def test_pki(capsys: pytest.CaptureFixture[str], pki: str) -> None:
    refused(capsys, "pki", "--enrol", "990000000001", says="needs --pki DIR")
    refused(capsys, "pki", "--enrol", "990000000001", "--pki", "nopki", says="pki --init")
    refused(capsys, "pki", "--enrol", "99", "--pki", pki, says="12 decimal digits")
    refused(capsys, "pki", "--init", "--pki", pki, says="never overwritten")


def test_pki_takes_its_options_from_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = tmp_path / "wattguard.toml"
    settings.write_text('[pki]\npki = "from-file"\n[meter]\nport = 0\n')
    assert main(["pki", "--init", "--config", str(settings)]) == 0
    assert (tmp_path / "from-file" / "ca.crt").exists()
    settings.write_text('[pki]\ndirectory = "x"\n')
    refused(capsys, "pki", "--crl", "--config", str(settings), says="has no setting 'directory'")


def test_fep(capsys: pytest.CaptureFixture[str], taken: str) -> None:
    refused(capsys, "fep", "--pki", "nopki", "--listen", "127.0.0.1:0", says="pki --init")
    refused(capsys, "fep", "--listen", "8765", says="expected HOST:PORT")
    refused(capsys, "fep", "--listen", taken, says="already in use")


def test_station(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                 vault: str) -> None:  # fmt: skip
    refused(capsys, "station", "--vault", "none.vault", says="wattguard cipher --init")
    refused(capsys, "station", "--cipher", "127.0.0.1:1", says="needs --pki")
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", "not the right one")
    refused(capsys, "station", "--vault", vault, says="is wrong")
    refused(capsys, "station", "--database", "mysql://x", says="unknown storage URL")
    assert not Path("wattguard-station.db").exists()
    for command in ("station", "users", "meters"):  # the default is shown in --help
        assert "(sqlite:///wattguard-station.db)" in _help(command)


def test_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, "terminal", "--address", "99", "--fep", "127.0.0.1:1", says="12 decimal")
    refused(capsys, "terminal", "--fep", "127.0.0.1:1", "--meters", "0", says="between 1 and 999")
    refused(capsys, "terminal", "--fep", "127.0.0.1:1", "--vault", "none.vault",
            says="wattguard cipher --init")  # fmt: skip


def test_users(capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, "users", "list", says="no station database at wattguard-station.db")
    refused(capsys, "users", "disable", "otto", says="no station database")
    assert not Path("wattguard-station.db").exists()  # nothing made by asking
    refused(capsys, "users", "add", "otto", says="needs --role")
    assert main(["users", "add", "otto", "--role", "operator"]) == 0
    refused(capsys, "users", "token", says="needs a user NAME")
    assert main(["users", "list"]) == 0 and "otto" in capsys.readouterr().out


def test_meters(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    refused(capsys, "meters", "list", says="no station database")
    refused(capsys, "meters", "remove", "000000000001", says="no station database")
    assert not Path("wattguard-station.db").exists()
    refused(capsys, "meters", "add", "000000000001", says="needs --terminal")
    refused(capsys, "meters", "add", says="needs a meter ADDRESS")
    refused(capsys, "meters", "import", "none.csv", says="cannot read none.csv")
    (tmp_path / "bad.csv").write_text("address,terminal\n000000000001,9900\n")
    refused(capsys, "meters", "import", "bad.csv", says="line 2: a terminal address")
    assert main(["meters", "add", "000000000001", "--terminal", "990000000001"]) == 0
    refused(capsys, "meters", "remove", "000000000002", says="no meter 000000000002")


def test_bus(capsys: pytest.CaptureFixture[str]) -> None:
    refused(capsys, "bus", "--add-fep", "fep-2", says="needs --bus-keys DIR")
    refused(capsys, "bus", "--add-fep", "fep-2", "--bus-keys", "nobus", says="nobus")


def test_meter(capsys: pytest.CaptureFixture[str], taken: str) -> None:
    port = taken.rsplit(":", 1)[1]
    refused(capsys, "meter", "--port", port, says="already in use")
