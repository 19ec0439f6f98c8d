"""A collection task can cover only some meters (those with a charging pile): the terminal
reads the pile's energy (FF13) in their 15-minute curve and leaves the others alone; the
station sets such a task with a 6014 scheme whose meter set is a list of addresses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from wattguard.meter.device import MeterConfig
from wattguard.meter.management.pile_energy import PILE_ENERGY, fit_pile
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Collected, CollectionTask, Terminal, decode_item
from wattguard.network.terminal.scheme import NormalScheme, TaskConfig, collection_task
from wattguard.protocol import (
    CSD,
    MS,
    OAD,
    ClientConnection,
    Data,
    DataType,
    Notification,
    ServerAddress,
    decode_apdu,
)
from wattguard.protocol.apdu.get import GetResponseRecord
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.data import MSChoice
from wattguard.protocol.values import ROAD, TI
from wattguard.runtime.simulation import Neighbourhood
from wattguard.testing import T0
from wattguard.testing.meter import new_meter

TERMINAL = bytes.fromhex("990000000007")

PILE_CURVE_COLUMNS = (OAD(0x2021, 2, 0), OAD(PILE_ENERGY, 2, 0))


def _net(n: int) -> tuple[Neighbourhood, list[Collected], list[Any]]:
    """A terminal over ``n`` unprotected meters, its relayed exchanges collected."""
    channel = HplcChannel(seed=3)
    terminal = Terminal(TERMINAL, channel, start=T0)
    meters = [new_meter(bytes.fromhex(f"{i:012d}"), config=MeterConfig(protected=False))
              for i in range(1, n + 1)]  # fmt: skip
    for meter in meters:
        terminal.add_meter(meter.address)
    items: list[Collected] = []
    station = ClientConnection(ServerAddress(TERMINAL), timeout=60.0)

    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(n, 1200.0), np.full(n, 300.0)

    def upstream(data: bytes) -> None:
        station.receive_data(data, net.now)
        while (event := station.next_event()) is not None:
            if isinstance(event, Notification) and isinstance(
                event.apdu, ReportNotificationTransData
            ):
                items.extend(decode_item(item) for item in event.apdu.data)
        net.from_upstream(station.data_to_send())

    net = Neighbourhood(terminal, channel, meters, load, upstream=upstream)
    net.power_up(T0)
    net.connected(T0)
    return net, items, meters


def test_a_task_for_the_pile_meters_reads_only_them() -> None:
    net, items, meters = _net(3)
    pile = meters[1]
    fit_pile(pile.management.freezer)
    task = CollectionTask(
        "pile curve", 900.0, PILE_CURVE_COLUMNS, record=OAD(0x5002, 2, 0), interval=900.0,
        max_records=16, meters=frozenset({pile.address}),
    )  # fmt: skip
    net.terminal.add_task(task)
    net.run_until(T0 + 3 * 3600)
    records = [i for i in items if i.request and b"\x50\x02" in i.request]
    assert records and {i.meter for i in records} == {pile.address}
    answer = decode_apdu(records[-1].response)
    assert isinstance(answer, GetResponseRecord)
    assert answer.result.columns.columns[1].column == OAD(PILE_ENERGY, 2, 0)


def test_a_scheme_names_its_meters_by_address() -> None:
    piles = frozenset({bytes.fromhex("000001000002"), bytes.fromhex("000001000005")})
    road = ROAD(OAD(0x5002, 2, 0), PILE_CURVE_COLUMNS)
    scheme = NormalScheme(4, 96, 3, (CSD(road),), TI(1, 15), piles)
    again = NormalScheme.from_data(scheme.to_data())
    assert again == scheme
    meter_set = scheme.to_data().value[4]
    assert meter_set.type == DataType.MS and meter_set.value.choice == MSChoice.ADDRESSES
    task = collection_task(TaskConfig(4, TI(1, 15), 4), again)
    assert task.meters == piles and task.covers(bytes.fromhex("000001000005"))
    assert not task.covers(bytes.fromhex("000001000001"))
    everyone = NormalScheme(5, 96, 3, (CSD(road),), TI(1, 15))
    assert collection_task(TaskConfig(5, TI(1, 15), 5), everyone).meters is None
    fields = list(scheme.to_data().value)
    fields[4] = Data(DataType.MS, MS(MSChoice.ADDRESSES, ()))
    with pytest.raises(ValueError, match="list of addresses"):
        NormalScheme.from_data(Data.structure(*fields))
