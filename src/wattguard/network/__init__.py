"""wattguard.network: the smart power network between meters and the master station: the
HPLC channel, collection terminals, front-end processors, the WAN secure channel, the bus.
Sans-IO cores; sockets live in ``wattguard.runtime``."""

from wattguard.network.hplc import Delivery, Direction, HplcChannel, LinkProfile

__all__ = ["Delivery", "Direction", "HplcChannel", "LinkProfile"]
