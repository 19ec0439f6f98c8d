"""A reading's time is one the meter authenticated, and an answer is taken once and only while
young (issue #13, item 2): real meters, a real cryptographic device, real bytes."""

from __future__ import annotations

import datetime as dt

import pytest

from wattguard.cipher import CryptoDevice
from wattguard.crypto import sm2
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventKind, EventLog
from wattguard.network.terminal import Collected, encode_item
from wattguard.protocol import OAD
from wattguard.protocol.apdu.get import GetRequestNormalList, GetRequestRecord
from wattguard.runtime.deployment import CURVE
from wattguard.station.freshness import AnswerFreshness, StaleAnswer
from wattguard.station.ingest import readings_of, verify_exchange
from wattguard.testing import HOUSE, T0
from wattguard.testing.meter import Line, new_meter

KEYS = MasterKeys(1, {k: bytes([k * 7 % 256]) * 16 for k in KeyId})
A = bytes.fromhex("000000000031")
METER_TIME, ENERGY = OAD(0x4000, 2, 0), OAD(0x0010, 2, 0)
#: What the adversary labels the captured answer with.
FORGED_AT = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp())
READ_AT = T0 + 3600


@pytest.fixture
def hsm() -> CryptoDevice:
    return CryptoDevice([KEYS], ca_key=sm2.PrivateKey.generate(), clock=lambda: T0)


@pytest.fixture
def line(hsm: CryptoDevice) -> Line:
    meter = new_meter(A, esam=EsamClient(hsm.provision_esam(A)))
    meter.power_up(T0)
    for minute in range(1, 61):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
        meter.handle_timer(T0 + 60 * minute)
    return Line(meter)


def real_time_read(line: Line, oads: tuple[OAD, ...] = (METER_TIME, ENERGY)) -> Collected:
    """A terminal's protected real-time read of the meter at READ_AT, as it relays it."""
    request = wrap_with_rn(GetRequestNormalList(line.piid(), oads))
    answer = line.exchange(request, READ_AT)
    return Collected(A, READ_AT, request.to_bytes(), answer.to_bytes())


def test_a_captured_answer_relayed_again_as_of_2030_is_refused_with_an_event(
    hsm: CryptoDevice, line: Line
) -> None:
    events, freshness = EventLog(), AnswerFreshness()
    genuine = real_time_read(line)
    first = verify_exchange(genuine, hsm, now=READ_AT + 5, events=events, freshness=freshness)
    assert first is not None and first.time == READ_AT  # the meter's own time
    re_dated = Collected(A, FORGED_AT, genuine.request, genuine.response)
    again = verify_exchange(re_dated, hsm, now=READ_AT + 60, events=events, freshness=freshness)
    assert again is None
    (event,) = events.of_kind(EventKind.REPLAY)
    assert "random number already used" in event.detail and str(FORGED_AT) in event.detail
    # the same item once more (a terminal's resend of an unacknowledged batch) stores nothing new
    resent = verify_exchange(genuine, hsm, now=READ_AT + 90, events=events, freshness=freshness)
    assert resent is not None and resent.time == READ_AT
    assert len(events.events) == 1


def test_a_withheld_answer_relabelled_is_stored_at_the_meter_s_time_not_the_label(
    hsm: CryptoDevice, line: Line
) -> None:
    genuine = real_time_read(line)
    relabelled = Collected(A, FORGED_AT, genuine.request, genuine.response)
    found = verify_exchange(relabelled, hsm, now=READ_AT + 5, freshness=AnswerFreshness())
    assert found is not None
    readings = readings_of(A, found.answer, found.time)
    assert readings and {r.time for r in readings} == {READ_AT}


def test_answers_outside_the_window_and_without_the_meter_s_time_are_refused(
    hsm: CryptoDevice, line: Line
) -> None:
    events, freshness = EventLog(), AnswerFreshness(window=3600, tolerance=60)
    late = real_time_read(line)
    assert (
        verify_exchange(late, hsm, now=READ_AT + 3601, events=events, freshness=freshness) is None
    )
    early = real_time_read(line)
    assert verify_exchange(early, hsm, now=READ_AT - 61, events=events, freshness=freshness) is None
    untimed = real_time_read(line, (ENERGY,))
    assert verify_exchange(untimed, hsm, now=READ_AT, events=events, freshness=freshness) is None
    details = [e.detail for e in events.of_kind(EventKind.REPLAY)]
    assert len(details) == 3
    assert "older than the 3600 s window" in details[0]
    assert "ahead of the station's clock" in details[1]
    assert "without the meter's time" in details[2]


def test_a_record_answer_is_taken_once_and_keeps_its_freeze_times(
    hsm: CryptoDevice, line: Line
) -> None:
    freshness, events = AnswerFreshness(), EventLog()
    since = (T0 // 900 + 1) * 900  # the first quarter-hour boundary the meter froze
    read = CURVE.request(line.piid(), since, since + 2700)
    assert isinstance(read, GetRequestRecord)
    request = wrap_with_rn(read)
    answer = line.exchange(request, READ_AT)
    item = Collected(A, READ_AT, request.to_bytes(), answer.to_bytes())
    found = verify_exchange(item, hsm, now=READ_AT, freshness=freshness)
    assert found is not None
    times = {r.time for r in readings_of(A, found.answer, found.time)}
    assert times and max(times) <= READ_AT  # freeze times, not the label
    copy = Collected(A, FORGED_AT, item.request, item.response)
    assert verify_exchange(copy, hsm, now=READ_AT + 1, events=events, freshness=freshness) is None
    assert events.of_kind(EventKind.REPLAY)


def test_the_record_forgets_what_is_past_the_window() -> None:
    freshness = AnswerFreshness(window=100, tolerance=10)
    freshness.admit(A, b"r1", 1000.0, 1000.0, b"item 1")
    freshness.admit(A, b"r1", 1000.0, 1020.0, b"item 1")  # the same item again: a resend
    with pytest.raises(StaleAnswer):
        freshness.admit(A, b"r1", 1000.0, 1050.0, b"item 1, re-dated")
    freshness.admit(A, b"r2", 1105.0, 1111.0)  # r1 is forgotten: it could pass no age check now
    assert freshness.taken(A) == 1
    with pytest.raises(StaleAnswer):
        freshness.admit(A, b"r1", 1000.0, 1111.0, b"item 1")  # an answer that old is refused
    with pytest.raises(ValueError):
        AnswerFreshness(window=0)


def test_the_relayed_bytes_fingerprint_the_item_as_its_encoding_did(
    hsm: CryptoDevice, line: Line
) -> None:
    """The collector hands the item's bytes as relayed (no second encoding): the same item
    again is a resend, the same answer under another claimed time is still a replay."""
    events, freshness = EventLog(), AnswerFreshness()
    genuine = real_time_read(line)
    relayed = encode_item(genuine)
    taken = verify_exchange(
        genuine, hsm, now=READ_AT + 5, events=events, freshness=freshness, relayed=relayed
    )
    assert taken is not None and taken.time == READ_AT
    # the fingerprint of the bytes is the one of the encoding: a resend is known either way
    assert verify_exchange(genuine, hsm, now=READ_AT + 9, freshness=freshness) is not None
    re_dated = Collected(A, FORGED_AT, genuine.request, genuine.response)
    forged = verify_exchange(
        re_dated, hsm, now=READ_AT + 60, events=events, freshness=freshness,
        relayed=encode_item(re_dated),
    )  # fmt: skip
    assert forged is None and len(events.of_kind(EventKind.REPLAY)) == 1


B = bytes.fromhex("000000000032")


def test_bindings_are_per_meter_and_an_idle_meter_s_are_forgotten_too() -> None:
    freshness = AnswerFreshness(window=100, tolerance=10)
    freshness.admit(A, b"r1", None, 1000.0, b"A's item")
    freshness.admit(B, b"r1", None, 1000.0, b"B's item")  # the same random number, another meter
    with pytest.raises(StaleAnswer):
        freshness.admit(B, b"r1", None, 1001.0, b"A's item")
    assert (freshness.taken(A), freshness.taken(B)) == (1, 1)
    freshness.admit(B, b"r2", None, 1110.0)  # A answers no more: its binding goes all the same
    assert (freshness.taken(A), freshness.taken(B)) == (0, 1)


def test_a_binding_is_kept_its_full_time_when_the_clock_steps_back() -> None:
    freshness = AnswerFreshness(window=100, tolerance=10)
    freshness.admit(A, b"r1", None, 1000.0, b"item 1")  # kept until 1110
    freshness.admit(B, b"r2", None, 900.0, b"item 2")  # the clock stepped back: kept until 1010
    with pytest.raises(StaleAnswer):  # 1009: both still held
        freshness.admit(B, b"r2", None, 1009.0, b"item 2, re-dated")
    freshness.admit(A, b"r3", None, 1050.0)  # r2 may go now; it is kept longer, never shorter
    with pytest.raises(StaleAnswer):
        freshness.admit(A, b"r1", None, 1109.0, b"item 1, re-dated")
    freshness.admit(A, b"r4", None, 1110.0)  # r1 and r2 are due: both go
    assert (freshness.taken(A), freshness.taken(B)) == (2, 0)
    freshness.admit(A, b"r1", None, 1111.0, b"item 1, re-dated")  # past any age check: taken


def test_the_record_holds_a_district_s_bindings_in_under_260_bytes_each() -> None:
    """An ingest worker holds every meter's bindings of the last window (48 a meter at two
    answers every 15 minutes): at 100,000 meters, 4.8 million. Each costs 175 bytes of Python
    objects here (its dict slot, key, fingerprint and due time), where a tuple key of the
    meter's and the binding's own objects, a 32-byte digest and a tuple in the queue cost 326
    (about 1.6 GB a worker at 100,000 meters in bench/chain.py)."""
    import hashlib
    import tracemalloc

    record = AnswerFreshness()
    answers = 20_000
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(answers):  # each item's meter and binding are objects of their own, as decoded
        meter = (n % 1000).to_bytes(6, "big")
        binding = hashlib.sha256(n.to_bytes(4, "big")).digest()[:16]
        record.admit(meter, binding, None, T0 + n * 0.01, hashlib.sha256(binding).digest())
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(record) == answers and record.taken((7).to_bytes(6, "big")) == 20
    assert held / answers < 260, f"{held / answers:.0f} bytes an answer"
