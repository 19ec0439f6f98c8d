"""The links inside the meter: the in-memory wire with its fault hook, the MAC'd message
channel, and the two framings on it, SPI (metering to management) and UART (management to
and from expansion)."""

from wattguard.meter.links.channel import ChannelReceiver, ChannelSender
from wattguard.meter.links.link import Link, Manipulator
from wattguard.meter.links.spi import MessageType, SpiReceiver, SpiSender
from wattguard.meter.links.uart import Alarm, LocalRelay, UartMessage, UartReceiver, UartSender

__all__ = [
    "Alarm",
    "ChannelReceiver",
    "ChannelSender",
    "Link",
    "LocalRelay",
    "Manipulator",
    "MessageType",
    "SpiReceiver",
    "SpiSender",
    "UartMessage",
    "UartReceiver",
    "UartSender",
]
