"""The lazy meters' everyday answers written straight to bytes are the very frames the generic
path writes (same bytes, same MAC), and the ledger counts them alike."""

from __future__ import annotations

import os

import pytest

from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.meter.expansion import TariffSchedule
from wattguard.protocol import CSD, OAD, Control, LinkFrame, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetRecord, GetRequestNormalList, GetRequestRecord
from wattguard.protocol.data import RCSD, RSD, Data, DataType
from wattguard.protocol.values import TI, DateTimeS
from wattguard.simulation import lazy_answers
from wattguard.simulation.lazy_fleet import SLOT, LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.ledger import ReadingLedger
from wattguard.simulation.profile import LoadModel

T0 = 1_784_073_600.0
N = 12
FREEZE = OAD(0x2021, 2, 0)
REALTIME = (
    OAD(0x0010, 2, 0), OAD(0x0020, 2, 0), OAD(0x0010, 4, 0), OAD(0x2000, 2, 0),
    OAD(0x2001, 2, 0), OAD(0x2004, 2, 0), OAD(0x4000, 2, 0), OAD(0x4001, 2, 0),
)  # fmt: skip


def _time(t: float) -> Data:
    return Data(DataType.DATE_TIME_S, DateTimeS.from_posix(t))


def _record(oi: int, first: float, last: float, step: TI, *columns: OAD) -> GetRequestRecord:
    rsd = RSD(2, (FREEZE, _time(first), _time(last), Data(DataType.TI, step)))
    return GetRequestRecord(7, GetRecord(OAD(oi, 2, 0), rsd, RCSD(tuple(map(CSD, columns)))))


def _servers() -> tuple[list[bytes], LazyServer, LazyServer]:
    addresses = [bytes.fromhex(f"0000123400{i:02d}") for i in range(1, N + 1)]
    keys = diversified_mac_keys(MasterKeys.generate(1, os.urandom), addresses)
    schedule = TariffSchedule()  # four tariffs: arrays of five registers
    servers = []
    for fast in (True, False):
        fleet = LazyFleet(LoadModel.mixed(N, seed=4), addresses, keys, T0, schedule=schedule)
        server = LazyServer(fleet, fast=fast)
        server.ledger = ReadingLedger(addresses)
        servers.append(server)
    return addresses, servers[0], servers[1]


QUARTER, DAY = TI(1, 15), TI(3, 1)
LATER = T0 + 30 * 3600.0
REQUESTS: list[tuple[float, Structure]] = [
    (T0 + 130.0, GetRequestNormalList(1, REALTIME)),
    (T0 + 130.0, GetRequestNormalList(2, REALTIME)),  # a re-read: counted once
    (T0 + 3 * SLOT + 75.0, GetRequestNormalList(3, REALTIME[:3])),  # no date-time: no count
    (T0 + 3 * SLOT + 75.0, _record(0x5002, T0, T0 + 3 * SLOT + 1, QUARTER, FREEZE, *REALTIME[:2])),
    # 24 hours of curve: more rows than an answer holds (bounded)
    (LATER, _record(0x5002, T0 + 4 * 3600, LATER, QUARTER, FREEZE, *REALTIME[:3])),
    (LATER, _record(0x5004, T0, LATER, DAY, FREEZE, OAD(0x0010, 2, 0))),
    (LATER + 200, GetRequestNormalList(9, REALTIME[::-1])),
]
ELSEWHERE = [
    GetRequestNormalList(4, (OAD(0x0010, 2, 1), OAD(0x4000, 2, 0))),  # an element
    GetRequestNormalList(5, (OAD(0x3000, 2, 0), OAD(0x4000, 2, 0))),  # undefined: a DAR
    _record(0x5002, T0, T0 + SLOT, TI(1, 15), FREEZE, OAD(0x0010, 2, 2)),
    _record(0x5003, T0, T0 + SLOT, TI(1, 15), FREEZE, OAD(0x0010, 2, 0)),
]


def _frame(address: bytes, apdu: Structure) -> bytes:
    request = wrap_with_rn(apdu).to_bytes()
    return LinkFrame(Control(False, True), ServerAddress(address), 0x10, request).to_bytes()


def test_the_fast_answers_are_the_generic_frames_and_count_alike() -> None:
    addresses, fast, generic = _servers()
    for now, apdu in REQUESTS:
        fast.fleet.advance_to(now)
        assert lazy_answers.fast_answer(fast, 0, apdu, now) is not None
        for address in addresses:
            frame = _frame(address, apdu)
            assert fast.receive(frame, now) == generic.receive(frame, now)
    assert fast.ledger is not None and generic.ledger is not None
    assert fast.ledger.total == generic.ledger.total > 0
    assert fast.ledger.counts.tolist() == generic.ledger.counts.tolist()
    assert fast.ledger.checksum == generic.ledger.checksum


@pytest.mark.parametrize("apdu", ELSEWHERE)
def test_other_requests_go_the_generic_way(apdu: Structure) -> None:
    addresses, fast, generic = _servers()
    assert lazy_answers.fast_answer(fast, 0, apdu, T0 + SLOT) is None
    frame = _frame(addresses[0], apdu)
    assert fast.receive(frame, T0 + 2 * SLOT) == generic.receive(frame, T0 + 2 * SLOT)
