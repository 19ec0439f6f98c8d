"""wattguard.network: the smart power network between meters and the master station: the
HPLC channel, collection terminals, front-end processors, the WAN secure channel and its PKI,
the bus and its signed envelopes. Sans-IO cores; sockets live in ``wattguard.runtime``."""

from wattguard.network import pki as pki
from wattguard.network import wan as wan
from wattguard.network.bus import Bus, InProcessBus
from wattguard.network.channel import PlainChannel, WanChannel
from wattguard.network.fep import ConnectionGate, FepLimits, FepSession
from wattguard.network.hplc import Delivery, Direction, HplcChannel, LinkProfile
from wattguard.network.sealed_bus import BusDirectory, BusIdentity, SealedBus
from wattguard.network.terminal import Collected, CollectionTask, Terminal
from wattguard.network.utility import UtilityPki

__all__ = [
    "Bus",
    "BusDirectory",
    "BusIdentity",
    "Collected",
    "CollectionTask",
    "ConnectionGate",
    "Delivery",
    "Direction",
    "FepLimits",
    "FepSession",
    "HplcChannel",
    "InProcessBus",
    "LinkProfile",
    "PlainChannel",
    "SealedBus",
    "Terminal",
    "UtilityPki",
    "WanChannel",
    "pki",
    "wan",
]
