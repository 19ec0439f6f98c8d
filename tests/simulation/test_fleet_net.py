"""Lazy and assembled meters behind one terminal: the terminal reads them alike, reports many
meters' records in one frame, and the station verifies every MAC and stores every reading."""

from __future__ import annotations

import os
from typing import Any

from wattguard.cipher.device import CryptoDevice
from wattguard.clock import VirtualClock
from wattguard.crypto import sm2
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventLog
from wattguard.network.bus import InProcessBus, down_subject, up_subject
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal, decode_item
from wattguard.network.terminal.scheme import NormalScheme, TaskConfig
from wattguard.protocol import CSD, OAD, OMD, Data, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.values import ROAD, TI
from wattguard.runtime.factory import factory_meter
from wattguard.simulation.fleet_net import FleetNet
from wattguard.simulation.lazy_fleet import LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.profile import LoadModel
from wattguard.station.collector import Collector
from wattguard.station.ingest import Reading

T0 = 1_780_000_000.0 - 1_780_000_000 % 86400
TERMINAL = bytes.fromhex("990000000007")
LAZY = 40
REALTIME = CollectionTask(
    "real-time", 900.0, (OAD(0x0010, 2, 0), OAD(0x2000, 2, 0), OAD(0x4000, 2, 0))
)
CURVE = CollectionTask(
    "curve", 900.0, (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0)), record=OAD(0x5002, 2, 0),
    interval=900.0, max_records=16,
)  # fmt: skip


def _protect(_address: bytes, request: Structure) -> Structure:
    return wrap_with_rn(request)


class District:
    def __init__(self, tasks: tuple[CollectionTask, ...] = (REALTIME, CURVE)) -> None:
        master = MasterKeys.generate(1, os.urandom)
        self.hsm = CryptoDevice(
            [master], ca_key=sm2.PrivateKey.generate(), clock=lambda: T0, random=os.urandom
        )
        self.clock = VirtualClock(T0)
        self.bus = InProcessBus()
        self.events = EventLog()
        self.stored: dict[tuple[str, str, int], float] = {}
        self.reports: list[ReportNotificationTransData] = []
        self.frames = 0
        channel = HplcChannel(seed=5)
        self.terminal = Terminal(
            TERMINAL, channel, tasks=tasks, protect=_protect, start=T0,
            batch_items=LAZY + 2, report_hold=120.0,
        )  # fmt: skip
        addresses = [bytes.fromhex(f"00000700{i:04d}") for i in range(1, LAZY + 1)]
        lazy = LazyFleet(
            LoadModel.mixed(LAZY, seed=11), addresses, diversified_mac_keys(master, addresses), T0
        )
        self.full = [factory_meter(bytes.fromhex(f"00000800{i:04d}"), self.hsm) for i in (1, 2)]
        for address in addresses + [m.address for m in self.full]:
            self.terminal.add_meter(address)
        self.net = FleetNet(
            self.terminal, channel, LazyServer(lazy), self.full,
            LoadModel.mixed(2, seed=12).source(), upstream=self._up,
        )  # fmt: skip
        self.bus.subscribe(down_subject(TERMINAL), lambda s, p: self.net.from_upstream(p))
        self.collector = Collector(self.bus, self.clock, self.hsm, self._store, events=self.events)
        self.net.power_up(T0)
        self.net.connected(T0)

        outbox = self.terminal.outbox
        send = outbox.next_report

        def watched(now: float) -> ReportNotificationTransData | None:
            report = send(now)
            if report is not None:
                self.reports.append(report)
            return report

        outbox.next_report = watched  # type: ignore[method-assign]

    def _up(self, data: bytes) -> None:
        self.clock.set_time(max(self.clock.time(), self.net.now))
        self.frames += len(_frames(data))
        self.bus.publish(up_subject(TERMINAL), data)

    def _store(self, readings: list[Reading]) -> None:
        for r in readings:
            self.stored[(r.meter, r.quantity, r.time)] = r.value


def _frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        length = int.from_bytes(data[1:3], "little") + 2
        out.append(decode_frame(data[:length]).to_bytes())
        data = data[length:]
    return out


def test_a_terminal_reports_many_meters_in_one_frame_and_the_station_stores_them_all() -> None:
    d = District()
    d.net.run_until(T0 + 3600 + 120)
    meters = {a.hex() for a in d.terminal.meters}
    assert len(meters) == LAZY + 2
    widest = max(d.reports, key=lambda r: len(r.data))
    in_one = {decode_item(item).meter for item in widest.data}
    # one REPORT-Notification-TransData (one APDU, in 1024-byte link fragments) carries every
    # meter's exchange of a collection round
    assert len(in_one) == LAZY + 2
    assert len(d.reports) <= 2 * 5 + 2  # two tasks, five rounds (and a straggler or two)
    assert d.frames < len(d.stored) / 3
    # every meter's real-time energy at every 15-minute read, verified and stored
    totals = {(m, t) for (m, q, t) in d.stored if q == "00100201"}
    assert {m for m, _ in totals} == meters
    assert len(totals) == (LAZY + 2) * 5
    # and the 15-minute curve of the lazy and assembled meters alike
    curve = {(m, t) for (m, q, t) in d.stored if q == "50020200/00100201"}
    assert {m for m, _ in curve} == meters
    assert all(t % 900 == 0 for _, t in curve)
    assert len(curve) >= (LAZY + 2) * 3
    assert not [e for e in d.events.events if "refused" in e.detail]
    assert d.hsm.verified >= len(totals)


def _configure(d: District, omd: OMD, units: list[Data]) -> int:
    answers: list[Any] = []
    d.collector.request(TERMINAL, lambda piid: ActionRequest(piid, omd, Data.array(*units)),
                        answers.append)  # fmt: skip
    d.net.run_until(d.net.now + 1)
    (answer,) = answers
    assert isinstance(answer, ActionResponseNormal)
    return int(answer.result.dar)


def test_the_station_configures_collection_with_6012_and_6014() -> None:
    d = District(tasks=())
    d.net.run_until(T0 + 600)
    assert not d.stored  # nothing to collect yet
    curve = NormalScheme(
        2,
        96,
        3,
        (CSD(ROAD(OAD(0x5002, 2, 0), (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0)))),),
        TI(1, 15),
    )
    current = NormalScheme(1, 1, 0, tuple(CSD(oad) for oad in REALTIME.oads))
    assert _configure(d, OMD(0x6014, 127, 0), [current.to_data(), curve.to_data()]) == 0
    tasks = [TaskConfig(1, TI(1, 15), 1), TaskConfig(2, TI(1, 15), 2)]
    assert _configure(d, OMD(0x6012, 127, 0), [t.to_data() for t in tasks]) == 0
    assert [t.name for t in d.terminal.tasks] == ["6012-1", "6012-2"]
    # a scheme the terminal cannot run is refused whole, and nothing changes
    bad = NormalScheme(3, 1, 0, (CSD(ROAD(OAD(0x5002, 2, 0), ())),))
    assert _configure(d, OMD(0x6014, 127, 0), [bad.to_data()]) == DAR.TYPE_MISMATCH
    assert sorted(d.terminal.schemes.schemes) == [1, 2]
    d.net.run_until(T0 + 3600 + 120)
    meters = {a.hex() for a in d.terminal.meters}
    assert {m for (m, q, _) in d.stored if q == "00100201"} == meters
    assert {m for (m, q, _) in d.stored if q == "50020200/00100201"} == meters
    # the station reads the tables back
    back: list[Any] = []
    d.collector.request(TERMINAL, lambda piid: GetRequestNormal(piid, OAD(0x6012, 2, 0)),
                        back.append)  # fmt: skip
    d.net.run_until(d.net.now + 1)
    table = back[0].result.result
    assert [TaskConfig.from_data(unit) for unit in table.value] == tasks
