"""A dlt698 client (an independent DL/T 698.45 implementation) reads our ESAM-fitted meter
over loopback TCP, its security backend being our StationSecurity: plaintext reads of what the
policy leaves public, plaintext + MAC (SID_MAC, and RN) and ciphertext + MAC reads of energy,
each answer's MAC checked by the station; a client with the wrong keys is refused with DAR 22
and the meter records it. dlt698 encodes our SECURITY-Requests and decodes the meter's
SECURITY-Responses itself, so the security APDU framing is checked against it too."""

from __future__ import annotations

import asyncio
from typing import Any

from wattguard.clock import VirtualClock
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import StationSecurity
from wattguard.events import EventKind
from wattguard.meter.device import Meter
from wattguard.protocol import Data, DataType
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    VerificationKind,
)
from wattguard.protocol.axdr import Reader
from wattguard.protocol.data import read_data
from wattguard.runtime import MeterServer
from wattguard.testing import ADDRESS, seeded
from wattguard.testing.esam import fitted_meter, make_esam, rig
from wattguard.testing.services import require

try:
    import dlt698
    from dlt698 import _native as native
    from dlt698.security import SecurityBackend
except ImportError:  # pragma: no cover
    dlt698 = None
    SecurityBackend = object


class StationBackend(SecurityBackend):  # type: ignore[misc,valid-type]
    """dlt698's security backend, computed by our StationSecurity (client side only)."""

    def __init__(
        self, station: StationSecurity, protection: Protection, kind: VerificationKind
    ) -> None:
        super().__init__()
        self.station, self.protection, self.kind = station, protection, kind
        self.sent: SecurityRequest | None = None
        self.refusals: list[int] = []

    def begin_connect(self) -> Any:
        return native.NullSecurity()

    def verify_connect(self, request: Any, response: Any) -> None:
        return None

    def protect_request(self, application: bytes) -> Any:
        request = self.station.wrap(
            ADDRESS, bytes(application), protection=self.protection, verification=self.kind
        )
        self.sent = request
        v = request.verification
        if v.kind == VerificationKind.SID_MAC:
            assert v.sid is not None
            verification: Any = native.SidMac(
                sid=native.Sid(identifier=v.sid.ident, additional=v.sid.additional),
                mac=native.Mac(value=v.mac),
            )
        elif v.kind == VerificationKind.RN:
            verification = native.Rn(value=v.random)
        else:
            verification = native.RnMac(
                random=native.Rn(value=v.random), mac=native.Mac(value=v.mac)
            )
        return native.SecurityRequest(
            application=request.payload.data,
            encrypted=request.payload.protection == Protection.CIPHERTEXT,
            verification=verification,
        )

    def open_response(self, message: Any) -> bytes:
        application = message.application
        if isinstance(application, int):
            self.refusals.append(application)
            payload = SecurityPayload(Protection.PLAINTEXT, dar=application)
            response = SecurityResponse(payload)
        else:
            protection = Protection.CIPHERTEXT if message.encrypted else Protection.PLAINTEXT
            mac = None if message.verification is None else bytes(message.verification.value)
            response = SecurityResponse(SecurityPayload(protection, bytes(application)), mac=mac)
        return self.station.open_response(ADDRESS, self.sent, response)

    def accept_connect(self, request: Any) -> Any:
        raise NotImplementedError("client side only")

    def open_request(self, message: Any) -> bytes:
        raise NotImplementedError("client side only")

    def protect_response(self, application: bytes) -> Any:
        raise NotImplementedError("client side only")

    def reset(self) -> None:
        self.sent = None


def read(backend: StationBackend | None, oi: int) -> tuple[Any, Meter]:
    """Serve a running ESAM meter over TCP; read (oi, 2) with a dlt698 AsyncClient."""
    meter, _ = fitted_meter()

    async def scenario() -> Any:
        server = MeterServer(meter, VirtualClock(meter.now))
        port = await server.start()
        options = native.ClientOptions(
            protocol=native.SessionOptions(
                server=native.ServerAddress(
                    bytes=ADDRESS[::-1], logical=0, type=native.AddressType.single
                ),
                request_timeout=5.0,
                security_backend=backend,
                protect_application=backend is not None,
            ),
            transport_timeout=5.0,
        )
        client = dlt698.AsyncClient(options)
        try:
            await client.connect_tcp("127.0.0.1", port, native.ConnectionProfile.local_public)
            try:
                result = await client.get(native.Oad(oi=oi, attribute=2, index=0))
            except dlt698.Dlt698Error as exc:
                return exc
        finally:
            # close without RELEASE: dlt698 would wrap RELEASE in a SECURITY-Request too, and
            # our server serves CONNECT and RELEASE only bare (docs/security.md)
            client.close()
            await server.close()
        if result.data is None:
            return result.dar
        return read_data(Reader(bytes(dlt698.codec.encode_data(result.data))))

    return asyncio.run(scenario()), meter


def make_esam_client_serial() -> bytes:
    return EsamClient(make_esam()).info(0).serial  # provisioning is seeded: the same chip


def test_dlt698_reads_the_public_esam_object_in_plaintext() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    serial, meter = read(None, 0xF100)
    assert meter.management.esam is not None
    assert serial == Data(DataType.OCTET_STRING, make_esam_client_serial())
    energy, meter = read(None, 0x0010)
    assert energy == DAR.SECURITY_MISMATCH  # energy needs a MAC
    assert meter.log.security[-1].kind == EventKind.UNAUTHORISED


def test_dlt698_reads_energy_with_plaintext_and_mac_through_our_station() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    for protection, kind in [
        (Protection.PLAINTEXT, VerificationKind.SID_MAC),
        (Protection.PLAINTEXT, VerificationKind.RN),
        (Protection.PLAINTEXT, VerificationKind.RN_MAC),
        (Protection.CIPHERTEXT, VerificationKind.SID_MAC),
    ]:
        r = rig()
        backend = StationBackend(r.station, protection, kind)
        energy, meter = read(backend, 0x0010)
        assert energy.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 190), (protection, kind)
        assert not meter.log.security and not backend.refusals


def test_dlt698_with_the_wrong_keys_is_refused_by_the_esam() -> None:
    require(dlt698 is not None, "dlt698 is not installed (pip install -e '.[interop]')")
    thief = StationSecurity(MasterKeys.generate(1, seeded(b"thief")), random=seeded(b"t"))
    backend = StationBackend(thief, Protection.PLAINTEXT, VerificationKind.SID_MAC)
    outcome, meter = read(backend, 0x0010)
    assert isinstance(outcome, dlt698.Dlt698Error)  # dlt698 reads the DAR answer itself
    assert outcome.remote_code == DAR.ESAM_VERIFICATION_FAILED
    assert meter.log.security[-1].kind == EventKind.BAD_MAC
