"""A terminal's report is verified as one batch (issue #18: "batch the MAC checks and the
decoding per report"): :func:`verify_exchanges` gives each item what :func:`verify_exchange`
gives it alone, records the same security events in the items' order, and asks the
cryptographic device once per report. Real meters, a real device, real bytes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from wattguard.cipher import CryptoDevice
from wattguard.crypto import sm2
from wattguard.errors import SecurityError
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventLog
from wattguard.network.terminal import Collected, encode_item
from wattguard.protocol import OAD, decode_apdu
from wattguard.protocol.apdu.get import GetRequestNormalList, GetRequestRecord
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse
from wattguard.runtime.deployment import CURVE
from wattguard.station.freshness import AnswerFreshness
from wattguard.station.ingest import (
    PlainVerifier,
    Verified,
    verify_exchange,
    verify_exchanges,
)
from wattguard.testing import HOUSE, T0
from wattguard.testing.meter import Line, new_meter

KEYS = MasterKeys(1, {k: bytes([k * 5 % 256 + 1]) * 16 for k in KeyId})
METERS = [bytes.fromhex(f"0000000000{n:02d}") for n in (41, 42, 43)]
METER_TIME, ENERGY = OAD(0x4000, 2, 0), OAD(0x0010, 2, 0)
READ_AT = T0 + 3600


class Counting:
    """The device, counting how it is asked."""

    def __init__(self, device: CryptoDevice) -> None:
        self.device = device
        self.batches: list[int] = []
        self.singles = 0

    def open_response(
        self, meter: bytes, request: SecurityRequest | None, response: SecurityResponse
    ) -> bytes:
        self.singles += 1
        return self.device.open_response(meter, request, response)

    def open_responses(
        self, exchanges: Sequence[tuple[bytes, SecurityRequest | None, SecurityResponse]]
    ) -> list[bytes | SecurityError]:
        self.batches.append(len(exchanges))
        return self.device.open_responses(exchanges)

    def open_report(self, meter: bytes, report: SecurityRequest) -> bytes:
        return self.device.open_report(meter, report)


@pytest.fixture
def hsm() -> CryptoDevice:
    return CryptoDevice([KEYS], ca_key=sm2.PrivateKey.generate(), clock=lambda: T0)


@pytest.fixture
def lines(hsm: CryptoDevice) -> dict[bytes, Line]:
    out = {}
    for address in METERS:
        meter = new_meter(address, esam=EsamClient(hsm.provision_esam(address)))
        meter.power_up(T0)
        for minute in range(1, 61):
            meter.measure(HOUSE, 60.0 + minute, T0 + 60 * minute)
            meter.handle_timer(T0 + 60 * minute)
        out[address] = Line(meter)
    return out


def real_time(lines: dict[bytes, Line], address: bytes) -> Collected:
    line = lines[address]
    request = wrap_with_rn(GetRequestNormalList(line.piid(), (METER_TIME, ENERGY)))
    answer = line.exchange(request, READ_AT)
    return Collected(address, READ_AT, request.to_bytes(), answer.to_bytes())


def curve(lines: dict[bytes, Line], address: bytes) -> Collected:
    line = lines[address]
    since = (T0 // 900 + 1) * 900  # the first quarter-hour boundary the meter froze
    read = CURVE.request(line.piid(), since, since + 2700)
    assert isinstance(read, GetRequestRecord)
    request = wrap_with_rn(read)
    answer = line.exchange(request, READ_AT)
    return Collected(address, READ_AT, request.to_bytes(), answer.to_bytes())


def forged(item: Collected) -> Collected:
    """The answer with one bit of its MAC (its last bytes) flipped."""
    return dataclasses.replace(item, response=item.response[:-1] + bytes([item.response[-1] ^ 1]))


def a_report(lines: dict[bytes, Line]) -> list[Collected]:
    """Everything a report can hold: good answers (real-time and curve), a forged MAC, an
    answer that does not decode, an unprotected answer, a replay of an answer already taken
    under another claimed time, and the same item twice (a resend)."""
    good = real_time(lines, METERS[0])
    items = [
        good,
        curve(lines, METERS[1]),
        forged(real_time(lines, METERS[2])),
        dataclasses.replace(good, response=b"\x90\x01"),  # truncated SECURITY-Response
        Collected(METERS[1], READ_AT, b"", bytes.fromhex("850101 00100200 01 0600000001 00 00")),
        dataclasses.replace(good, at=READ_AT + 7),  # the same answer, re-dated: a replay
        curve(lines, METERS[2]),
        good,  # a resend of the first item
    ]
    return items


def events_of(log: EventLog) -> list[tuple[str, str, str]]:
    return [(str(e.kind), e.source, e.detail) for e in log.events]


def test_a_report_verified_at_once_gives_what_each_item_gives_alone(
    hsm: CryptoDevice, lines: dict[bytes, Line]
) -> None:
    items = a_report(lines)
    relayed = [encode_item(item) for item in items]
    one_log, one_fresh = EventLog(), AnswerFreshness()
    alone = [
        verify_exchange(
            item, hsm, now=READ_AT + 5, events=one_log, freshness=one_fresh, relayed=raw
        )
        for item, raw in zip(items, relayed, strict=True)
    ]
    batch_log, batch_fresh = EventLog(), AnswerFreshness()
    counting = Counting(hsm)
    together = verify_exchanges(
        items, counting, now=READ_AT + 5, events=batch_log, freshness=batch_fresh,
        relayed=relayed,
    )  # fmt: skip
    assert together == alone
    assert events_of(batch_log) == events_of(one_log)
    # what the report holds is refused and taken as it should be
    taken = [found is not None for found in together]
    assert taken == [True, True, False, False, False, False, True, True]
    kinds = [str(e.kind) for e in batch_log.events]
    assert kinds == ["EventKind.BAD_MAC", "EventKind.MALFORMED", "EventKind.BAD_MAC",
                     "EventKind.REPLAY"]  # fmt: skip
    # the device was asked once, for the report's protected answers, and never one by one
    assert counting.batches == [6] and counting.singles == 0
    first = together[0]
    assert isinstance(first, Verified) and first.time == READ_AT


def test_the_device_s_batch_refuses_each_forged_answer_alone(
    hsm: CryptoDevice, lines: dict[bytes, Line]
) -> None:
    items = [real_time(lines, m) for m in METERS]
    items[1] = forged(items[1])
    exchanges = []
    for item in items:
        request, response = decode_apdu(item.request), decode_apdu(item.response)
        assert isinstance(request, SecurityRequest) and isinstance(response, SecurityResponse)
        exchanges.append((item.meter, request, response))
    refused_before, verified_before = hsm.refused, hsm.verified
    opened = hsm.open_responses(exchanges)
    assert isinstance(opened[0], bytes) and isinstance(opened[2], bytes)
    assert isinstance(opened[1], SecurityError)
    assert (hsm.refused - refused_before, hsm.verified - verified_before) == (1, 2)
    assert opened[0] == hsm.open_response(*exchanges[0])


def test_without_a_device_every_protected_answer_of_a_report_is_refused(
    lines: dict[bytes, Line],
) -> None:
    items = [real_time(lines, m) for m in METERS]
    log = EventLog()
    found = verify_exchanges(items, PlainVerifier(), now=READ_AT + 5, events=log)
    assert found == [None, None, None]
    assert len(log.events) == 3 and all("no cryptographic device" in e.detail for e in log.events)


def test_an_empty_report_asks_the_device_nothing(hsm: CryptoDevice) -> None:
    counting = Counting(hsm)
    assert verify_exchanges([], counting, now=READ_AT) == []
    assert counting.batches == [] and counting.singles == 0


def test_the_device_s_batch_opens_each_answer_as_it_opens_one_alone(
    hsm: CryptoDevice, lines: dict[bytes, Line]
) -> None:
    """The batch opens a plain RN read of a meter whose keys are derived in line, and sends
    every other answer the way of ``open_response``: each, opened or refused, is what
    ``open_response`` gives it alone, whichever way it went."""
    items = [real_time(lines, m) for m in METERS] + [forged(real_time(lines, METERS[0]))]
    exchanges: list[tuple[bytes, SecurityRequest | None, SecurityResponse]] = []
    for item in items:
        request, response = decode_apdu(item.request), decode_apdu(item.response)
        assert isinstance(request, SecurityRequest) and isinstance(response, SecurityResponse)
        exchanges.append((item.meter, request, response))
    exchanges.append((METERS[1], None, exchanges[1][2]))  # an answer to no request
    stranger = bytes.fromhex("000000000099")  # a meter the device has never seen
    exchanges.append((stranger, exchanges[2][1], exchanges[2][2]))

    def alone(exchange: tuple[bytes, SecurityRequest | None, SecurityResponse]) -> object:
        fresh = CryptoDevice([KEYS], clock=lambda: T0)  # knows no meter: derives on the way
        try:
            return fresh.security.open_response(*exchange)
        except SecurityError as exc:
            return (type(exc), str(exc))

    # a device that knows its meters (their keys derived), and one that has seen none
    hsm.open_responses(exchanges)
    for device in (hsm, CryptoDevice([KEYS], clock=lambda: T0)):
        batch = [
            found if isinstance(found, bytes) else (type(found), str(found))
            for found in device.security.open_responses(exchanges)
        ]
        assert batch == [alone(exchange) for exchange in exchanges]
    opened = [isinstance(found, bytes) for found in hsm.open_responses(exchanges)]
    assert opened == [True, True, True, False, False, False]
