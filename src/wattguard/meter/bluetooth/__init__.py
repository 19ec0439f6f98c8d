"""The meter's Bluetooth service for handhelds and the other local peers (the customer's phone,
external sensors, a concentrator): roles and what each may do, the compact certificate,
pairing by certificate or PIN, a sealed session, lockout after repeated failures, the sensors'
readings; and the peers' own sides (a handheld, which a phone and a sensor also use, and a
concentrator's radio)."""

from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import CertificateRefused, HandheldCertificate
from wattguard.meter.bluetooth.concentrator import ConcentratorRadio
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import Lockout, LockoutPolicy
from wattguard.meter.bluetooth.sensors import SENSOR_KINDS, SensorKind, Sensors
from wattguard.meter.bluetooth.service import BluetoothService, Handler

__all__ = [
    "SENSOR_KINDS",
    "BluetoothService",
    "CertificateRefused",
    "ConcentratorRadio",
    "Handheld",
    "HandheldCertificate",
    "Handler",
    "Lockout",
    "LockoutPolicy",
    "PairingRefused",
    "Role",
    "SensorKind",
    "Sensors",
]
