"""A DL/T 698.45 client on one meter's power line, and a meter that has run for an hour."""

from __future__ import annotations

import os
from typing import Any

from wattguard.meter.device import Meter
from wattguard.meter.management.module import LinkKeys
from wattguard.protocol import OAD, OMD, Apdu, ClientConnection, Data, Response, ServerAddress
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.apdu.set import SetRequestNormal
from wattguard.testing import ADDRESS, HOUSE, T0

__all__ = ["Line", "new_meter", "running_meter"]


class Line:
    """The station's (the terminal's, an attacker's) end of one meter's power line: a 698
    client that hands each request frame to the meter's HPLC side and reads the answer.

    ``sent`` keeps every frame sent, as evidence for a report.
    """

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.connection = ClientConnection(ServerAddress(meter.address))
        self.sent: list[bytes] = []
        self._piid = 0

    def piid(self) -> int:
        """The next PIID (0-63), for callers that do not number requests themselves."""
        self._piid = (self._piid + 1) % 64
        return self._piid

    def exchange(self, apdu: Structure, now: float = T0) -> Apdu:
        """Send ``apdu`` at ``now``; the meter's answer (RuntimeError if it gave none)."""
        self.connection.send_request(apdu, now)
        frame = self.connection.data_to_send()
        self.sent.append(frame)
        self.meter.receive_data(frame, now)
        self.connection.receive_data(self.meter.data_to_send(), now)
        event = self.connection.next_event()
        if not isinstance(event, Response):
            raise RuntimeError(f"the meter did not answer: {event}")
        answer: Apdu = event.response
        return answer

    def get(self, oad: OAD, now: float = T0) -> Any:
        """GET ``oad``: the answer's result (a Data, or a DAR)."""
        return self.exchange(GetRequestNormal(self.piid(), oad), now).result.result  # type: ignore[attr-defined]

    def set(self, oad: OAD, value: Data, now: float = T0) -> int:
        """SET ``oad`` to ``value``: the DAR."""
        return int(self.exchange(SetRequestNormal(self.piid(), oad, value), now).dar)  # type: ignore[attr-defined]

    def action(self, omd: OMD, value: Data, now: float = T0) -> int:
        """ACTION ``omd`` with ``value``: the DAR."""
        answer = self.exchange(ActionRequest(self.piid(), omd, value), now)
        return int(answer.result.dar)  # type: ignore[attr-defined]


def new_meter(address: bytes = ADDRESS, **options: Any) -> Meter:
    """A meter as provisioning makes one: fresh link keys and the OS's random bytes, unless
    ``options`` name others (``keys=``, ``random=``); the other options go to :class:`Meter`."""
    options.setdefault("keys", LinkKeys.generate(os.urandom))
    options.setdefault("random", os.urandom)
    return Meter(address, **options)


def running_meter(address: bytes = ADDRESS, **kwargs: Any) -> Meter:
    """A meter powered up at :data:`T0` that has measured an hour of :data:`HOUSE`."""
    meter = new_meter(address, **kwargs)
    meter.power_up(T0)
    for minute in range(60):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter
