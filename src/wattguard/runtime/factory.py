"""Meters as the factory makes them, for the runtimes and the attack harness that assemble a
deployment.

A meter leaves the factory with fresh link keys between its chips (drawn here, outside the
core, from the operating system). With the utility's cryptographic device its ESAM is
provisioned from the master keys, so the station verifies its MACs, and the F101 security
policy is enforced, and the ESAM's sealed state lives in the meter's store
(:class:`~wattguard.meter.management.esam_store.StoredEsam`, under a device key drawn here);
without one it is an unprotected meter (the configuration the attacks succeed against).
"""

from __future__ import annotations

import os

from wattguard.cipher import CryptoDevice
from wattguard.crypto import sm2
from wattguard.esam.client import EsamClient
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.esam_store import StoredEsam
from wattguard.meter.management.module import LinkKeys
from wattguard.meter.management.storage import MemoryStore

__all__ = ["factory_meter"]


def factory_meter(
    address: bytes,
    device: CryptoDevice | None,
    *,
    active_reports: bool = False,
    private_readings: bool = False,
    vendor_key: sm2.PublicKey | None = None,
    factory_image: bytes | None = None,
) -> Meter:
    """A new meter at ``address``: provisioned by ``device`` (protected), or unprotected
    without one; ``active_reports``: it reports its events on its own; ``private_readings``
    (protected only): its F101 policy reads curves, freezes and metrology values only as
    ciphertext + MAC (``SecurityPolicy.make_readings_private``); ``vendor_key``: its
    management module takes images that vendor signed (object F001), and ``factory_image``
    is the image it leaves the factory with."""
    keys = LinkKeys.generate(os.urandom)
    if device is None:
        config = MeterConfig(protected=False, active_reports=active_reports, vendor_key=vendor_key)
        return _flashed(Meter(address, keys=keys, random=os.urandom, config=config), factory_image)
    store = MemoryStore()
    device_key = os.urandom(16)
    chip = StoredEsam.open(
        store, device_key, lambda: device.provision_esam(address, device_key=device_key)
    )
    esam = EsamClient(chip)
    config = MeterConfig(protected=True, active_reports=active_reports, vendor_key=vendor_key)
    meter = Meter(
        address, keys=keys, random=os.urandom, esam=esam, wallet=esam, config=config, store=store
    )
    if private_readings:
        meter.management.policy.make_readings_private()
    return _flashed(meter, factory_image)


def _flashed(meter: Meter, image: bytes | None) -> Meter:
    """``meter`` with ``image`` in its management module's first slot (checked as any)."""
    if image is not None and meter.upgrader is not None:
        meter.upgrader.provision(image, 0.0)
    return meter
