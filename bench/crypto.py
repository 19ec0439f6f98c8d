"""Crypto throughput beside native OpenSSL, measured in the same run.

    python bench/crypto.py [--seconds S] [--rounds R] [--check]

For each operation it times wattguard's public API and runs ``openssl speed`` on the same
operation, then prints our ops/s, native ops/s, the ratio and the target (issue #2):
bulk (16 KiB) SM3/SM4 >= 0.9 of native, SM2 sign and verify >= 0.8 of native, 64-byte SM4-GCM
seal >= 150,000 ops/s on one core. Both sides are timed in CPU seconds, as ``openssl speed``
does by default. ``--check`` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from timing import measure

from wattguard.crypto import sm2, sm3, sm4

BULK = 16 * 1024


@dataclass
class Row:
    name: str
    ours: float
    native: float | None = None
    min_ratio: float | None = None
    min_ops: float | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.native else self.ours / self.native

    @property
    def met(self) -> bool | None:
        if self.min_ratio is not None and self.ratio is not None:
            return self.ratio >= self.min_ratio
        if self.min_ops is not None:
            return self.ours >= self.min_ops
        return None


def openssl_speed(args: list[str], seconds: float) -> str:
    command = ["openssl", "speed", "-mr", "-seconds", str(max(1, round(seconds))), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def native_bulk(cipher: str, seconds: float) -> float:
    """Blocks of 16 KiB per second from ``openssl speed -evp``."""
    out = openssl_speed(["-bytes", str(BULK), "-evp", cipher], seconds)
    match = re.search(r"^\+F:\d+:[^:]+:([\d.]+)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"unexpected openssl speed output:\n{out}")
    return float(match.group(1)) / BULK


def native_sm2(seconds: float) -> tuple[float, float]:
    """(signs/s, verifies/s) from ``openssl speed sm2``."""
    out = openssl_speed(["sm2"], seconds)
    match = re.search(r"^\+F\d+:\d+:256:CurveSM2:([\d.]+):([\d.]+)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"unexpected openssl speed output:\n{out}")
    return float(match.group(1)), float(match.group(2))


def run(seconds: float, rounds: int) -> list[Row]:
    key = bytes(range(16))
    iv = bytes(16)
    bulk = bytes(BULK)
    small = bytes(64)
    nonce = bytes(12)
    signer = sm2.PrivateKey.generate()
    peer = sm2.PrivateKey.generate()
    message = bytes(20)  # openssl speed signs a 20-byte buffer
    signature = signer.sign(message)
    ciphertext = signer.public_key.encrypt(bytes(32))
    sealed = sm4.gcm_seal(key, nonce, small)

    def exchange() -> None:
        a = sm2.KeyExchange(signer, peer.public_key, initiator=True)
        b = sm2.KeyExchange(peer, signer.public_key, initiator=False)
        b.derive(a.ephemeral_public_key)
        a.derive(b.ephemeral_public_key)
        a.check_confirmation(b.confirmation())
        b.check_confirmation(a.confirmation())

    operations: list[tuple[Row, Callable[[], object]]] = [
        (Row("SM3 hash, 16 KiB", 0, min_ratio=0.9), lambda: sm3.hash(bulk)),
        (Row("SM4-CBC encrypt, 16 KiB", 0, min_ratio=0.9), lambda: sm4.cbc_encrypt(key, iv, bulk)),
        (Row("SM2 sign", 0, min_ratio=0.8), lambda: signer.sign(message)),
        (Row("SM2 verify", 0, min_ratio=0.8), lambda: signer.public_key.verify(message, signature)),
        (Row("SM4-GCM seal, 64 B", 0, min_ops=150_000), lambda: sm4.gcm_seal(key, nonce, small)),
        (Row("SM4-GCM open, 64 B", 0), lambda: sm4.gcm_open(key, nonce, sealed)),
        (Row("SM2 encrypt, 32 B", 0), lambda: signer.public_key.encrypt(bytes(32))),
        (Row("SM2 decrypt, 32 B", 0), lambda: signer.decrypt(ciphertext)),
        (Row("SM2 key exchange, both sides", 0), exchange),
    ]
    rows = [row for row, _ in operations]
    have_openssl = shutil.which("openssl") is not None
    if not have_openssl:
        print("  the openssl command is missing: no native reference", file=sys.stderr)
    # Rounds interleave our side and the native side, and keep each side's best: a busy
    # machine slows a round down, never speeds it up.
    for round_number in range(1, rounds + 1):
        print(f"  round {round_number}/{rounds}: wattguard ...", file=sys.stderr, flush=True)
        for row, operation in operations:
            row.ours = max(row.ours, measure(operation, seconds))
        if have_openssl:
            print(
                f"  round {round_number}/{rounds}: openssl speed ...", file=sys.stderr, flush=True
            )
            sm3_native = native_bulk("sm3", seconds)
            sm4_native = native_bulk("sm4-cbc", seconds)
            sign_native, verify_native = native_sm2(seconds)
            for row, value in zip(
                rows, (sm3_native, sm4_native, sign_native, verify_native), strict=False
            ):
                row.native = max(row.native or 0.0, value)
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        f"SM2 backend: {sm2.backend_name()}",
        f"{'operation':<30} {'wattguard/s':>12} {'native/s':>12} {'ratio':>7}  target",
    ]
    for row in rows:
        native = f"{row.native:12.1f}" if row.native else f"{'-':>12}"
        ratio = f"{row.ratio:7.2f}" if row.ratio is not None else f"{'-':>7}"
        if row.min_ratio is not None:
            target = f">= {row.min_ratio:.1f}x native"
        elif row.min_ops is not None:
            target = f">= {row.min_ops:,.0f}/s"
        else:
            target = "(information)"
        verdict = {True: " met", False: " MISSED", None: ""}[row.met]
        lines.append(f"{row.name:<30} {row.ours:12.1f} {native} {ratio}  {target}{verdict}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best kept")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rows = run(args.seconds, args.rounds)
    print(report(rows))
    return 1 if args.check and any(row.met is False for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
