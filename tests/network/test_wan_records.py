"""The WAN channel's record layer: every tampering with the stream is refused with its own
error when protected, and goes through unprotected; chunking never matters; keys update."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.errors import (
    DecodeError,
    IntegrityError,
    ProtocolError,
    RemoteProtocolError,
    ReplayError,
)
from wattguard.errors import SecurityError as _SecurityError
from wattguard.events import EventKind, EventLog
from wattguard.network import _wan_keys, wan
from wattguard.testing.wan import NOW, Utility, app_data, connect, events, records_of, refusal

MESSAGES = [f"reading {i}: {1000 + i * 7.5:.2f} kWh".encode() for i in range(5)]


@pytest.fixture(scope="module")
def utility() -> Utility:
    return Utility.create()


def _established(
    utility: Utility, protected: bool = True, **kw: object
) -> tuple[wan.SecureChannel, wan.SecureChannel]:
    client, server = (
        utility.client(protected=protected, **kw),
        utility.server(protected=protected, **kw),
    )
    connect(client, server)
    events(client), events(server)
    return client, server


def _sent_records(
    utility: Utility, protected: bool = True
) -> tuple[wan.SecureChannel, wan.SecureChannel, list[bytes]]:
    """An established pair, and the client's next five application records (not delivered)."""
    client, server = _established(utility, protected)
    out = []
    for message in MESSAGES:
        client.send(message)
        out.append(client.data_to_send())
    return client, server, out


def _log(channel: wan.SecureChannel) -> EventLog:
    assert isinstance(channel._sink, EventLog)
    return channel._sink


def _refused(
    server: wan.SecureChannel, client: wan.SecureChannel, stream: bytes, error: type[Exception]
) -> wan.Closed:
    """Feed ``stream``, expect the server to refuse it with ``error`` (an event, never an
    exception); the client reads the server's (encrypted) alert."""
    server.receive_data(stream, NOW)
    closed = events(server)[-1]
    assert isinstance(closed, wan.Closed) and server.state is wan.State.CLOSED
    assert isinstance(closed.error, error), closed
    client.receive_data(server.data_to_send(), NOW)
    told = events(client)[-1]
    assert isinstance(told, wan.Closed) and told.by_peer and told.alert == closed.alert
    return told


# ------------------------------------------------------------------------- tampering


def test_records_in_order_are_delivered(utility: Utility) -> None:
    _, server, records = _sent_records(utility)
    server.receive_data(b"".join(records), NOW)
    assert [e.data for e in events(server) if isinstance(e, wan.AppData)] == MESSAGES


def test_replay_is_refused_and_goes_through_unprotected(utility: Utility) -> None:
    client, server, records = _sent_records(utility)
    stream = records[0] + records[1] + records[1]
    told = _refused(server, client, stream, ReplayError)
    assert told.alert == wan.AlertCode.REPLAYED_RECORD and "replayed" in told.reason
    (event,) = _log(server).of_kind(EventKind.REPLAY)
    assert "record 3 replayed" in event.detail
    _, server, records = _sent_records(utility, protected=False)
    server.receive_data(records[0] + records[1] + records[1], NOW)
    assert app_data(server) == MESSAGES[0] + MESSAGES[1] + MESSAGES[1]


def test_reorder_is_refused_and_goes_through_unprotected(utility: Utility) -> None:
    client, server, records = _sent_records(utility)
    told = _refused(server, client, records[1] + records[0], wan.MissingRecordError)
    assert told.alert == wan.AlertCode.MISSING_RECORD
    _, server, records = _sent_records(utility, protected=False)
    server.receive_data(records[1] + records[0], NOW)
    assert app_data(server) == MESSAGES[1] + MESSAGES[0]


def test_a_dropped_record_is_refused_and_goes_unnoticed_unprotected(utility: Utility) -> None:
    client, server, records = _sent_records(utility)
    server.receive_data(records[0], NOW)
    assert app_data(server) == MESSAGES[0]
    _refused(server, client, records[2], wan.MissingRecordError)
    _, server, records = _sent_records(utility, protected=False)
    server.receive_data(records[0] + records[2], NOW)
    assert app_data(server) == MESSAGES[0] + MESSAGES[2]


def test_truncation_is_refused_and_goes_unnoticed_unprotected(utility: Utility) -> None:
    # The stream is cut after the second record: no close alert.
    _, server, records = _sent_records(utility)
    server.receive_data(records[0] + records[1], NOW)
    server.receive_data(b"", NOW)  # the end of the stream
    seen = events(server)
    assert b"".join(e.data for e in seen if isinstance(e, wan.AppData)) == MESSAGES[0] + MESSAGES[1]
    assert isinstance(seen[-1], wan.Closed) and isinstance(seen[-1].error, wan.TruncatedError)
    assert "without a close alert" in seen[-1].reason
    assert server.data_to_send() == b""  # nothing can reach the peer any more
    assert _log(server).of_kind(EventKind.MALFORMED)
    # Cut in the middle of a record.
    _, server, records = _sent_records(utility)
    server.receive_data(records[0][:20], NOW)
    server.receive_data(b"", NOW)
    error = refusal(server)
    assert isinstance(error, wan.TruncatedError) and "middle of a record" in str(error)
    # With the close alert, the end of the stream is clean.
    client, server = _established(utility)
    client.close()
    server.receive_data(client.data_to_send(), NOW)
    server.receive_data(b"", NOW)
    closed = events(server)[-1]
    assert isinstance(closed, wan.Closed) and closed.alert == wan.AlertCode.CLOSE_NOTIFY
    assert closed.error is None
    # Unprotected: the truncated stream just ends.
    _, server, records = _sent_records(utility, protected=False)
    server.receive_data(records[0], NOW)
    server.receive_data(b"", NOW)
    assert events(server)[-1] == wan.Closed(
        "the connection ended", wan.AlertCode.CLOSE_NOTIFY, True
    )


def test_a_forged_plaintext_close_alert_is_refused(utility: Utility) -> None:
    client, server = _established(utility)
    sequence = 2  # the client's next: ClientHello 0, Finished 1
    forged = wan.Record(wan.RecordType.ALERT, sequence, wan.Alert(0, "bye").to_bytes())
    _refused(server, client, forged.to_bytes(), IntegrityError)


@pytest.mark.parametrize(
    ("where", "error"),
    [
        (0, IntegrityError),  # record type (in the AAD): application becomes alert
        (5, wan.MissingRecordError),  # sequence number
        (11, IntegrityError),  # first ciphertext byte
        (-1, IntegrityError),  # last tag byte
    ],
)
def test_bit_flips_are_refused(utility: Utility, where: int, error: type[Exception]) -> None:
    client, server, records = _sent_records(utility)
    flipped = bytearray(records[0])
    flipped[where] ^= 0x02  # the type 0x17 becomes 0x15, an alert
    _refused(server, client, bytes(flipped), error)
    assert app_data(server) == b""


def test_a_record_type_flip_is_refused_even_between_known_types(utility: Utility) -> None:
    client, server, records = _sent_records(utility)
    record = records_of(records[0])[0]
    alert = wan.Record(wan.RecordType.KEY_UPDATE, record.sequence, record.body)
    _refused(server, client, alert.to_bytes(), IntegrityError)


@settings(max_examples=60)
@given(st.data())
def test_any_bit_flip_in_the_stream_is_refused(utility: Utility, data: st.DataObject) -> None:
    client, server, records = _sent_records(utility)
    client.close()
    stream = bytearray(b"".join(records) + client.data_to_send())
    position = data.draw(st.integers(0, len(stream) - 1), label="position")
    stream[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    server.receive_data(bytes(stream), NOW)
    server.receive_data(b"", NOW)  # a length made longer waits for bytes that never come
    seen = events(server)
    closed = seen[-1]
    assert isinstance(closed, wan.Closed)
    assert isinstance(closed.error, _SecurityError | ProtocolError), closed
    delivered = b"".join(e.data for e in seen if isinstance(e, wan.AppData))
    assert b"".join(MESSAGES).startswith(delivered)  # only intact records got through


# ------------------------------------------------------------------------- framing limits


def test_unknown_record_type_and_overlong_records_are_refused(utility: Utility) -> None:
    client, server = _established(utility)
    server.receive_data(bytes([0x42]) + bytes(10), NOW)
    assert isinstance(refusal(server), DecodeError)
    client, server = _established(utility)
    header = wan.Record(wan.RecordType.APPLICATION, 2, b"").header()
    overlong = header[:-2] + (wan.MAX_PLAINTEXT + 17).to_bytes(2, "big")
    told = _refused(server, client, overlong, wan.RecordOverflowError)
    assert told.alert == wan.AlertCode.RECORD_OVERFLOW  # refused from the header alone


def test_malformed_handshake_is_a_decode_error(utility: Utility) -> None:
    server = utility.server()
    server.receive_data(wan.Record(wan.RecordType.HANDSHAKE, 0, b"\x01\x01").to_bytes(), NOW)
    assert isinstance(refusal(server), DecodeError)
    assert _log(server).of_kind(EventKind.MALFORMED)


def test_application_data_before_the_handshake_is_unexpected(utility: Utility) -> None:
    server = utility.server()
    server.receive_data(wan.Record(wan.RecordType.APPLICATION, 0, b"hi").to_bytes(), NOW)
    assert isinstance(refusal(server), RemoteProtocolError)


def test_bytes_after_close_are_discarded_and_closed_is_last(utility: Utility) -> None:
    _, server, records = _sent_records(utility)
    server.receive_data(records[1], NOW)
    server.receive_data(records[0], NOW)  # ignored
    server.receive_data(b"", NOW)
    seen = events(server)
    assert [type(e) for e in seen] == [wan.Closed]
    assert isinstance(seen[0], wan.Closed) and isinstance(seen[0].error, wan.MissingRecordError)
    with pytest.raises(Exception, match="not allowed when closed"):
        server.send(b"x")


# ------------------------------------------------------------------------- chunking, sizes


@settings(max_examples=25)
@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=30))
def test_random_chunking_gives_the_same_application_data(utility: Utility, cuts: list[int]) -> None:
    def chunked(channel: wan.SecureChannel, data: bytes) -> None:
        position, turn = 0, 0
        while position < len(data):
            size = cuts[turn % len(cuts)]
            channel.receive_data(data[position : position + size], NOW)
            position, turn = position + size, turn + 1

    client, server = utility.client(), utility.server()
    client.initiate()
    while (up := client.data_to_send()) or (down := server.data_to_send()):
        if up:
            chunked(server, up)
        else:
            chunked(client, down)
    assert client.state is server.state is wan.State.ESTABLISHED
    for message in MESSAGES:
        client.send(message)
    chunked(server, client.data_to_send())
    assert app_data(server) == b"".join(MESSAGES)


def test_large_data_is_cut_into_records(utility: Utility) -> None:
    client, server = _established(utility)
    blob = bytes(range(256)) * 400  # 100 KiB
    client.send(blob)
    stream = client.data_to_send()
    sizes = [len(r.body) for r in records_of(stream)]
    assert max(sizes) == wan.MAX_PLAINTEXT + 16 and len(sizes) == 7
    server.receive_data(stream, NOW)
    assert app_data(server) == blob


# ------------------------------------------------------------------------- key updates


def test_keys_update_after_the_record_limit(utility: Utility) -> None:
    limits = wan.KeyLimits(records=4)
    client, server = _established(utility, limits=limits)
    for i in range(20):
        client.send(b"%d" % i)
        server.send(b"ack %d" % i)
    stream = client.data_to_send()
    kinds = [r.type for r in records_of(stream)]
    # Three application records, then the update as the fourth under each key.
    assert kinds[:8] == [wan.RecordType.APPLICATION] * 3 + [wan.RecordType.KEY_UPDATE] + [
        wan.RecordType.APPLICATION
    ] * 3 + [wan.RecordType.KEY_UPDATE]
    server.receive_data(stream, NOW)
    client.receive_data(server.data_to_send(), NOW)
    assert app_data(server) == b"".join(b"%d" % i for i in range(20))
    assert client.key_generations == server.key_generations == (6, 6)


def test_keys_update_after_the_byte_limit(utility: Utility) -> None:
    limits = wan.KeyLimits(bytes=wan.MAX_PLAINTEXT)
    client, server = _established(utility, limits=limits)
    for _ in range(8):
        client.send(bytes(4096))
    server.receive_data(client.data_to_send(), NOW)
    assert len(app_data(server)) == 8 * 4096
    assert client.key_generations[0] == server.key_generations[1] == 1


def test_a_peer_that_never_updates_is_refused(utility: Utility) -> None:
    client = utility.client(limits=wan.KeyLimits(records=100))
    server = utility.server(limits=wan.KeyLimits(records=4))
    connect(client, server)
    for i in range(6):
        client.send(b"%d" % i)
    server.receive_data(client.data_to_send(), NOW)
    error = refusal(server)
    assert isinstance(error, RemoteProtocolError) and "key limits" in str(error)


def test_an_old_key_cannot_be_replayed_after_an_update(utility: Utility) -> None:
    client, server = _established(utility, limits=wan.KeyLimits(records=3))
    client.send(b"a")
    first = client.data_to_send()
    for message in (b"b", b"c"):
        client.send(message)
    rest = client.data_to_send()
    server.receive_data(first + rest, NOW)
    assert server.key_generations[1] == 1
    old = records_of(first)[0]
    resent = wan.Record(old.type, records_of(rest)[-1].sequence + 1, old.body)  # next number
    server.receive_data(resent.to_bytes(), NOW)
    assert isinstance(refusal(server), IntegrityError)


# ------------------------------------------------------------------------- the key schedule


def test_hkdf_sm3_agrees_with_an_independent_hmac() -> None:
    import hashlib

    try:
        hashlib.new("sm3")
    except ValueError:  # pragma: no cover - depends on the Python build
        pytest.skip("this Python's hashlib has no SM3")
    salt, ikm, info = b"salt", b"input key material", b"info"
    prk = hmac.new(salt, ikm, "sm3").digest()
    t1 = hmac.new(prk, info + b"\x01", "sm3").digest()
    t2 = hmac.new(prk, t1 + info + b"\x02", "sm3").digest()
    assert _wan_keys.hkdf_extract(salt, ikm) == prk
    assert _wan_keys.hkdf_expand(prk, info, 40) == (t1 + t2)[:40]


def test_nonce_is_the_iv_xor_the_sequence() -> None:
    protection = _wan_keys.RecordProtection(bytes(32), wan.KeyLimits())
    iv = _wan_keys.expand_label(bytes(32), "iv", b"", 12)
    assert protection._nonce(0) == iv
    assert protection._nonce(5) == iv[:-1] + bytes([iv[-1] ^ 5])
