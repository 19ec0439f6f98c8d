import subprocess
import sys

import pytest

import wattguard
from wattguard.cli import main
from wattguard.crypto import sm1, sm2, sm3, sm4


def test_the_crypto_modules_export_their_functions() -> None:
    # The packages' lists are in tests/test_public_names.py; these are modules.
    for module in (sm1, sm2, sm3, sm4):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is exported but missing"
    for name in ("hash", "hmac", "kdf"):
        assert name in sm3.__all__
    for name in (
        "ecb_encrypt",
        "ecb_decrypt",
        "cbc_encrypt",
        "cbc_decrypt",
        "ctr",
        "gcm_seal",
        "gcm_open",
        "cmac",
        "pkcs7_pad",
        "pkcs7_unpad",
    ):
        assert name in sm4.__all__
    for name in (
        "PrivateKey",
        "PublicKey",
        "KeyExchange",
        "DEFAULT_ID",
        "signature_to_der",
        "signature_from_der",
        "c1c2c3_to_c1c3c2",
        "c1c3c2_to_c1c2c3",
    ):
        assert name in sm2.__all__


def test_selfcheck_command_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selfcheck"]) == 0
    out = capsys.readouterr().out
    assert "crypto self-check passed" in out
    assert out.count("ok  ") == 4


def test_demo_is_the_default_and_says_what_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--duration", "1.5", "--speed", "600", "--meters", "3", "--api-port", "0"]) == 0
    out = capsys.readouterr().out
    assert "wattguard demo: 3 meters behind 1 terminal," in out
    assert "readings stored" in out


def test_selfcheck_reports_a_broken_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The self-check must be able to fail: break SM3 and watch it say so.
    monkeypatch.setattr(sm3, "hash", lambda data: bytes(32))
    assert main(["selfcheck"]) == 1
    captured = capsys.readouterr()
    assert "FAIL SM3" in captured.out
    assert "self-check FAILED" in captured.err


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wattguard", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"wattguard {wattguard.__version__}"


def test_errors_form_one_tree() -> None:
    from wattguard import errors

    assert issubclass(errors.DecodeError, errors.ProtocolError)
    assert issubclass(errors.LocalProtocolError, errors.ProtocolError)
    assert issubclass(errors.RemoteProtocolError, errors.ProtocolError)
    assert issubclass(errors.IntegrityError, errors.SecurityError)
    for cls in (errors.ProtocolError, errors.SecurityError, errors.ConfigError):
        assert issubclass(cls, errors.WattguardError)
    decode = errors.DecodeError("bad HCS", offset=7, dar=3)
    assert decode.offset == 7 and decode.dar == 3 and "byte 7" in str(decode)
    assert errors.ProtocolError("x").dar == 255
    assert str(errors.IntegrityError()) == "integrity check failed"
