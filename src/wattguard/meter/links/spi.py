"""The SPI link from the metering chip to the management module: an integrity-protected
channel (:mod:`wattguard.meter.links.channel`) with start byte A5 carrying metrology.

The metering chip sends a RESTART after power-up, then MEASUREMENT (the latest metrology
window), ENERGY (register snapshots), EVENT (power and tamper inputs it sees), HARMONICS (a
waveform window's harmonic content) and HARMONIC_ENERGY (fundamental and harmonic active
energy, beside each ENERGY) messages; the
management module refuses forged, altered and replayed ones and records a security event.
DEMAND carries the demand the chip computed, each time its sliding window moves.

The other direction (start byte 5A, the same key: the start byte is under the MAC, so a
message cannot be turned around) carries the management module's configuration of the chip:
a RESTART after the management module's power-up, then DEMAND_PERIOD, two bytes: the period
and the slip time in minutes (objects 4100/4101 as the station set them).
"""

from __future__ import annotations

import enum

from wattguard.events import EventSink
from wattguard.meter.links.channel import ChannelReceiver, ChannelSender, ReplayError

__all__ = [
    "ConfigReceiver",
    "ConfigSender",
    "ConfigType",
    "MessageType",
    "ReplayError",
    "SpiReceiver",
    "SpiSender",
]

START = 0xA5
CONFIG_START = 0x5A


class MessageType(enum.IntEnum):
    """The message types of the SPI link, metering chip to management module (see the module
    docstring); RESTART announces the chip's power-up."""

    RESTART = 0
    MEASUREMENT = 1
    ENERGY = 2
    EVENT = 3
    HARMONICS = 4
    HARMONIC_ENERGY = 5
    DEMAND = 6


class ConfigType(enum.IntEnum):
    """The message types of the SPI link's configuration direction, management module to
    metering chip."""

    RESTART = 0
    DEMAND_PERIOD = 1


class SpiSender(ChannelSender):
    """The metering chip's end."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key, START)


class SpiReceiver(ChannelReceiver[MessageType]):
    """The management module's end."""

    def __init__(
        self, key: bytes, events: EventSink, source: str = "SPI", *, protected: bool = True
    ) -> None:
        super().__init__(key, events, source, START, MessageType, protected=protected)


class ConfigSender(ChannelSender):
    """The management module's end of the configuration direction."""

    def __init__(self, key: bytes) -> None:
        super().__init__(key, CONFIG_START)

    def demand(self, period_minutes: int, slip_minutes: int) -> bytes:
        """A DEMAND_PERIOD message (4100 and 4101 as the station set them)."""
        payload = bytes((period_minutes, slip_minutes))
        return self.encode(ConfigType.DEMAND_PERIOD, payload)


class ConfigReceiver(ChannelReceiver[ConfigType]):
    """The metering chip's end of the configuration direction."""

    def __init__(
        self, key: bytes, events: EventSink, source: str = "SPI", *, protected: bool = True
    ) -> None:
        super().__init__(key, events, source, CONFIG_START, ConfigType, protected=protected)
