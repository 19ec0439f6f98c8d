"""The compiled glue of ``esam.profile.open_answer`` (``_accel.open_answer``) answers exactly
what the Python function answers: the same plaintext for every genuine answer, IntegrityError
for every forged MAC, bad length or bad padding, and the same error for arguments no answer
can carry. The cryptography is `cryptography`'s in both; only the bytes around it differ in
where they are computed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import sm4
from wattguard.errors import IntegrityError
from wattguard.esam import profile as p
from wattguard.protocol import _accelerate
from wattguard.testing.services import require

KEY = st.binary(min_size=16, max_size=16)


@pytest.fixture(scope="module", autouse=True)
def compiled() -> None:
    require(_accelerate.OPEN_ANSWER is not None, f"not compiled: {_accelerate.REASON}")
    assert p._COMPILED is _accelerate.OPEN_ANSWER  # open_answer goes through it


def outcome(opener: Any, *args: Any) -> bytes | type[Exception]:
    try:
        opened: bytes = opener(*args)
    except (IntegrityError, ValueError) as exc:
        return type(exc)
    return opened


def same_both_ways(*args: Any) -> bytes | type[Exception]:
    python = outcome(p.open_answer_python, *args)
    assert outcome(p.open_answer, *args) == python
    return python


def blocks_under(enc: bytes, binding: bytes, plain_blocks: bytes) -> bytes:
    """``plain_blocks`` (whole blocks, padded or not) encrypted as a meter's answer is."""
    return sm4.cbc_encrypt(enc, p._iv(enc, p.Direction.RESPONSE, binding), plain_blocks)


def tag_of(mac_key: bytes, binding: bytes, protection: int, data: bytes) -> bytes:
    return p.mac(mac_key, p.Label.RESPONSE, binding, bytes((protection,)) + data)


@given(KEY, KEY, st.binary(max_size=40), st.binary(max_size=100), st.integers(0, 2))
def test_genuine_answers_open_to_the_same_plaintext(
    enc: bytes, mac_key: bytes, binding: bytes, plain: bytes, protection: int
) -> None:
    data = p.encrypt(enc, p.Direction.RESPONSE, binding, plain) if protection == 1 else plain
    tag = tag_of(mac_key, binding, protection, data)
    assert same_both_ways(enc, mac_key, binding, protection, data, tag) == plain


@given(
    KEY, KEY, st.binary(max_size=40), st.binary(max_size=60),
    st.integers(0, 1), st.binary(max_size=6), st.integers(0, 3),
)  # fmt: skip
def test_forged_or_malformed_tags_are_refused_alike(
    enc: bytes, mac_key: bytes, binding: bytes, data: bytes, protection: int, noise: bytes,
    flip: int,
) -> None:  # fmt: skip
    genuine = tag_of(mac_key, binding, protection, data)
    flipped = genuine[:flip] + bytes([genuine[flip] ^ 1]) + genuine[flip + 1 :]
    for tag in (noise, genuine[:3], genuine + b"\x00", flipped):
        if tag != genuine:
            assert same_both_ways(enc, mac_key, binding, protection, data, tag) is IntegrityError


@given(
    KEY, KEY, st.binary(max_size=24),
    st.lists(st.sampled_from([b"\x00", b"\x80", b"\x01", b"\xff"]), min_size=1, max_size=40),
    st.integers(0, 40),
)  # fmt: skip
def test_every_padding_is_judged_alike(
    enc: bytes, mac_key: bytes, binding: bytes, tail: list[bytes], head: int
) -> None:
    """Ciphertext with a genuine MAC whose plaintext ends in any run of 80, 00 and other bytes:
    good padding (80 then at most 15 zeros) opens, anything else is refused, both ways."""
    raw = bytes(range(head)) + b"".join(tail)
    raw += bytes(-len(raw) % 16)  # whole blocks, zeros at the end: padding or not
    data = blocks_under(enc, binding, raw)
    result = same_both_ways(enc, mac_key, binding, 1, data, tag_of(mac_key, binding, 1, data))
    stripped = raw.rstrip(b"\x00")
    good = stripped.endswith(b"\x80") and len(raw) - len(stripped) < 16
    assert result == (stripped[:-1] if good else IntegrityError)


@given(KEY, KEY, st.binary(max_size=20), st.binary(max_size=50))
def test_ciphertext_that_is_not_whole_blocks_is_refused_after_its_mac(
    enc: bytes, mac_key: bytes, binding: bytes, data: bytes
) -> None:
    tag = tag_of(mac_key, binding, 1, data)  # a genuine MAC over bytes that cannot decrypt
    expected = same_both_ways(enc, mac_key, binding, 1, data, tag)
    if not data or len(data) % 16:
        assert expected is IntegrityError


def test_arguments_no_answer_carries_fail_alike() -> None:
    enc, mac_key = bytes(range(16)), bytes(range(16, 32))
    data = p.encrypt(enc, p.Direction.RESPONSE, b"rn", b"answer")
    tag = tag_of(mac_key, b"rn", 1, data)
    assert same_both_ways(enc, mac_key, b"x" * 256, 1, data, tag) is IntegrityError
    assert same_both_ways(enc, mac_key, b"rn", 256, data, tag) is ValueError
    assert same_both_ways(enc, mac_key, b"rn", -1, data, tag) is ValueError
    with pytest.raises(TypeError):
        _accelerate.OPEN_ANSWER(*(None,) * 9)  # type: ignore[misc]
