"""The lazy fleet's DL/T 698.45 side: real frames in, real frames out, under real ESAM MACs.

Theory of operation. :meth:`LazyServer.receive` takes one link frame a terminal sent down the
power line (DL/T 698.45-2017 clause 5: the frame, its address, HCS and FCS), finds the meter it
addresses in the :class:`~wattguard.simulation.lazy_fleet.LazyFleet`, advances the fleet to
``now`` (the lazy part) and returns the frames the meter answers with, built exactly as an
assembled meter's :class:`~wattguard.protocol.ServerConnection` builds them (server-sent
response control, the request's server and client addresses, fragmented above 1024 bytes).

A SECURITY-Request in plaintext + RN (what a terminal's collection task sends, clause
7.3.8.2) is answered in plaintext + MAC: the MAC is the soft ESAM's own
(:func:`wattguard.esam.profile.mac` under the meter's diversified MAC key, bound to the
request's RN, over the protection byte and the answer), the same computation the ESAM's
PROTECT_RESPONSE makes, so the station's cryptographic device verifies it as any meter's.
The server holds no ESAM object per meter: only each meter's 16-byte MAC key.

What a lazy meter answers (the objects a terminal's tasks read): 0010/0020 attributes 2 and
4 (forward and reverse active energy), 2000 voltage, 2001 current, 2004 active power, 4000
date-time, 4001 address, and the records of 5002 (15-minute curve) and 5004 (daily freeze)
with selector 2 and columns 2021, 0010, 0020. Any other object is answered with DAR 4 (object
undefined); other services with an ERROR-Response; other security modes with a
SECURITY-Response carrying DAR 22 (ESAM verification failed). A frame that is not for one of
its meters, or does not decode, is ignored (counted in :attr:`LazyServer.ignored`), as a meter
ignores noise on the line. Nothing raises for anything a peer can send.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from wattguard.errors import DecodeError
from wattguard.esam import profile as p
from wattguard.meter.management.records import MAX_ANSWER_BYTES
from wattguard.protocol import OAD, Data, DataType, ServerAddress, decode_apdu
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.common import DAR, AResultNormal, AResultRecord
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.get import (
    GetRecord,
    GetRequestNormal,
    GetRequestNormalList,
    GetRequestRecord,
    GetResponseNormal,
    GetResponseNormalList,
    GetResponseRecord,
)
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    VerificationKind,
)
from wattguard.protocol.axdr import encode_length
from wattguard.protocol.connection import DEFAULT_MAX_PIECE
from wattguard.protocol.data import encode_data
from wattguard.protocol.fragment import split_apdu
from wattguard.protocol.link import Control, LinkFrame, decode_frame
from wattguard.protocol.values import TI, DateTimeS
from wattguard.simulation.lazy_answers import fast_answer
from wattguard.simulation.lazy_fleet import SLOT, LazyFleet
from wattguard.simulation.ledger import ReadingLedger

__all__ = ["LazyServer", "diversified_mac_keys"]

_D = DataType
_CURVE, _DAILY = 0x5002, 0x5004
_FREEZE_TIME = OAD(0x2021, 2, 0)
_WS_PER_UNIT = {2: 36_000.0, 4: 360.0}  # 0.01 kWh, 0.0001 kWh
_ENERGY_TYPE = {2: _D.DOUBLE_LONG_UNSIGNED, 4: _D.LONG64_UNSIGNED}
_LIMIT = {2: 2**32, 4: 2**64}
_ROWS = {0x0010: 0, 0x0020: 1}
_TI_SECONDS = {0: 1, 1: 60, 2: 3600, 3: 86400}
_RN_SIZES = range(8, 65)
_MAX_ROWS = 96
_ESAM_FAILED = 22
_INNER_KEPT = 256  # wrapped requests kept decoded (a round sends a few, to every meter)


def diversified_mac_keys(master: p.MasterKeys, addresses: Sequence[bytes]) -> NDArray[np.uint8]:
    """The MAC keys provisioning puts into each meter's ESAM (``master`` diversified for the
    meter's address, :func:`wattguard.esam.profile.diversify`), as an (n, 16) array."""
    mac = master.keys[p.KeyId.MAC]
    keys = b"".join(p.diversify(mac, address) for address in addresses)
    return np.frombuffer(keys, dtype=np.uint8).reshape(len(addresses), 16).copy()


class LazyServer:
    """Answers a terminal's frames for every meter of a :class:`LazyFleet` (see the module
    docstring). ``frames_in``/``frames_out``/``bytes_out`` count the traffic."""

    def __init__(
        self, fleet: LazyFleet, *, max_piece: int = DEFAULT_MAX_PIECE, fast: bool = True
    ) -> None:
        self.fleet = fleet
        #: Encode the everyday answers straight to bytes (``lazy_answers.py``; the same bytes).
        self.fast = fast
        self.max_piece = max_piece
        self.ignored = 0
        self.frames_in = 0
        self.frames_out = 0
        self.bytes_out = 0
        #: Sees every plain answer to a GET before it is encoded (``simulation/ledger.py``).
        self.ledger: ReadingLedger | None = None
        self._inner: dict[bytes, Structure] = {}

    def receive(self, data: bytes, now: float) -> list[bytes]:
        """The frames the addressed meter answers one request frame with (none: ignored)."""
        self.frames_in += 1
        try:
            frame = decode_frame(data)
            meter = self.fleet.index(frame.address.address)
            if meter is None or frame.control.fragmented or frame.control.from_server:
                self.ignored += 1
                return []
            apdu = decode_apdu(frame.apdu)
        except (DecodeError, ValueError):
            self.ignored += 1
            return []
        self.fleet.advance_to(now)
        answer = self.answer(meter, apdu, now)
        if answer is None:
            return []
        frames = self._frames(answer.to_bytes(), frame.address, frame.client_address)
        self.frames_out += len(frames)
        self.bytes_out += sum(map(len, frames))
        return frames

    def answer(self, meter: int, apdu: Structure, now: float) -> Structure | None:
        """The APDU meter ``meter`` answers ``apdu`` with (the fleet already advanced)."""
        if isinstance(apdu, SecurityRequest):
            return self._secured(meter, apdu, now)
        answer = self._plain(meter, apdu, now)
        if self.ledger is not None:
            self.ledger.served(meter, answer)
        return answer

    def _secured(self, meter: int, request: SecurityRequest, now: float) -> SecurityResponse:
        v = request.verification
        rn = bytes(v.random or b"")
        if (
            request.payload.protection != Protection.PLAINTEXT
            or v.kind != VerificationKind.RN
            or len(rn) not in _RN_SIZES
        ):
            return SecurityResponse(SecurityPayload(Protection.PLAINTEXT, dar=_ESAM_FAILED))
        try:
            inner = self._decode_inner(request.payload.data)
        except DecodeError:
            return SecurityResponse(SecurityPayload(Protection.PLAINTEXT, dar=_ESAM_FAILED))
        body = fast_answer(self, meter, inner, now) if self.fast else None
        if body is None:
            answer = self._plain(meter, inner, now)
            if self.ledger is not None:
                self.ledger.served(meter, answer)
            body = b"" if answer is None else answer.to_bytes()
        key = self.fleet.mac_keys[meter].tobytes()
        # keep=False: a thread-kept CMAC context per meter would hold 0.8 KB a meter
        tag = p.mac(key, p.Label.RESPONSE, rn, bytes((Protection.PLAINTEXT,)) + body, keep=False)
        return SecurityResponse(SecurityPayload(Protection.PLAINTEXT, body), mac=tag)

    def _decode_inner(self, data: bytes) -> Structure:
        """The GET a SECURITY-Request wraps, decoded once for all the meters a collection
        round sends it to (the same bytes: same PIID, same window); APDUs are immutable."""
        known = self._inner.get(data)
        if known is None:
            if len(self._inner) >= _INNER_KEPT:
                self._inner.clear()
            known = self._inner[data] = decode_apdu(data)
        return known

    def _plain(self, meter: int, apdu: Structure, now: float) -> Structure | None:
        if isinstance(apdu, GetRequestNormal):
            return GetResponseNormal(apdu.piid, self._result(meter, apdu.oad, now))
        if isinstance(apdu, GetRequestNormalList):
            results = tuple(self._result(meter, oad, now) for oad in apdu.oads)
            return GetResponseNormalList(apdu.piid, results)
        if isinstance(apdu, GetRequestRecord):
            record = apdu.record
            rows = self._records(meter, record.oad, record.rows.selector, record.rows.fields)
            found = rows if isinstance(rows, DAR) else _bounded(record, self._columns(rows, record))
            return GetResponseRecord(apdu.piid, AResultRecord(record.oad, record.columns, found))
        piid = getattr(apdu, "piid", 0)
        return ErrorResponse(piid, ErrorType.SERVICE_UNSUPPORTED)

    # -- values ------------------------------------------------------------------------------

    def _result(self, meter: int, oad: OAD, now: float) -> AResultNormal:
        value = self._value(meter, oad, now)
        return AResultNormal(oad, DAR.OBJECT_UNDEFINED if value is None else value)

    def _value(self, meter: int, oad: OAD, now: float) -> Data | None:
        if oad.element:
            return None
        if oad.oi in _ROWS and oad.attribute in _WS_PER_UNIT:
            return _energy(self.fleet.registers(meter)[_ROWS[oad.oi]], oad.attribute)
        if oad.attribute != 2:
            return None
        if oad.oi == 0x4000:
            return Data(_D.DATE_TIME_S, DateTimeS.from_posix(now))
        if oad.oi == 0x4001:
            return Data(_D.OCTET_STRING, self.fleet.address(meter))
        voltage, current, active, _ = self.fleet.instantaneous(meter)
        if oad.oi == 0x2000:
            return Data.array(Data(_D.LONG_UNSIGNED, round(voltage * 10)))
        if oad.oi == 0x2001:
            return Data.array(Data(_D.DOUBLE_LONG, round(current * 1000)))
        if oad.oi == 0x2004:
            power = Data(_D.DOUBLE_LONG, round(active * 10))
            return Data.array(power, power)
        return None

    def _records(
        self, meter: int, oad: OAD, selector: int, fields: tuple[object, ...]
    ) -> tuple[tuple[float, NDArray[np.float64]], ...] | DAR:
        """(boundary, registers) of the records selector 2 names: freeze times from ``start``
        stepping by ``interval`` before ``end`` (DL/T 698.45-2017 clause 6.3.4, Selector2)."""
        if oad.oi not in (_CURVE, _DAILY) or oad.attribute != 2 or selector != 2:
            return DAR.OBJECT_UNDEFINED
        column, start, end, interval = fields
        if column != _FREEZE_TIME or not all(isinstance(d, Data) for d in (start, end, interval)):
            return DAR.OBJECT_UNDEFINED
        assert isinstance(start, Data) and isinstance(end, Data) and isinstance(interval, Data)
        ti = interval.value
        if not isinstance(ti, TI) or ti.unit not in _TI_SECONDS or ti.interval < 1:
            return DAR.OBJECT_UNDEFINED
        step = float(_TI_SECONDS[ti.unit] * ti.interval)
        period = SLOT if oad.oi == _CURVE else 86400.0
        first, last = float(start.value.to_posix()), float(end.value.to_posix())
        rows: list[tuple[float, NDArray[np.float64]]] = []
        t = first
        while t < last and len(rows) < _MAX_ROWS:
            if t % period == 0 and (frozen := self.fleet.frozen(meter, t)) is not None:
                rows.append((t, frozen))
            t += step
        return tuple(rows)

    @staticmethod
    def _columns(
        rows: tuple[tuple[float, NDArray[np.float64]], ...], record: GetRecord
    ) -> list[tuple[Data, ...]]:
        out = []
        for t, registers in rows:
            row = []
            for csd in record.columns.columns:
                oad = csd.column
                if oad == _FREEZE_TIME:
                    row.append(Data(_D.DATE_TIME_S, DateTimeS.from_posix(t)))
                elif isinstance(oad, OAD) and oad.oi in _ROWS and oad.attribute in _WS_PER_UNIT:
                    row.append(_element(_energy(registers[_ROWS[oad.oi]], oad.attribute), oad))
                else:
                    row.append(Data(_D.NULL))
            out.append(tuple(row))
        return out

    # -- frames ------------------------------------------------------------------------------

    def _frames(self, apdu: bytes, address: ServerAddress, client: int) -> list[bytes]:
        """As :class:`~wattguard.protocol.ServerConnection` writes a response (clause 5.3)."""
        control = Control(True, True)
        if len(apdu) <= self.max_piece:
            return [LinkFrame(control, address, client, apdu).to_bytes()]
        fragmented = Control(control.from_server, control.client_started, control.function, True)
        return [
            LinkFrame(fragmented, address, client, piece, fragment).to_bytes()
            for fragment, piece in split_apdu(apdu, self.max_piece)
        ]


def _bounded(record: GetRecord, rows: list[tuple[Data, ...]]) -> tuple[tuple[Data, ...], ...]:
    """The rows that fit :data:`~wattguard.meter.management.records.MAX_ANSWER_BYTES`, at
    least one, as the assembled meter bounds a record answer (the client continues from the
    time after the last row)."""
    size = len(record.oad.to_bytes()) + len(record.columns.to_bytes()) + 1
    size += len(encode_length(len(rows)))
    out: list[tuple[Data, ...]] = []
    for row in rows:
        size += sum(len(encode_data(value)) for value in row)
        if out and size > MAX_ANSWER_BYTES:
            break
        out.append(row)
    return tuple(out)


def _element(value: Data, oad: OAD) -> Data:
    """Element ``oad.element`` of an array column (0: the whole array; NULL past its end)."""
    if not oad.element:
        return value
    items = value.value
    return items[oad.element - 1] if oad.element <= len(items) else Data(_D.NULL)


def _energy(registers: NDArray[np.float64], attribute: int) -> Data:
    """A register row (total, tariffs) as the meter carries it: truncated, never rounded up."""
    unit, kind, limit = _WS_PER_UNIT[attribute], _ENERGY_TYPE[attribute], _LIMIT[attribute]
    return Data.array(*(Data(kind, int(ws // unit) % limit) for ws in registers.tolist()))
