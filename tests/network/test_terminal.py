"""The collection terminal with real meters behind a simulated HPLC channel, and a station
(a DL/T 698.45 client connection) above it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from wattguard.events import EventKind, EventLog
from wattguard.meter.device import Meter, MeterConfig
from wattguard.meter.management.relay import RelayState
from wattguard.network.hplc import Direction, HplcChannel, LinkProfile
from wattguard.network.terminal import (
    Collected,
    CollectionTask,
    Offline,
    Online,
    Terminal,
    decode_item,
    encode_item,
)
from wattguard.protocol import (
    OAD,
    OMD,
    ClientConnection,
    Control,
    Data,
    DataType,
    LinkFrame,
    Notification,
    Response,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionItem, ActionRequest
from wattguard.protocol.apdu.get import (
    GetRequestNormalList,
    GetRequestRecord,
    GetResponseNormalList,
)
from wattguard.protocol.apdu.proxy import (
    ProxyActionRequestList,
    ProxyActionResponseList,
    ProxyActionTarget,
    ProxyGetRequestList,
    ProxyGetResponseList,
    ProxyGetTarget,
    ProxyTransCommandRequest,
    ProxyTransCommandResponse,
)
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.values import COMDCB, TSA
from wattguard.runtime.simulation import Neighbourhood
from wattguard.testing import T0
from wattguard.testing.meter import new_meter

TERMINAL = bytes.fromhex("990000000001")
ENERGY = OAD(0x0010, 2, 0)
VOLTAGE = OAD(0x2000, 2, 0)
UNPROTECTED = MeterConfig(protected=False)
REALTIME = CollectionTask("real-time", 900.0, (ENERGY, VOLTAGE))


def meter_address(i: int) -> bytes:
    return bytes.fromhex(f"{i:012d}")


def flat_load(n: int) -> Callable[[float, float], tuple[Any, Any]]:
    def load(now: float, seconds: float) -> tuple[Any, Any]:
        return np.full(n, 1200.0), np.full(n, 300.0)

    return load


class Station:
    """The station's end of the terminal's upstream link (no transport: bytes are handed
    across at once, or dropped while ``up`` is False)."""

    def __init__(self) -> None:
        self.connection = ClientConnection(ServerAddress(TERMINAL), timeout=60.0)
        self.items: list[Collected] = []
        self.responses: list[Structure] = []
        self.up = True
        self.ack = True
        self.net: Neighbourhood | None = None

    def receive(self, data: bytes) -> None:
        if not self.up:
            return
        self.connection.receive_data(data, self.net.now if self.net is not None else 0.0)
        while (event := self.connection.next_event()) is not None:
            if isinstance(event, Notification) and isinstance(
                event.apdu, ReportNotificationTransData
            ):
                self.items.extend(decode_item(item) for item in event.apdu.data)
            elif isinstance(event, Response):
                self.responses.append(event.response)
        out = self.connection.data_to_send()
        if out and self.ack and self.net is not None:
            self.net.from_upstream(out)

    def request(self, apdu: Structure) -> None:
        assert self.net is not None
        self.connection.send_request(apdu, self.net.now)
        self.net.from_upstream(self.connection.data_to_send())


def build(
    n: int = 3,
    *,
    tasks: tuple[CollectionTask, ...] = (REALTIME,),
    profile: LinkProfile | None = None,
    config: MeterConfig = UNPROTECTED,
    events: EventLog | None = None,
    seed: int = 1,
) -> tuple[Neighbourhood, Station, list[Meter]]:
    channel = HplcChannel(seed=seed, default=profile)
    terminal = Terminal(TERMINAL, channel, tasks=tasks, start=T0, events=events)
    meters = [new_meter(meter_address(i + 1), config=config) for i in range(n)]
    for meter in meters:
        terminal.add_meter(meter.address)
    station = Station()
    net = Neighbourhood(terminal, channel, meters, flat_load(n), upstream=station.receive)
    station.net = net
    net.power_up(T0)
    net.connected(T0)
    return net, station, meters


def energy_reads(station: Station) -> dict[bytes, list[float]]:
    reads: dict[bytes, list[float]] = {}
    for item in station.items:
        if not item.request:
            continue
        request = decode_apdu(item.request)
        answer = decode_apdu(item.response)
        assert isinstance(request, GetRequestNormalList)
        assert isinstance(answer, GetResponseNormalList)
        assert answer.piid & 0x3F == request.piid & 0x3F
        reads.setdefault(item.meter, []).append(item.at)
    return reads


def test_item_round_trip_and_malformed_items() -> None:
    item = Collected(meter_address(7), T0, b"\x05\x01\x01", b"\x85\x01\x01")
    assert decode_item(encode_item(item)) == item
    report = Collected(meter_address(7), T0, b"", b"\x88\x01")
    assert decode_item(encode_item(report)) == report
    with pytest.raises(Exception, match="shorter"):
        decode_item(b"\x00" * 5)
    with pytest.raises(Exception, match="runs past"):
        decode_item(encode_item(item)[:13])


def test_logs_in_collects_every_meter_and_forwards_the_exchanges_as_they_travelled() -> None:
    net, station, meters = build()
    assert net.terminal.online
    net.run_until(T0 + 3660)
    reads = energy_reads(station)
    assert set(reads) == {m.address for m in meters}
    # a read at start and every 15 minutes: 0, 900, 1800, 2700, 3600
    assert all(len(times) == 5 for times in reads.values()), reads
    # the energy the station received is what the meter metered
    last = [i for i in station.items if i.meter == meters[0].address][-1]
    answer = decode_apdu(last.response)
    assert isinstance(answer, GetResponseNormalList)
    energy = answer.results[0].result.value[0].value  # total, 0.01 kWh
    metered = meters[0].management.registers.combined_active()[0] / 3600 / 1000 * 100
    assert abs(energy - int(metered)) <= 2
    assert not net.terminal.outbox


def test_store_and_forward_through_a_wan_outage_loses_nothing() -> None:
    net, station, meters = build()
    net.run_until(T0 + 600)
    station.up = False
    net.terminal.receive_data(b"", net.now)  # the transport dropped
    assert list(iter(net.terminal.next_event, None)) == [Online(T0), Offline(T0 + 600)]
    net.run_until(T0 + 600 + 2 * 3600)  # two hours without the station
    assert len(net.terminal.outbox) >= 3 * 8
    station.up = True
    station.connection = ClientConnection(ServerAddress(TERMINAL), timeout=60.0)
    net.terminal.connected(net.now)
    net.run_until(T0 + 3 * 3600 + 60)
    reads = energy_reads(station)
    # every 15-minute read of three hours (0 .. 10800 s) arrived, each exactly once
    for address in (m.address for m in meters):
        assert sorted(reads[address]) == [T0 + 900 * k for k in range(13)]
    assert not net.terminal.outbox


def test_unacknowledged_batches_are_sent_again_and_nothing_is_lost() -> None:
    net, station, meters = build()
    station.ack = False  # the acknowledgements are lost on the way back
    net.run_until(T0 + 1000)
    assert not net.terminal.online or net.terminal.outbox.in_flight
    station.ack = True
    net.terminal.receive_data(b"", net.now)  # the terminal notices, reconnects
    station.connection = ClientConnection(ServerAddress(TERMINAL), timeout=60.0)
    net.terminal.connected(net.now)
    net.run_until(T0 + 3660)
    reads = energy_reads(station)
    assert set(reads) == {m.address for m in meters}
    for times in reads.values():
        assert set(times) == {T0 + 900 * k for k in range(5)}  # each read at least once
    assert not net.terminal.outbox and not net.terminal.outbox.in_flight


def test_record_task_catches_up_on_the_window_a_lost_read_missed() -> None:
    curve = CollectionTask("curve", 900.0, (), record=OAD(0x5002, 2, 0), interval=900.0)
    dropping = {"on": True}
    net, station, _meters = build(1, tasks=(curve,))

    def manipulate(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
        return [] if dropping["on"] else [data]

    net.channel.manipulate = manipulate
    net.run_until(T0 + 3 * 3600)  # the meter is unreachable for three hours
    assert station.items == []
    dropping["on"] = False
    net.run_until(T0 + 4 * 3600 + 60)
    windows = []
    for item in station.items:
        request = decode_apdu(item.request)
        assert isinstance(request, GetRequestRecord)
        start, end = (request.record.rows.fields[k].value.to_posix() for k in (1, 2))
        windows.append((start, end))
    # contiguous windows from the start: nothing skipped, nothing read twice
    assert windows[0][0] == T0 // 900 * 900
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end == start - 900 + 1  # [a, b + 1) then [b + 900, ...): no gap, no overlap
    # up to the last quarter-hour boundary, that one included (the window ends 1 s after it)
    assert windows[-1][1] == (T0 + 4 * 3600) // 900 * 900 + 1
    assert len(windows) >= 4  # caught up in slices of at most max_records intervals


def test_collection_survives_twenty_percent_hplc_loss() -> None:
    net, station, meters = build(4, profile=LinkProfile(loss=0.2), seed=7)
    net.run_until(T0 + 6 * 3600)
    assert net.channel.lost > 0
    reads = energy_reads(station)
    assert set(reads) == {m.address for m in meters}
    # real-time reads that were lost are not invented: but most got through
    assert sum(len(t) for t in reads.values()) >= 0.5 * 4 * 25


def test_proxy_get_reads_meters_for_the_station_and_reports_an_unknown_one() -> None:
    net, station, meters = build(2, tasks=())
    net.run_until(T0 + 120)
    stranger = TSA(meter_address(99))
    targets = (
        ProxyGetTarget(TSA(meters[0].address), 10, (ENERGY,)),
        ProxyGetTarget(stranger, 10, (VOLTAGE,)),
        ProxyGetTarget(TSA(meters[1].address), 10, (VOLTAGE,)),
    )
    station.request(ProxyGetRequestList(5, 30, targets))
    net.run_until(T0 + 130)
    (answer,) = station.responses
    assert isinstance(answer, ProxyGetResponseList)
    assert [a.tsa for a in answer.answers] == [t.tsa for t in targets]
    assert isinstance(answer.answers[0].results[0].result, Data)
    assert answer.answers[1].results[0].result == 27  # DAR address abnormal: not ours
    volts = answer.answers[2].results[0].result.value[0].value / 10
    assert 220 < volts < 240  # what the fleet fed the meter: 1.04 x 220 V with a little spread


def test_proxy_action_and_transparent_command_reach_the_relay() -> None:
    net, station, meters = build(2, tasks=())
    net.run_until(T0 + 60)
    trip = ActionItem(OMD(0x8000, 129, 0), Data(DataType.NULL, None))
    station.request(
        ProxyActionRequestList(6, 30, (ProxyActionTarget(TSA(meters[0].address), 10, (trip,)),))
    )
    net.run_until(T0 + 70)
    answer = station.responses.pop()
    assert isinstance(answer, ProxyActionResponseList)
    assert answer.answers[0].results[0].dar == 0
    net.run_until(T0 + 200)
    assert meters[0].management.relay.state != RelayState.CLOSED

    frame = LinkFrame(
        Control(from_server=False, client_started=True),
        ServerAddress(meters[1].address),
        0x10,
        ActionRequest(9, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes(),
    ).to_bytes()
    station.request(
        ProxyTransCommandRequest(7, OAD(0xF209, 2, 1), COMDCB(6, 2, 8, 1, 0), 10, 1, frame)
    )
    net.run_until(T0 + 210)
    answer = station.responses.pop()
    assert isinstance(answer, ProxyTransCommandResponse)
    reply = decode_frame(answer.answer)
    assert reply.address.address == meters[1].address
    assert decode_apdu(reply.apdu).result.dar == 0  # type: ignore[attr-defined]
    net.run_until(T0 + 400)
    assert meters[1].management.relay.state != RelayState.CLOSED


def test_transparent_command_to_a_silent_meter_times_out_with_a_dar() -> None:
    net, station, meters = build(1, tasks=())
    net.channel.manipulate = lambda d, a, data: []
    frame = LinkFrame(
        Control(from_server=False, client_started=True),
        ServerAddress(meters[0].address),
        0x10,
        ActionRequest(9, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes(),
    ).to_bytes()
    station.request(
        ProxyTransCommandRequest(7, OAD(0xF209, 2, 1), COMDCB(6, 2, 8, 1, 0), 10, 1, frame)
    )
    net.run_until(T0 + 60)
    answer = station.responses.pop()
    assert isinstance(answer, ProxyTransCommandResponse)
    assert answer.answer == 33


def test_meter_reports_are_relayed_and_unknown_meters_recorded() -> None:
    events = EventLog()
    net, station, meters = build(
        1, tasks=(), config=MeterConfig(protected=False, active_reports=True), events=events
    )
    meters[0].management.cover_opened(T0 + 10)
    net.run_until(T0 + 120)
    reports = [i for i in station.items if not i.request]
    assert reports and reports[0].meter == meters[0].address
    assert decode_apdu(reports[0].response).results  # type: ignore[attr-defined]
    net.terminal.receive_hplc(meter_address(42), b"\x68\x00", T0 + 130)
    assert any(e.kind == EventKind.UNAUTHORISED for e in events.events)


def test_tasks_can_be_replaced_while_running() -> None:
    net, station, _meters = build(2)
    net.run_until(T0 + 600)
    curve = CollectionTask("curve", 900.0, (), record=OAD(0x5002, 2, 0), interval=900.0)
    net.terminal.tasks = (curve,)  # the real-time task goes, a curve task comes
    net.run_until(T0 + 3 * 3600)  # no leftover timer of the old task stalls the loop
    kinds = {type(decode_apdu(item.request)).__name__ for item in station.items if item.request}
    assert kinds == {"GetRequestNormalList", "GetRequestRecord"}
