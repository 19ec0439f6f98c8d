"""Helpers for the assembled-meter tests: a DL/T 698.45 client wired to a meter's HPLC side."""

from __future__ import annotations

from typing import Any

from wattguard_testing import new_meter

from wattguard.meter.device import Meter
from wattguard.meter.metering.module import Measurement
from wattguard.protocol import OAD, OMD, ClientConnection, Data, Response, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.apdu.set import SetRequestNormal

ADDRESS = bytes.fromhex("000000000001")
T0 = 1_790_000_000.0  # 2026-09-21, a Monday
HOUSE = Measurement(voltage=229.5, current=8.7, active_power=1900.0, reactive_power=400.0)


class Client:
    """The terminal's side of one meter, over the meter's HPLC bytes."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.connection = ClientConnection(ServerAddress(meter.address))
        self._piid = 0

    def piid(self) -> int:
        self._piid = (self._piid + 1) % 64
        return self._piid

    def exchange(self, apdu: Structure, now: float) -> Structure:
        self.connection.send_request(apdu, now)
        self.meter.receive_data(self.connection.data_to_send(), now)
        self.connection.receive_data(self.meter.data_to_send(), now)
        event = self.connection.next_event()
        assert isinstance(event, Response), event
        answer: Structure = event.response
        return answer

    def get(self, oad: OAD, now: float = T0) -> Any:
        return self.exchange(GetRequestNormal(self.piid(), oad), now).result.result  # type: ignore[attr-defined]

    def set(self, oad: OAD, value: Data, now: float = T0) -> int:
        return int(self.exchange(SetRequestNormal(self.piid(), oad, value), now).dar)  # type: ignore[attr-defined]

    def action(self, omd: OMD, value: Data, now: float = T0) -> int:
        answer = self.exchange(ActionRequest(self.piid(), omd, value), now)
        return int(answer.result.dar)  # type: ignore[attr-defined]


def running_meter(**kwargs: Any) -> Meter:
    meter = new_meter(ADDRESS, **kwargs)
    meter.power_up(T0)
    for minute in range(60):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter
