"""Interop with the ``openssl`` command line, in both directions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wattguard.crypto import sm2

IDS = [sm2.DEFAULT_ID, b"ALICE123@YAHOO.COM"]


def _run(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


@pytest.fixture()
def openssl_key(openssl_cli: str, tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "openssl-key.pem"
    pub = tmp_path / "openssl-pub.pem"
    _run(openssl_cli, "genpkey", "-algorithm", "SM2", "-out", str(key))
    _run(openssl_cli, "pkey", "-in", str(key), "-pubout", "-out", str(pub))
    return key, pub


@pytest.mark.parametrize("user_id", IDS)
def test_our_signature_verifies_with_openssl(
    openssl_cli: str, tmp_path: Path, user_id: bytes
) -> None:
    key = sm2.PrivateKey.generate()
    (tmp_path / "pub.pem").write_bytes(key.public_key.to_pem())
    (tmp_path / "msg").write_bytes(b"meter 000000000001 reading 12345.67 kWh")
    (tmp_path / "sig").write_bytes(
        sm2.signature_to_der(key.sign((tmp_path / "msg").read_bytes(), id=user_id))
    )
    out = _run(
        openssl_cli,
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(tmp_path / "pub.pem"),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        f"distid:{user_id.decode()}",
        "-in",
        str(tmp_path / "msg"),
        "-sigfile",
        str(tmp_path / "sig"),
    )
    assert b"Signature Verified Successfully" in out
    # And openssl refuses it under another ID: the ID really is part of the signature.
    refused = subprocess.run(
        [
            openssl_cli,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(tmp_path / "pub.pem"),
            "-rawin",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:someone-else",
            "-in",
            str(tmp_path / "msg"),
            "-sigfile",
            str(tmp_path / "sig"),
        ],
        capture_output=True,
    )
    assert refused.returncode != 0


@pytest.mark.parametrize("user_id", IDS)
def test_openssl_signature_verifies_here(
    openssl_cli: str, openssl_key: tuple[Path, Path], tmp_path: Path, user_id: bytes
) -> None:
    key_pem, pub_pem = openssl_key
    message = b"top-up 100.00 CNY for meter 000000000002"
    (tmp_path / "msg").write_bytes(message)
    der = _run(
        openssl_cli,
        "pkeyutl",
        "-sign",
        "-inkey",
        str(key_pem),
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        f"distid:{user_id.decode()}",
        "-in",
        str(tmp_path / "msg"),
    )
    public = sm2.PublicKey.from_pem(pub_pem.read_bytes())
    public.verify(message, sm2.signature_from_der(der), id=user_id)
    # The private key file openssl wrote loads here, with the same public key.
    assert sm2.PrivateKey.from_pem(key_pem.read_bytes()).public_key == public


def test_our_ciphertext_decrypts_with_openssl(
    openssl_cli: str, openssl_key: tuple[Path, Path], tmp_path: Path
) -> None:
    key_pem, pub_pem = openssl_key
    public = sm2.PublicKey.from_pem(pub_pem.read_bytes())
    (tmp_path / "ct").write_bytes(sm2.ciphertext_to_der(public.encrypt(b"session key material")))
    out = _run(
        openssl_cli, "pkeyutl", "-decrypt", "-inkey", str(key_pem), "-in", str(tmp_path / "ct")
    )
    assert out == b"session key material"


def test_openssl_ciphertext_decrypts_here(
    openssl_cli: str, openssl_key: tuple[Path, Path], tmp_path: Path
) -> None:
    key_pem, pub_pem = openssl_key
    der = _run(
        openssl_cli,
        "pkeyutl",
        "-encrypt",
        "-pubin",
        "-inkey",
        str(pub_pem),
        data=b"a reading under SM2",
    )
    private = sm2.PrivateKey.from_pem(key_pem.read_bytes())
    assert private.decrypt(sm2.ciphertext_from_der(der)) == b"a reading under SM2"


def test_openssl_reads_the_keys_we_write(openssl_cli: str, tmp_path: Path) -> None:
    key = sm2.PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    (tmp_path / "key.der").write_bytes(key.to_der())
    (tmp_path / "pub.der").write_bytes(key.public_key.to_der())
    text = _run(openssl_cli, "pkey", "-in", str(tmp_path / "key.pem"), "-text", "-noout").decode()
    digits = "".join(c for c in text.split("priv:")[1].split("pub:")[0] if c in "0123456789abcdef")
    assert int(digits, 16) == int.from_bytes(key.to_bytes(), "big")
    assert "SM2" in text
    der_again = _run(
        openssl_cli, "pkey", "-inform", "DER", "-in", str(tmp_path / "key.der"), "-outform", "DER"
    )
    assert sm2.PrivateKey.from_der(der_again).to_bytes() == key.to_bytes()
    pub_again = _run(
        openssl_cli,
        "pkey",
        "-pubin",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "pub.der"),
        "-outform",
        "DER",
    )
    assert sm2.PublicKey.from_der(pub_again) == key.public_key
