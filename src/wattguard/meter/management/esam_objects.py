"""Object F100 (ESAM, interface class 21) and the wallet file 202C, as the meter exposes them.

Attributes of F100 (numbers as a public DL/T 698.45 terminal implementation reads them, see
docs/security.md): 2 ESAM serial number, 3 ESAM version, 4 symmetric key version, 5 session
time threshold (s), 6 session time remaining (s), 7 current counters, 8 certificate versions,
9 ESAM certificate serial, 10 ESAM certificate, 11 station certificate serial, 12 station
certificate. 202C attribute 2 is the current wallet file: structure {balance
double-long-unsigned fen, purchase count double-long-unsigned}.

Methods of F100: 6 wallet top-up or refund (the SID's operation says which),
structure {amount double-long-unsigned fen, SID_MAC};
7 key update, structure {key ciphertext octet-string, SID_MAC}; 8 certificate update,
structure {certificate octet-string, SID}. Each parameter goes to the ESAM whole; what it
refuses is answered with the DAR that names the reason (21 top-up already done, 25 top-up
count out of sequence, 26 over the wallet limit, 30 certificate refused, 22 otherwise) and
recorded as a security event by the client. The F101 policy decides first in which security
mode the request must come (F100's actions: ciphertext + MAC).
"""

from __future__ import annotations

from collections.abc import Callable

from wattguard.errors import (
    CertificateError,
    CounterError,
    DecodeError,
    EsamError,
    WalletError,
)
from wattguard.esam import profile as p
from wattguard.esam.certificate import Certificate
from wattguard.esam.client import EsamClient, EsamInfo
from wattguard.esam.command import Sw
from wattguard.events import EventSink
from wattguard.meter.management.model import Getter, Method, ObjectModel, refuse
from wattguard.protocol import SID, SIDMAC, Data, DataType
from wattguard.protocol.apdu.common import DAR

__all__ = ["ESAM", "WALLET_FILE", "expose_esam"]

ESAM = 0xF100
WALLET_FILE = 0x202C
_D = DataType
Clock = Callable[[], float]


def expose_esam(
    model: ObjectModel,
    client: EsamClient,
    log: EventSink,
    *,
    source: str = "ESAM",
    clock: Clock | None = None,
    on_balance: Callable[[int], None] | None = None,
    hoarding: Callable[[], int] | None = None,
) -> None:
    """Register F100 and 202C on ``model``; bind the client's refusals to ``log``.

    ``clock`` gives the time for the ESAM's commands (default: the last time the client saw);
    ``on_balance`` hears the new balance after a top-up (to tell the expansion module);
    ``hoarding`` gives the hoarding limit (401F, fen; 0: none) a top-up may not pass.
    """
    client.bind(log, source)
    now = clock or (lambda: client.last_time)

    def info() -> EsamInfo:
        try:
            return client.info(now())
        except EsamError:
            raise refuse(DAR.HARDWARE_FAILURE, "the ESAM does not answer") from None

    attributes: dict[int, Callable[[EsamInfo], Data]] = {
        2: lambda i: Data(_D.OCTET_STRING, i.serial),
        3: lambda i: Data(_D.OCTET_STRING, i.version),
        4: lambda i: Data(_D.OCTET_STRING, bytes((i.key_version,))),
        5: lambda i: Data(_D.DOUBLE_LONG_UNSIGNED, i.session_threshold),
        6: lambda i: Data(_D.DOUBLE_LONG_UNSIGNED, i.session_remaining),
        7: lambda i: _numbers(i.command_counter, i.report_counter, i.top_ups),
        8: lambda i: _numbers(_serial(i.certificate), _serial(i.station_certificate)),
        9: lambda i: Data(_D.DOUBLE_LONG_UNSIGNED, _serial(i.certificate)),
        10: lambda i: Data(_D.OCTET_STRING, i.certificate),
        11: lambda i: Data(_D.DOUBLE_LONG_UNSIGNED, _serial(i.station_certificate)),
        12: lambda i: Data(_D.OCTET_STRING, i.station_certificate),
    }
    for attribute, shape in attributes.items():
        model.add_attribute(ESAM, attribute, _getter(info, shape))
    model.add_attribute(WALLET_FILE, 2, _getter(info, lambda i: _numbers(i.balance, i.top_ups)))
    model.add_method(ESAM, 6, _top_up(client, now, on_balance, hoarding))
    model.add_method(ESAM, 7, _key_update(client, now))
    model.add_method(ESAM, 8, _certificate_update(client, now))


def _getter(info: Callable[[], EsamInfo], shape: Callable[[EsamInfo], Data]) -> Getter:
    return lambda: shape(info())


def _numbers(*values: int) -> Data:
    return Data.structure(*(Data(_D.DOUBLE_LONG_UNSIGNED, value) for value in values))


def _serial(certificate: bytes) -> int:
    return Certificate.from_bytes(certificate).serial if certificate else 0


def _fields(value: Data, *types: DataType) -> tuple[Data, ...]:
    if value.type != _D.STRUCTURE or tuple(item.type for item in value.value) != types:
        raise refuse(DAR.TYPE_MISMATCH, "parameter of the wrong shape")
    items: tuple[Data, ...] = tuple(value.value)
    return items


def _dar(error: EsamError) -> DAR:
    if isinstance(error, CounterError):
        return DAR.DUPLICATE_RECHARGE if error.sw == Sw.REPLAY else DAR.RECHARGE_COUNT_ERROR
    if isinstance(error, WalletError):
        return DAR.PURCHASE_EXCEEDS_HOARDING
    if isinstance(error, CertificateError):
        return DAR.SIGNATURE_ERROR
    return DAR.ESAM_VERIFICATION_FAILED


def _is_refund(sid: SID) -> bool:
    """Whether method 6's SID names a refund (our profile's operation byte, docs/security.md)."""
    try:
        return p.SidFields.parse(sid.ident, sid.additional).operation == p.Operation.REFUND
    except DecodeError:
        return False  # the ESAM refuses it as a top-up


def _top_up(
    client: EsamClient,
    now: Clock,
    on_balance: Callable[[int], None] | None,
    hoarding: Callable[[], int] | None = None,
) -> Method:
    def act(value: Data) -> None:
        amount, sid_mac = _fields(value, _D.DOUBLE_LONG_UNSIGNED, _D.SID_MAC)
        protected: SIDMAC = sid_mac.value
        operation = client.refund if _is_refund(protected.sid) else client.top_up
        limit = 0 if hoarding is None or operation != client.top_up else hoarding()
        if limit and client.balance() + amount.value > limit:  # 401F hoarding limit
            raise refuse(DAR.PURCHASE_EXCEEDS_HOARDING, "over the hoarding limit")
        try:
            balance, _ = operation(amount.value, protected.sid, protected.mac, now())
        except EsamError as exc:
            raise refuse(_dar(exc), "top-up refused by the ESAM") from None
        if on_balance is not None:
            on_balance(balance)

    return act


def _key_update(client: EsamClient, now: Clock) -> Method:
    def act(value: Data) -> None:
        ciphertext, sid_mac = _fields(value, _D.OCTET_STRING, _D.SID_MAC)
        protected: SIDMAC = sid_mac.value
        try:
            client.key_update(ciphertext.value, protected.sid, protected.mac, now())
        except EsamError as exc:
            error = exc if not isinstance(exc, CounterError) else EsamError(sw=exc.sw)
            raise refuse(_dar(error), "key update refused by the ESAM") from None

    return act


def _certificate_update(client: EsamClient, now: Clock) -> Method:
    def act(value: Data) -> None:
        certificate, sid = _fields(value, _D.OCTET_STRING, _D.SID)
        identification: SID = sid.value
        try:
            client.certificate_update(certificate.value, identification, now())
        except EsamError as exc:
            error = exc if not isinstance(exc, CounterError) else EsamError(sw=exc.sw)
            raise refuse(_dar(error), "certificate update refused by the ESAM") from None

    return act
