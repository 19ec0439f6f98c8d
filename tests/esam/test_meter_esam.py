"""End to end with the assembled meter: the station reads energy with plaintext + MAC, trips
the relay with ciphertext + MAC, tops up the wallet through F100; a replay of the trip frame
and another meter's key are refused (DAR 22 and a security event). Without the protection
(no ESAM, ``protected=False``) the same plaintext trip, and its replay, get through."""

from __future__ import annotations

from wattguard.esam.station import StationSecurity, wrap_with_rn
from wattguard.events import EventKind
from wattguard.meter.device import MeterConfig
from wattguard.meter.expansion import CostControl
from wattguard.meter.management.eventlog import MeterEventKind
from wattguard.meter.management.relay import RelayState
from wattguard.protocol import OAD, OMD, Data, DataType, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest, ActionResponseNormal
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityRequest,
    SecurityResponse,
    VerificationKind,
)
from wattguard.testing import ADDRESS, HOUSE, OTHER, T0
from wattguard.testing.esam import fitted_meter, rig
from wattguard.testing.meter import Line

T1 = T0 + 3600
TRIP = Data.array(
    Data.structure(
        Data(DataType.OAD, OAD(0xF205, 2, 1)),
        Data(DataType.UNSIGNED, 0),
        Data(DataType.LONG_UNSIGNED, 0),
        Data(DataType.BOOL, False),
    )
)
CIPHER = Protection.CIPHERTEXT
CLOSE = Data.array(Data.structure(Data(DataType.OAD, OAD(0xF205, 2, 1)), Data(DataType.ENUM, 1)))


def station() -> StationSecurity:
    s = rig().station
    s.register(ADDRESS, key_version=1)
    return s


def secured(
    line: Line,
    s: StationSecurity,
    apdu: object,
    request: SecurityRequest | None = None,
    **how: object,
) -> tuple[SecurityRequest, SecurityResponse]:
    request = request or s.wrap(ADDRESS, apdu, **how)  # type: ignore[arg-type]
    answer = line.exchange(request, T1)
    assert isinstance(answer, SecurityResponse)
    return request, answer


def test_the_station_reads_energy_with_plaintext_and_mac() -> None:
    meter, _ = fitted_meter()
    line, s = Line(meter), station()
    for how in ({}, {"verification": VerificationKind.RN_MAC}):
        request, answer = secured(line, s, GetRequestNormal(1, OAD(0x0010, 2)), **how)
        assert answer.payload.protection == Protection.PLAINTEXT and answer.mac
        inner = decode_apdu(s.open_response(ADDRESS, request, answer))
        assert isinstance(inner, GetResponseNormal)
        assert inner.result.result.value[0] == Data(DataType.DOUBLE_LONG_UNSIGNED, 190)
    # a terminal's plaintext + RN read: the answer carries a MAC only the station can check
    request = wrap_with_rn(GetRequestNormal(2, OAD(0x0010, 2)))
    _, answer = secured(line, s, None, request)
    assert isinstance(decode_apdu(s.open_response(ADDRESS, request, answer)), GetResponseNormal)
    assert not meter.log.security


def test_a_ciphertext_trip_works_and_its_replay_is_refused() -> None:
    meter, _ = fitted_meter()
    line, s = Line(meter), station()
    trip = s.wrap(
        ADDRESS, ActionRequest(3, OMD(0x8000, 129), TRIP), protection=Protection.CIPHERTEXT
    )
    _, answer = secured(line, s, None, trip)
    inner = decode_apdu(s.open_response(ADDRESS, trip, answer))
    assert isinstance(inner, ActionResponseNormal) and inner.result.dar == DAR.SUCCESS
    assert meter.management.relay.state == RelayState.TRIPPED
    close = s.wrap(
        ADDRESS, ActionRequest(4, OMD(0x8000, 130), CLOSE), protection=Protection.CIPHERTEXT
    )
    secured(line, s, None, close)
    assert meter.management.relay.supplying
    _, replayed = secured(line, s, None, trip)  # the very same frame again
    assert replayed.payload.dar == DAR.ESAM_VERIFICATION_FAILED
    assert meter.management.relay.supplying
    assert len(meter.log.of_kind(MeterEventKind.RELAY_TRIP)) == 1
    assert meter.log.security[-1].kind == EventKind.REPLAY


def test_another_meters_key_is_refused() -> None:
    meter, _ = fitted_meter()
    line, s = Line(meter), station()
    s.register(OTHER, key_version=1)
    forged = s.wrap(
        OTHER, ActionRequest(5, OMD(0x8000, 129), TRIP), protection=Protection.CIPHERTEXT
    )
    _, answer = secured(line, s, None, forged)
    assert answer.payload.dar == DAR.ESAM_VERIFICATION_FAILED
    assert meter.management.relay.supplying
    assert meter.log.security[-1].kind == EventKind.BAD_MAC


def test_a_plaintext_trip_is_refused_by_the_protected_meter() -> None:
    meter, _ = fitted_meter()
    answer = Line(meter).exchange(ActionRequest(6, OMD(0x8000, 129), TRIP), T1)
    assert isinstance(answer, ActionResponseNormal)
    assert answer.result.dar == DAR.SECURITY_MISMATCH and meter.management.relay.supplying


def test_unprotected_the_same_plaintext_trip_and_its_replay_get_through() -> None:
    meter, _ = fitted_meter(fitted=False, config=MeterConfig(protected=False))
    line = Line(meter)
    trip = ActionRequest(7, OMD(0x8000, 129), TRIP)
    for _ in range(2):
        answer = line.exchange(trip, T1)
        assert isinstance(answer, ActionResponseNormal) and answer.result.dar == DAR.SUCCESS
        assert meter.management.relay.state == RelayState.TRIPPED
        line.exchange(ActionRequest(8, OMD(0x8000, 130), CLOSE), T1)
    assert len(meter.log.of_kind(MeterEventKind.RELAY_TRIP)) == 2


def test_f100_reads_in_plaintext_and_tops_up_through_ciphertext_and_mac() -> None:
    meter, client = fitted_meter()
    assert client is not None
    line, s = Line(meter), station()
    answer = line.exchange(GetRequestNormal(9, OAD(0xF100, 4)), T1)
    assert isinstance(answer, GetResponseNormal) and answer.result.result.value == b"\x01"
    certificate = line.exchange(GetRequestNormal(10, OAD(0xF100, 10)), T1)
    assert certificate.result.result.value == client.info(T1).certificate  # type: ignore[attr-defined]
    top_up = ActionRequest(11, OMD(0xF100, 6), s.top_up(ADDRESS, 5000))
    request, answer = secured(line, s, top_up, protection=Protection.CIPHERTEXT)
    inner = decode_apdu(s.open_response(ADDRESS, request, answer))
    assert isinstance(inner, ActionResponseNormal) and inner.result.dar == DAR.SUCCESS
    assert client.balance() == 5000
    # the same top-up parameter, freshly wrapped: the wallet says it is done already
    request, answer = secured(line, s, top_up, protection=Protection.CIPHERTEXT)
    inner = decode_apdu(s.open_response(ADDRESS, request, answer))
    assert isinstance(inner, ActionResponseNormal)
    assert inner.result.dar == DAR.DUPLICATE_RECHARGE and client.balance() == 5000
    request, answer = secured(line, s, GetRequestNormal(12, OAD(0x202C, 2)))
    wallet = decode_apdu(s.open_response(ADDRESS, request, answer))
    assert wallet.result.result.value[0].value == 5000  # type: ignore[attr-defined]
    counters = line.exchange(GetRequestNormal(13, OAD(0xF100, 7)), T1)
    assert [c.value for c in counters.result.result.value] == [3, 0, 1]  # type: ignore[attr-defined]


def test_a_key_update_through_f100_makes_the_station_switch_keys() -> None:
    meter, client = fitted_meter()
    assert client is not None
    line, s = Line(meter), station()
    update = ActionRequest(14, OMD(0xF100, 7), s.key_update(ADDRESS, 2))
    request, answer = secured(line, s, update, protection=Protection.CIPHERTEXT)
    assert decode_apdu(s.open_response(ADDRESS, request, answer)).result.dar == DAR.SUCCESS  # type: ignore[attr-defined]
    s.key_updated(ADDRESS, 2)
    _, stale = secured(line, s, None, request)
    assert stale.payload.dar == DAR.ESAM_VERIFICATION_FAILED
    request, answer = secured(line, s, GetRequestNormal(15, OAD(0x0010, 2)))
    assert isinstance(decode_apdu(s.open_response(ADDRESS, request, answer)), GetResponseNormal)


def test_a_prepaid_meter_runs_its_wallet_down_without_crashing() -> None:
    meter, client = fitted_meter(cost=CostControl())
    assert client is not None
    s = station()
    amount, protected = (item.value for item in s.top_up(ADDRESS, 40).value)
    client.top_up(amount, protected.sid, protected.mac, T1)
    # the credit ran out in the first hour: the relay is open; the top-up allows it to close
    meter.measure(HOUSE, 60.0, T1)
    assert meter.management.relay.state == RelayState.CLOSE_ALLOWED
    meter.press_button(T1)  # the customer restores the supply
    for minute in range(61, 180):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    assert client.balance() == 0  # the last deduction took what was left, and no more
    assert meter.management.relay.state == RelayState.TRIPPED  # the ESAM's wallet agrees
