"""wattguard.runtime: the only package that touches sockets, asyncio, threads and the wall
clock. Thin shells that feed the sans-IO cores bytes and time."""

from wattguard.runtime.meter import MeterServer
from wattguard.runtime.tcp import ProtocolServer

__all__ = ["MeterServer", "ProtocolServer"]
