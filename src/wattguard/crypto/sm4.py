"""SM4 block cipher (GB/T 32907-2016) in ECB, CBC, CTR and GCM modes, and SM4-CMAC.

Backed by ``cryptography`` from PyPI, whose wheel carries an OpenSSL with SM4-GCM (Debian's
``python3-cryptography`` links the system OpenSSL 3.0, which lacks it); the module checks at
import that SM4 and SM4-GCM are there and says what to do when they are not.

ECB and CBC take whole blocks: padding is the caller's choice, with :func:`pkcs7_pad` and
:func:`pkcs7_unpad` provided. GCM follows RFC 8998 (12-byte nonce recommended, 16-byte tag
appended to the ciphertext). Every authentication failure raises the same opaque
:class:`~wattguard.errors.IntegrityError`.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import cmac as _cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wattguard.errors import ConfigError, IntegrityError

__all__ = [
    "BLOCK_SIZE",
    "KEY_SIZE",
    "TAG_SIZE",
    "cbc_decrypt",
    "cbc_encrypt",
    "cmac",
    "ctr",
    "ecb_decrypt",
    "ecb_encrypt",
    "gcm_open",
    "gcm_seal",
    "pkcs7_pad",
    "pkcs7_unpad",
]

BLOCK_SIZE = 16
KEY_SIZE = 16
TAG_SIZE = 16


def _check_backend() -> None:
    probe = algorithms.SM4(bytes(KEY_SIZE))
    try:
        encryptor = Cipher(probe, modes.GCM(bytes(12))).encryptor()
        encryptor.finalize()
    except Exception as exc:  # UnsupportedAlgorithm, or an OpenSSL without SM4
        raise ConfigError(
            "SM4-GCM is not available in this 'cryptography' build; install the PyPI wheel "
            "('pip install --force-reinstall cryptography') rather than the distribution package"
        ) from exc


_check_backend()


@functools.lru_cache(maxsize=256)
def _cached_algorithm(key: bytes) -> algorithms.SM4:
    # Session and meter keys are reused for many records; building the algorithm object (and
    # re-validating the key) once per key saves a microsecond per record.
    return algorithms.SM4(key)


def _algorithm(key: bytes) -> algorithms.SM4:
    if len(key) != KEY_SIZE:
        raise ConfigError(f"an SM4 key is {KEY_SIZE} bytes, not {len(key)}")
    return _cached_algorithm(bytes(key))


def _whole_blocks(data: bytes) -> None:
    if len(data) % BLOCK_SIZE:
        raise ConfigError(
            f"SM4 ECB/CBC take whole 16-byte blocks ({len(data)} bytes given); pad first"
        )


class _EcbContexts(threading.local):
    """ECB contexts kept per key and per thread. ECB has no chaining and these calls pass whole
    blocks only, so one context's ``update`` encrypts each call's blocks exactly as a fresh
    context would (a test holds the two equal); building the context costs 30 times the
    encryption of a block, and key derivation and IVs encrypt single blocks under few keys.
    Contexts are never shared between threads."""

    def __init__(self) -> None:
        self.encryptors: dict[bytes, Any] = {}
        self.decryptors: dict[bytes, Any] = {}
        self.cmacs: dict[bytes, Any] = {}
        self.ecb_pairs: dict[bytes, tuple[Any, Any]] = {}

    def cmac(self, key: bytes) -> Any:
        """A fresh CMAC under ``key``: a copy of one kept per key (copying the keyed context
        costs a third of building it; the kept one never sees data)."""
        return self.pristine(key).copy()

    def pristine(self, key: bytes) -> Any:
        """The keyed CMAC kept for ``key``, never given data (copy it before use)."""
        pristine = self.cmacs.get(key)
        if pristine is None:
            pristine = _cmac.CMAC(_algorithm(key))
            if len(self.cmacs) >= _CMAC_KEPT:
                self.cmacs.pop(next(iter(self.cmacs)))
            self.cmacs[bytes(key)] = pristine
        return pristine

    def ecb_pair(self, key: bytes) -> tuple[Any, Any]:
        """The kept ECB encryptor and decryptor under ``key`` (one lookup for both)."""
        kept = self.ecb_pairs.get(key)
        if kept is None:
            kept = (self.get(key, False), self.get(key, True))
            if len(self.ecb_pairs) >= _ECB_KEPT:
                self.ecb_pairs.pop(next(iter(self.ecb_pairs)))
            self.ecb_pairs[bytes(key)] = kept
        return kept

    def get(self, key: bytes, decrypt: bool) -> Any:
        table = self.decryptors if decrypt else self.encryptors
        context = table.get(key)
        if context is None:
            cipher = Cipher(_algorithm(key), modes.ECB())
            context = cipher.decryptor() if decrypt else cipher.encryptor()
            if len(table) >= _ECB_KEPT:
                table.pop(next(iter(table)))
            table[bytes(key)] = context
        return context


#: Keys whose ECB contexts (both ways) a thread keeps: about 1.5 KB a key, 6 MB for the
#: last 4,096 keys. Only ciphertext needs them (a meter's encrypted answer, key wrapping).
_ECB_KEPT = 4096
#: Keys whose keyed CMAC a thread keeps: about 0.8 KB a key, 106 MB at most. A station
#: verifies the MAC of every meter's answers, each meter in turn, so this holds a large
#: district's every meter: a cache smaller than the meters a worker sees would miss on every
#: answer (meters come round in a cycle), and building the context costs three answers'
#: verification (measured: 11.5 us against 4.1 us for the whole answer).
_CMAC_KEPT = 131_072
_ecb = _EcbContexts()


def kept_cmac(mac_key: bytes) -> Any:
    """For a caller that verifies many messages under one key (the station verifying a
    meter's answers): this thread's keyed CMAC under ``mac_key``, which must never see data:
    ``.copy()`` is a fresh CMAC. A key of the wrong size raises ConfigError when its context
    is built (:func:`_algorithm`)."""
    return _ecb.pristine(mac_key)


def kept_ecb(enc_key: bytes) -> tuple[Any, Any]:
    """This thread's kept SM4-ECB ``(encryptor, decryptor)`` under ``enc_key``, for a caller
    that decrypts many messages under it: whole blocks only (as :func:`ecb_encrypt` and
    :func:`ecb_decrypt`, without their checks, which the caller makes). A key of the wrong
    size raises ConfigError when its contexts are built (:func:`_algorithm`)."""
    return _ecb.ecb_pair(enc_key)


def ecb_encrypt(key: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks in ECB mode (for single blocks and key wrapping, not for messages)."""
    _whole_blocks(data)
    return bytes(_ecb.get(key, decrypt=False).update(data))


def ecb_decrypt(key: bytes, data: bytes) -> bytes:
    _whole_blocks(data)
    return bytes(_ecb.get(key, decrypt=True).update(data))


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks in CBC mode with a 16-byte ``iv``; no padding is added."""
    _whole_blocks(data)
    encryptor = Cipher(_algorithm(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Decrypt whole blocks in CBC mode: each block ECB-decrypted through the key's kept
    context, then XORed with the block before it (``iv`` before the first), which is all CBC
    decryption is (NIST SP 800-38A 6.2); a test holds it equal to a fresh CBC context."""
    _whole_blocks(data)
    if len(iv) != BLOCK_SIZE:
        raise ConfigError(f"an SM4-CBC IV is {BLOCK_SIZE} bytes, not {len(iv)}")
    if not data:
        return b""
    plain = _ecb.get(bytes(key), decrypt=True).update(data)
    chain = int.from_bytes(iv + data[:-BLOCK_SIZE], "big")
    return (int.from_bytes(plain, "big") ^ chain).to_bytes(len(data), "big")


def ctr(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """CTR mode (encryption and decryption are the same). ``nonce`` is the 16-byte first counter
    block, incremented as a 128-bit big-endian integer."""
    if len(nonce) != BLOCK_SIZE:
        raise ConfigError(f"the SM4-CTR initial counter block is 16 bytes, not {len(nonce)}")
    encryptor = Cipher(_algorithm(key), modes.CTR(nonce)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _gcm_nonce(nonce: bytes) -> bytes:
    # OpenSSL accepts GCM IVs of 8 to 128 bytes; RFC 8998 recommends 12.
    if not 8 <= len(nonce) <= 128:
        raise ConfigError(f"an SM4-GCM nonce is 8 to 128 bytes (12 recommended), not {len(nonce)}")
    return nonce


class _GcmContexts:
    """Makes GCM contexts, through ``cryptography``'s public API or a measured fast path.

    ``Cipher(SM4(key), GCM(nonce)).encryptor()`` re-validates its arguments in Python on every
    call, which costs as much as the encryption of a short record. The fast path builds the
    same mode object without re-validation (this module has validated key and nonce already)
    and asks cryptography's binding for the context directly. It relies on cryptography's
    internals, so it is used only after it has produced byte-identical results to the public
    API on the RFC 8998 vector and on a decryption with a wrong tag; otherwise the public API
    is used and only speed is lost. ``bench/crypto.py`` measures both.
    """

    def __init__(self) -> None:
        self.fast = False
        try:
            from cryptography.hazmat.bindings._rust import openssl as rust_openssl

            self._create_encryption = rust_openssl.ciphers.create_encryption_ctx
            self._create_decryption = rust_openssl.ciphers.create_decryption_ctx
            self.fast = self._fast_path_agrees()
        except Exception:  # any change in cryptography's internals: stay on the public API
            self.fast = False

    @staticmethod
    def _mode(nonce: bytes, tag: bytes | None) -> modes.GCM:
        mode = modes.GCM.__new__(modes.GCM)
        mode._initialization_vector = nonce
        mode._tag = tag
        mode._min_tag_length = TAG_SIZE
        return mode

    def encryptor(self, algorithm: algorithms.SM4, nonce: bytes) -> Any:
        if self.fast:
            return self._create_encryption(algorithm, self._mode(nonce, None))
        return Cipher(algorithm, modes.GCM(nonce)).encryptor()

    def decryptor(self, algorithm: algorithms.SM4, nonce: bytes, tag: bytes) -> Any:
        if self.fast:
            return self._create_decryption(algorithm, self._mode(nonce, tag))
        return Cipher(algorithm, modes.GCM(nonce, tag)).decryptor()

    def _fast_path_agrees(self) -> bool:
        key = bytes.fromhex("0123456789abcdeffedcba9876543210")
        nonce = bytes.fromhex("00001234567800000000abcd")
        plaintext, aad = b"\xaa" * 40, b"\xfe" * 20
        algorithm = algorithms.SM4(key)
        public = Cipher(algorithm, modes.GCM(nonce)).encryptor()
        public.authenticate_additional_data(aad)
        expected = public.update(plaintext) + public.finalize() + public.tag
        fast = self._create_encryption(algorithm, self._mode(nonce, None))
        fast.authenticate_additional_data(aad)
        if fast.update(plaintext) + fast.finalize() + fast.tag != expected:
            return False
        opened = self._create_decryption(algorithm, self._mode(nonce, expected[-TAG_SIZE:]))
        opened.authenticate_additional_data(aad)
        if opened.update(expected[:-TAG_SIZE]) + opened.finalize() != plaintext:
            return False
        forged = self._create_decryption(algorithm, self._mode(nonce, bytes(TAG_SIZE)))
        forged.update(expected[:-TAG_SIZE])
        try:
            forged.finalize()
        except InvalidTag:
            return True
        return False


_GCM = _GcmContexts()


def gcm_seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """SM4-GCM (RFC 8998): return ``ciphertext || 16-byte tag``."""
    encryptor = _GCM.encryptor(_algorithm(key), _gcm_nonce(nonce))
    if aad:
        encryptor.authenticate_additional_data(aad)
    sealed: bytes = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
    return sealed


def gcm_open(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    """Check and decrypt ``ciphertext || tag`` from :func:`gcm_seal`; raise IntegrityError."""
    if len(sealed) < TAG_SIZE:
        raise IntegrityError()
    decryptor = _GCM.decryptor(_algorithm(key), _gcm_nonce(nonce), sealed[-TAG_SIZE:])
    if aad:
        decryptor.authenticate_additional_data(aad)
    plaintext = decryptor.update(sealed[:-TAG_SIZE])
    try:
        opened: bytes = plaintext + decryptor.finalize()
        return opened
    except InvalidTag:
        raise IntegrityError() from None


def cmac(key: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """SM4-CMAC (NIST SP 800-38B with SM4): a 16-byte MAC. ``keep``: keep the keyed context
    for the next MAC under ``key`` (about 0.8 KB a key, for the last ``_CMAC_KEPT`` keys); a
    simulation that MACs once each for many meters in turn passes False, as the context
    would be dropped before its meter comes round again."""
    kept = keep and len(key) == KEY_SIZE
    mac = _ecb.cmac(bytes(key)) if kept else _cmac.CMAC(_algorithm(key))
    mac.update(data)
    result: bytes = mac.finalize()
    return result


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Append PKCS#7 padding (always at least one byte)."""
    pad = block_size - len(data) % block_size
    return data + bytes([pad]) * pad


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Remove PKCS#7 padding; a malformed pad raises IntegrityError (it is a tampering sign)."""
    if not data or len(data) % block_size:
        raise IntegrityError()
    pad = data[-1]
    if not 1 <= pad <= block_size or data[-pad:] != bytes([pad]) * pad:
        raise IntegrityError()
    return data[:-pad]
