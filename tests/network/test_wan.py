"""The WAN secure channel: mutual authentication, key agreement, the attacks of issue 6 on it
(eavesdropping, rogue terminals, a man in the middle), each refused when protected and
succeeding against the unprotected baseline."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattguard.crypto import sm2
from wattguard.errors import (
    ConfigError,
    IntegrityError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from wattguard.events import EventKind, EventLog
from wattguard.network import pki, wan
from wattguard.testing import DAY
from wattguard.testing.wan import (
    FEP_NAME,
    NOW,
    TERMINAL_NAME,
    Utility,
    app_data,
    connect,
    events,
    pump,
    records_of,
    refusal,
    rewrite_hello,
)

SECRET = b"meter 000000000007: forward active energy 12345.67 kWh"


@pytest.fixture(scope="module")
def utility() -> Utility:
    return Utility.create()


def _log(channel: wan.SecureChannel) -> EventLog:
    sink = channel._sink
    assert isinstance(sink, EventLog)
    return sink


def _refused_by(
    utility: Utility,
    client: wan.SecureChannel,
    server: wan.SecureChannel,
    error: type[Exception],
    *,
    at: str = "server",
    **hooks: object,
) -> wan.Closed:
    """Run the handshake, expect ``error`` at one side (the refusal is an event, never an
    exception); return what the other side learns from its alert."""
    connect(client, server, **hooks)  # type: ignore[arg-type]
    refuser, other = (server, client) if at == "server" else (client, server)
    assert refuser.state is wan.State.CLOSED
    mine = events(refuser)
    assert isinstance(mine[-1], wan.Closed) and not mine[-1].by_peer
    assert isinstance(mine[-1].error, error), mine[-1]
    assert not any(isinstance(e, wan.Handshaken) for e in mine)
    theirs = events(other)  # the pump carried the alert
    assert not any(isinstance(e, wan.Handshaken) for e in theirs)
    closed = theirs[-1]
    assert isinstance(closed, wan.Closed) and closed.by_peer
    assert closed.alert == mine[-1].alert
    return closed


# ------------------------------------------------------------------------- the good path


def test_mutual_authentication_then_data_both_ways(utility: Utility) -> None:
    client, server = utility.client(peer_name=FEP_NAME), utility.server()
    connect(client, server)
    (at_client,) = events(client)
    (at_server,) = events(server)
    assert at_client == wan.Handshaken(utility.fep.certificate, FEP_NAME, True)
    assert at_server == wan.Handshaken(utility.terminal.certificate, TERMINAL_NAME, True)
    assert client.state is server.state is wan.State.ESTABLISHED
    client.send(SECRET)
    server.send(b"ack")
    pump(client, server)
    assert app_data(server) == SECRET and app_data(client) == b"ack"
    client.close("done")
    pump(client, server)
    assert events(server) == [
        wan.Closed("closed by the peer: done", wan.AlertCode.CLOSE_NOTIFY, True)
    ]
    assert events(client) == [wan.Closed("done", wan.AlertCode.CLOSE_NOTIFY, False)]
    assert not _log(client).events and not _log(server).events


def test_handshake_bytes_depend_only_on_the_supplied_randomness(utility: Utility) -> None:
    ephemeral = sm2.PrivateKey.generate()

    def hello() -> bytes:
        client = utility.client(random_bytes=lambda n: b"\x11" * n, new_ephemeral=lambda: ephemeral)
        client.initiate()
        return client.data_to_send()

    first = hello()
    assert first == hello()
    (record,) = records_of(first)
    assert (record.type, record.sequence) == (wan.RecordType.HANDSHAKE, 0)
    message = wan.Hello.from_bytes(record.body)
    assert message.nonce == b"\x11" * 32 and message.ephemeral == ephemeral.public_key.to_bytes()
    assert message.certificates == (utility.terminal.certificate.der,)


def test_the_two_ends_agree_on_different_keys_per_direction_and_session(utility: Utility) -> None:
    sessions = []
    for _ in range(2):
        client, server = utility.client(), utility.server()
        connect(client, server)
        assert client._sender is not None and server._receiver is not None
        assert client._sender._key == server._receiver._key
        assert server._sender is not None and client._receiver is not None
        assert server._sender._key == client._receiver._key != client._sender._key
        sessions.append(client._sender._key)
    assert sessions[0] != sessions[1]


# ------------------------------------------------------------------------- 1. eavesdropping


def test_eavesdropper_reads_nothing_when_protected_and_everything_when_not(
    utility: Utility,
) -> None:
    for protected in (True, False):
        wire: list[bytes] = []
        client, server = utility.client(protected=protected), utility.server(protected=protected)
        connect(client, server, wire=wire)
        client.send(SECRET)
        pump(client, server, wire=wire)
        assert app_data(server) == SECRET
        assert (SECRET in b"".join(wire)) is not protected


# ------------------------------------------------------------------------- 5. rogue terminals


def test_a_terminal_without_a_certificate_is_refused_and_told_why(utility: Utility) -> None:
    rogue = utility.client(chain=(), key=None, protected=False)
    server = utility.server()
    connect(rogue, server)
    assert isinstance(refusal(server), wan.DowngradeError)

    # Claiming protection but presenting no certificate.
    def strip(data: bytes) -> bytes:
        return rewrite_hello(data, certificates=())

    closed = _refused_by(
        utility, utility.client(), utility.server(), pki.NoCertificateError, up=strip
    )
    assert closed.alert == wan.AlertCode.NO_CERTIFICATE
    assert "no certificate" in closed.reason


def test_the_unprotected_fep_lets_a_rogue_terminal_in(utility: Utility) -> None:
    rogue = utility.client(chain=(), key=None, protected=False)
    server = utility.server(protected=False)
    connect(rogue, server)
    (handshaken,) = events(server)
    assert handshaken == wan.Handshaken(None, "", False)
    rogue.send(b"set relay: trip")
    pump(rogue, server)
    assert app_data(server) == b"set relay: trip"


def test_a_terminal_from_another_ca_is_refused(utility: Utility) -> None:
    rogue_ca = pki.CertificateAuthority.create("wattguard root CA", utility.clock.time() - DAY)
    rogue = Utility.party(rogue_ca, TERMINAL_NAME, pki.Role.TERMINAL)
    server = utility.server()
    closed = _refused_by(utility, utility.client(rogue), server, pki.UnknownIssuerError)
    assert closed.alert == wan.AlertCode.UNKNOWN_CA
    (event,) = _log(server).of_kind(EventKind.KEY)
    assert "unknown issuer" in event.detail and event.source == "FEP WAN"
    # Unprotected, the same rogue gets in.
    client, server = utility.client(rogue, protected=False), utility.server(protected=False)
    connect(client, server)
    assert events(server)[0] == wan.Handshaken(None, TERMINAL_NAME, False)


def test_a_revoked_terminal_is_refused_and_told_why(utility: Utility) -> None:
    stolen = Utility.party(utility.ca, "000000000099", pki.Role.TERMINAL)
    client, server = utility.client(stolen), utility.server()
    connect(client, server)  # before revocation: in
    utility.ca.revoke(stolen.certificate, utility.clock.time(), pki.RevocationReason.KEY_COMPROMISE)
    server = utility.server()  # a FEP holding the new CRL
    closed = _refused_by(utility, utility.client(stolen), server, pki.RevokedError)
    assert closed.alert == wan.AlertCode.CERTIFICATE_REVOKED and "revoked" in closed.reason
    assert _log(server).of_kind(EventKind.KEY)
    client, server = utility.client(stolen, protected=False), utility.server(protected=False)
    connect(client, server)  # unprotected: the revoked terminal still gets in
    assert server.state is wan.State.ESTABLISHED


def test_an_expired_or_not_yet_valid_terminal_is_refused(utility: Utility) -> None:
    old = Utility.party(utility.ca, "000000000010", pki.Role.TERMINAL, validity=0.5 * DAY)
    closed = _refused_by(
        utility, utility.client(old), utility.server(), pki.CertificateExpiredError
    )
    assert closed.alert == wan.AlertCode.CERTIFICATE_EXPIRED
    key = sm2.PrivateKey.generate()
    early = utility.ca.issue(
        "000000000011", pki.Role.TERMINAL, key.public_key, 0, not_before=utility.clock.time() + DAY
    )
    client = utility.client(key=key, chain=[early])
    _refused_by(utility, client, utility.server(), pki.NotYetValidError)


def test_a_stale_crl_at_the_fep_fails_closed(utility: Utility) -> None:
    server = utility.server()
    start = utility.clock.time()
    utility.clock.set_time(start + 8 * DAY)  # past the CRL's nextUpdate
    try:
        closed = _refused_by(utility, utility.client(), server, pki.RevocationUnavailableError)
    finally:
        utility.clock.set_time(start)
    assert closed.alert == wan.AlertCode.CERTIFICATE_UNKNOWN


def test_a_fep_certificate_cannot_be_used_as_a_terminal(utility: Utility) -> None:
    closed = _refused_by(utility, utility.client(utility.fep), utility.server(), pki.WrongRoleError)
    assert closed.alert == wan.AlertCode.ACCESS_DENIED


# ------------------------------------------------------------------------- 6. rogue station, MITM


def test_a_rogue_fep_with_a_terminal_certificate_is_refused_by_the_terminal(
    utility: Utility,
) -> None:
    impostor = Utility.party(utility.ca, "000000000050", pki.Role.TERMINAL)
    closed = _refused_by(
        utility, utility.client(), utility.server(impostor), pki.WrongRoleError, at="client"
    )
    assert closed.alert == wan.AlertCode.ACCESS_DENIED


def test_a_genuine_but_unexpected_fep_is_refused_when_the_name_is_pinned(
    utility: Utility,
) -> None:
    other = Utility.party(utility.ca, "FEP-666", pki.Role.FEP)
    client = utility.client(peer_name=FEP_NAME)
    closed = _refused_by(
        utility, client, utility.server(other), wan.UnexpectedPeerError, at="client"
    )
    assert "FEP-666" in closed.reason


def test_mitm_substituting_its_certificate_is_refused(utility: Utility) -> None:
    rogue_ca = pki.CertificateAuthority.create("wattguard root CA", utility.clock.time() - DAY)
    mitm = Utility.party(rogue_ca, FEP_NAME, pki.Role.FEP)

    def swap(data: bytes) -> bytes:
        return rewrite_hello(data, certificates=(mitm.certificate.der,))

    _refused_by(
        utility, utility.client(), utility.server(), pki.UnknownIssuerError, at="client", down=swap
    )


def test_mitm_substituting_its_ephemeral_key_is_refused(utility: Utility) -> None:
    mitm = sm2.PrivateKey.generate().public_key.to_bytes()

    def swap(data: bytes) -> bytes:
        return rewrite_hello(data, ephemeral=mitm)

    # Towards the FEP (R_A) or towards the terminal (R_B): the key confirmation fails.
    for hooks in ({"up": swap}, {"down": swap}):
        client, server = utility.client(), utility.server()
        closed = _refused_by(utility, client, server, wan.HandshakeError, at="client", **hooks)
        assert closed.alert == wan.AlertCode.DECRYPT_ERROR
        assert "key confirmation" in closed.reason
        assert _log(client).of_kind(EventKind.AUTHENTICATION)


def test_mitm_with_the_fep_certificate_but_its_own_key_is_refused(utility: Utility) -> None:
    # A rogue station that copied the FEP's certificate cannot compute K without d_B.
    rogue_key = sm2.PrivateKey.generate()
    with pytest.raises(ConfigError):  # our own API will not even build it...
        utility.server(key=rogue_key, chain=[utility.fep.certificate])
    rogue = utility.server()
    rogue._key = rogue_key  # ...so the impostor patches it in: the certificate, not the key
    closed = _refused_by(utility, utility.client(), rogue, wan.HandshakeError, at="client")
    assert "S_B" in closed.reason


def test_mitm_altering_a_nonce_is_refused(utility: Utility) -> None:
    def alter(data: bytes) -> bytes:
        return rewrite_hello(data, nonce=bytes(32))

    closed = _refused_by(
        utility, utility.client(), utility.server(), wan.HandshakeError, at="client", up=alter
    )
    assert "altered" in closed.reason


def test_mitm_altering_the_finished_message_is_refused(utility: Utility) -> None:
    def alter(data: bytes) -> bytes:
        first, *rest = records_of(data)
        if first.body[:1] != b"\x03":
            return data
        body = bytearray(first.body)
        body[-1] ^= 1
        forged = wan.Record(first.type, first.sequence, bytes(body)).to_bytes()
        return forged + b"".join(r.to_bytes() for r in rest)

    client, server = utility.client(), utility.server()
    connect(client, server, up=alter)
    assert isinstance(refusal(server), wan.HandshakeError)
    # The FEP's alert is encrypted under its key, and the terminal (which has it) reads it.
    closed = events(client)[-1]
    assert closed == wan.Closed(
        "refused by the peer: the handshake messages were altered (Finished verify data)",
        wan.AlertCode.DECRYPT_ERROR,
        True,
    )


def test_unprotected_mitm_reads_and_rewrites_the_traffic(utility: Utility) -> None:
    def rewrite(data: bytes) -> bytes:
        return data.replace(b"12345.67", b"00001.00")

    client, server = utility.client(protected=False), utility.server(protected=False)
    connect(client, server)
    client.send(SECRET)
    pump(client, server, up=rewrite)
    assert app_data(server) == SECRET.replace(b"12345.67", b"00001.00")
    # Protected, the MITM cannot search the ciphertext, but knows where the figure sits in
    # it: GCM encrypts in counter mode, so XOR-ing the difference in would work on a bare
    # stream cipher. The tag refuses it.
    delta = bytes(a ^ b for a, b in zip(b"12345.67", b"00001.00", strict=True))
    offset = 11 + SECRET.index(b"12345.67")

    def malleate(data: bytes) -> bytes:
        out = bytearray(data)
        for i, difference in enumerate(delta):
            out[offset + i] ^= difference
        return bytes(out)

    client, server = utility.client(), utility.server()
    connect(client, server)
    client.send(SECRET)
    pump(client, server, up=malleate)
    seen = events(server)
    assert not any(isinstance(e, wan.AppData) for e in seen)
    assert isinstance(seen[-1], wan.Closed) and isinstance(seen[-1].error, IntegrityError)


def test_a_protected_terminal_refuses_an_unprotected_fep(utility: Utility) -> None:
    closed = _refused_by(
        utility, utility.client(), utility.server(protected=False), wan.DowngradeError, at="client"
    )
    assert closed.alert == wan.AlertCode.INSUFFICIENT_SECURITY


# ------------------------------------------------------------------------- protocol misuse


def test_misuse_is_a_local_protocol_error(utility: Utility) -> None:
    client, server = utility.client(), utility.server()
    with pytest.raises(LocalProtocolError):
        client.send(b"too early")
    with pytest.raises(LocalProtocolError):
        server.initiate()
    client.initiate()
    with pytest.raises(LocalProtocolError):
        client.initiate()
    with pytest.raises(LocalProtocolError):
        client.send(b"still too early")


def test_a_client_hello_sent_to_a_client_is_unexpected(utility: Utility) -> None:
    first, second = utility.client(), utility.client()
    first.initiate()
    second.initiate()
    second.receive_data(first.data_to_send(), NOW)
    assert isinstance(refusal(second), RemoteProtocolError)
    assert second.state is wan.State.CLOSED


def test_another_version_is_refused_with_protocol_version(utility: Utility) -> None:
    client, server = utility.client(), utility.server()
    client.initiate()
    server.receive_data(rewrite_hello(client.data_to_send(), version=2), NOW)
    assert isinstance(refusal(server), wan.UnsupportedVersionError)
    client.receive_data(server.data_to_send(), NOW)
    assert events(client)[-1].alert == wan.AlertCode.PROTOCOL_VERSION  # type: ignore[union-attr]


def test_configuration_errors(utility: Utility) -> None:
    with pytest.raises(ConfigError):
        utility.client(key=None)
    with pytest.raises(ConfigError):
        utility.client(key=sm2.PrivateKey.generate())  # the certificate is for another key


# ------------------------------------------------------------------------- wire round trips

_bytes32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=50)
@given(
    kind=st.sampled_from([wan.HandshakeType.CLIENT_HELLO, wan.HandshakeType.SERVER_HELLO]),
    protected=st.booleans(),
    nonce=_bytes32,
    certificates=st.lists(st.binary(max_size=300), max_size=4),
    confirmation=_bytes32,
    verify=_bytes32,
)
def test_hello_round_trips(
    kind: wan.HandshakeType,
    protected: bool,
    nonce: bytes,
    certificates: list[bytes],
    confirmation: bytes,
    verify: bytes,
) -> None:
    ephemeral = bytes([4]) + bytes(64) if protected else b""
    tail = protected and kind is wan.HandshakeType.SERVER_HELLO
    hello = wan.Hello(
        kind,
        protected,
        nonce,
        ephemeral,
        tuple(certificates),
        confirmation if tail else b"",
        verify if tail else b"",
    )
    assert wan.Hello.from_bytes(hello.to_bytes()) == hello
    encoded = hello.to_bytes()
    for size in range(0, len(encoded), 7):
        with pytest.raises(ProtocolError):
            wan.Hello.from_bytes(encoded[:size])


@given(code=st.sampled_from(list(wan.AlertCode)), reason=st.text(max_size=300))
def test_alert_round_trips_and_keeps_reasons_short(code: wan.AlertCode, reason: str) -> None:
    alert = wan.Alert.from_bytes(wan.Alert(code, reason).to_bytes())
    assert alert.code == code and reason.startswith(alert.reason)
    assert len(alert.reason.encode()) <= 255


def test_exported_names_exist_and_do_not_drift() -> None:
    for module in (pki, wan):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is exported but missing"
    assert {"CertificateAuthority", "Certificate", "RevocationList", "TrustStore", "verify"} <= set(
        pki.__all__
    )
    assert {"SecureChannel", "Handshaken", "AppData", "Closed", "KeyLimits", "AlertCode"} <= set(
        wan.__all__
    )
