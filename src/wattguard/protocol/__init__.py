"""wattguard.protocol: DL/T 698.45, sans-IO.

Link layer (``LinkFrame``, ``decode_frame``, ``FrameDecoder``), data (``Data``, ``DataType``
and the value types) and APDUs (``decode_apdu`` and the service classes in
``wattguard.protocol.apdu``). No I/O, no clock, no randomness: they are arguments.
"""

from wattguard.protocol import _accelerate  # noqa: F401  (switches on the compiled decoder)
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
    "LinkFrame",
    "Region",
    "ScalerUnit",
    "ServerAddress",
    "ServerConnection",
    "Time",
    "crc16",
    "decode_apdu",
    "decode_frame",
]
