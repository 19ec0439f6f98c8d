"""The cryptographic device's key vault: master keys encrypted at rest under a passphrase.

File layout (all integers big-endian)::

    "WGKV" | format 1 (1) | iterations (4) | salt (16) | nonce (12) | SM4-GCM(ciphertext + tag)

The key-encryption key is PBKDF2-HMAC-SM3(passphrase, salt, iterations, 16 bytes); the header
(everything before the ciphertext) is the GCM associated data, so it cannot be altered. The
plaintext is the master key sets: ``count (1) | per set: version (1) | key count (1) |
per key: id (1) | key (16)``. A wrong passphrase and a damaged file give the same error
(:class:`VaultError`); the file is replaced atomically (write, fsync, rename), so a crash
leaves the old vault or the new one, and it is mode 0600 from creation
(:mod:`wattguard.secretfile`); a vault that group or others can write is refused.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

from wattguard.crypto import sm3, sm4
from wattguard.errors import IntegrityError, SecurityError
from wattguard.esam.profile import KEY_SIZE, KeyId, MasterKeys
from wattguard.secretfile import read_secret, write_secret

__all__ = [
    "DEFAULT_ITERATIONS",
    "MIN_PASSPHRASE",
    "VaultError",
    "load_vault",
    "passphrase_weakness",
    "save_vault",
]

MAGIC = b"WGKV"
FORMAT = 1
DEFAULT_ITERATIONS = 200_000
_HEAD = struct.Struct(">4sBI16s12s")
#: The fewest characters a new vault's passphrase may have.
MIN_PASSPHRASE = 12


class VaultError(SecurityError):
    """The vault cannot be opened: wrong passphrase, or a damaged or foreign file."""


def _kek(passphrase: str, salt: bytes, iterations: int) -> bytes:
    if not passphrase:
        raise VaultError("an empty passphrase protects nothing")
    return sm3.pbkdf2(passphrase.encode(), salt, iterations, 16)


def save_vault(
    path: Path,
    keys: Iterable[MasterKeys],
    passphrase: str,
    *,
    iterations: int = DEFAULT_ITERATIONS,
    random: object = os.urandom,
) -> None:
    sets = list(keys)
    if not sets or len(sets) > 255:
        raise VaultError("a vault holds 1 to 255 master key sets")
    draw = random if callable(random) else os.urandom
    salt, nonce = draw(16), draw(12)
    plain = bytearray((len(sets),))
    for entry in sets:
        plain += bytes((entry.version, len(entry.keys)))
        for key_id, key in sorted(entry.keys.items()):
            plain += bytes((int(key_id),)) + key
    head = _HEAD.pack(MAGIC, FORMAT, iterations, salt, nonce)
    sealed = sm4.gcm_seal(_kek(passphrase, salt, iterations), nonce, bytes(plain), aad=head)
    write_secret(path, head + sealed)  # 0600 from creation, atomic


def load_vault(path: Path, passphrase: str) -> list[MasterKeys]:
    try:
        data = read_secret(path)  # refused if group or others can write it
    except FileNotFoundError:
        raise VaultError(
            f"no key vault at {path}: create one with `wattguard cipher --init`"
        ) from None
    if len(data) < _HEAD.size + 16:
        raise VaultError(f"{path} is not a wattguard key vault")
    magic, version, iterations, salt, nonce = _HEAD.unpack_from(data)
    if magic != MAGIC or version != FORMAT or not 1 <= iterations <= 10_000_000:
        raise VaultError(f"{path} is not a wattguard key vault (format {version})")
    head = data[: _HEAD.size]
    try:
        plain = sm4.gcm_open(_kek(passphrase, salt, iterations), nonce, data[_HEAD.size :], head)
    except IntegrityError:
        raise VaultError(
            f"the passphrase is wrong, or the vault is damaged ({path}): give the one it was "
            "made with (WATTGUARD_PASSPHRASE, or typed when that is unset)"
        ) from None
    return _parse(plain)


def _parse(plain: bytes) -> list[MasterKeys]:
    sets, pos = [], 1
    try:
        for _ in range(plain[0]):
            version, count = plain[pos], plain[pos + 1]
            pos += 2
            keys = {}
            for _ in range(count):
                key_id = KeyId(plain[pos])
                keys[key_id] = plain[pos + 1 : pos + 1 + KEY_SIZE]
                pos += 1 + KEY_SIZE
            sets.append(MasterKeys(version, keys))
    except (IndexError, ValueError) as exc:
        raise VaultError(f"the vault's contents do not parse: {exc}") from None
    if pos != len(plain):
        raise VaultError("the vault has trailing bytes")
    return sets


def passphrase_weakness(passphrase: str) -> str | None:
    """Why ``passphrase`` is too weak for a new vault, or None. Whoever copies the vault file
    can try passphrases offline, as fast as their hardware runs PBKDF2, and the vault holds
    the master keys of every meter: a short or repetitive passphrase falls to a guessing
    run. At least :data:`MIN_PASSPHRASE` characters, not all digits, and at least 6 different
    characters (a few words with spaces pass)."""
    if len(passphrase) < MIN_PASSPHRASE:
        return f"it has {len(passphrase)} characters; use at least {MIN_PASSPHRASE}"
    if passphrase.isdigit():
        return "it is only digits"
    if len(set(passphrase)) < 6:
        return f"it has only {len(set(passphrase))} different characters; use at least 6"
    return None
