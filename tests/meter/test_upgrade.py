"""Software upgrade: block transfer that resumes, two slots with trial boot and rollback, every
bad image refused and recorded, and the same images installed when the protection is off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.meter.management.firmware import (
    HEADER_SIZE,
    FirmwareBuilder,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Refusal,
    Version,
)
from wattguard.meter.management.storage import MemoryStore, NonVolatileStore, Store
from wattguard.meter.management.upgrade import (
    TRANSITIONS,
    Phase,
    TransferError,
    Upgrader,
    UpgradeStateError,
)
from wattguard.protocol.apdu.common import DAR
from wattguard.randomness import generator

VENDOR = sm2.PrivateKey.generate()
ATTACKER = sm2.PrivateKey.generate()
BUILDER = FirmwareBuilder(VENDOR, "WTGD")
FACTORY = BUILDER.build(b"factory firmware " * 50, "1.0.0")
UPDATE = BUILDER.build(b"improved firmware " * 300, "1.1.0")


def make(store: Store | None = None, protected: bool = True, **kwargs: object) -> Upgrader:
    upgrader = Upgrader(
        store if store is not None else MemoryStore(),
        VENDOR.public_key,
        EventLog(),
        protected,
        vendor_id="WTGD",
        **kwargs,  # type: ignore[arg-type]
    )
    if upgrader.image("A") is None:
        upgrader.provision(FACTORY, now=0.0)
        upgrader.boot(True, now=0.0)
    return upgrader


def events(upgrader: Upgrader) -> EventLog:
    assert isinstance(upgrader.events, EventLog)
    return upgrader.events


def send(upgrader: Upgrader, image: bytes, block_size: int = 512, seed: int = 1) -> None:
    count = upgrader.start(len(image), now=1.0, block_size=block_size)
    order = list(range(count))
    generator(seed).shuffle(order)  # blocks may come in any order
    for index in order:
        upgrader.write_block(index, image[index * block_size : (index + 1) * block_size], now=2.0)


def install(upgrader: Upgrader, image: bytes) -> Version:
    send(upgrader, image)
    upgrader.verify(now=3.0)
    upgrader.activate(now=4.0)
    result = upgrader.boot(True, now=5.0)
    assert result.trial
    return upgrader.confirm(now=6.0)


def test_upgrade_then_confirm() -> None:
    upgrader = make()
    assert (upgrader.active_slot, upgrader.active_version) == ("A", Version(1, 0, 0))
    count = upgrader.start(len(UPDATE), now=1.0, block_size=1000)
    assert upgrader.missing() == list(range(count))
    send(upgrader, UPDATE, block_size=1000)
    assert upgrader.missing() == []
    image = upgrader.verify(now=3.0)
    assert image.version == Version(1, 1, 0)
    assert upgrader.phase == Phase.STAGED
    assert upgrader.boot(True, now=3.5).slot == "A"  # not activated yet: the old image runs
    upgrader.activate(now=4.0)
    result = upgrader.boot(True, now=5.0)
    assert (result.slot, result.version, result.trial) == ("B", Version(1, 1, 0), True)
    assert upgrader.confirm(now=6.0) == Version(1, 1, 0)
    assert (upgrader.active_slot, upgrader.active_version) == ("B", Version(1, 1, 0))
    assert upgrader.boot(True, now=7.0).slot == "B"
    assert list(upgrader.store.items("fw/block/")) == []
    assert list(events(upgrader).events) == []


def test_a_failed_self_test_rolls_back() -> None:
    upgrader = make()
    send(upgrader, UPDATE)
    upgrader.verify(now=3.0)
    upgrader.activate(now=4.0)
    result = upgrader.boot(False, now=5.0)
    assert (result.slot, result.version, result.rolled_back) == ("A", Version(1, 0, 0), True)
    assert upgrader.phase == Phase.IDLE
    assert upgrader.image("B") is None
    (event,) = events(upgrader).of_kind(EventKind.FIRMWARE)
    assert "rollback of image 1.1.0" in event.detail and "self-test" in event.detail
    with pytest.raises(UpgradeStateError):
        upgrader.confirm(now=6.0)


def test_trial_boots_used_up_without_confirm_roll_back() -> None:
    upgrader = make(trial_boots=2)
    send(upgrader, UPDATE)
    upgrader.verify(now=3.0)
    upgrader.activate(now=4.0)
    assert upgrader.boot(True, now=5.0).trial
    assert upgrader.boot(True, now=6.0).trial  # e.g. it hangs before confirming, twice
    result = upgrader.boot(True, now=7.0)
    assert result.rolled_back and result.slot == "A"
    assert "used up" in events(upgrader).of_kind(EventKind.FIRMWARE)[0].detail


def test_a_rolled_back_version_can_be_fixed_by_a_newer_one() -> None:
    upgrader = make()
    send(upgrader, UPDATE)
    upgrader.verify(now=3.0)
    upgrader.activate(now=4.0)
    upgrader.boot(False, now=5.0)
    assert install(upgrader, BUILDER.build(b"fixed", "1.1.1")) == Version(1, 1, 1)


def test_the_upgrade_survives_power_cuts(tmp_path: Path) -> None:
    path = tmp_path / "nv"
    with NonVolatileStore(path) as store:
        upgrader = make(store)
        upgrader.start(len(UPDATE), now=1.0, block_size=512)
        for index in range(0, 5):
            upgrader.write_block(index, UPDATE[index * 512 : (index + 1) * 512], now=2.0)
    with NonVolatileStore(path) as store:  # power cut mid-transfer: it resumes
        upgrader = make(store)
        assert upgrader.phase == Phase.RECEIVING
        missing = upgrader.missing()
        assert missing[0] == 5
        for index in missing:
            upgrader.write_block(index, UPDATE[index * 512 : (index + 1) * 512], now=2.0)
        upgrader.verify(now=3.0)
        upgrader.activate(now=4.0)
    with NonVolatileStore(path) as store:  # power cut after activation: the trial is armed
        upgrader = make(store)
        assert upgrader.phase == Phase.TRIAL
        assert upgrader.boot(True, now=5.0).slot == "B"
    with NonVolatileStore(path) as store:  # cut before confirming: one trial boot fewer
        upgrader = make(store)
        assert upgrader.boots_left == 2
        assert upgrader.boot(True, now=6.0).slot == "B"
        upgrader.confirm(now=7.0)
    with NonVolatileStore(path) as store:
        upgrader = make(store)
        assert (upgrader.active_slot, upgrader.active_version) == ("B", Version(1, 1, 0))
        assert upgrader.floor == Version(1, 1, 0)


def unsigned() -> bytes:
    return BUILDER.build(b"evil", "9.0.0", sign=False)


def wrong_signer() -> bytes:
    return FirmwareBuilder(ATTACKER, "WTGD").build(b"evil", "9.0.0")


def wrongly_signed() -> bytes:
    image = FirmwareImage.parse(BUILDER.build(b"evil", "9.0.0"))
    return image.signed_part + ATTACKER.sign(image.signed_part) + image.body


def tampered() -> bytes:
    data = bytearray(BUILDER.build(b"good code" * 20, "9.0.0"))
    data[HEADER_SIZE : HEADER_SIZE + 4] = b"evil"
    return bytes(data)


def metering() -> bytes:
    return BUILDER.build(b"new metrology", "9.0.0", Module.METERING)


def older() -> bytes:
    return BUILDER.build(b"old, with a known hole", "0.9.0")


def same() -> bytes:
    return BUILDER.build(b"same version, other code", "1.0.0")


ATTACKS: list[tuple[Callable[[], bytes], Refusal]] = [
    (unsigned, Refusal.UNSIGNED),
    (wrong_signer, Refusal.WRONG_SIGNER),
    (wrongly_signed, Refusal.BAD_SIGNATURE),
    (tampered, Refusal.TAMPERED),
    (metering, Refusal.WRONG_TARGET),
    (older, Refusal.NOT_NEWER),
    (same, Refusal.NOT_NEWER),
]


@pytest.mark.parametrize("attack, reason", ATTACKS, ids=[a.__name__ for a, _ in ATTACKS])
def test_bad_images(attack: Callable[[], bytes], reason: Refusal) -> None:
    image = attack()
    # Protected: refused with its reason, recorded, nothing installed, the transfer discarded.
    upgrader = make()
    send(upgrader, image)
    with pytest.raises(FirmwareRefused) as caught:
        upgrader.verify(now=3.0)
    assert caught.value.reason == reason
    (event,) = events(upgrader).of_kind(EventKind.FIRMWARE)
    assert reason.text in event.detail
    assert upgrader.phase == Phase.IDLE
    assert upgrader.image("B") is None
    assert list(upgrader.store.items("fw/block/")) == []
    with pytest.raises(UpgradeStateError):
        upgrader.activate(now=4.0)
    assert upgrader.boot(True, now=5.0).version == Version(1, 0, 0)
    # Unprotected: the same image is installed and runs.
    upgrader = make(protected=False)
    version = install(upgrader, image)
    assert upgrader.active_version == version == FirmwareImage.parse(image).version
    assert upgrader.image(upgrader.active_slot) == FirmwareImage.parse(image)
    assert list(events(upgrader).events) == []


def test_no_rollback_to_an_older_version_after_an_upgrade() -> None:
    upgrader = make()
    install(upgrader, UPDATE)
    send(upgrader, FACTORY)  # the genuine, signed 1.0.0 the meter ran before
    with pytest.raises(FirmwareRefused) as caught:
        upgrader.verify(now=3.0)
    assert caught.value.reason == Refusal.NOT_NEWER


def test_a_garbage_image_is_bad_format_even_unprotected() -> None:
    for protected in (True, False):
        upgrader = make(protected=protected)
        send(upgrader, bytes(HEADER_SIZE + 10))
        with pytest.raises(FirmwareRefused) as caught:
            upgrader.verify(now=3.0)
        assert caught.value.reason == Refusal.BAD_FORMAT


def test_transfer_errors_are_the_peers_and_change_nothing() -> None:
    upgrader = make()
    with pytest.raises(UpgradeStateError):
        upgrader.write_block(0, b"x", now=1.0)
    with pytest.raises(TransferError) as caught:
        upgrader.start(10, now=1.0)
    assert caught.value.dar == DAR.OUT_OF_RANGE
    upgrader.start(1000, now=1.0, block_size=300)
    with pytest.raises(TransferError) as caught:
        upgrader.write_block(4, bytes(300), now=1.0)
    assert caught.value.dar == DAR.DATA_BLOCK_SEQUENCE_INVALID
    with pytest.raises(TransferError):
        upgrader.write_block(0, bytes(299), now=1.0)
    with pytest.raises(TransferError):
        upgrader.write_block(3, bytes(300), now=1.0)  # the last block is 100 bytes
    upgrader.write_block(3, bytes(100), now=1.0)
    assert upgrader.missing() == [0, 1, 2]
    with pytest.raises(TransferError) as caught:
        upgrader.verify(now=2.0)
    assert caught.value.dar == DAR.DATA_BLOCK_UNAVAILABLE
    assert len(events(upgrader).of_kind(EventKind.MALFORMED)) == 3
    upgrader.abort(now=3.0)
    assert upgrader.phase == Phase.IDLE and list(upgrader.store.items("fw/block/")) == []


def test_steps_out_of_order_are_refused() -> None:
    upgrader = make()
    for step in (upgrader.activate, upgrader.confirm, upgrader.verify):
        with pytest.raises(UpgradeStateError):
            step(1.0)
    send(upgrader, UPDATE)
    upgrader.verify(now=3.0)
    upgrader.activate(now=4.0)
    with pytest.raises(UpgradeStateError):
        upgrader.confirm(now=5.0)  # not booted into the new image yet
    with pytest.raises(UpgradeStateError):
        upgrader.start(len(UPDATE), now=5.0)  # no new transfer during a trial
    with pytest.raises(UpgradeStateError):
        upgrader.provision(FACTORY, now=5.0)
    with pytest.raises(ConfigError):
        make(trial_boots=0)
    assert set(TRANSITIONS) == set(Phase)


def test_a_bad_factory_image_is_refused() -> None:
    upgrader = Upgrader(MemoryStore(), VENDOR.public_key, EventLog())
    with pytest.raises(FirmwareRefused):
        upgrader.provision(unsigned(), now=0.0)
    assert upgrader.image("A") is None
