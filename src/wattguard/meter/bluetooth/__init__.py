"""The meter's Bluetooth service for handhelds: roles and what each may do, the handheld's
compact certificate, pairing by certificate or PIN, a sealed session, lockout after repeated
failures; and the handheld's own side."""

from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import CertificateRefused, HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import Lockout, LockoutPolicy
from wattguard.meter.bluetooth.service import BluetoothService, Handler

__all__ = [
    "BluetoothService",
    "CertificateRefused",
    "Handheld",
    "HandheldCertificate",
    "Handler",
    "Lockout",
    "LockoutPolicy",
    "PairingRefused",
    "Role",
]
