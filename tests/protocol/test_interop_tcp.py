"""A dlt698 client talks to a wattguard server over loopback TCP: CONNECT, then GETs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from wattguard.protocol import OAD, Data, DataType, IncomingRequest, ServerAddress
from wattguard.protocol.apdu.common import DAR, AResultNormal
from wattguard.protocol.apdu.connect import (
    ConnectRequest,
    ConnectResponse,
    ConnectResponseInfo,
    ConnectResult,
    FactoryVersion,
    ReleaseRequest,
    ReleaseResponse,
)
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.runtime import ProtocolServer

try:
    import dlt698
    from dlt698 import _native as native
except ImportError:  # pragma: no cover
    dlt698 = None

METER = ServerAddress.parse("000000000001")
FACTORY = FactoryVersion("WGRD", "0100", "261124", "0100", "261124", b"wattgrd0")
VALUES = {
    OAD.parse("00100200"): Data.array(
        *[Data(DataType.DOUBLE_LONG_UNSIGNED, v) for v in (123456, 40000, 30000, 20000, 33456)]
    ),
    OAD.parse("20000200"): Data.array(*[Data(DataType.LONG_UNSIGNED, 2201)] * 3),
}


def meter_stub(request: IncomingRequest) -> Any:
    apdu = request.apdu
    if isinstance(apdu, ConnectRequest):
        info = ConnectResponseInfo(ConnectResult.ACCEPTED)
        return ConnectResponse(apdu.piid, FACTORY, apdu.negotiation, info)
    if isinstance(apdu, GetRequestNormal):
        result = VALUES.get(apdu.oad, DAR.OBJECT_UNDEFINED)
        return GetResponseNormal(apdu.piid, AResultNormal(apdu.oad, result))
    if isinstance(apdu, ReleaseRequest):
        return ReleaseResponse(apdu.piid, 0)
    return None


def _read_with_dlt698(port: int, oads: list[OAD]) -> list[Any]:
    options = native.ClientOptions(
        protocol=native.SessionOptions(
            server=native.ServerAddress(
                bytes=METER.address[::-1], logical=0, type=native.AddressType.single
            ),
            request_timeout=5.0,
        ),
        transport_timeout=5.0,
    )
    client = dlt698.Client(options)
    try:
        client.connect_tcp("127.0.0.1", port, native.ConnectionProfile.local_public)
        results = []
        for oad in oads:
            read = client.get(native.Oad(oi=oad.oi, attribute=oad.attribute, index=oad.element))
            if read.data is None:
                results.append(read.dar)
            else:
                results.append(read_data(Reader(bytes(dlt698.codec.encode_data(read.data)))))
        return results
    finally:
        client.close()


def test_dlt698_client_reads_a_wattguard_server_over_tcp() -> None:
    from wattguard.testing.services import require

    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    oads = [*VALUES, OAD.parse("F1010200")]

    async def scenario() -> list[Any]:
        server = ProtocolServer(METER, meter_stub)
        port = await server.start()
        out: list[Any] = []
        thread = threading.Thread(target=lambda: out.extend(_read_with_dlt698(port, oads)))
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.02)
        await server.close()
        assert server.violations == []
        return out

    results = asyncio.run(scenario())
    assert results == [*VALUES.values(), DAR.OBJECT_UNDEFINED]
