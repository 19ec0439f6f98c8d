"""A dlt698 client (an independent DL/T 698.45 implementation) reads a running wattguard meter
over loopback TCP: CONNECT, plaintext reads the policy allows, and the DAR for those it does
not."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from wattguard.clock import VirtualClock
from wattguard.meter.device import MeterConfig
from wattguard.protocol import OAD, Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.runtime import MeterServer
from wattguard.testing import ADDRESS
from wattguard.testing.meter import running_meter
from wattguard.testing.services import require

try:
    import dlt698
    from dlt698 import _native as native
except ImportError:  # pragma: no cover
    dlt698 = None


def read_with_dlt698(port: int, oads: list[OAD]) -> list[Any]:
    options = native.ClientOptions(
        protocol=native.SessionOptions(
            server=native.ServerAddress(
                bytes=ADDRESS[::-1], logical=0, type=native.AddressType.single
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


def serve_and_read(config: MeterConfig, oads: list[OAD]) -> list[Any]:
    meter = running_meter(config=config)

    async def scenario() -> list[Any]:
        server = MeterServer(meter, VirtualClock(meter.now))
        port = await server.start()
        out: list[Any] = []
        thread = threading.Thread(target=lambda: out.extend(read_with_dlt698(port, oads)))
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.02)
        await server.close()
        return out

    results = asyncio.run(scenario())
    assert meter.management.violations == []
    return results


def test_dlt698_reads_an_unprotected_meter() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    energy, voltage, address = serve_and_read(
        MeterConfig(protected=False), [OAD(0x0010, 2), OAD(0x2000, 2), OAD(0x4001, 2)]
    )
    assert energy.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 190)
    assert voltage.value[0] == Data(DataType.LONG_UNSIGNED, 2295)
    assert address == Data(DataType.OCTET_STRING, ADDRESS)


def test_dlt698_plaintext_reads_of_a_protected_meter_get_the_security_dar() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    energy, address = serve_and_read(MeterConfig(), [OAD(0x0010, 2), OAD(0x4001, 2)])
    assert energy == DAR.SECURITY_MISMATCH
    assert address == Data(DataType.OCTET_STRING, ADDRESS)
