"""SM2 through the system OpenSSL (``libcrypto.so.3``), bound with ctypes.

The only module that loads a foreign library. It exposes one object, :class:`OpenSSLBackend`,
with the same methods as the pure-Python ``ReferenceBackend``; ``sm2`` picks one at import.

Pitfalls this binding handles (see DESIGN.md, "Crypto choices"):

* OpenSSL 3.0's default SM2 distinguishing ID is empty: the ID is set explicitly with
  ``EVP_PKEY_CTX_set1_id`` on the context that ``EVP_DigestSignInit_ex`` returns, for every
  signature and verification.
* A private key is loaded together with its public key (PKCS#8 with the ``[1]`` public key), so
  OpenSSL never has to recompute it and the Z value uses the right point.
* Contexts are created per operation and never shared between threads; ``EVP_PKEY`` objects
  are reference-counted and read-only after loading, which OpenSSL allows to share.
* Every failure clears the thread's OpenSSL error queue and raises the same IntegrityError.
* Secret scalars (private keys, ephemeral keys, the key exchange's t) never meet Python's
  variable-time integer arithmetic: they go into ``BIGNUM`` s flagged ``BN_FLG_CONSTTIME``;
  t = (d + x̄·r) mod n is computed with Montgomery multiplication and ``BN_mod_add_quick``
  (both constant time for operands below n: their internal forms are what OpenSSL's own
  ECDSA signing uses), and every multiplication of a point by a secret goes
  through ``EC_POINT_mul`` with one scalar, which OpenSSL runs as its constant-time
  Montgomery ladder (``ossl_ec_scalar_mul_ladder``). What remains is docs/security.md's
  "Secret scalars" section.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import POINTER, byref, c_char_p, c_int, c_long, c_size_t, c_void_p

from wattguard.crypto import _sm2_formats as formats
from wattguard.errors import ConfigError, IntegrityError

_POINT_CONVERSION_UNCOMPRESSED = 4
_BN_FLG_CONSTTIME = 0x04


class BackendUnavailable(ConfigError):
    """The system OpenSSL cannot be loaded, is older than 3.0, or lacks SM2."""


def _load_library() -> ctypes.CDLL:
    candidates = ["libcrypto.so.3", ctypes.util.find_library("crypto")]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        if lib.OpenSSL_version_num() >= 0x30000000:
            return lib
    raise BackendUnavailable("no OpenSSL 3 libcrypto found (install libssl3)")


def _prototypes(lib: ctypes.CDLL) -> None:
    vp, cp, i, sz = c_void_p, c_char_p, c_int, c_size_t
    table: dict[str, tuple[object, list[object]]] = {
        "ERR_clear_error": (None, []),
        "EVP_PKEY_free": (None, [vp]),
        "d2i_AutoPrivateKey": (vp, [vp, POINTER(cp), c_long]),
        "d2i_PUBKEY": (vp, [vp, POINTER(cp), c_long]),
        "EVP_PKEY_is_a": (i, [vp, cp]),
        "EVP_MD_CTX_new": (vp, []),
        "EVP_MD_CTX_free": (None, [vp]),
        "EVP_DigestSignInit_ex": (i, [vp, POINTER(vp), cp, vp, vp, vp, vp]),
        "EVP_DigestVerifyInit_ex": (i, [vp, POINTER(vp), cp, vp, vp, vp, vp]),
        "EVP_PKEY_CTX_set1_id": (i, [vp, cp, i]),
        "EVP_DigestSign": (i, [vp, cp, POINTER(sz), cp, sz]),
        "EVP_DigestVerify": (i, [vp, cp, sz, cp, sz]),
        "EVP_PKEY_CTX_new_from_pkey": (vp, [vp, vp, vp]),
        "EVP_PKEY_CTX_free": (None, [vp]),
        "EVP_PKEY_encrypt_init": (i, [vp]),
        "EVP_PKEY_encrypt": (i, [vp, cp, POINTER(sz), cp, sz]),
        "EVP_PKEY_decrypt_init": (i, [vp]),
        "EVP_PKEY_decrypt": (i, [vp, cp, POINTER(sz), cp, sz]),
        "OBJ_sn2nid": (i, [cp]),
        "EC_GROUP_new_by_curve_name": (vp, [i]),
        "EC_POINT_new": (vp, [vp]),
        "EC_POINT_free": (None, [vp]),
        "EC_POINT_oct2point": (i, [vp, vp, cp, sz, vp]),
        "EC_POINT_point2oct": (sz, [vp, vp, i, cp, sz, vp]),
        "EC_POINT_mul": (i, [vp, vp, vp, vp, vp, vp]),
        "EC_POINT_add": (i, [vp, vp, vp, vp, vp]),
        "EC_POINT_is_at_infinity": (i, [vp, vp]),
        "BN_bin2bn": (vp, [cp, i, vp]),
        "BN_clear_free": (None, [vp]),
        "BN_new": (vp, []),
        "BN_set_flags": (None, [vp, i]),
        "BN_CTX_new": (vp, []),
        "BN_CTX_free": (None, [vp]),
        "BN_MONT_CTX_new": (vp, []),
        "BN_MONT_CTX_set": (i, [vp, vp, vp]),
        "BN_to_montgomery": (i, [vp, vp, vp, vp]),
        "BN_mod_mul_montgomery": (i, [vp, vp, vp, vp, vp]),
        "BN_mod_add_quick": (i, [vp, vp, vp, vp]),
        "EC_GROUP_get0_order": (vp, [vp]),
    }
    for name, (restype, argtypes) in table.items():
        try:
            function = getattr(lib, name)
        except AttributeError as exc:
            raise BackendUnavailable(f"libcrypto lacks {name}") from exc
        function.restype = restype
        function.argtypes = argtypes


class _PKey:
    """An owned ``EVP_PKEY*``; freed with its Python object."""

    __slots__ = ("_free", "ptr")

    def __init__(self, ptr: int, free: object) -> None:
        self.ptr = ptr
        self._free = free

    def __del__(self) -> None:
        if self.ptr:
            self._free(self.ptr)  # type: ignore[operator]
            self.ptr = 0


class OpenSSLBackend:
    """SM2 on the recommended curve through OpenSSL 3's EVP and EC_POINT interfaces."""

    name = "openssl"

    def __init__(self) -> None:
        lib = _load_library()
        _prototypes(lib)
        self._lib = lib
        nid = lib.OBJ_sn2nid(b"SM2")
        self._group = lib.EC_GROUP_new_by_curve_name(nid) if nid else None
        if not self._group:
            raise BackendUnavailable("this OpenSSL has no SM2 curve")
        # Montgomery arithmetic modulo the group order n, set up once, read-only afterwards
        self._order = lib.EC_GROUP_get0_order(self._group)
        self._order_mont = lib.BN_MONT_CTX_new()
        ctx = lib.BN_CTX_new()
        try:
            if not self._order_mont or lib.BN_MONT_CTX_set(self._order_mont, self._order, ctx) != 1:
                raise BackendUnavailable("cannot set up arithmetic modulo the SM2 group order")
        finally:
            lib.BN_CTX_free(ctx)
        self._self_test()

    def _self_test(self) -> None:
        # A key that OpenSSL does not type as SM2 would sign with ECDSA: refuse such a build.
        d = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
        key = self.load_private(d, self.public_from_private(d))
        if self._lib.EVP_PKEY_is_a(key.ptr, b"SM2") != 1:
            raise BackendUnavailable("this OpenSSL does not type SM2-curve keys as SM2")
        r, s = self.sign(key, b"self-test", b"1234567812345678")
        self.verify(key, b"self-test", r, s, b"1234567812345678")

    def _fail(self) -> IntegrityError:
        self._lib.ERR_clear_error()
        return IntegrityError()

    # --- keys ---------------------------------------------------------------------------

    def _d2i(self, function: object, der: bytes) -> _PKey:
        pointer = c_char_p(der)
        ptr = function(None, byref(pointer), len(der))  # type: ignore[operator]
        if not ptr:
            raise self._fail()
        return _PKey(ptr, self._lib.EVP_PKEY_free)

    def load_private(self, d: int, pub: bytes) -> _PKey:
        key = self._d2i(self._lib.d2i_AutoPrivateKey, formats.private_key_to_pkcs8(d, pub))
        return key

    def load_public(self, pub: bytes) -> _PKey:
        return self._d2i(self._lib.d2i_PUBKEY, formats.public_key_to_spki(pub))

    def _scalar(self, value: int) -> int:
        bn: int = self._lib.BN_bin2bn(value.to_bytes(32, "big"), 32, None)
        if not bn:
            raise self._fail()
        return bn

    def _secret(self, value: int) -> int:
        """A BIGNUM for a secret scalar, flagged for OpenSSL's constant-time code paths."""
        bn = self._scalar(value)
        self._lib.BN_set_flags(bn, _BN_FLG_CONSTTIME)
        return bn

    def _fresh(self, secret: bool = True) -> int:
        bn: int = self._lib.BN_new()
        if not bn:
            raise self._fail()
        if secret:
            self._lib.BN_set_flags(bn, _BN_FLG_CONSTTIME)
        return bn

    def _point(self, encoded: bytes | None = None) -> int:
        point: int = self._lib.EC_POINT_new(self._group)
        if not point:
            raise self._fail()
        if (
            encoded is not None
            and self._lib.EC_POINT_oct2point(self._group, point, encoded, len(encoded), None) != 1
        ):
            self._lib.EC_POINT_free(point)
            raise self._fail()
        return point

    def _encode(self, point: int) -> bytes:
        lib = self._lib
        if lib.EC_POINT_is_at_infinity(self._group, point):
            raise self._fail()
        out = ctypes.create_string_buffer(formats.POINT_SIZE)
        n = lib.EC_POINT_point2oct(
            self._group, point, _POINT_CONVERSION_UNCOMPRESSED, out, formats.POINT_SIZE, None
        )
        if n != formats.POINT_SIZE:
            raise self._fail()
        return out.raw

    def public_from_private(self, d: int) -> bytes:
        lib = self._lib
        bn = self._secret(d)
        point = self._point()
        try:
            if lib.EC_POINT_mul(self._group, point, bn, None, None, None) != 1:
                raise self._fail()
            return self._encode(point)
        finally:
            lib.EC_POINT_free(point)
            lib.BN_clear_free(bn)

    def check_point(self, encoded: bytes) -> None:
        """Raise IntegrityError unless ``encoded`` is an uncompressed point on the curve."""
        self._lib.EC_POINT_free(self._point(encoded))

    def exchange_point(self, t: int, peer_static: bytes, xbar: int, peer_ephemeral: bytes) -> bytes:
        """[t](P + [xbar]R) for the SM2 key exchange (cofactor 1)."""
        lib, group = self._lib, self._group
        p = self._point(peer_static)
        r = self._point(peer_ephemeral)
        bn_xbar = self._scalar(xbar)
        bn_t = self._scalar(t)
        try:
            if (
                lib.EC_POINT_mul(group, r, None, r, bn_xbar, None) != 1
                or lib.EC_POINT_add(group, r, r, p, None) != 1
                or lib.EC_POINT_mul(group, r, None, r, bn_t, None) != 1
            ):
                raise self._fail()
            return self._encode(r)
        finally:
            lib.EC_POINT_free(p)
            lib.EC_POINT_free(r)
            lib.BN_clear_free(bn_xbar)
            lib.BN_clear_free(bn_t)

    def agree(
        self,
        d: int,
        r: int,
        own_xbar: int,
        peer_static: bytes,
        peer_xbar: int,
        peer_ephemeral: bytes,
    ) -> bytes:
        """The SM2 key exchange's shared point [t](P + [x̄']R') with t = (d + x̄·r) mod n,
        GB/T 32918.3-2016 clause 6.1 steps A4-A5 / B3-B5, the secrets d and r only in
        constant-time BIGNUM arithmetic and the ladder (see the module docstring)."""
        lib, group = self._lib, self._group
        ctx = lib.BN_CTX_new()
        if not ctx:
            raise self._fail()
        owned: list[int] = [ctx]
        p = self._point(peer_static)
        q = self._point(peer_ephemeral)
        try:
            bn_d, bn_r = self._secret(d), self._secret(r)
            owned += [bn_d, bn_r]
            xbar, xbar_mont = self._scalar(own_xbar), self._fresh(secret=False)
            peer, product, t = self._scalar(peer_xbar), self._fresh(), self._fresh()
            owned += [xbar, xbar_mont, peer, product, t]
            if (
                lib.BN_to_montgomery(xbar_mont, xbar, self._order_mont, ctx) != 1
                # x̄·R · r · R^-1 = x̄·r mod n, fully reduced, constant time in r
                or lib.BN_mod_mul_montgomery(product, xbar_mont, bn_r, self._order_mont, ctx) != 1
                or lib.BN_mod_add_quick(t, bn_d, product, self._order) != 1
                or lib.EC_POINT_mul(group, q, None, q, peer, None) != 1
                or lib.EC_POINT_add(group, q, q, p, None) != 1
                or lib.EC_POINT_mul(group, q, None, q, t, None) != 1
            ):
                raise self._fail()
            return self._encode(q)
        finally:
            lib.EC_POINT_free(p)
            lib.EC_POINT_free(q)
            lib.BN_CTX_free(owned[0])
            for bn in owned[1:]:
                lib.BN_clear_free(bn)

    # --- signatures ---------------------------------------------------------------------

    def sign(self, key: _PKey, message: bytes, user_id: bytes) -> tuple[int, int]:
        lib = self._lib
        mctx = lib.EVP_MD_CTX_new()
        pctx = c_void_p()
        size = c_size_t(80)
        out = ctypes.create_string_buffer(80)
        try:
            if (
                lib.EVP_DigestSignInit_ex(mctx, byref(pctx), b"SM3", None, None, key.ptr, None) != 1
                or lib.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) <= 0
                or lib.EVP_DigestSign(mctx, out, byref(size), message, len(message)) != 1
            ):
                raise self._fail()
        finally:
            lib.EVP_MD_CTX_free(mctx)
        rs = formats.signature_from_der(out.raw[: size.value])
        return int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big")

    def verify(self, key: _PKey, message: bytes, r: int, s: int, user_id: bytes) -> None:
        lib = self._lib
        der = formats.signature_to_der(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        mctx = lib.EVP_MD_CTX_new()
        pctx = c_void_p()
        try:
            if (
                lib.EVP_DigestVerifyInit_ex(mctx, byref(pctx), b"SM3", None, None, key.ptr, None)
                != 1
                or lib.EVP_PKEY_CTX_set1_id(pctx, user_id, len(user_id)) <= 0
                or lib.EVP_DigestVerify(mctx, der, len(der), message, len(message)) != 1
            ):
                raise self._fail()
        finally:
            lib.EVP_MD_CTX_free(mctx)

    # --- encryption ---------------------------------------------------------------------

    def _crypt(self, key: _PKey, data: bytes, encrypt: bool) -> bytes:
        lib = self._lib
        init = lib.EVP_PKEY_encrypt_init if encrypt else lib.EVP_PKEY_decrypt_init
        run = lib.EVP_PKEY_encrypt if encrypt else lib.EVP_PKEY_decrypt
        ctx = lib.EVP_PKEY_CTX_new_from_pkey(None, key.ptr, None)
        if not ctx:
            raise self._fail()
        try:
            size = c_size_t(0)
            if init(ctx) != 1 or run(ctx, None, byref(size), data, len(data)) != 1:
                raise self._fail()
            out = ctypes.create_string_buffer(size.value)
            if run(ctx, out, byref(size), data, len(data)) != 1:
                raise self._fail()
            return out.raw[: size.value]
        finally:
            lib.EVP_PKEY_CTX_free(ctx)

    def encrypt(self, key: _PKey, plaintext: bytes) -> bytes:
        return formats.ciphertext_from_der(self._crypt(key, plaintext, encrypt=True))

    def decrypt(self, key: _PKey, ciphertext: bytes) -> bytes:
        return self._crypt(key, formats.ciphertext_to_der(ciphertext), encrypt=False)
