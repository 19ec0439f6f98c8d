"""The UART link between the management module and the expansion module, both ways: an
integrity-protected channel (:mod:`wattguard.meter.links.channel`) with start byte 7E.

The expansion module is the least trusted part of the meter: it holds the HPLC modem and the
user-device port, so whatever arrives from outside passes through it. The channel's MAC keeps a
probe on the UART wires from injecting or altering messages; what a (possibly compromised)
expansion module may *ask* is limited by the management module, which accepts only these
message types from it and checks each (see ``management.py``).

Payloads are DL/T 698.45 Data unless said otherwise:

=============  ====  =====================================================================
type           dir   payload
=============  ====  =====================================================================
FRAME          both  a DL/T 698.45 link frame, raw bytes (HPLC or user-port traffic)
READINGS       M->E  structure {time double-long-unsigned s, forward Wh long64-unsigned,
                     P double-long 0.1 W, current double-long mA, neutral double-long mA}
LOCAL_RELAY    E->M  enum: 0 alarm on, 1 alarm off, 2 trip (credit exhausted)
DEDUCT         E->M  structure {amount double-long-unsigned fen, energy double-long-unsigned Wh}
BALANCE        M->E  double-long fen
ALARM          E->M  structure {code enum, value double-long}
POWER_LIMIT    M->E  double-long-unsigned W (0: no limit), after an ESAM-verified command
RELAY_STATE    M->E  enum: 0 closed, 1 trip pending, 2 tripped, 3 close allowed
=============  ====  =====================================================================
"""

from __future__ import annotations

import enum

from wattguard.events import EventSink
from wattguard.meter.links.channel import ChannelReceiver, ChannelSender

__all__ = ["Alarm", "LocalRelay", "UartMessage", "UartReceiver", "UartSender"]

START = 0x7E


class UartMessage(enum.IntEnum):
    RESTART = 0
    FRAME = 1
    READINGS = 2
    LOCAL_RELAY = 3
    DEDUCT = 4
    BALANCE = 5
    ALARM = 6
    POWER_LIMIT = 7
    RELAY_STATE = 8


class LocalRelay(enum.IntEnum):
    ALARM_ON = 0
    ALARM_OFF = 1
    TRIP = 2


class Alarm(enum.IntEnum):
    OVER_CURRENT = 1
    REVERSE_ENERGY = 2
    BYPASS_SUSPECTED = 3
    CREDIT_LOW = 4
    PILE_OVER_LIMIT = 5


#: What the management module accepts from the expansion module (anything else is refused).
FROM_EXPANSION = frozenset(
    {UartMessage.RESTART, UartMessage.FRAME, UartMessage.LOCAL_RELAY, UartMessage.DEDUCT,
     UartMessage.ALARM}
)  # fmt: skip


class UartSender(ChannelSender):
    def __init__(self, key: bytes) -> None:
        super().__init__(key, START)


class UartReceiver(ChannelReceiver[UartMessage]):
    def __init__(
        self, key: bytes, events: EventSink, source: str = "UART", *, protected: bool = True
    ) -> None:
        super().__init__(key, events, source, START, UartMessage, protected=protected)
