"""wattguard: secure smart metering, from the meter's metering chip to the master station.

The public surface is small on purpose: the error tree and the clocks here, the layers as
subpackages (``wattguard.crypto`` first). See DESIGN.md for the architecture.
"""

from wattguard.clock import Clock, SystemClock, VirtualClock
from wattguard.errors import (
    ConfigError,
    DecodeError,
    IntegrityError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SecurityError,
    WattguardError,
)

__version__ = "0.1.0"

__all__ = [
    "Clock",
    "ConfigError",
    "DecodeError",
    "IntegrityError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "SecurityError",
    "SystemClock",
    "VirtualClock",
    "WattguardError",
    "__version__",
]
