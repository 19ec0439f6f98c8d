import hmac as py_hmac
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import sm3
from wattguard.crypto.vectors import load
from wattguard.errors import ConfigError


@pytest.mark.parametrize("case", load("sm3"), ids=lambda c: c.source)
def test_published_examples(case) -> None:
    assert sm3.hash(case.bytes("message")) == case.bytes("digest")
    incremental = sm3.Hash()
    for byte in case.bytes("message"):
        incremental.update(bytes([byte]))
    assert incremental.digest() == case.bytes("digest")


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_incremental_hash_is_the_hash_of_the_concatenation(a: bytes, b: bytes) -> None:
    h = sm3.Hash(a)
    snapshot = h.copy()
    h.update(b)
    assert h.digest() == sm3.hash(a + b)
    assert snapshot.digest() == sm3.hash(a)


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_hmac_is_rfc2104_over_sm3(key: bytes, message: bytes) -> None:
    # Python's own RFC 2104 code, driven by our SM3, is an independent construction.
    assert sm3.hmac(key, message) == py_hmac.new(key, message, digestmod=sm3.Hash).digest()


def test_hmac_interoperates_with_the_openssl_cli(openssl_cli: str) -> None:
    key, message = bytes(range(40)), b"wattguard meter reading"
    done = subprocess.run(
        [openssl_cli, "mac", "-digest", "SM3", "-macopt", f"hexkey:{key.hex()}", "HMAC"],
        input=message,
        capture_output=True,
        check=True,
    )
    assert bytes.fromhex(done.stdout.decode().strip()) == sm3.hmac(key, message)


@given(st.binary(max_size=100), st.integers(min_value=0, max_value=200))
def test_kdf_is_the_counter_construction_of_gbt_32918_4(z: bytes, length: int) -> None:
    expected = b"".join(sm3.hash(z + counter.to_bytes(4, "big")) for counter in range(1, 8))
    assert sm3.kdf(z, length) == expected[:length]


def test_kdf_refuses_impossible_lengths() -> None:
    with pytest.raises(ConfigError):
        sm3.kdf(b"z", -1)


def test_pbkdf2_follows_rfc_8018_over_hmac_sm3() -> None:
    # RFC 8018 clause 5.2 written out over our HMAC-SM3: T_i = U_1 ^ ... ^ U_c
    def reference(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
        out, block = b"", 1
        while len(out) < length:
            u = sm3.hmac(password, salt + block.to_bytes(4, "big"))
            t = bytearray(u)
            for _ in range(iterations - 1):
                u = sm3.hmac(password, u)
                t = bytearray(a ^ b for a, b in zip(t, u, strict=True))
            out += bytes(t)
            block += 1
        return out[:length]

    assert sm3.pbkdf2(b"passphrase", b"saltsalt", 5, 48) == reference(
        b"passphrase", b"saltsalt", 5, 48
    )
    assert sm3.pbkdf2(b"a", b"saltsalt", 1, 16) != sm3.pbkdf2(b"b", b"saltsalt", 1, 16)
