"""End to end in virtual time: meters, HPLC, a terminal, the FEP's checks, the bus and the
station's collector."""

from __future__ import annotations

from typing import Any

import numpy as np

from wattguard.clock import VirtualClock
from wattguard.events import EventLog
from wattguard.meter.device import MeterConfig
from wattguard.meter.management.relay import RelayState
from wattguard.network.bus import InProcessBus, down_subject, up_subject
from wattguard.network.fep import FepSession, FrameAdmitted
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import CollectionTask, Terminal
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
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.proxy import ProxyTransCommandRequest, ProxyTransCommandResponse
from wattguard.protocol.values import COMDCB
from wattguard.runtime.simulation import Neighbourhood
from wattguard.station.collector import Collector
from wattguard.station.ingest import PlainVerifier, Reading
from wattguard.testing import T0
from wattguard.testing.meter import new_meter

TERMINAL = bytes.fromhex("990000000001")
TASK = CollectionTask("real-time", 900.0, (OAD(0x0010, 2, 0),))


class Deployment:
    def __init__(self, n: int = 5) -> None:
        self.clock = VirtualClock(T0)
        self.bus = InProcessBus()
        self.events = EventLog()
        self.stored: dict[tuple[str, str, int], float] = {}
        self.channel = HplcChannel(seed=3)
        self.terminal = Terminal(TERMINAL, self.channel, tasks=(TASK,), start=T0)
        self.meters = [
            new_meter(bytes.fromhex(f"{i:012d}"), config=MeterConfig(protected=False))
            for i in range(1, n + 1)
        ]
        for meter in self.meters:
            self.terminal.add_meter(meter.address)
        self.fep = FepSession(TERMINAL, T0, events=self.events)
        self.net = Neighbourhood(
            self.terminal, self.channel, self.meters, self._load, upstream=self._up
        )
        self.net.on_step.append(lambda now: self.clock.set_time(now))
        self.bus.subscribe(down_subject(TERMINAL), lambda s, p: self.net.from_upstream(p))
        self.collector = self._station()
        self.net.power_up(T0)
        self.net.connected(T0)

    def _station(self) -> Collector:
        return Collector(
            self.bus, self.clock, PlainVerifier(), self._store, events=self.events,
            require_protection=False,
        )  # fmt: skip

    def restart_station(self) -> None:
        self.collector.close()
        self.collector = self._station()

    def _load(self, now: float, seconds: float) -> tuple[Any, Any]:
        n = len(self.meters)
        return np.full(n, 800.0), np.full(n, 100.0)

    def _up(self, data: bytes) -> None:
        self.clock.set_time(max(self.clock.time(), self.net.now))
        self.fep.receive_data(data, self.net.now)
        while (event := self.fep.next_event()) is not None:
            if isinstance(event, FrameAdmitted):
                self.bus.publish(up_subject(TERMINAL), event.frame.to_bytes())

    def _store(self, readings: list[Reading]) -> None:
        for r in readings:
            self.stored[(r.meter, r.quantity, r.time)] = r.value


def test_an_hour_of_readings_arrives_complete() -> None:
    d = Deployment()
    d.net.run_until(T0 + 3660)
    totals = {k for k in d.stored if k[1] == "00100201"}
    assert len(totals) == 5 * 5  # five meters, reads at 0, 15, 30, 45, 60 minutes
    assert d.collector.links[TERMINAL].logged_in
    assert d.fep.closed is None and d.fep.dropped == 0


def test_a_station_restart_loses_nothing() -> None:
    d = Deployment()
    d.net.run_until(T0 + 1000)
    d.restart_station()  # the new station knows no link state: the terminal's link carries on
    d.net.run_until(T0 + 2 * 3600 + 60)
    totals = {k for k in d.stored if k[1] == "00100201"}
    assert len(totals) == 5 * 9
    assert not d.terminal.outbox


def test_a_remote_trip_through_the_whole_chain() -> None:
    d = Deployment(2)
    d.net.run_until(T0 + 60)
    target = d.meters[1]
    frame = LinkFrame(
        Control(from_server=False, client_started=True),
        ServerAddress(target.address),
        0x10,
        ActionRequest(3, OMD(0x8000, 129, 0), Data(DataType.NULL, None)).to_bytes(),
    ).to_bytes()
    answers: list[Any] = []
    d.collector.request(
        TERMINAL,
        lambda piid: ProxyTransCommandRequest(
            piid, OAD(0xF209, 2, 1), COMDCB(6, 2, 8, 1, 0), 10, 1, frame
        ),
        answers.append,
    )
    d.net.run_until(T0 + 90)
    (answer,) = answers
    assert isinstance(answer, ProxyTransCommandResponse)
    assert decode_apdu(decode_frame(answer.answer).apdu).result.dar == 0  # type: ignore[attr-defined]
    d.net.run_until(T0 + 400)
    assert target.management.relay.state != RelayState.CLOSED
    assert d.meters[0].management.relay.state == RelayState.CLOSED
