"""SM1: a block cipher that exists only inside certified hardware.

SM1 (also called SCB2) is a classified Chinese block cipher with a 128-bit block and key. Its
specification is not public; it ships only inside certified secure elements and crypto cards,
which is why metering ESAMs list "SM1 or SM4". wattguard never implements or imitates it: the
functions here forward to a hardware provider that the deployment registers (a hardware ESAM
or HSM driver), and without one they raise :class:`~wattguard.errors.ConfigError` saying so.
Where the paper names SM1 or SM4, wattguard's soft ESAM uses SM4.
"""

from __future__ import annotations

from typing import Protocol

from wattguard.errors import ConfigError

__all__ = ["HardwareProvider", "available", "decrypt", "encrypt", "register_provider"]

BLOCK_SIZE = 16
KEY_SIZE = 16


class HardwareProvider(Protocol):
    """A driver for a secure element or HSM that computes SM1 on the device."""

    name: str

    def sm1_encrypt(self, key_id: int, data: bytes) -> bytes: ...

    def sm1_decrypt(self, key_id: int, data: bytes) -> bytes: ...


_provider: HardwareProvider | None = None

_NO_HARDWARE = (
    "SM1 is a classified cipher available only inside a hardware ESAM or HSM, and no hardware "
    "provider is registered (wattguard.crypto.sm1.register_provider). wattguard does not "
    "implement SM1 in software; use SM4 (wattguard.crypto.sm4), which the soft ESAM uses."
)


def register_provider(provider: HardwareProvider | None) -> None:
    """Attach (or, with None, detach) the hardware that computes SM1."""
    global _provider
    _provider = provider


def available() -> bool:
    return _provider is not None


def _require() -> HardwareProvider:
    if _provider is None:
        raise ConfigError(_NO_HARDWARE)
    return _provider


def encrypt(key_id: int, data: bytes) -> bytes:
    """Encrypt whole 16-byte blocks with the hardware-held key ``key_id``.

    Keys are named, not passed: an SM1 key never leaves the device that holds it.
    """
    return _require().sm1_encrypt(key_id, data)


def decrypt(key_id: int, data: bytes) -> bytes:
    return _require().sm1_decrypt(key_id, data)
