"""The cryptographic device as its own service: only a station with a certificate from the
utility's CA gets in; through it, the station protects commands and verifies meters."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from wattguard.cipher import CryptoDevice
from wattguard.clock import VirtualClock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError, SecurityError
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.meter.metering.module import Measurement
from wattguard.network import pki
from wattguard.network.bus import InProcessBus
from wattguard.network.utility import CIPHER_NAME, UtilityPki
from wattguard.network.wan import ChannelRole
from wattguard.protocol import OAD, OMD, Data, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse
from wattguard.runtime import cipher as cipher_module
from wattguard.runtime.cipher import CipherClient, CipherServer
from wattguard.station import Station
from wattguard.station.storage import open_storage
from wattguard.testing import T0
from wattguard.testing.meter import Line, new_meter

METER = bytes.fromhex("000000000021")
KEYS = MasterKeys(1, {k: bytes([k + 7]) * 16 for k in KeyId})


@contextlib.contextmanager
def serving(device: CryptoDevice, utility: UtilityPki) -> Iterator[int]:
    """``device`` as its own service on a loopback port, for the length of the block."""
    assert utility.cipher is not None
    server = CipherServer(
        device, utility.channel(utility.cipher, ChannelRole.SERVER, pki.Role.STATION, None)
    )
    loop = asyncio.new_event_loop()
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()

        async def drain() -> None:
            await asyncio.gather(*pending, return_exceptions=True)

        loop.run_until_complete(drain())
        loop.close()


@pytest.fixture
def service() -> Iterator[tuple[int, UtilityPki, CryptoDevice]]:
    clock = VirtualClock(T0)
    utility = UtilityPki.create(clock)
    device = CryptoDevice([KEYS], ca_key=sm2.PrivateKey.generate(), clock=clock.time)
    with serving(device, utility) as port:
        yield port, utility, device


def station_client(port: int, utility: UtilityPki) -> CipherClient:
    assert utility.station is not None
    return CipherClient(
        "127.0.0.1", port,
        utility.channel(utility.station, ChannelRole.CLIENT, pki.Role.STATION, CIPHER_NAME),
    )  # fmt: skip


def measuring_line(device: CryptoDevice) -> Line:
    """METER, provisioned by ``device``, a minute into measuring, on a line of its own."""
    esam = EsamClient(device.provision_esam(METER))
    meter = new_meter(METER, esam=esam, wallet=esam)
    meter.power_up(T0)
    meter.measure(Measurement(230.0, 5.0, 1100.0, 100.0), 60.0, T0 + 60)
    return Line(meter)


def test_the_station_verifies_a_meter_through_the_service(
    service: tuple[int, UtilityPki, CryptoDevice],
) -> None:
    port, utility, device = service
    client = station_client(port, utility)
    request = wrap_with_rn(GetRequestNormal(1, OAD(0x0010, 2, 0)))
    answer = measuring_line(device).exchange(request, T0 + 61)
    assert isinstance(answer, SecurityResponse)
    inner = decode_apdu(client.open_response(METER, request, answer))
    assert isinstance(inner, GetResponseNormal)
    forged = SecurityResponse(answer.payload, bytes(4))
    with pytest.raises(SecurityError):
        client.open_response(METER, request, forged)
    assert (client.verified, client.refused) == (1, 1)
    protected = client.protect(METER, GetRequestNormal(2, OAD(0x4001, 2, 0)).to_bytes())
    assert protected.payload.data  # a ciphertext the meter will open
    assert [e.action for e in device.audit.entries].count("protect") == 1
    client.close()


def test_a_report_s_answers_are_verified_in_one_round_trip(
    service: tuple[int, UtilityPki, CryptoDevice], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``open_responses``: one call for a report's answers, each refused or opened alone, the
    same as the device gives in-process; a report too large for one message goes in a few."""
    port, utility, device = service
    client = station_client(port, utility)
    line = measuring_line(device)
    exchanges: list[tuple[bytes, SecurityRequest | None, SecurityResponse]] = []
    for piid in range(1, 7):
        request = wrap_with_rn(GetRequestNormal(piid, OAD(0x0010, 2, 0)))
        answer = line.exchange(request, T0 + 61)
        assert isinstance(answer, SecurityResponse)
        exchanges.append((METER, request, answer))
    exchanges[2] = (METER, exchanges[2][1], SecurityResponse(exchanges[2][2].payload, bytes(4)))
    exchanges[4] = (METER, None, exchanges[4][2])  # an answer to no protected request
    expected = device.open_responses(exchanges)
    trips: list[str] = []
    call = client._call
    monkeypatch.setattr(
        client, "_call", lambda message: trips.append(message["op"]) or call(message)
    )
    opened = client.open_responses(exchanges)
    assert trips == ["open_responses"]
    assert [isinstance(x, SecurityError) for x in opened] == [
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    assert [x for x in opened if isinstance(x, bytes)] == [
        x for x in expected if isinstance(x, bytes)
    ]
    assert all(
        isinstance(decode_apdu(x), GetResponseNormal) for x in opened if isinstance(x, bytes)
    )
    assert (client.verified, client.refused) == (4, 2)
    monkeypatch.setattr(cipher_module, "_BATCH_BYTES", 400)  # about one answer a call
    trips.clear()
    again = client.open_responses(exchanges)
    assert len(trips) >= 3
    assert [type(x) for x in again] == [type(x) for x in opened]
    trips.clear()
    assert client.open_responses([]) == [] and trips == []
    client.close()


def test_only_a_station_certificate_from_the_utility_gets_in(
    service: tuple[int, UtilityPki, CryptoDevice],
) -> None:
    port, utility, _device = service
    terminal = bytes.fromhex("990000000009")
    utility.enrol(terminal)
    as_terminal = CipherClient(
        "127.0.0.1", port,
        utility.channel(utility.terminals[terminal], ChannelRole.CLIENT, pki.Role.STATION,
                        CIPHER_NAME),
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"refused this station|closed"):
        as_terminal.register(METER)
    impostor = UtilityPki.create(VirtualClock(T0), name="not the utility")
    assert impostor.station is not None
    rogue = CipherClient(
        "127.0.0.1", port,
        impostor.channel(impostor.station, ChannelRole.CLIENT, pki.Role.STATION, CIPHER_NAME),
    )  # fmt: skip
    with pytest.raises(ConfigError):
        rogue.register(METER)


def test_the_station_audit_checkpoint_is_kept_by_the_service(
    service: tuple[int, UtilityPki, CryptoDevice],
) -> None:
    port, utility, device = service
    client = station_client(port, utility)
    assert client.witnessed("station-audit") is None
    client.witness("station-audit", 3, bytes(range(32)))
    client.witness("station-audit", 4, bytes(32))
    assert client.witnessed("station-audit") == (4, bytes(32))
    assert device.audit.entries[-1].action == "witness" and device.audit.verify() is None
    with pytest.raises(ConfigError, match="refused the call"):
        client.witness("station audit", 5, bytes(32))  # not a label
    client.close()


def test_a_station_whose_device_is_unreachable_keeps_running(caplog: Any) -> None:
    """The audit witness is best effort at start and at each tick: a cryptographic device that
    does not answer is logged and tried again, and the station goes on."""
    clock = VirtualClock(T0)
    utility = UtilityPki.create(clock)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert utility.station is not None
    absent = CipherClient(
        "127.0.0.1", port,
        utility.channel(utility.station, ChannelRole.CLIENT, pki.Role.STATION, CIPHER_NAME),
    )  # fmt: skip
    station = Station(open_storage("sqlite://"), InProcessBus(), clock, hsm=absent)
    assert station.audit_broken_at is None
    station.users.add("otto", "operator", "a-token-of-some-length")  # an audit entry
    station.tick()
    station.tick()
    assert "could not be witnessed" in caplog.text and "not checked at start" in caplog.text


def test_a_top_up_and_a_refund_made_through_the_service_reach_the_wallet(
    service: tuple[int, UtilityPki, CryptoDevice],
) -> None:
    port, utility, device = service
    client = station_client(port, utility)
    esam = EsamClient(device.provision_esam(METER))
    meter = new_meter(METER, esam=esam, wallet=esam)
    meter.power_up(T0)
    line = Line(meter)
    for amount, refund, balance in ((5000, False, 5000), (1200, True, 3800)):
        parameter = client.top_up(METER, amount, "otto", refund=refund)
        action = ActionRequest(line.piid(), OMD(0xF100, 6, 0), parameter)
        protected = client.protect(METER, action.to_bytes(), operator="otto")
        answer = line.exchange(protected, T0 + 10)
        assert isinstance(answer, SecurityResponse) and answer.payload.dar is None
        assert esam.balance() == balance
    assert [e.action for e in device.audit.entries].count("refund") == 1
    client.close()


def test_a_key_update_made_through_the_service_moves_the_meter_to_the_new_keys() -> None:
    clock = VirtualClock(T0)
    utility = UtilityPki.create(clock)
    newer = MasterKeys(2, {k: bytes([k + 99]) * 16 for k in KeyId})
    device = CryptoDevice([KEYS], ca_key=sm2.PrivateKey.generate(), clock=clock.time)
    esam = EsamClient(device.provision_esam(METER))  # at version 1
    device.rotate(newer)  # the utility's next key version
    meter = new_meter(METER, esam=esam, wallet=esam)
    meter.power_up(T0)
    line = Line(meter)
    with serving(device, utility) as port:
        client = station_client(port, utility)
        client.register(METER)
        assert (client.key_version(METER), client.newest_key_version()) == (1, 2)
        parameter = client.key_update(METER, 2, "otto")
        action = ActionRequest(line.piid(), OMD(0xF100, 7, 0), parameter)
        answer = line.exchange(client.protect(METER, action.to_bytes(), operator="otto"), T0)
        assert isinstance(answer, SecurityResponse) and answer.payload.dar is None
        assert esam.info(T0).key_version == 2
        client.key_updated(METER, 2)
        assert client.key_version(METER) == 2
        read = GetRequestNormal(line.piid(), OAD(0x4001, 2, 0))
        request = client.protect(METER, read.to_bytes())
        answer = line.exchange(request, T0 + 1)
        assert isinstance(answer, SecurityResponse)
        inner = decode_apdu(client.open_response(METER, request, answer))
        assert isinstance(inner, GetResponseNormal)
        assert isinstance(inner.result.result, Data)  # read under the new keys
        client.close()
    assert [e.action for e in device.audit.entries].count("key update") == 1
