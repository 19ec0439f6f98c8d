"""Software upgrade of the management module: block transfer, two slots, trial boot, rollback.

Theory of operation. The module keeps two image slots, A and B, in its non-volatile store;
the *active* slot holds the confirmed image it boots, the other is the *candidate*. An upgrade
is a table-driven state machine (:data:`TRANSITIONS`)::

    IDLE --start--> RECEIVING --write_block...--> --verify--> STAGED --activate--> TRIAL
      ^                 |   (image refused: discarded)          |                   |
      +-----------------+---------------------------------------+--abort            |
      +----------------------- confirm (candidate becomes active) ------------------+
      +----------------------- rollback (self-test failed, or trial boots used up) -+

* ``start(length, block_size)`` opens a transfer into the store; ``write_block(i, data)``
  stores block ``i`` (a repeat overwrites it); ``missing()`` lists what is still due, so a
  transfer resumes after a power cut.
* ``verify()`` joins the blocks and checks the image (:mod:`wattguard.meter.management.firmware`):
  signed by the vendor's key, unaltered, for the management module, newer than both the active image
  and the highest version ever confirmed (the *floor*: versions only increase). A refused
  image is discarded, recorded as a FIRMWARE security event and logged; a good one goes into
  the candidate slot.
* ``activate()`` arms a trial: the next ``boot()`` runs the candidate, at most
  ``trial_boots`` times. ``boot(self_test_ok)`` is called at every power-up with the result of
  the image's self-test: a failed self-test, or a boot when the trial boots are used up without
  ``confirm()``, rolls back to the active slot (a FIRMWARE event and a log line). ``confirm()``,
  once the candidate runs, makes it the active image and raises the floor.

Every transition is one ``put`` of the state record, so a power cut leaves the old or the new
state, never a mix. ``protected=False`` is the unprotected baseline the attack harness compares
against: the image is only decoded, and an unsigned, tampered, foreign or older image is
installed. The metering module has no upgrade path at all.
"""

from __future__ import annotations

import enum
import logging
import struct
from dataclasses import dataclass

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, LocalProtocolError, RemoteProtocolError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.meter.management.firmware import (
    HEADER_SIZE,
    MAX_BODY,
    FirmwareImage,
    FirmwareRefused,
    Module,
    Version,
)
from wattguard.meter.management.storage import Store
from wattguard.protocol.apdu.common import DAR

__all__ = [
    "TRANSITIONS",
    "BootResult",
    "Phase",
    "Step",
    "TransferError",
    "UpgradeStateError",
    "Upgrader",
]

log = logging.getLogger(__name__)

SLOTS = ("A", "B")
_STATE = struct.Struct(">BBBHHH")  # phase, active slot, trial boots left, floor version
_TRANSFER = struct.Struct(">IH")  # image length, block size
STATE_KEY = "fw/state"
TRANSFER_KEY = "fw/transfer"
_NO_VERSION = Version(0, 0, 0)


class Phase(enum.IntEnum):
    """Where a software upgrade stands (the states of :data:`TRANSITIONS`); kept in the store's
    state record, so it survives a power cut."""

    IDLE = 0  #: no upgrade under way: the active slot's image runs
    RECEIVING = 1  #: blocks of an image are arriving
    STAGED = 2  #: a verified image waits in the candidate slot
    TRIAL = 3  #: the candidate is armed or running on trial, not yet confirmed


class Step(enum.Enum):
    """The inputs of the upgrade's state machine (:data:`TRANSITIONS`): a caller's request, or what
    verifying the image or booting found."""

    START = "start"
    WRITE = "write block"
    VERIFIED = "image verified"
    REFUSED = "image refused"
    ACTIVATE = "activate"
    BOOT = "boot"
    ROLLBACK = "rollback"
    CONFIRM = "confirm"
    ABORT = "abort"


_P, _S = Phase, Step
TRANSITIONS: dict[Phase, dict[Step, Phase]] = {
    _P.IDLE: {_S.START: _P.RECEIVING, _S.BOOT: _P.IDLE, _S.ABORT: _P.IDLE},
    _P.RECEIVING: {_S.START: _P.RECEIVING, _S.WRITE: _P.RECEIVING, _S.VERIFIED: _P.STAGED,
                   _S.REFUSED: _P.IDLE, _S.BOOT: _P.RECEIVING, _S.ABORT: _P.IDLE},
    _P.STAGED: {_S.START: _P.RECEIVING, _S.ACTIVATE: _P.TRIAL, _S.BOOT: _P.STAGED,
                _S.ABORT: _P.IDLE},
    _P.TRIAL: {_S.BOOT: _P.TRIAL, _S.ROLLBACK: _P.IDLE, _S.CONFIRM: _P.IDLE},
}  # fmt: skip


class UpgradeStateError(LocalProtocolError):
    """A step the upgrade's state does not allow (e.g. activate before verify)."""


class TransferError(RemoteProtocolError):
    """A block transfer the peer got wrong: a bad length, index or block size."""


@dataclass(frozen=True, slots=True)
class BootResult:
    """What :meth:`Upgrader.boot` decided at power-up: the slot and version that run, whether on
    trial, and whether (and why) the candidate was rolled back."""

    slot: str
    version: Version
    trial: bool  # the candidate runs on trial
    rolled_back: bool
    reason: str = ""


class Upgrader:
    """The management module's upgrade state, kept in ``store`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        vendor_public_key: sm2.PublicKey,
        events: EventSink,
        protected: bool = True,
        *,
        vendor_id: str | None = None,
        trial_boots: int = 3,
        source: str = "management/upgrade",
    ) -> None:
        if trial_boots < 1:
            raise ConfigError("a trial needs at least one boot")
        self.store = store
        self.vendor_public_key = vendor_public_key
        self.events = events
        self.protected = protected
        self.vendor_id = vendor_id
        self.trial_boots = trial_boots
        self.source = source
        self.running: str | None = None  # the slot booted last; None until boot()
        raw = store.get(STATE_KEY)
        if raw is None:
            self.phase, self._active, self._boots_left, self.floor = Phase.IDLE, 0, 0, _NO_VERSION
        else:
            phase, active, boots_left, *floor = _STATE.unpack(raw)
            self.phase, self._active, self._boots_left = Phase(phase), active, boots_left
            self.floor = Version(*floor)

    # What is installed

    @property
    def active_slot(self) -> str:
        return SLOTS[self._active]

    @property
    def candidate_slot(self) -> str:
        return SLOTS[1 - self._active]

    def image(self, slot: str) -> FirmwareImage | None:
        raw = self.store.get(f"fw/slot/{slot}")
        return None if raw is None else FirmwareImage.parse(raw)

    @property
    def active_version(self) -> Version:
        image = self.image(self.active_slot)
        return _NO_VERSION if image is None else image.version

    @property
    def boots_left(self) -> int:
        return self._boots_left

    def provision(self, data: bytes, now: float) -> FirmwareImage:
        """Install the factory image into slot A (only into an empty module)."""
        if self.image("A") is not None or self.image("B") is not None:
            raise UpgradeStateError("the module already has an image; upgrade it instead")
        image = self._check(data, None, now)
        self.store.put("fw/slot/A", data)
        self._active = 0
        self.floor = image.version
        self._save(Phase.IDLE)
        log.info("%s: factory image %s provisioned in slot A", self.source, image.version)
        return image

    # The transfer

    def start(self, length: int, now: float, block_size: int = 1024) -> int:
        """Open a transfer of a ``length``-byte image; returns the number of blocks."""
        self._allow(Step.START)
        if not HEADER_SIZE <= length <= HEADER_SIZE + MAX_BODY:
            raise TransferError(
                f"an image is {HEADER_SIZE}..{HEADER_SIZE + MAX_BODY} bytes, not {length}",
                dar=DAR.OUT_OF_RANGE,
            )
        if not 1 <= block_size <= 0xFFFF:
            raise TransferError(f"block size {block_size} out of range", dar=DAR.OUT_OF_RANGE)
        self._discard_transfer()
        self.store.delete(f"fw/slot/{self.candidate_slot}")
        self.store.put(TRANSFER_KEY, _TRANSFER.pack(length, block_size))
        self._save(Phase.RECEIVING)
        return -(-length // block_size)

    @property
    def block_count(self) -> int:
        """Blocks of the transfer in progress (UpgradeStateError if none)."""
        return self._transfer()[2]

    def _transfer(self) -> tuple[int, int, int]:
        raw = self.store.get(TRANSFER_KEY)
        if raw is None or self.phase != Phase.RECEIVING:
            raise UpgradeStateError("no transfer in progress")
        length, block_size = _TRANSFER.unpack(raw)
        return length, block_size, -(-length // block_size)

    def write_block(self, index: int, data: bytes, now: float) -> None:
        """Store block ``index`` (0-based); the last block may be short, the others are full."""
        self._allow(Step.WRITE)
        length, block_size, count = self._transfer()
        if not 0 <= index < count:
            self._record(EventKind.MALFORMED, f"block {index} of {count}", now)
            raise TransferError(
                f"block {index} is not in 0..{count - 1}", dar=DAR.DATA_BLOCK_SEQUENCE_INVALID
            )
        expected = block_size if index < count - 1 else length - block_size * (count - 1)
        if len(data) != expected:
            self._record(EventKind.MALFORMED, f"block {index} has {len(data)} bytes", now)
            raise TransferError(
                f"block {index} must be {expected} bytes, not {len(data)}",
                dar=DAR.DATA_BLOCK_SEQUENCE_INVALID,
            )
        self.store.put(f"fw/block/{index:06d}", bytes(data))

    def missing(self) -> list[int]:
        """The blocks still due (empty when the image is complete)."""
        _, _, count = self._transfer()
        have = {int(key.rsplit("/", 1)[1]) for key, _ in self.store.items("fw/block/")}
        return [index for index in range(count) if index not in have]

    def verify(self, now: float) -> FirmwareImage:
        """Join the blocks and check the image; a good image goes into the candidate slot."""
        self._allow(Step.VERIFIED)
        if gaps := self.missing():
            raise TransferError(
                f"{len(gaps)} blocks missing, first {gaps[0]}", dar=DAR.DATA_BLOCK_UNAVAILABLE
            )
        data = b"".join(value for _, value in self.store.items("fw/block/"))
        self._discard_transfer()
        try:
            image = self._check(data, max(self.floor, self.active_version), now)
        except FirmwareRefused:
            self._save(Phase.IDLE)
            raise
        self.store.put(f"fw/slot/{self.candidate_slot}", data)
        self._save(Phase.STAGED)
        log.info(
            "%s: image %s verified into slot %s", self.source, image.version, self.candidate_slot
        )
        return image

    def _check(self, data: bytes, installed: Version | None, now: float) -> FirmwareImage:
        try:
            if not self.protected:
                return FirmwareImage.parse(data)
            return FirmwareImage.from_bytes(
                data,
                self.vendor_public_key,
                vendor_id=self.vendor_id,
                target=Module.MANAGEMENT,
                installed=installed,
            )
        except FirmwareRefused as refused:
            self._record(EventKind.FIRMWARE, str(refused), now)
            raise

    def abort(self, now: float) -> None:
        """Drop a transfer or a staged image."""
        self._allow(Step.ABORT)
        self._discard_transfer()
        if self.phase == Phase.STAGED:
            self.store.delete(f"fw/slot/{self.candidate_slot}")
        self._save(Phase.IDLE)

    def _discard_transfer(self) -> None:
        for key, _ in self.store.items("fw/block/"):
            self.store.delete(key)
        self.store.delete(TRANSFER_KEY)

    # Activation, boot, confirmation

    def activate(self, now: float) -> None:
        """The next boot runs the candidate, on trial."""
        self._allow(Step.ACTIVATE)
        self._boots_left = self.trial_boots
        self._save(Phase.TRIAL)
        log.info("%s: slot %s armed for a trial boot", self.source, self.candidate_slot)

    def boot(self, self_test_ok: bool, now: float) -> BootResult:
        """Power-up: choose the slot to run; ``self_test_ok`` is the booted image's self-test."""
        if self.phase != Phase.TRIAL:
            self.running = self.active_slot
            if not self_test_ok:
                self._record(
                    EventKind.FIRMWARE,
                    "the confirmed image failed its self-test; no other image to roll back to",
                    now,
                )
            return BootResult(self.active_slot, self.active_version, False, False)
        if self._boots_left == 0:
            return self._rollback("trial boots used up without confirmation", now)
        self._boots_left -= 1
        self._save(Phase.TRIAL)  # counted before it runs: a crash loop still uses up the trial
        if not self_test_ok:
            return self._rollback("the new image failed its self-test", now)
        self.running = self.candidate_slot
        image = self.image(self.candidate_slot)
        version = _NO_VERSION if image is None else image.version
        return BootResult(self.candidate_slot, version, True, False)

    def _rollback(self, reason: str, now: float) -> BootResult:
        failed = self.image(self.candidate_slot)
        what = "an image" if failed is None else f"image {failed.version}"
        self._record(
            EventKind.FIRMWARE, f"rollback of {what} in slot {self.candidate_slot}: {reason}", now
        )
        self.store.delete(f"fw/slot/{self.candidate_slot}")
        self._boots_left = 0
        self._save(Phase.IDLE)
        self.running = self.active_slot
        return BootResult(self.active_slot, self.active_version, False, True, reason)

    def confirm(self, now: float) -> Version:
        """The candidate runs well: make it the active image; versions below it are refused."""
        self._allow(Step.CONFIRM)
        if self.running != self.candidate_slot:
            raise UpgradeStateError("confirm the new image only while it runs (boot first)")
        image = self.image(self.candidate_slot)
        if image is None:
            raise UpgradeStateError("the candidate slot is empty")
        self._active = 1 - self._active
        self._boots_left = 0
        self.floor = max(self.floor, image.version)
        self._save(Phase.IDLE)
        log.info("%s: image %s confirmed in slot %s", self.source, image.version, self.active_slot)
        return image.version

    # Helpers

    def _allow(self, step: Step) -> None:
        if step not in TRANSITIONS[self.phase]:
            raise UpgradeStateError(f"cannot {step.value} while {self.phase.name}")

    def _save(self, phase: Phase) -> None:
        self.store.put(STATE_KEY, _STATE.pack(phase, self._active, self._boots_left, *self.floor))
        self.phase = phase

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.warning("%s: %s", self.source, detail)
        self.events.record(SecurityEvent(kind, self.source, detail, now))
