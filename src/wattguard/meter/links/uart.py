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
                     P double-long 0.1 W, current double-long mA, neutral double-long mA
                     [, tariff unsigned: in force by the station's day table 4016]}
LOCAL_RELAY    E->M  enum: 0 alarm on, 1 alarm off, 2 trip (credit exhausted)
DEDUCT         E->M  structure {amount double-long-unsigned fen, energy double-long-unsigned Wh}
BALANCE        M->E  double-long fen
ALARM          E->M  structure {code enum, value double-long}
POWER_LIMIT    M->E  double-long-unsigned W (0: no limit), after an ESAM-verified command
RELAY_STATE    M->E  enum: 0 closed, 1 trip pending, 2 tripped, 3 close allowed
ALARM_LEVELS   M->E  structure {level 1, level 2} double-long-unsigned fen (401E, set remotely)
OVER_CURRENT   M->E  double-long-unsigned mA, the over-current alarm limit (3005, set remotely)
PRICES         M->E  array of double-long-unsigned 0.0001 yuan/kWh per tariff (4018, switched in)
MAY_EXPORT     M->E  bool: the customer may export (FF11, set remotely): no reverse-energy alarm
OVERDRAFT      M->E  double-long-unsigned fen, the overdraft limit (401F, set remotely)
PILE_ENERGY    E->M  structure {energy double-long-unsigned mWh the pile drew since the last
                     report, power double-long-unsigned W now} (kept as FF13 / FF14)
=============  ====  =====================================================================
"""

from __future__ import annotations

import enum

from wattguard.events import EventSink
from wattguard.meter.links.channel import ChannelReceiver, ChannelSender

__all__ = ["Alarm", "LocalRelay", "UartMessage", "UartReceiver", "UartSender"]

START = 0x7E


class UartMessage(enum.IntEnum):
    """The message types of the UART link (payloads and directions tabled in the module docstring);
    the management module accepts from the expansion module only those in ``FROM_EXPANSION``."""

    RESTART = 0
    FRAME = 1
    READINGS = 2
    LOCAL_RELAY = 3
    DEDUCT = 4
    BALANCE = 5
    ALARM = 6
    POWER_LIMIT = 7
    RELAY_STATE = 8
    ALARM_LEVELS = 9
    OVER_CURRENT = 10
    PRICES = 11
    MAY_EXPORT = 12
    OVERDRAFT = 13
    PILE_ENERGY = 14


class LocalRelay(enum.IntEnum):
    """What the expansion module's cost control asks of the relay in a LOCAL_RELAY message; the
    management module trips only if its own ESAM wallet agrees the credit is exhausted."""

    ALARM_ON = 0
    ALARM_OFF = 1
    TRIP = 2  #: the credit is exhausted


class Alarm(enum.IntEnum):
    """The code of an ALARM message from the expansion module's local monitoring; the management
    module logs it as a meter event (a suspected bypass is also a TAMPER security event)."""

    OVER_CURRENT = 1  #: value: the phase current, mA
    REVERSE_ENERGY = 2  #: value: the active power (negative), W, on a meter without generation
    BYPASS_SUSPECTED = 3  #: value: neutral minus phase current, mA
    CREDIT_LOW = 4
    PILE_OVER_LIMIT = 5
    DEVICE_CURTAILED = 6  #: value: W a device port was curtailed by the load distribution
    PILE_CURTAILED = 7  #: value: W the charging pile was curtailed by the load distribution


#: What the management module accepts from the expansion module (anything else is refused).
FROM_EXPANSION = frozenset(
    {UartMessage.RESTART, UartMessage.FRAME, UartMessage.LOCAL_RELAY, UartMessage.DEDUCT,
     UartMessage.ALARM, UartMessage.PILE_ENERGY}
)  # fmt: skip


class UartSender(ChannelSender):
    """The sending end of one direction of the UART link (start byte 7E): the management module's
    down to the expansion module, or the expansion module's up."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key, START)


class UartReceiver(ChannelReceiver[UartMessage]):
    """The receiving end of one direction of the UART link: checks each message's MAC and sequence
    number and records a security event for each one it refuses."""

    def __init__(
        self, key: bytes, events: EventSink, source: str = "UART", *, protected: bool = True
    ) -> None:
        super().__init__(key, events, source, START, UartMessage, protected=protected)
