"""wattguard.protocol: DL/T 698.45, sans-IO.

Link layer (``LinkFrame``, ``decode_frame``, ``FrameDecoder``), data (``Data``, ``DataType``
and the value types), APDUs (``decode_apdu`` and the service classes in
``wattguard.protocol.apdu``) and the connections (``ClientConnection``, ``ServerConnection``)
with the events they hand out (``ConnectionEvent`` and its members). The association and link
states are in :mod:`wattguard.protocol.state`. No I/O, no clock, no randomness: they are
arguments.
"""

from wattguard.protocol import _accelerate  # noqa: F401  (switches on the compiled decoder)
from wattguard.protocol._events import (
    ConnectionEvent,
    IncomingRequest,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
)
from wattguard.protocol.apdu import Structure as Apdu
from wattguard.protocol.apdu import decode_apdu
from wattguard.protocol.connection import ClientConnection, ServerConnection
from wattguard.protocol.crc import crc16
from wattguard.protocol.data import CSD, MS, RCSD, RSD, Data, DataType, Region
from wattguard.protocol.link import (
    AddressType,
    Control,
    Fragment,
    FragmentKind,
    FunctionCode,
    LinkFrame,
    ServerAddress,
    decode_frame,
)
from wattguard.protocol.stream import FrameDecoder
from wattguard.protocol.values import (
    COMDCB,
    OAD,
    OMD,
    ROAD,
    SID,
    SIDMAC,
    TI,
    TSA,
    BitString,
    Date,
    DateTime,
    DateTimeS,
    ScalerUnit,
    Time,
)

__all__ = [
    "COMDCB",
    "CSD",
    "MS",
    "OAD",
    "OMD",
    "RCSD",
    "ROAD",
    "RSD",
    "SID",
    "SIDMAC",
    "TI",
    "TSA",
    "AddressType",
    "Apdu",
    "BitString",
    "ClientConnection",
    "ConnectionEvent",
    "Control",
    "Data",
    "DataType",
    "Date",
    "DateTime",
    "DateTimeS",
    "Fragment",
    "FragmentKind",
    "FrameDecoder",
    "FunctionCode",
    "IncomingRequest",
    "LinkEvent",
    "LinkFrame",
    "Notification",
    "ProtocolViolation",
    "Region",
    "RequestTimedOut",
    "Response",
    "ScalerUnit",
    "ServerAddress",
    "ServerConnection",
    "Time",
    "crc16",
    "decode_apdu",
    "decode_frame",
]
