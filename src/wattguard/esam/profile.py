"""The soft-ESAM profile: the keys, MACs, ciphertexts and layouts that the ESAM (meter side)
and the station's cryptographic device must compute alike. One copy, used by both.

Theory of operation. Real ESAM key diversification and MAC constructions are not public, so
wattguard defines its own profile, built only from public algorithms (docs/security.md gives
it byte by byte):

* **Keys.** The cryptographic device holds one SM4 master key per :class:`KeyId`, all of one
  *key version*. A meter's key is ``SM4-ECB(master, D || ~D)`` with ``D = 00 00 || address``
  (the PBOC-style diversification, one 16-byte block for SM4's 16-byte key): opening one
  meter yields nothing about another. Where one key would serve both to encrypt and to MAC,
  :func:`subkey` splits it.
* **MACs.** 4 bytes: the first 4 of SM4-CMAC (NIST SP 800-38B) over
  ``label || len(binding) || binding || data``. The label separates the uses (request,
  response, report, top-up, key update, CONNECT), the *binding* ties the MAC to its counter
  or random number, so neither a MAC nor a ciphertext can be moved to another context.
* **Encryption.** SM4-CBC with ISO/IEC 9797-1 padding method 2 (``80 00..``) and an IV that is
  ``SM4-ECB(key, SM3("IV" || direction || len(binding) || binding)[:16])``: unique per
  counter and direction, and unpredictable without the key.
* **Freshness.** A SID is ``ident`` (4 bytes: ``57 | operation | keyset | key version``) and
  attached data ``counter (4) || meter address (6)``. The counter must strictly increase in its
  operation's sequence (commands; top-ups, which must be exactly the next; the key version of a
  key update; a certificate's serial). A station's RN for RN_MAC, and the meter's RN in a
  report, is structured the same way (:class:`StructuredRandom`); a plain RN read may carry any
  random number (the terminal picks it), and only binds the answer's MAC.
* **CONNECT.** Both mechanisms transport a 16-byte client random (SM4 under the meter's AUTH
  key, or SM2 to the ESAM's public key) and return a server random; the session keys are the
  SM3 KDF of GB/T 32918.4 clause 5.4.3 over both randoms and the address
  (:func:`session_keys`).
"""

from __future__ import annotations

import enum
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wattguard.crypto import sm3, sm4
from wattguard.errors import ConfigError, DecodeError, IntegrityError
from wattguard.protocol import _accelerate
from wattguard.randomness import Random

__all__ = [
    "ADDRESS_SIZE",
    "KEY_SIZE",
    "MAC_SIZE",
    "PROFILE_TAG",
    "RANDOM_SIZE",
    "Direction",
    "KeyId",
    "Keyset",
    "Label",
    "MasterKeys",
    "MeterKeys",
    "Operation",
    "Random",
    "SessionKeys",
    "SidFields",
    "StructuredRandom",
    "check_mac",
    "decrypt",
    "diversify",
    "encrypt",
    "mac",
    "open_answer",
    "open_answer_python",
    "pad",
    "server_proof",
    "session_keys",
    "signed_answer",
    "signed_offer",
    "subkey",
    "symmetric_offer",
    "symmetric_open",
    "unpad",
]

KEY_SIZE = 16
MAC_SIZE = 4
RANDOM_SIZE = 16
ADDRESS_SIZE = 6
#: First byte of every SID ident and structured random number of this profile ("W").
PROFILE_TAG = 0x57
_U32 = struct.Struct(">I")
_MAX_BINDING = 255


class KeyId(enum.IntEnum):
    """The symmetric keys of a meter (one master key each at the cryptographic device)."""

    MAC = 1  # MACs of requests, responses and reports
    ENC = 2  # ciphertext of requests and responses
    WALLET = 3  # MACs of top-ups
    TRANSPORT = 4  # protects key updates (wrapping and MAC)
    AUTH = 5  # CONNECT, symmetric mechanism


class Keyset(enum.IntEnum):
    """Which keys a SID or structured random number names."""

    METER = 1  # the meter's diversified keys
    SESSION = 2  # the session keys a CONNECT negotiated


class Operation(enum.IntEnum):
    """The operation a SID authorises; each has its own counter sequence."""

    COMMAND = 0x01  # a SECURITY-Request (SID, SID_MAC, RN_MAC): the command counter
    TOP_UP = 0x10  # a wallet top-up: the purchase count, exactly the next one
    REFUND = 0x11  # a refund from the wallet: the same purchase count as top-ups
    KEY_UPDATE = 0x20  # a key update: the new key version
    CERTIFICATE_UPDATE = 0x30  # a certificate update: the certificate's serial number


class Label(enum.IntEnum):
    """First byte of every MAC input: what the MAC is for."""

    REQUEST = 0x01
    RESPONSE = 0x02
    REPORT = 0x03
    TOP_UP = 0x10
    REFUND = 0x11
    KEY_UPDATE = 0x20
    CONNECT_CLIENT = 0x40
    CONNECT_SERVER = 0x41


class Direction(enum.IntEnum):
    """Enters the IV, so a request and its response never share one."""

    REQUEST = 1
    RESPONSE = 2
    KEY_WRAP = 4


# keys


def diversify(master: bytes, address: bytes) -> bytes:
    """A meter's key: ``SM4-ECB(master, D || ~D)``, ``D = 00 00 || address`` (6 bytes)."""
    if len(address) != ADDRESS_SIZE:
        raise ConfigError(f"a meter address is {ADDRESS_SIZE} bytes, not {len(address)}")
    d = b"\x00\x00" + address
    return sm4.ecb_encrypt(master, d + bytes(b ^ 0xFF for b in d))


def subkey(key: bytes, purpose: bytes) -> bytes:
    """A key for one purpose (``b"E"`` encrypt, ``b"M"`` MAC): ``SM4-ECB(key, purpose || 0..)``."""
    return sm4.ecb_encrypt(key, purpose.ljust(sm4.BLOCK_SIZE, b"\x00"))


@dataclass(frozen=True, slots=True)
class MeterKeys:
    """One meter's symmetric keys, all of one version."""

    version: int
    keys: Mapping[KeyId, bytes]

    def __post_init__(self) -> None:
        if not 0 <= self.version <= 0xFF:
            raise ConfigError(f"a key version is one byte, not {self.version}")
        if set(self.keys) != set(KeyId) or any(len(k) != KEY_SIZE for k in self.keys.values()):
            raise ConfigError("a key set holds one 16-byte key for every KeyId")

    def __getitem__(self, key_id: KeyId) -> bytes:
        return self.keys[key_id]

    def to_bytes(self) -> bytes:
        """``version | count | (key id | key) * count``: the plaintext of a key update."""
        body = b"".join(bytes((k,)) + self.keys[k] for k in sorted(self.keys))
        return bytes((self.version, len(self.keys))) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> MeterKeys:
        if len(data) < 2 or len(data) != 2 + data[1] * (1 + KEY_SIZE):
            raise DecodeError("key set of the wrong length", offset=0)
        keys: dict[KeyId, bytes] = {}
        for i in range(data[1]):
            at = 2 + i * (1 + KEY_SIZE)
            try:
                key_id = KeyId(data[at])
            except ValueError:
                raise DecodeError("unknown key id", offset=at) from None
            if key_id in keys:
                raise DecodeError("key id given twice", offset=at)
            keys[key_id] = data[at + 1 : at + 1 + KEY_SIZE]
        try:
            return cls(data[0], keys)
        except ConfigError as exc:
            raise DecodeError(str(exc), offset=0) from None

    def __repr__(self) -> str:  # never show key material
        return f"MeterKeys(version={self.version})"


@dataclass(frozen=True, slots=True)
class MasterKeys:
    """The cryptographic device's master keys of one version."""

    version: int
    keys: Mapping[KeyId, bytes]

    def __post_init__(self) -> None:
        MeterKeys(self.version, self.keys)  # the same checks

    @classmethod
    def generate(cls, version: int, random: Random) -> MasterKeys:
        return cls(version, {k: random(KEY_SIZE) for k in KeyId})

    def for_meter(self, address: bytes) -> MeterKeys:
        return MeterKeys(self.version, {k: diversify(v, address) for k, v in self.keys.items()})

    def __repr__(self) -> str:
        return f"MasterKeys(version={self.version})"


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """The SM4 keys of one CONNECT session (:func:`session_keys`): ``enc`` encrypts, ``mac``
    MACs. Its repr never shows them."""

    enc: bytes
    mac: bytes

    def __repr__(self) -> str:
        return "SessionKeys(...)"


def session_keys(client_random: bytes, server_random: bytes, address: bytes) -> SessionKeys:
    """The SM3 KDF (GB/T 32918.4-2016 clause 5.4.3) of ``"wattguard-session" || address ||
    client random || server random``, 32 bytes: the encryption key, then the MAC key."""
    z = b"wattguard-session" + address + client_random + server_random
    material = sm3.kdf(z, 2 * KEY_SIZE)
    return SessionKeys(material[:KEY_SIZE], material[KEY_SIZE:])


#: The label and direction of a meter's answer, as plain ints (open_answer runs per answer).
_RESPONSE = int(Label.RESPONSE)
_FROM_METER = int(Direction.RESPONSE)


# MACs


def mac(key: bytes, label: Label, binding: bytes, data: bytes, *, keep: bool = True) -> bytes:
    """``SM4-CMAC(key, label || len(binding) || binding || data)[:4]`` (``keep``: see
    :func:`wattguard.crypto.sm4.cmac`)."""
    if len(binding) > _MAX_BINDING:
        raise ConfigError("a MAC binding is at most 255 bytes")
    return sm4.cmac(key, bytes((label, len(binding))) + binding + data, keep=keep)[:MAC_SIZE]


def check_mac(key: bytes, label: Label, binding: bytes, data: bytes, tag: bytes) -> None:
    """Raise IntegrityError unless ``tag`` is the MAC (compared in constant time)."""
    if len(binding) > _MAX_BINDING or not hmac.compare_digest(
        mac(key, label, binding, data), bytes(tag)
    ):
        raise IntegrityError()


# encryption


def pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 2: ``80`` then zeros to a whole block (always added)."""
    data += b"\x80"
    return data + bytes(-len(data) % sm4.BLOCK_SIZE)


def unpad(data: bytes) -> bytes:
    """Undo :func:`pad`; a malformed pad raises IntegrityError."""
    stripped = data.rstrip(b"\x00")
    if not data or len(data) % sm4.BLOCK_SIZE or not stripped.endswith(b"\x80"):
        raise IntegrityError()
    if len(data) - len(stripped) >= sm4.BLOCK_SIZE:
        raise IntegrityError()
    return stripped[:-1]


def _iv(key: bytes, direction: Direction, binding: bytes) -> bytes:
    seed = sm3.hash(b"IV" + bytes((direction, len(binding))) + binding)[: sm4.BLOCK_SIZE]
    return sm4.ecb_encrypt(key, seed)


def encrypt(key: bytes, direction: Direction, binding: bytes, plaintext: bytes) -> bytes:
    """SM4-CBC of the padded plaintext, IV from direction and binding."""
    return sm4.cbc_encrypt(key, _iv(key, direction, binding), pad(plaintext))


def decrypt(key: bytes, direction: Direction, binding: bytes, ciphertext: bytes) -> bytes:
    """Undo :func:`encrypt`; a ciphertext that is not whole blocks or pads badly raises
    IntegrityError."""
    if not ciphertext or len(ciphertext) % sm4.BLOCK_SIZE:
        raise IntegrityError()
    return unpad(sm4.cbc_decrypt(key, _iv(key, direction, binding), ciphertext))


def open_answer(
    enc_key: bytes, mac_key: bytes, binding: bytes, protection: int, data: bytes, tag: bytes
) -> bytes:
    """A meter's answer opened in one call, as :func:`check_mac` (``Label.RESPONSE``, over
    ``protection || data``) then, for ciphertext (protection 1), :func:`decrypt`
    (``Direction.RESPONSE``) do it: the station verifies every answer it collects this way, so
    the layers of those calls are folded here (a test holds the two ways equal). The SM4
    contexts are this thread's kept ones (:func:`~wattguard.crypto.sm4.kept_cmac`, and
    :func:`~wattguard.crypto.sm4.kept_ecb` for ciphertext only: CBC as the ECB decryption
    XORed with the previous blocks; a plaintext answer builds no cipher context). The
    glue around the `cryptography` calls runs compiled when the compiled decoder is built
    (``_accelerate.OPEN_ANSWER``; :func:`open_answer_python` is the reference, a test holds
    them equal). Raises IntegrityError, the same for every failure."""
    if len(binding) > _MAX_BINDING:
        raise IntegrityError()
    cmac = sm4.kept_cmac(mac_key)
    encryptor, decryptor = sm4.kept_ecb(enc_key) if protection == 1 else (None, None)
    if _COMPILED is None:
        return _open(cmac, encryptor, decryptor, binding, protection, data, tag)
    opened = _COMPILED(
        cmac, encryptor, decryptor, _SM3, _RESPONSE, _FROM_METER, binding, protection, data, tag
    )
    if opened is None:
        raise IntegrityError()
    return opened


def open_answer_python(
    enc_key: bytes, mac_key: bytes, binding: bytes, protection: int, data: bytes, tag: bytes
) -> bytes:
    """:func:`open_answer` in Python alone (the reference of its compiled glue)."""
    if len(binding) > _MAX_BINDING:
        raise IntegrityError()
    cmac = sm4.kept_cmac(mac_key)
    encryptor, decryptor = sm4.kept_ecb(enc_key) if protection == 1 else (None, None)
    return _open(cmac, encryptor, decryptor, binding, protection, data, tag)


def _open(
    cmac: Any,
    encryptor: Any,
    decryptor: Any,
    binding: bytes,
    protection: int,
    data: bytes,
    tag: bytes,
) -> bytes:
    size = len(binding)
    mac = cmac.copy()
    mac.update(bytes((_RESPONSE, size)) + binding + bytes((protection,)) + data)
    if not hmac.compare_digest(mac.finalize()[:MAC_SIZE], bytes(tag)):
        raise IntegrityError()
    if protection != 1:
        return data
    if not data or len(data) % _BLOCK:
        raise IntegrityError()
    iv = encryptor.update(sm3.hash(b"IV" + bytes((_FROM_METER, size)) + binding)[:_BLOCK])
    chain = int.from_bytes(iv + data[:-_BLOCK], "big")
    plain = (int.from_bytes(decryptor.update(data), "big") ^ chain).to_bytes(len(data), "big")
    return unpad(plain)


#: The compiled glue of open_answer, or None (see _accelerate), and the SM3 context it copies.
_COMPILED = _accelerate.OPEN_ANSWER
_SM3 = sm3.empty_context()
_BLOCK = sm4.BLOCK_SIZE


# freshness layouts


@dataclass(frozen=True, slots=True)
class SidFields:
    """A SID as this profile fills it::

    ident  (4): 57 | operation | keyset | key version
    attach (10): counter (4, big-endian) | meter address (6)
    """

    operation: Operation
    keyset: Keyset
    key_version: int
    counter: int
    address: bytes

    @property
    def ident(self) -> int:
        return int.from_bytes(
            bytes((PROFILE_TAG, self.operation, self.keyset, self.key_version)), "big"
        )

    @property
    def attach(self) -> bytes:
        return _U32.pack(self.counter) + self.address

    @property
    def binding(self) -> bytes:
        """What MACs and IVs bind to: ``ident || attach``."""
        return _U32.pack(self.ident) + self.attach

    @classmethod
    def parse(cls, ident: int, attach: bytes) -> SidFields:
        raw = _U32.pack(ident & 0xFFFFFFFF)
        if raw[0] != PROFILE_TAG or len(attach) != 4 + ADDRESS_SIZE:
            raise DecodeError("not a SID of the wattguard profile", offset=0)
        try:
            operation, keyset = Operation(raw[1]), Keyset(raw[2])
        except ValueError:
            raise DecodeError("unknown operation or keyset in the SID", offset=1) from None
        return cls(operation, keyset, raw[3], _U32.unpack(attach[:4])[0], attach[4:])


@dataclass(frozen=True, slots=True)
class StructuredRandom:
    """A random number that carries a counter (RN_MAC requests, reports), 16 bytes::

    57 | keyset | key version | 00 | counter (4, big-endian) | random (8)
    """

    keyset: Keyset
    key_version: int
    counter: int
    nonce: bytes

    def to_bytes(self) -> bytes:
        head = bytes((PROFILE_TAG, self.keyset, self.key_version, 0))
        return head + _U32.pack(self.counter) + self.nonce

    @classmethod
    def from_bytes(cls, data: bytes) -> StructuredRandom:
        if len(data) != RANDOM_SIZE or data[0] != PROFILE_TAG or data[3] != 0:
            raise DecodeError("not a random number of the wattguard profile", offset=0)
        try:
            keyset = Keyset(data[1])
        except ValueError:
            raise DecodeError("unknown keyset in the random number", offset=1) from None
        return cls(keyset, data[2], _U32.unpack(data[4:8])[0], data[8:])

    @classmethod
    def fresh(
        cls, keyset: Keyset, key_version: int, counter: int, random: Random
    ) -> StructuredRandom:
        return cls(keyset, key_version, counter, random(RANDOM_SIZE - 8))


# CONNECT


def symmetric_offer(auth_key: bytes, address: bytes, client_random: bytes) -> tuple[bytes, bytes]:
    """The client's symmetric CONNECT: ``ciphertext = SM4-ECB(AUTH/E, client random)`` and its
    MAC under AUTH/M bound to the meter address."""
    if len(client_random) != RANDOM_SIZE:
        raise ConfigError(f"the CONNECT random number is {RANDOM_SIZE} bytes")
    ciphertext = sm4.ecb_encrypt(subkey(auth_key, b"E"), client_random)
    return ciphertext, mac(subkey(auth_key, b"M"), Label.CONNECT_CLIENT, address, ciphertext)


def symmetric_open(auth_key: bytes, address: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """The client random of a symmetric CONNECT; IntegrityError if the MAC does not hold."""
    check_mac(subkey(auth_key, b"M"), Label.CONNECT_CLIENT, address, ciphertext, tag)
    if len(ciphertext) != RANDOM_SIZE:
        raise IntegrityError()
    return sm4.ecb_decrypt(subkey(auth_key, b"E"), ciphertext)


def server_proof(keys: SessionKeys, server_random: bytes, ciphertext: bytes) -> bytes:
    """The ESAM's answer to a symmetric CONNECT: a MAC under the new session MAC key, which
    proves it derived the same keys."""
    return mac(keys.mac, Label.CONNECT_SERVER, server_random, ciphertext)


def signed_offer(address: bytes, ciphertext: bytes) -> bytes:
    """What the station signs in a signature CONNECT (SM2, its certified key)."""
    return b"wattguard-connect" + address + ciphertext


def signed_answer(address: bytes, server_random: bytes, ciphertext: bytes) -> bytes:
    """What the ESAM signs in its answer to a signature CONNECT (SM2, its certified key)."""
    return b"wattguard-connect-ok" + address + server_random + sm3.hash(ciphertext)
