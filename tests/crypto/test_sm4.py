import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import sm4
from wattguard.crypto.vectors import load
from wattguard.errors import ConfigError, IntegrityError

KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
blocks = st.integers(min_value=0, max_value=8).flatmap(
    lambda n: st.binary(min_size=16 * n, max_size=16 * n)
)


def _run_vector(case) -> None:
    data = case.bytes("plaintext")
    for _ in range(case.int("iterations")):
        data = sm4.ecb_encrypt(case.bytes("key"), data)
    assert data == case.bytes("ciphertext")


@pytest.mark.parametrize(
    "case", [c for c in load("sm4") if c.int("iterations") == 1], ids=lambda c: c.source
)
def test_published_example(case) -> None:
    _run_vector(case)
    assert sm4.ecb_decrypt(case.bytes("key"), case.bytes("ciphertext")) == case.bytes("plaintext")


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", [c for c in load("sm4") if c.int("iterations") > 1], ids=lambda c: c.source
)
def test_published_million_iteration_example(case) -> None:
    _run_vector(case)


@pytest.mark.parametrize("case", load("sm4_gcm"), ids=lambda c: c.source)
def test_rfc8998_gcm(case) -> None:
    sealed = sm4.gcm_seal(
        case.bytes("key"), case.bytes("nonce"), case.bytes("plaintext"), case.bytes("aad")
    )
    assert sealed == case.bytes("ciphertext") + case.bytes("tag")
    opened = sm4.gcm_open(case.bytes("key"), case.bytes("nonce"), sealed, case.bytes("aad"))
    assert opened == case.bytes("plaintext")


@given(st.binary(max_size=100), st.binary(max_size=40), st.data())
def test_gcm_refuses_any_tampering(plaintext: bytes, aad: bytes, data: st.DataObject) -> None:
    nonce = bytes(12)
    sealed = sm4.gcm_seal(KEY, nonce, plaintext, aad)
    assert sm4.gcm_open(KEY, nonce, sealed, aad) == plaintext
    index = data.draw(st.integers(min_value=0, max_value=len(sealed) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    tampered = bytearray(sealed)
    tampered[index] ^= flip
    with pytest.raises(IntegrityError):
        sm4.gcm_open(KEY, nonce, bytes(tampered), aad)
    with pytest.raises(IntegrityError):
        sm4.gcm_open(KEY, nonce, sealed, aad + b"x")
    with pytest.raises(IntegrityError):
        sm4.gcm_open(KEY, b"\x01" + nonce[1:], sealed, aad)
    with pytest.raises(IntegrityError):
        sm4.gcm_open(KEY, nonce, sealed[:-1], aad)


def test_gcm_refuses_a_truncated_message_and_says_nothing_more() -> None:
    with pytest.raises(IntegrityError) as short:
        sm4.gcm_open(KEY, bytes(12), b"0123")
    with pytest.raises(IntegrityError) as wrong:
        sm4.gcm_open(KEY, bytes(12), bytes(40))
    assert str(short.value) == str(wrong.value)


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16), blocks)
def test_cbc_round_trip(key: bytes, iv: bytes, data: bytes) -> None:
    assert sm4.cbc_decrypt(key, iv, sm4.cbc_encrypt(key, iv, data)) == data
    assert sm4.ecb_decrypt(key, sm4.ecb_encrypt(key, data)) == data


@given(st.binary(max_size=100))
def test_ctr_is_its_own_inverse(data: bytes) -> None:
    nonce = bytes(range(16))
    assert sm4.ctr(KEY, nonce, sm4.ctr(KEY, nonce, data)) == data


def _openssl_enc(cli: str, cipher: str, data: bytes, iv: bytes | None) -> bytes:
    args = [cli, "enc", f"-{cipher}", "-K", KEY.hex(), "-nopad"]
    if iv is not None:
        args += ["-iv", iv.hex()]
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


def test_modes_interoperate_with_the_openssl_cli(openssl_cli: str) -> None:
    data = bytes(range(64))
    iv = bytes(range(100, 116))
    assert _openssl_enc(openssl_cli, "sm4-ecb", data, None) == sm4.ecb_encrypt(KEY, data)
    assert _openssl_enc(openssl_cli, "sm4-cbc", data, iv) == sm4.cbc_encrypt(KEY, iv, data)
    assert _openssl_enc(openssl_cli, "sm4-ctr", data[:37], iv) == sm4.ctr(KEY, iv, data[:37])
    done = subprocess.run(
        [openssl_cli, "mac", "-cipher", "SM4-CBC", "-macopt", f"hexkey:{KEY.hex()}", "CMAC"],
        input=data[:37],
        capture_output=True,
        check=True,
    )
    assert bytes.fromhex(done.stdout.decode().strip()) == sm4.cmac(KEY, data[:37])


@given(st.binary(max_size=70))
def test_pkcs7_round_trip(data: bytes) -> None:
    padded = sm4.pkcs7_pad(data)
    assert len(padded) % 16 == 0 and len(padded) > len(data)
    assert sm4.pkcs7_unpad(padded) == data


@pytest.mark.parametrize(
    "bad", [b"", b"A" * 15, b"A" * 15 + b"\x00", b"A" * 14 + b"\x01\x02", b"A" * 15 + b"\x11"]
)
def test_pkcs7_refuses_bad_padding(bad: bytes) -> None:
    with pytest.raises(IntegrityError):
        sm4.pkcs7_unpad(bad)


def test_bad_parameters_are_config_errors_that_say_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match="16 bytes, not 15"):
        sm4.ecb_encrypt(bytes(15), bytes(16))
    with pytest.raises(ConfigError, match="whole 16-byte blocks"):
        sm4.cbc_encrypt(KEY, bytes(16), bytes(17))
    with pytest.raises(ConfigError, match="nonce"):
        sm4.gcm_seal(KEY, bytes(4), b"x")
    with pytest.raises(ConfigError, match="counter block"):
        sm4.ctr(KEY, bytes(12), b"x")


@given(
    st.binary(min_size=16, max_size=16),
    st.binary(min_size=8, max_size=32),
    st.binary(max_size=100),
    st.binary(max_size=40),
)
def test_gcm_fast_path_matches_the_public_api(
    key: bytes, nonce: bytes, plaintext: bytes, aad: bytes
) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    expected = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    assert sm4.gcm_seal(key, nonce, plaintext, aad) == expected
    assert sm4.gcm_open(key, nonce, expected, aad) == plaintext


def test_gcm_works_without_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert sm4._GCM.fast, "the fast path should verify on the pinned cryptography"
    case = load("sm4_gcm")[0]
    monkeypatch.setattr(sm4._GCM, "fast", False)
    sealed = sm4.gcm_seal(
        case.bytes("key"), case.bytes("nonce"), case.bytes("plaintext"), case.bytes("aad")
    )
    assert sealed == case.bytes("ciphertext") + case.bytes("tag")
    with pytest.raises(IntegrityError):
        sm4.gcm_open(
            case.bytes("key"), case.bytes("nonce"), sealed[:-1] + b"\x00", case.bytes("aad")
        )


def test_gcm_fast_path_is_refused_when_it_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    # If cryptography's internals ever behave differently, the check at import says no.
    contexts = sm4._GcmContexts()
    monkeypatch.setattr(contexts, "_mode", lambda nonce, tag: sm4.modes.GCM(bytes(12), tag))
    assert not contexts._fast_path_agrees()


@given(
    st.lists(
        st.tuples(st.sampled_from([bytes(16), bytes(range(16)), b"\xa5" * 16]),
                  st.binary(min_size=16, max_size=64).filter(lambda b: len(b) % 16 == 0)),
        min_size=1, max_size=20,
    )
)  # fmt: skip
def test_ecb_through_kept_contexts_equals_a_fresh_context_every_call(
    calls: list[tuple[bytes, bytes]],
) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    for key, data in calls:  # interleaved keys, encrypt and decrypt on the same kept contexts
        fresh = Cipher(algorithms.SM4(key), modes.ECB())
        expected = fresh.encryptor().update(data)
        assert sm4.ecb_encrypt(key, data) == expected
        assert sm4.ecb_decrypt(key, expected) == data


def test_ecb_contexts_are_kept_per_thread() -> None:
    import threading

    key, block = bytes(range(16)), bytes(16)
    expected = sm4.ecb_encrypt(key, block)
    seen: list[bytes] = []

    def work() -> None:
        for _ in range(2000):
            seen.append(sm4.ecb_encrypt(key, block))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8000 and set(seen) == {expected}


@given(
    st.lists(
        st.tuples(st.sampled_from([bytes(16), bytes(range(16)), b"\xa5" * 16]),
                  st.binary(min_size=16, max_size=16),
                  st.binary(max_size=80)),
        min_size=1, max_size=20,
    )
)  # fmt: skip
def test_cbc_decrypt_and_cmac_through_kept_contexts_equal_fresh_contexts(
    calls: list[tuple[bytes, bytes, bytes]],
) -> None:
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    for key, iv, data in calls:  # interleaved keys on the same kept contexts
        blocks = data[: len(data) - len(data) % 16]
        fresh = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
        assert sm4.cbc_decrypt(key, iv, blocks) == fresh.update(blocks) + fresh.finalize()
        reference = cmac.CMAC(algorithms.SM4(key))
        reference.update(data)
        assert sm4.cmac(key, data) == reference.finalize()
        assert sm4.cmac(bytearray(key), data) == sm4.cmac(key, data)


def test_cbc_decrypt_refuses_an_iv_that_is_not_one_block() -> None:
    with pytest.raises(ConfigError):
        sm4.cbc_decrypt(KEY, bytes(15), bytes(16))


def test_kept_contexts_are_one_thread_s_and_work_as_fresh_ones_do() -> None:
    """sm4.kept_cmac / kept_ecb: the same contexts for the same key in one thread (one
    lookup an answer), other ones in another thread (a context is never shared), and each
    works as the module's own functions do."""
    import threading

    enc, mac_key = bytes(range(16)), bytes(range(16, 32))
    cmac, ecb = sm4.kept_cmac(mac_key), sm4.kept_ecb(enc)
    assert sm4.kept_cmac(mac_key) is cmac and sm4.kept_ecb(enc) is ecb
    elsewhere: list[object] = []

    def other_thread() -> None:
        elsewhere.extend((sm4.kept_cmac(mac_key), sm4.kept_ecb(enc)))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert elsewhere[0] is not cmac and elsewhere[1] is not ecb
    fresh = cmac.copy()
    fresh.update(b"an answer")
    assert fresh.finalize() == sm4.cmac(mac_key, b"an answer")
    encryptor, decryptor = ecb
    assert encryptor.update(bytes(32)) == sm4.ecb_encrypt(enc, bytes(32))
    assert decryptor.update(bytes(16)) == sm4.ecb_decrypt(enc, bytes(16))
    with pytest.raises(ConfigError):
        sm4.kept_cmac(mac_key[:15])
    with pytest.raises(ConfigError):
        sm4.kept_ecb(enc[:15])


def test_a_district_s_every_meter_keeps_its_cmac() -> None:
    """Verifying 10,000 meters' answers in turn, round after round, builds each meter's CMAC
    once: the keep is not smaller than a large district (a cycle through more keys than a
    cache holds misses every time)."""
    keys = [k.to_bytes(16, "big") for k in range(1, 10_001)]
    first = [sm4.kept_cmac(key) for key in keys]
    assert all(sm4.kept_cmac(key) is kept for key, kept in zip(keys, first, strict=True))
