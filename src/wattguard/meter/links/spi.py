"""The SPI link from the metering chip to the management module: an integrity-protected
channel (:mod:`wattguard.meter.links.channel`) with start byte A5 carrying metrology.

The metering chip sends a RESTART after power-up, then MEASUREMENT (the latest metrology
window), ENERGY (register snapshots), EVENT (power and tamper inputs it sees), HARMONICS (a
waveform window's harmonic content) and HARMONIC_ENERGY (fundamental and harmonic active
energy, beside each ENERGY) messages; the
management module refuses forged, altered and replayed ones and records a security event.
"""

from __future__ import annotations

import enum

from wattguard.events import EventSink
from wattguard.meter.links.channel import ChannelReceiver, ChannelSender, ReplayError

__all__ = ["MessageType", "ReplayError", "SpiReceiver", "SpiSender"]

START = 0xA5


class MessageType(enum.IntEnum):
    """The message types of the SPI link, metering chip to management module (see the module
    docstring); RESTART announces the chip's power-up."""

    RESTART = 0
    MEASUREMENT = 1
    ENERGY = 2
    EVENT = 3
    HARMONICS = 4
    HARMONIC_ENERGY = 5


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
