"""Software upgrade over DL/T 698.45: the file block transfer object F001.

Theory of operation. A station upgrades the management module with ACTIONs on F001 (file
block transfer management), which the F101 policy protects like any other action
(ciphertext + MAC by default), so only the station, through the ESAM, can start one:

* method 7, *start transfer*: ``structure{file info structure{source visible-string,
  target visible-string, size double-long-unsigned, attributes bit-string, version
  visible-string, category enum}, block size long-unsigned, check structure{type enum,
  value octet-string}}`` opens a transfer of ``size`` bytes in blocks of ``block size``;
* method 8, *write file*: ``structure{block number long-unsigned, data octet-string}``
  stores one block (0-based, any order, resumable after a power cut);
* when the last missing block arrives the image is checked at once (vendor's SM2 signature,
  SM3 digest of the body, target module, version newer than the running one: see
  :mod:`wattguard.meter.management.firmware`). A good image is activated: the next restart runs it
  on trial, and a failed self-test rolls back (:mod:`wattguard.meter.management.upgrade`). A refused
  image is dropped, the ACTION is answered with the refusal's DAR and a FIRMWARE security event is
  recorded.
* attribute 2 reads the state: ``structure{phase visible-string, running version
  visible-string, blocks missing long-unsigned}``; attribute 4 the block status bit-string
  (bit *i* set: block *i* received).

Where DL/T 698.45's record of F001 is thin, these choices are in ``docs/firmware.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from wattguard.meter.management.firmware import FirmwareRefused
from wattguard.meter.management.model import ObjectModel, refuse
from wattguard.meter.management.upgrade import Phase, TransferError, Upgrader, UpgradeStateError
from wattguard.protocol import Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.values import BitString

__all__ = ["FILE_TRANSFER", "expose_upgrade"]

FILE_TRANSFER = 0xF001
_D = DataType


def expose_upgrade(
    model: ObjectModel, upgrader: Upgrader, now: Callable[[], float], name: str = "meter"
) -> None:
    """Register F001 on ``model`` for ``upgrader``; ``now`` gives the module's time."""

    def start(value: Data) -> None:
        try:
            info, block_size, _check = _structure(value, 3)
            size = _structure(info, 6)[2]
            if size.type != _D.DOUBLE_LONG_UNSIGNED or block_size.type != _D.LONG_UNSIGNED:
                raise refuse(DAR.TYPE_MISMATCH, "file size and block size are unsigned")
            if upgrader.phase in (Phase.RECEIVING, Phase.STAGED):
                upgrader.abort(now())  # a new start replaces an unfinished transfer
            upgrader.start(int(size.value), now(), int(block_size.value))
        except TransferError as exc:
            raise refuse(DAR.OUT_OF_RANGE, str(exc)) from None
        except UpgradeStateError as exc:  # e.g. a new image still on trial
            raise refuse(DAR.TEMPORARY_FAILURE, str(exc)) from None

    def write(value: Data) -> None:
        number, data = _structure(value, 2)
        if number.type != _D.LONG_UNSIGNED or data.type != _D.OCTET_STRING:
            raise refuse(DAR.TYPE_MISMATCH, "a block is {long-unsigned, octet-string}")
        try:
            upgrader.write_block(int(number.value), bytes(data.value), now())
            if upgrader.missing():
                return
            upgrader.verify(now())
            upgrader.activate(now())
        except FirmwareRefused as exc:
            upgrader.abort(now())
            raise refuse(_dar(exc.dar), str(exc)) from None
        except (TransferError, UpgradeStateError) as exc:
            raise refuse(DAR.DATA_BLOCK_SEQUENCE_INVALID, str(exc)) from None

    def state() -> Data:
        try:
            missing = len(upgrader.missing())
        except (TransferError, UpgradeStateError):
            missing = 0
        return Data.structure(
            Data(_D.VISIBLE_STRING, upgrader.phase.name.lower()),
            Data(_D.VISIBLE_STRING, str(upgrader.active_version)),
            Data(_D.LONG_UNSIGNED, min(missing, 0xFFFF)),
        )

    def blocks() -> Data:
        try:
            missing = set(upgrader.missing())
            count = upgrader.block_count
        except (TransferError, UpgradeStateError):
            return Data(_D.BIT_STRING, BitString(b"", 0))
        bits = bytearray((count + 7) // 8)
        for index in range(count):
            if index not in missing:
                bits[index // 8] |= 0x80 >> (index % 8)
        return Data(_D.BIT_STRING, BitString(bytes(bits), count))

    model.add_method(FILE_TRANSFER, 7, _unit(start))
    model.add_method(FILE_TRANSFER, 8, _unit(write))
    model.add_attribute(FILE_TRANSFER, 2, state)
    model.add_attribute(FILE_TRANSFER, 4, blocks)


def _unit(action: Callable[[Data], None]) -> Callable[[Data], Data | None]:
    def method(value: Data) -> Data | None:
        action(value)
        return None

    return method


def _structure(value: Data, size: int) -> tuple[Data, ...]:
    if value.type != _D.STRUCTURE or len(value.value) != size:
        raise refuse(DAR.TYPE_MISMATCH, f"expected a structure of {size} values")
    items: tuple[Data, ...] = value.value
    return items


def _dar(value: int) -> DAR:
    try:
        return DAR(value)
    except ValueError:
        return DAR.OTHER
