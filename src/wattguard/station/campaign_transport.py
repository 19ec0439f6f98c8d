"""The 698 exchanges of a campaign: one request to one meter, protected by the cryptographic
device (ciphertext + SID_MAC under the meter's keys), carried in a PROXY TransCommand to the
meter's terminal, the answer opened by the device and sorted into an :class:`Outcome`.

What a campaign sends (DL/T 698.45-2017 object F001, file block transfer, and F100, the ESAM;
the parameters as :mod:`wattguard.meter.management.upgrade_objects` and :mod:`wattguard.meter.
management.esam_objects` take them, our reading recorded in docs/firmware.md):

* firmware: F001 method 7 (start transfer), then method 8 (write file) per block, then GET
  F001 attribute 2 (phase, running version, blocks missing) until the meter runs the image or
  has rolled back;
* key update: F100 method 7 with the device's wrapped keys of the new version;
* certificate update: F100 method 8 with the certificate.

An :class:`Outcome` says whether to try again: a request the terminal did not answer, or
answered with a DAR (the power line did not carry it), is worth retrying; a meter's own
refusal (a DAR in its answer) is final.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from wattguard.errors import DecodeError, SecurityError
from wattguard.esam.certificate import Certificate
from wattguard.protocol import (
    OAD,
    OMD,
    Control,
    Data,
    DataType,
    LinkFrame,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.proxy import ProxyTransCommandRequest, ProxyTransCommandResponse
from wattguard.protocol.apdu.security import Protection, SecurityRequest, SecurityResponse
from wattguard.protocol.objects import HPLC_PORT, HPLC_SERIAL
from wattguard.protocol.values import BitString
from wattguard.station.collector import Collector

__all__ = ["KeyDevice", "Outcome", "Transport", "block_action", "start_action"]

FILE_TRANSFER = 0xF001
ESAM = 0xF100
#: F001 attribute 2: structure {phase, running version, blocks missing}.
TRANSFER_STATE = OAD(FILE_TRANSFER, 2, 0)


@runtime_checkable
class KeyDevice(Protocol):
    """What key and certificate updates need of the cryptographic device (in process, the
    :class:`~wattguard.cipher.CryptoDevice`; as its own service, the
    :class:`~wattguard.runtime.cipher.CipherClient`)."""

    def newest_key_version(self) -> int: ...

    def key_update(self, address: bytes, new_version: int, operator: str = ...) -> Data: ...

    def key_updated(self, address: bytes, version: int) -> None: ...

    def key_version(self, address: bytes) -> int: ...

    def certificate_update(
        self, address: bytes, certificate: Certificate, operator: str = ...
    ) -> Data: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request to a meter gave: ``ok`` with the answer's value (an ACTION's: None;
    a GET's: the Data), or why not and whether to ``retry``."""

    ok: bool
    detail: str = "ok"
    retry: bool = False
    value: Data | None = None


def start_action(size: int, block_size: int, version: str) -> tuple[OMD, Data]:
    """F001 method 7's parameter: the file's information, the block size and the check
    (unused: the image's own SM3 digest and SM2 signature are the check)."""
    info = Data.structure(
        Data(DataType.VISIBLE_STRING, "management.img"),
        Data(DataType.VISIBLE_STRING, "/fw/management"),
        Data(DataType.DOUBLE_LONG_UNSIGNED, size),
        Data(DataType.BIT_STRING, BitString(b"\xe0", 3)),
        Data(DataType.VISIBLE_STRING, version),
        Data(DataType.ENUM, 0),
    )
    check = Data.structure(Data(DataType.ENUM, 0), Data(DataType.OCTET_STRING, b""))
    return OMD(FILE_TRANSFER, 7, 0), Data.structure(
        info, Data(DataType.LONG_UNSIGNED, block_size), check
    )


def block_action(image: bytes, index: int, block_size: int) -> tuple[OMD, Data]:
    """F001 method 8's parameter for block ``index`` (0-based) of ``image``."""
    block = image[index * block_size : (index + 1) * block_size]
    return OMD(FILE_TRANSFER, 8, 0), Data.structure(
        Data(DataType.LONG_UNSIGNED, index), Data(DataType.OCTET_STRING, block)
    )


class Transport:
    """Sends one request to one meter through its terminal and calls back with the
    :class:`Outcome` (``hsm`` None: the unprotected configuration, requests travel bare)."""

    def __init__(
        self, collector: Collector, hsm: Any, terminal_of: Callable[[str], bytes | None]
    ) -> None:
        self.collector = collector
        self.hsm = hsm
        self.terminal_of = terminal_of

    def action(
        self, meter: str, omd: OMD, value: Data, operator: str, done: Callable[[Outcome], None]
    ) -> None:
        """Call method ``omd`` of ``meter`` with ``value``."""
        self._send(meter, ActionRequest(1, omd, value), operator, done)

    def read(self, meter: str, oad: OAD, operator: str, done: Callable[[Outcome], None]) -> None:
        """Read attribute ``oad`` of ``meter`` now."""
        self._send(meter, GetRequestNormal(1, oad), operator, done)

    def _send(
        self, meter: str, inner: Structure, operator: str, done: Callable[[Outcome], None]
    ) -> None:
        terminal = self.terminal_of(meter)
        if terminal is None:
            done(Outcome(False, "the meter is not registered", retry=False))
            return
        address = bytes.fromhex(meter)
        request: Structure = inner
        if self.hsm is not None:
            request = self.hsm.protect(
                address, inner.to_bytes(), protection=Protection.CIPHERTEXT, operator=operator
            )
        frame = LinkFrame(
            Control(from_server=False, client_started=True), ServerAddress(address), 0x10,
            request.to_bytes(),
        ).to_bytes()  # fmt: skip

        def answered(answer: Structure | None) -> None:
            done(self._outcome(address, request, answer))

        self.collector.request(
            terminal,
            lambda piid: ProxyTransCommandRequest(piid, HPLC_PORT, HPLC_SERIAL, 30, 1, frame),
            answered,
        )

    def _outcome(self, meter: bytes, request: Structure, answer: Structure | None) -> Outcome:
        if not isinstance(answer, ProxyTransCommandResponse):
            return Outcome(False, "no answer from the terminal", retry=True)
        if not isinstance(answer.answer, bytes):
            return Outcome(False, f"terminal: DAR {_dar(answer.answer)}", retry=True)
        try:
            reply = decode_apdu(decode_frame(answer.answer).apdu)
            if isinstance(reply, SecurityRequest):  # the meter's own report came instead
                return Outcome(False, "the meter reported instead of answering", retry=True)
            if isinstance(reply, SecurityResponse):
                if reply.payload.dar is not None:
                    return Outcome(False, f"meter refused: DAR {_dar(reply.payload.dar)}")
                if self.hsm is None:
                    return Outcome(False, "a protected answer and no cryptographic device")
                reply = decode_apdu(self.hsm.open_response(meter, request, reply))
        except DecodeError as exc:
            return Outcome(False, f"undecodable answer: {exc.reason}", retry=True)
        except SecurityError:
            return Outcome(False, "the answer failed verification", retry=True)
        return _result(reply)


def _result(reply: object) -> Outcome:
    if isinstance(reply, ActionResponseNormal):
        dar = int(reply.result.dar)
        return Outcome(True) if dar == 0 else Outcome(False, f"meter: DAR {_dar(dar)}")
    if isinstance(reply, GetResponseNormal):
        value = reply.result.result
        if isinstance(value, Data):
            return Outcome(True, value=value)
        return Outcome(False, f"meter: DAR {_dar(value)}")
    return Outcome(False, f"unexpected answer {type(reply).__name__}")


def _dar(value: object) -> str:
    try:
        return f"{int(value)} {DAR(int(value)).name.lower().replace('_', ' ')}"  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(value)
