"""Pure-Python SM2 (GB/T 32918.1-5): the reference implementation.

Used where the system OpenSSL lacks SM2 (with a warning), and by the tests as an independent
check of the OpenSSL binding. It is written for clarity and agreement with the standard, not
speed, and it is **not constant-time**: do not use it where an attacker can time it, if the
binding is available.

The curve is a parameter, so the same code runs the GB/T 32918.5 recommended curve and any
example curve of the standard. Points are affine ``(x, y)`` tuples on the outside, Jacobian
``(X, Y, Z)`` inside; ``None`` is the point at infinity.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from wattguard.crypto import sm3
from wattguard.errors import IntegrityError

Point = tuple[int, int]
_Jacobian = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Curve:
    """A short Weierstrass curve y^2 = x^3 + ax + b over F_p with base point G of order n."""

    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    h: int = 1

    @property
    def g(self) -> Point:
        return (self.gx, self.gy)

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8


# GB/T 32918.5-2017, clause 5 (recommended curve parameters).
SM2_P256 = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)


def on_curve(curve: Curve, point: Point) -> bool:
    x, y = point
    if not (0 <= x < curve.p and 0 <= y < curve.p):
        return False
    return (y * y - x * x * x - curve.a * x - curve.b) % curve.p == 0


def _double(curve: Curve, q: _Jacobian) -> _Jacobian:
    x, y, z = q
    p = curve.p
    if y == 0 or z == 0:
        return (1, 1, 0)
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = (3 * x * x + curve.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    y3 = (m * (s - x3) - 8 * yy * yy) % p
    z3 = 2 * y * z % p
    return (x3, y3, z3)


def _add(curve: Curve, q1: _Jacobian, q2: _Jacobian) -> _Jacobian:
    x1, y1, z1 = q1
    x2, y2, z2 = q2
    if z1 == 0:
        return q2
    if z2 == 0:
        return q1
    p = curve.p
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    if u1 == u2:
        return _double(curve, q1) if s1 == s2 else (1, 1, 0)
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = h * z1 * z2 % p
    return (x3, y3, z3)


def _affine(curve: Curve, q: _Jacobian) -> Point | None:
    x, y, z = q
    if z == 0:
        return None
    p = curve.p
    zinv = pow(z, -1, p)
    zinv2 = zinv * zinv % p
    return (x * zinv2 % p, y * zinv2 * zinv % p)


def multiply(curve: Curve, k: int, point: Point) -> Point | None:
    """[k]P by double-and-add (left to right)."""
    result: _Jacobian = (1, 1, 0)
    base: _Jacobian = (point[0], point[1], 1)
    for bit in bin(k % curve.n)[2:] if k % curve.n else "":
        result = _double(curve, result)
        if bit == "1":
            result = _add(curve, result, base)
    return _affine(curve, result)


def add(curve: Curve, p1: Point | None, p2: Point | None) -> Point | None:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    return _affine(curve, _add(curve, (*p1, 1), (*p2, 1)))


def encode_point(curve: Curve, point: Point) -> bytes:
    size = curve.size
    return b"\x04" + point[0].to_bytes(size, "big") + point[1].to_bytes(size, "big")


def decode_point(curve: Curve, data: bytes) -> Point:
    """Uncompressed ``04 || x || y``; anything else, or a point off the curve, is refused."""
    size = curve.size
    if len(data) != 1 + 2 * size or data[0] != 0x04:
        raise IntegrityError()
    point = (int.from_bytes(data[1 : 1 + size], "big"), int.from_bytes(data[1 + size :], "big"))
    if not on_curve(curve, point):
        raise IntegrityError()
    return point


def public_key(curve: Curve, d: int) -> Point:
    point = multiply(curve, d, curve.g)
    if point is None or not 1 <= d <= curve.n - 2:
        raise IntegrityError()
    return point


def z_value(curve: Curve, user_id: bytes, pub: Point) -> bytes:
    """Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), GB/T 32918.2-2016 clause 5.5."""
    size = curve.size
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3.hash(
        entl
        + user_id
        + b"".join(v.to_bytes(size, "big") for v in (curve.a, curve.b, curve.gx, curve.gy))
        + pub[0].to_bytes(size, "big")
        + pub[1].to_bytes(size, "big")
    )


def _random_scalar(curve: Curve) -> int:
    return secrets.randbelow(curve.n - 1) + 1


def sign(
    curve: Curve,
    d: int,
    message: bytes,
    user_id: bytes,
    *,
    k: int | None = None,
    pub: Point | None = None,
) -> tuple[int, int]:
    """GB/T 32918.2-2016 clause 6.1. ``k`` may be fixed only to reproduce published examples;
    ``pub``, when given, saves recomputing the public key."""
    if pub is None:
        pub = public_key(curve, d)
    e = int.from_bytes(sm3.hash(z_value(curve, user_id, pub) + message), "big")
    n = curve.n
    while True:
        kk = k if k is not None else _random_scalar(curve)
        point = multiply(curve, kk, curve.g)
        assert point is not None
        r = (e + point[0]) % n
        if r == 0 or r + kk == n:
            if k is not None:
                raise IntegrityError()
            continue
        s = pow(1 + d, -1, n) * (kk - r * d) % n
        if s != 0:
            return r, s
        if k is not None:
            raise IntegrityError()


def verify(curve: Curve, pub: Point, message: bytes, r: int, s: int, user_id: bytes) -> None:
    """GB/T 32918.2-2016 clause 7.1; raises IntegrityError."""
    n = curve.n
    if not (1 <= r < n and 1 <= s < n) or not on_curve(curve, pub):
        raise IntegrityError()
    e = int.from_bytes(sm3.hash(z_value(curve, user_id, pub) + message), "big")
    t = (r + s) % n
    if t == 0:
        raise IntegrityError()
    point = add(curve, multiply(curve, s, curve.g), multiply(curve, t, pub))
    if point is None or (e + point[0]) % n != r:
        raise IntegrityError()


def encrypt(curve: Curve, pub: Point, message: bytes, *, k: int | None = None) -> bytes:
    """GB/T 32918.4-2016 clause 6.1, output C1 || C3 || C2."""
    if not on_curve(curve, pub):
        raise IntegrityError()
    size = curve.size
    while True:
        kk = k if k is not None else _random_scalar(curve)
        c1 = multiply(curve, kk, curve.g)
        shared = multiply(curve, kk, pub)
        assert c1 is not None and shared is not None
        x2 = shared[0].to_bytes(size, "big")
        y2 = shared[1].to_bytes(size, "big")
        t = sm3.kdf(x2 + y2, len(message))
        if message and not any(t):
            if k is not None:
                raise IntegrityError()
            continue
        c2 = bytes(a ^ b for a, b in zip(message, t, strict=True))
        c3 = sm3.hash(x2 + message + y2)
        return encode_point(curve, c1) + c3 + c2


def decrypt(curve: Curve, d: int, ciphertext: bytes) -> bytes:
    """GB/T 32918.4-2016 clause 7.1, input C1 || C3 || C2; every failure is IntegrityError."""
    size = curve.size
    point_len = 1 + 2 * size
    if len(ciphertext) < point_len + sm3.DIGEST_SIZE:
        raise IntegrityError()
    c1 = decode_point(curve, ciphertext[:point_len])
    c3 = ciphertext[point_len : point_len + sm3.DIGEST_SIZE]
    c2 = ciphertext[point_len + sm3.DIGEST_SIZE :]
    shared = multiply(curve, d, c1)
    if shared is None:
        raise IntegrityError()
    x2 = shared[0].to_bytes(size, "big")
    y2 = shared[1].to_bytes(size, "big")
    t = sm3.kdf(x2 + y2, len(c2))
    if c2 and not any(t):
        raise IntegrityError()
    message = bytes(a ^ b for a, b in zip(c2, t, strict=True))
    if not secrets.compare_digest(sm3.hash(x2 + message + y2), c3):
        raise IntegrityError()
    return message


def exchange_point(
    curve: Curve, t: int, peer_static: Point, xbar: int, peer_ephemeral: Point
) -> Point:
    """[h * t](P_peer + [xbar] R_peer), GB/T 32918.3-2016 clause 6.1 steps B5-B6 / A5-A6."""
    inner = add(curve, peer_static, multiply(curve, xbar, peer_ephemeral))
    point = None if inner is None else multiply(curve, curve.h * t % curve.n, inner)
    if point is None:
        raise IntegrityError()
    return point


class ReferenceBackend:
    """The pure-Python implementation behind the same interface as ``OpenSSLBackend``.

    Key handles are the plain values: ``(d, point)`` for a private key, ``point`` for a
    public one.
    """

    name = "reference"
    curve = SM2_P256

    def load_private(self, d: int, pub: bytes) -> tuple[int, Point]:
        return d, decode_point(self.curve, pub)

    def load_public(self, pub: bytes) -> Point:
        return decode_point(self.curve, pub)

    def public_from_private(self, d: int) -> bytes:
        return encode_point(self.curve, public_key(self.curve, d))

    def check_point(self, encoded: bytes) -> None:
        decode_point(self.curve, encoded)

    def exchange_point(self, t: int, peer_static: bytes, xbar: int, peer_ephemeral: bytes) -> bytes:
        point = exchange_point(
            self.curve,
            t,
            decode_point(self.curve, peer_static),
            xbar,
            decode_point(self.curve, peer_ephemeral),
        )
        return encode_point(self.curve, point)

    def agree(
        self,
        d: int,
        r: int,
        own_xbar: int,
        peer_static: bytes,
        peer_xbar: int,
        peer_ephemeral: bytes,
    ) -> bytes:
        """[t](P + [x̄']R') with t = (d + x̄·r) mod n, in Python integers (not constant
        time: the reference backend is for checking, see docs/security.md)."""
        t = (d + own_xbar * r) % self.curve.n
        return self.exchange_point(t, peer_static, peer_xbar, peer_ephemeral)

    def sign(self, key: tuple[int, Point], message: bytes, user_id: bytes) -> tuple[int, int]:
        return sign(self.curve, key[0], message, user_id, pub=key[1])

    def verify(self, key: Point, message: bytes, r: int, s: int, user_id: bytes) -> None:
        verify(self.curve, key, message, r, s, user_id)

    def encrypt(self, key: Point, plaintext: bytes) -> bytes:
        return encrypt(self.curve, key, plaintext)

    def decrypt(self, key: tuple[int, Point], ciphertext: bytes) -> bytes:
        return decrypt(self.curve, key[0], ciphertext)
