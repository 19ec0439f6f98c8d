"""SM2 public-key cryptography (GB/T 32918.1-5-2016/2017) on the recommended curve.

Signatures are 64 bytes ``r || s`` (DER through :func:`signature_to_der` for X.509);
ciphertexts are ``C1 || C3 || C2`` (GB/T 32918.4-2016 order; :func:`c1c2c3_to_c1c3c2` converts
the 2010 order). Every verification, decryption or point failure raises the same
:class:`~wattguard.errors.IntegrityError`.

Backends: the system OpenSSL 3 (``libcrypto.so.3``) through ctypes when it has SM2, else the
pure-Python reference with a warning. ``WATTGUARD_SM2_BACKEND=openssl|reference`` forces one.
"""

from __future__ import annotations

import os
import secrets
import warnings
from typing import Any

from wattguard.crypto import _der, _sm2_reference, sm3
from wattguard.crypto._sm2_formats import (
    POINT_SIZE,
    SCALAR_SIZE,
    c1c2c3_to_c1c3c2,
    c1c3c2_to_c1c2c3,
    ciphertext_from_der,
    ciphertext_to_der,
    private_key_from_der,
    private_key_to_pkcs8,
    public_key_from_spki,
    public_key_to_spki,
    signature_from_der,
    signature_to_der,
)
from wattguard.errors import ConfigError, IntegrityError

__all__ = [
    "DEFAULT_ID",
    "KeyExchange",
    "PrivateKey",
    "PublicKey",
    "backend_name",
    "c1c2c3_to_c1c3c2",
    "c1c3c2_to_c1c2c3",
    "ciphertext_from_der",
    "ciphertext_to_der",
    "signature_from_der",
    "signature_to_der",
]

#: The distinguishing ID that GB/T 35276-2017 names as the default.
DEFAULT_ID = b"1234567812345678"
SIGNATURE_SIZE = 2 * SCALAR_SIZE
_CURVE = _sm2_reference.SM2_P256
_MAX_ID_BYTES = 8191  # ENTL is 16 bits of *bits*: GB/T 32918.2-2016 clause 5.5


def _select_backend() -> Any:
    choice = os.environ.get("WATTGUARD_SM2_BACKEND", "auto")
    if choice not in ("auto", "openssl", "reference"):
        raise ConfigError(
            f"WATTGUARD_SM2_BACKEND must be 'openssl', 'reference' or unset, not {choice!r}"
        )
    if choice == "reference":
        return _sm2_reference.ReferenceBackend()
    from wattguard.crypto import _openssl

    try:
        return _openssl.OpenSSLBackend()
    except _openssl.BackendUnavailable as exc:
        if choice == "openssl":
            raise
        warnings.warn(
            f"SM2 falls back to the slow, non-constant-time pure-Python reference: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )
        return _sm2_reference.ReferenceBackend()


_BACKEND = _select_backend()


def backend_name() -> str:
    """``"openssl"`` or ``"reference"``: which implementation SM2 runs on."""
    return str(_BACKEND.name)


def _check_id(user_id: bytes) -> bytes:
    if len(user_id) > _MAX_ID_BYTES:
        raise ConfigError(f"an SM2 distinguishing ID is at most {_MAX_ID_BYTES} bytes")
    return bytes(user_id)


class PublicKey:
    """An SM2 public key: a point on the recommended curve, checked when it is made."""

    __slots__ = ("_encoded", "_handle")

    def __init__(self, encoded: bytes) -> None:
        # Use from_bytes / from_der / from_pem; this checks the point as well.
        self._encoded = bytes(encoded)
        _sm2_reference.decode_point(_CURVE, self._encoded)
        self._handle: Any = None

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """From ``04 || x || y`` (65 bytes); a point off the curve raises IntegrityError."""
        return cls(data)

    def to_bytes(self) -> bytes:
        return self._encoded

    @classmethod
    def from_der(cls, der: bytes) -> PublicKey:
        return cls(public_key_from_spki(der))

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo, as ``openssl pkey -pubout -outform DER`` writes it."""
        return public_key_to_spki(self._encoded)

    @classmethod
    def from_pem(cls, pem: bytes) -> PublicKey:
        label, der = _der.pem_decode(pem)
        if label != "PUBLIC KEY":
            raise _der.DerError()
        return cls.from_der(der)

    def to_pem(self) -> bytes:
        return _der.pem_encode(self.to_der(), "PUBLIC KEY")

    def _key(self) -> Any:
        if self._handle is None:
            self._handle = _BACKEND.load_public(self._encoded)
        return self._handle

    def verify(self, message: bytes, signature: bytes, id: bytes = DEFAULT_ID) -> None:
        """Check a 64-byte ``r || s`` signature; raise IntegrityError if it does not hold."""
        if len(signature) != SIGNATURE_SIZE:
            raise IntegrityError()
        r = int.from_bytes(signature[:SCALAR_SIZE], "big")
        s = int.from_bytes(signature[SCALAR_SIZE:], "big")
        if not (1 <= r < _CURVE.n and 1 <= s < _CURVE.n):
            raise IntegrityError()
        _BACKEND.verify(self._key(), message, r, s, _check_id(id))

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt to this key: ``C1 || C3 || C2``, 97 bytes longer than ``plaintext``."""
        if not plaintext:
            raise ConfigError("SM2 cannot encrypt an empty message (GB/T 32918.4 step A5)")
        return bytes(_BACKEND.encrypt(self._key(), plaintext))

    def z_value(self, id: bytes = DEFAULT_ID) -> bytes:
        """Z = SM3(ENTL || ID || a || b || G || this key), GB/T 32918.2-2016 clause 5.5."""
        point = _sm2_reference.decode_point(_CURVE, self._encoded)
        return _sm2_reference.z_value(_CURVE, _check_id(id), point)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._encoded == self._encoded

    def __hash__(self) -> int:
        return hash(self._encoded)

    def __repr__(self) -> str:
        return f"sm2.PublicKey({self._encoded.hex()})"


class PrivateKey:
    """An SM2 private key d in [1, n-2] with its public key."""

    __slots__ = ("_d", "_handle", "public_key")

    def __init__(self, d: int, public: bytes | None = None) -> None:
        # Use generate / from_bytes / from_der / from_pem.
        if not 1 <= d <= _CURVE.n - 2:
            raise ConfigError("an SM2 private key must lie in [1, n-2]")
        self._d = d
        computed = bytes(_BACKEND.public_from_private(d))
        if public is not None and bytes(public) != computed:
            raise IntegrityError()
        self.public_key = PublicKey(computed)
        self._handle: Any = None

    @classmethod
    def generate(cls) -> PrivateKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(secrets.randbelow(_CURVE.n - 2) + 1)

    @classmethod
    def from_bytes(cls, data: bytes) -> PrivateKey:
        """From the 32-byte big-endian scalar."""
        if len(data) != SCALAR_SIZE:
            raise ConfigError(f"an SM2 private key is {SCALAR_SIZE} bytes, not {len(data)}")
        return cls(int.from_bytes(data, "big"))

    def to_bytes(self) -> bytes:
        return self._d.to_bytes(SCALAR_SIZE, "big")

    @classmethod
    def from_der(cls, der: bytes) -> PrivateKey:
        """From PKCS#8 or SEC 1 DER; a public key inside must match the private one."""
        d, public = private_key_from_der(der)
        return cls(d, public)

    def to_der(self) -> bytes:
        """PKCS#8, as ``openssl genpkey -algorithm SM2 -outform DER`` writes it."""
        return private_key_to_pkcs8(self._d, self.public_key.to_bytes())

    @classmethod
    def from_pem(cls, pem: bytes) -> PrivateKey:
        label, der = _der.pem_decode(pem)
        if label not in ("PRIVATE KEY", "EC PRIVATE KEY"):
            raise _der.DerError()
        return cls.from_der(der)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM: store it where only its owner can read it."""
        return _der.pem_encode(self.to_der(), "PRIVATE KEY")

    def _key(self) -> Any:
        if self._handle is None:
            self._handle = _BACKEND.load_private(self._d, self.public_key.to_bytes())
        return self._handle

    def sign(self, message: bytes, id: bytes = DEFAULT_ID) -> bytes:
        """Sign ``message`` (Z is prepended inside): 64 bytes ``r || s``."""
        r, s = _BACKEND.sign(self._key(), message, _check_id(id))
        return int(r).to_bytes(SCALAR_SIZE, "big") + int(s).to_bytes(SCALAR_SIZE, "big")

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt ``C1 || C3 || C2``; any tampering raises IntegrityError."""
        if len(ciphertext) <= POINT_SIZE + sm3.DIGEST_SIZE or ciphertext[0] != 0x04:
            raise IntegrityError()
        return bytes(_BACKEND.decrypt(self._key(), ciphertext))

    def __repr__(self) -> str:
        return f"sm2.PrivateKey(public={self.public_key.to_bytes().hex()})"


class KeyExchange:
    """One side of the SM2 key exchange, GB/T 32918.3-2016, with the optional confirmation.

    The initiator is user A, the responder user B::

        A: kx = KeyExchange(a_key, b_public, initiator=True)         send kx.ephemeral_public_key
        B: kx = KeyExchange(b_key, a_public, initiator=False)
           key = kx.derive(R_A)                                       send R_B, kx.confirmation()
        A: key = kx.derive(R_B); kx.check_confirmation(S_B)           send kx.confirmation()
        B: kx.check_confirmation(S_A)

    ``confirmation()`` is S_B (prefix 0x02) for the responder and S_A (prefix 0x03) for the
    initiator; ``check_confirmation`` checks the other side's. ``key_length`` is in bytes.
    """

    _W = 127  # ceil(ceil(log2 n) / 2) - 1 for the 256-bit n, clause 6.1

    def __init__(
        self,
        private_key: PrivateKey,
        peer_public_key: PublicKey,
        *,
        initiator: bool,
        id: bytes = DEFAULT_ID,
        peer_id: bytes = DEFAULT_ID,
        key_length: int = 16,
        ephemeral_key: PrivateKey | None = None,
    ) -> None:
        if key_length < 1:
            raise ConfigError("the agreed key must be at least one byte long")
        self._key = private_key
        self._peer = peer_public_key
        self._initiator = initiator
        self._key_length = key_length
        self._ephemeral = ephemeral_key or PrivateKey.generate()
        own_z = private_key.public_key.z_value(id)
        peer_z = peer_public_key.z_value(peer_id)
        self._za, self._zb = (own_z, peer_z) if initiator else (peer_z, own_z)
        self._inner: bytes | None = None
        self._y: bytes = b""
        self.key: bytes | None = None

    @property
    def ephemeral_public_key(self) -> PublicKey:
        """R_A (initiator) or R_B (responder): send it to the peer."""
        return self._ephemeral.public_key

    @classmethod
    def _xbar(cls, encoded: bytes) -> int:
        x = int.from_bytes(encoded[1:33], "big")
        return (1 << cls._W) + (x & ((1 << cls._W) - 1))

    def derive(self, peer_ephemeral_public_key: PublicKey) -> bytes:
        """Compute the shared key from the peer's ephemeral point (once)."""
        if self.key is not None:
            raise ConfigError("this key exchange has already derived its key")
        own_r = self._ephemeral.public_key.to_bytes()
        peer_r = peer_ephemeral_public_key.to_bytes()
        # t = (d + x̄·r) mod n and [t](P + [x̄']R'): on OpenSSL, in constant-time BIGNUMs and
        # the ladder, never in Python integers (docs/security.md, "Secret scalars")
        shared = _BACKEND.agree(
            self._key._d, self._ephemeral._d, self._xbar(own_r),
            self._peer.to_bytes(), self._xbar(peer_r), peer_r,
        )  # fmt: skip
        x, y = shared[1:33], shared[33:65]
        self.key = sm3.kdf(x + y + self._za + self._zb, self._key_length)
        ra, rb = (own_r, peer_r) if self._initiator else (peer_r, own_r)
        self._inner = sm3.hash(x + self._za + self._zb + ra[1:] + rb[1:])
        self._y = y
        return self.key

    def _tag(self, prefix: bytes) -> bytes:
        if self._inner is None:
            raise ConfigError("derive() the key before confirming it")
        return sm3.hash(prefix + self._y + self._inner)

    def confirmation(self) -> bytes:
        """This side's confirmation hash: S_B for the responder, S_A for the initiator."""
        return self._tag(b"\x03" if self._initiator else b"\x02")

    def check_confirmation(self, tag: bytes) -> None:
        """Check the peer's confirmation hash (S_B at the initiator, S_A at the responder)."""
        expected = self._tag(b"\x02" if self._initiator else b"\x03")
        if not secrets.compare_digest(expected, bytes(tag)):
            raise IntegrityError()
