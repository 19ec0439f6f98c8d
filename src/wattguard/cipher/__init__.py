"""wattguard.cipher: the cryptographic device (HSM): master keys in a passphrase-encrypted
vault, per-meter key derivation, command protection, verification of meters' MACs, key
rotation, and an SM3-chained audit log."""

from wattguard.cipher.audit import AuditChain, AuditEntry
from wattguard.cipher.device import CryptoDevice
from wattguard.cipher.vault import VaultError, load_vault, save_vault

__all__ = ["AuditChain", "AuditEntry", "CryptoDevice", "VaultError", "load_vault", "save_vault"]
