"""The worked example of docs/security.md, kept as data: our profile must reproduce it, and
the SM4 steps agree with an independent implementation (the openssl command line)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from wattguard.esam import profile as p
from wattguard.testing.esam import MASTER

VECTORS = {
    name.strip(): bytes.fromhex(value.strip())
    for name, value in (
        line.split("=", 1)
        for line in (Path(__file__).parent / "vectors" / "profile.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
}
V = VECTORS


def test_the_worked_example_is_reproduced() -> None:
    keys = MASTER.for_meter(V["address"])
    for key_id in p.KeyId:
        assert keys[key_id] == V[f"key_{key_id.name.lower()}"]
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.METER, 1, 1, V["address"])
    assert sid.ident.to_bytes(4, "big") == V["sid_ident"] and sid.attach == V["sid_attach"]
    assert (
        bytes((p.Label.REQUEST, len(sid.binding))) + sid.binding + b"\x00" + V["apdu"]
        == V["mac_input"]
    )
    assert (
        p.mac(keys[p.KeyId.MAC], p.Label.REQUEST, sid.binding, b"\x00" + V["apdu"])
        == V["request_mac"]
    )
    ciphertext = p.encrypt(keys[p.KeyId.ENC], p.Direction.REQUEST, sid.binding, V["apdu"])
    assert ciphertext == V["ciphertext"]
    tag = p.mac(keys[p.KeyId.MAC], p.Label.REQUEST, sid.binding, b"\x01" + ciphertext)
    assert tag == V["ciphertext_mac"]
    session = p.session_keys(b"\x01" * 16, b"\x02" * 16, V["address"])
    assert (session.enc, session.mac) == (V["session_enc"], V["session_mac"])
    top_up = p.SidFields(p.Operation.TOP_UP, p.Keyset.METER, 1, 1, V["address"])
    wallet = keys[p.KeyId.WALLET]
    assert (
        p.mac(wallet, p.Label.TOP_UP, top_up.binding, (5000).to_bytes(4, "big")) == V["top_up_mac"]
    )


def run(openssl: str, args: list[str], data: bytes) -> bytes:
    done = subprocess.run([openssl, *args], input=data, capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this openssl cannot: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def test_openssl_agrees_on_diversification_and_the_mac(openssl_cli: str) -> None:
    master = MASTER.keys[p.KeyId.MAC].hex()
    ecb = ["enc", "-sm4-ecb", "-K", master, "-nopad"]
    assert run(openssl_cli, ecb, V["diversify_input"]) == V["key_mac"]
    cmac = ["mac", "-cipher", "SM4-CBC", "-macopt", f"hexkey:{V['key_mac'].hex()}", "CMAC"]
    out = run(openssl_cli, cmac, V["mac_input"]).decode().strip()
    assert bytes.fromhex(out)[:4] == V["request_mac"]
