"""Freeze records against ``dlt698``, an independent DL/T 698.45 implementation (extra
``interop``): its GET-Request-Record bytes drive our freezer, its decoder reads our
GET-Response-Record and its checker accepts it, its own record store selects the same rows
from the same data, and its client reads a running meter's day freezes over TCP."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from wattguard.clock import VirtualClock
from wattguard.meter.device import MeterConfig
from wattguard.meter.management.freeze import (
    FreezeAssociation,
    FreezeObject,
    Freezer,
    expose_freezes,
)
from wattguard.protocol import OAD, Data, DataType, DateTimeS, decode_apdu
from wattguard.protocol.apdu.get import GetRequestRecord, GetResponseRecord
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.runtime import MeterServer
from wattguard.testing import ADDRESS, HOUSE, T0
from wattguard.testing.meter import new_meter
from wattguard.testing.services import require

try:
    import dlt698
    from dlt698 import _native as native
    from dlt698 import codec
    from dlt698 import standard as their
except ImportError:  # pragma: no cover - the interop extra is missing
    dlt698 = None

DAY0 = 1_789_948_800  # 2026-09-21 00:00
ENERGY = OAD(0x0010, 2)


@pytest.fixture(scope="module", autouse=True)
def _needs_dlt698() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")


def oad(value: OAD) -> Any:
    return native.Oad(oi=value.oi, attribute=value.attribute, index=value.element)


def theirs(value: Data) -> Any:
    return codec.decode_data(value.to_bytes())


def ours(value: Any) -> Data:
    return read_data(Reader(bytes(codec.encode_data(value))))


def stamp(posix: int) -> Any:
    return theirs(Data(DataType.DATE_TIME_S, DateTimeS.from_posix(posix)))


class Registers:
    def __init__(self) -> None:
        self.day = 0

    def read(self, attribute: OAD) -> Data:
        return Data.array(*(Data(DataType.DOUBLE_LONG_UNSIGNED, 1000 * self.day + i)
                            for i in range(5)))  # fmt: skip


@pytest.fixture(scope="module")
def ten_days() -> tuple[Freezer, Any]:
    """Our day freezes of ten days, and dlt698's record store holding the same rows."""
    registers = Registers()
    entries = [FreezeAssociation(1, ENERGY, 62)]
    freezer = Freezer(registers.read, associations={FreezeObject.DAY: entries})
    for day in range(10):
        registers.day = day
        freezer.step(DAY0 + 86400 * day + 5)
    table = freezer.table(FreezeObject.DAY)
    store = native.MemoryRecords.create(0x5004, [oad(column) for column in table.columns()])
    rows = [
        [theirs(Data(DataType.DOUBLE_LONG_UNSIGNED, int(table.seqs()[row]))),
         stamp(int(table.times()[row])), theirs(table.cell(row, ENERGY))]
        for row in range(10)
    ]  # fmt: skip
    store.replace_rows(rows)
    return freezer, store


def serve(freezer: Freezer, query: Any) -> tuple[bytes, Any]:
    """Their request bytes through our freezer; our answer bytes and their reading of them."""
    request = bytes(codec.encode_apdu(native.GetRecordRequest(piid=5, records=[query])))
    apdu = decode_apdu(request)
    assert isinstance(apdu, GetRequestRecord)
    answer = GetResponseRecord(apdu.piid, freezer.records(apdu.record)).to_bytes()
    decoded = codec.decode_apdu(answer)
    (result,) = decoded.records
    return answer, result


def rows_of(result: Any) -> list[list[Data]]:
    return [[ours(cell) for cell in row] for row in result.result]


def columns_of(result: Any) -> list[tuple[int, int, int]]:
    return [(c.oi, c.attribute, c.index) for c in result.columns]


SAME_SELECTIONS = [
    ("selector 9, last", lambda: native.Selector9(previous=1), []),
    ("selector 9, 4th last", lambda: native.Selector9(previous=4), [ENERGY]),
    ("selector 9, too far", lambda: native.Selector9(previous=40), []),
    (
        "selector 1, a freeze time",
        lambda: native.Selector1(attribute=oad(OAD(0x2021, 2)), value=stamp(DAY0 + 3 * 86400)),
        [OAD(0x2021, 2), ENERGY],
    ),
    (
        "selector 1, a record number",
        lambda: native.Selector1(
            attribute=oad(OAD(0x2023, 2)), value=theirs(Data(DataType.DOUBLE_LONG_UNSIGNED, 7))
        ),
        [],
    ),
    (
        "selector 2, three days",
        lambda: native.Selector2(
            attribute=oad(OAD(0x2021, 2)),
            begin=stamp(DAY0 + 2 * 86400),
            end=stamp(DAY0 + 5 * 86400),
            interval=theirs(Data(DataType.NULL)),
        ),
        [ENERGY, OAD(0x2023, 2)],
    ),
]


@pytest.mark.parametrize(("name", "selector", "columns"), SAME_SELECTIONS, ids=lambda x: x)
def test_dlt698s_record_store_selects_what_we_select(
    ten_days: tuple[Freezer, Any], name: str, selector: Any, columns: list[OAD]
) -> None:
    freezer, store = ten_days
    query = their.make_record_query(0x5004, selector(), [oad(c) for c in columns])
    _, result = serve(freezer, query)
    reference = store.read_record(query)
    assert columns_of(result) == columns_of(reference)
    assert rows_of(result) == rows_of(reference)
    their.validate_record_result(query, result)


def test_dlt698_reads_our_answers_to_the_selectors_its_store_does_not_serve(
    ten_days: tuple[Freezer, Any],
) -> None:
    freezer, _ = ten_days
    last_three = their.make_record_query(0x5004, native.Selector10(latest=3), [])
    _, result = serve(freezer, last_three)
    their.validate_record_result(last_three, result)
    assert [row[0].value for row in rows_of(result)] == [8, 9, 10]
    every_other_day = native.Selector2(
        attribute=oad(OAD(0x2021, 2)),
        begin=stamp(DAY0),
        end=stamp(DAY0 + 10 * 86400),
        interval=codec.decode_data(bytes.fromhex("54030002")),  # TI: 2 days
    )
    query = their.make_record_query(0x5004, every_other_day, [oad(ENERGY)])
    _, result = serve(freezer, query)
    their.validate_record_result(query, result)
    assert [row[0].value[0].value for row in rows_of(result)] == [0, 2000, 4000, 6000, 8000]


def read_over_tcp(port: int, query: Any) -> Any:
    options = native.ClientOptions(
        protocol=native.SessionOptions(
            server=native.ServerAddress(
                bytes=ADDRESS[::-1], logical=0, type=native.AddressType.single
            ),
            request_timeout=5.0,
        ),
        transport_timeout=5.0,
    )
    client = dlt698.Client(options)
    try:
        client.connect_tcp("127.0.0.1", port, native.ConnectionProfile.local_public)
        return client.get_record(query)
    finally:
        client.close()


def test_a_dlt698_client_reads_the_day_freezes_of_a_running_meter() -> None:
    meter = new_meter(ADDRESS, config=MeterConfig(protected=False))
    management = meter.management
    freezer = Freezer(management.model.get)
    expose_freezes(management.model, freezer, management.calendar)
    start = T0 - T0 % 86400 + 86400 - 120  # two minutes before midnight
    meter.power_up(start)
    for minute in range(4):
        now = start + 60 * minute + 1
        meter.measure(HOUSE, 60.0, now)
        meter.handle_timer(now)
        freezer.step(management.calendar())
    query = their.make_record_query(0x5004, native.Selector9(previous=1), [])

    async def scenario() -> Any:
        server = MeterServer(meter, VirtualClock(meter.now))
        port = await server.start()
        out: list[Any] = []
        thread = threading.Thread(target=lambda: out.append(read_over_tcp(port, query)))
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.02)
        await server.close()
        return out[0]

    result = asyncio.run(scenario())
    assert management.violations == []
    their.validate_record_result(query, result)
    # the day freeze holds the maximum demand too (1010), now that the meter exposes it
    ((number, moment, forward, reverse, demand),) = rows_of(result)
    assert demand.type == DataType.ARRAY and len(demand.value) == 5
    assert number == Data(DataType.DOUBLE_LONG_UNSIGNED, 1)
    assert moment.value.hour == moment.value.minute == 0
    # frozen one second past midnight, after three minutes at 1900 W: 95 Wh, 9 x 0.01 kWh
    assert forward.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 1900 * 3 * 60 // 36_000)
    assert reverse.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 0)
