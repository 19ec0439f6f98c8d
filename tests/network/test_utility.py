"""The utility's PKI as deployments use it: channel factories for the FEP and the terminals,
one shared trust store that follows revocations and renews its CRL, and the PKI directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattguard.clock import VirtualClock
from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.network import pki
from wattguard.network.channel import ChannelClosed, ChannelCore, ChannelData, ChannelUp
from wattguard.network.utility import UtilityPki
from wattguard.testing import DAY, T0

TERMINAL = bytes.fromhex("990000000001")
Event = ChannelUp | ChannelData | ChannelClosed


def _drain(channel: ChannelCore) -> list[Event]:
    out = []
    while (event := channel.next_event()) is not None:
        out.append(event)
    return out


def connect(client: ChannelCore, server: ChannelCore) -> tuple[list[Event], list[Event]]:
    """Carry bytes between the two until both are quiet; the events each side saw."""
    seen: tuple[list[Event], list[Event]] = ([], [])
    while True:
        up, down = client.data_to_send(), server.data_to_send()
        if up:
            server.receive_data(up, 0.0)
        if down:
            client.receive_data(down, 0.0)
        seen[0].extend(_drain(client))
        seen[1].extend(_drain(server))
        if not up and not down:
            return seen


@pytest.fixture
def utility() -> UtilityPki:
    return UtilityPki.create(VirtualClock(T0))


def test_the_fep_learns_the_terminal_address_from_its_certificate(utility: UtilityPki) -> None:
    client, server = utility.terminal_channel(TERMINAL)(), utility.fep_channel()()
    at_terminal, at_fep = connect(client, server)
    assert at_terminal == [ChannelUp(None)]  # the FEP has a name, not a terminal address
    assert at_fep == [ChannelUp(TERMINAL)]
    server.send(b"down")
    client.send(b"up")
    at_terminal, at_fep = connect(client, server)
    assert at_terminal == [ChannelData(b"down")] and at_fep == [ChannelData(b"up")]


def test_a_revocation_applies_to_the_next_connection(utility: UtilityPki) -> None:
    fep = utility.fep_channel(events := EventLog())
    assert connect(utility.terminal_channel(TERMINAL)(), fep())[1] == [ChannelUp(TERMINAL)]
    utility.revoke(TERMINAL)
    at_terminal, at_fep = connect(utility.terminal_channel(TERMINAL)(), fep())
    assert len(at_fep) == 1 and isinstance(at_fep[0], ChannelClosed)
    assert "revoked" in at_fep[0].reason and isinstance(at_fep[0].error, pki.RevokedError)
    assert isinstance(at_terminal[-1], ChannelClosed) and "revoked" in at_terminal[-1].reason
    assert [e.kind for e in events.events] == [EventKind.KEY]


def test_the_trust_store_is_shared_and_its_crl_renewed_before_it_lapses(
    utility: UtilityPki,
) -> None:
    clock = utility.clock
    assert isinstance(clock, VirtualClock)
    first = utility.trust()
    assert utility.trust() is first  # no CRL signed and checked per connection
    for _ in range(8):  # eight weeks; each CRL is valid for one
        clock.advance(3 * DAY)
        assert connect(utility.terminal_channel(TERMINAL)(), utility.fep_channel()())[1] == [
            ChannelUp(TERMINAL)
        ]
    assert utility.trust() is not first


def test_what_the_renewal_guards_against_a_lapsed_crl_fails_closed(utility: UtilityPki) -> None:
    certificate = utility.enrol(TERMINAL)
    kept = utility.trust()
    clock = utility.clock
    assert isinstance(clock, VirtualClock)
    clock.advance(8 * DAY)
    with pytest.raises(pki.RevocationUnavailableError, match="not current"):
        kept.verify([certificate], clock.time())
    assert utility.trust().verify([certificate], clock.time()) == certificate


def test_the_pki_directory_round_trips(utility: UtilityPki, tmp_path: Path) -> None:
    utility.enrol(TERMINAL)
    revoked = bytes.fromhex("990000000002")
    utility.enrol(revoked)
    utility.revoke(revoked)
    utility.save(tmp_path / "pki")
    assert (tmp_path / "pki" / "ca.key").stat().st_mode & 0o077 == 0
    loaded = UtilityPki.load(tmp_path / "pki", utility.clock)
    # a terminal from the files talks to the original FEP, and the other way round
    assert connect(loaded.terminal_channel(TERMINAL)(), utility.fep_channel()())[1] == [
        ChannelUp(TERMINAL)
    ]
    assert connect(utility.terminal_channel(TERMINAL)(), loaded.fep_channel()())[1] == [
        ChannelUp(TERMINAL)
    ]
    at_fep = connect(loaded.terminal_channel(revoked)(), loaded.fep_channel()())[1]
    assert isinstance(at_fep[0], ChannelClosed) and "revoked" in at_fep[0].reason
    assert loaded.ca.next_serial == utility.ca.next_serial


def test_a_missing_or_damaged_directory_is_a_config_error(
    utility: UtilityPki, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no utility PKI"):
        UtilityPki.load(tmp_path / "nothing", utility.clock)
    utility.save(tmp_path / "pki")
    (tmp_path / "pki" / "ca-state.json").write_text("{}")
    with pytest.raises(ConfigError, match="damaged"):
        UtilityPki.load(tmp_path / "pki", utility.clock)


# the services' view: no CA key, the published CRL


@pytest.fixture
def published(utility: UtilityPki, tmp_path: Path) -> Path:
    """A PKI directory with one terminal enrolled, and the CA key taken away (kept offline):
    what a service's host holds."""
    utility.enrol(TERMINAL)
    folder = tmp_path / "pki"
    utility.save(folder)
    (folder / "ca.key").rename(tmp_path / "ca.key.offline")
    return folder


def test_services_run_without_the_ca_key(utility: UtilityPki, published: Path) -> None:
    fep = UtilityPki.load_party(published, utility.clock, "fep")
    terminal = UtilityPki.load_party(published, utility.clock, f"terminal-{TERMINAL.hex()}")
    assert fep.ca is None and terminal.ca is None
    assert connect(terminal.terminal_channel(TERMINAL)(), fep.fep_channel()())[1] == [
        ChannelUp(TERMINAL)
    ]
    # ... and cannot act as the CA
    with pytest.raises(ConfigError, match="without the CA key"):
        fep.enrol(bytes.fromhex("990000000009"))
    with pytest.raises(ConfigError, match=r"no ca\.key: issuing, revoking"):
        UtilityPki.load(published, utility.clock)


def test_a_published_revocation_reaches_a_running_fep(
    utility: UtilityPki, published: Path, tmp_path: Path
) -> None:
    fep = UtilityPki.load_party(published, utility.clock, "fep").fep_channel(events := EventLog())
    terminal = UtilityPki.load_party(published, utility.clock, f"terminal-{TERMINAL.hex()}")
    assert connect(terminal.terminal_channel(TERMINAL)(), fep())[1] == [ChannelUp(TERMINAL)]
    # the administrator, with the CA key, revokes the terminal and publishes the CRL
    (tmp_path / "ca.key.offline").rename(published / "ca.key")
    admin = UtilityPki.load(published, utility.clock)
    admin.revoke(TERMINAL)
    admin.save(published)
    at_fep = connect(terminal.terminal_channel(TERMINAL)(), fep())[1]
    assert isinstance(at_fep[0], ChannelClosed) and "revoked" in at_fep[0].reason
    assert [e.kind for e in events.events] == [EventKind.KEY]


def test_a_lapsed_or_forged_crl_refuses_everyone_until_a_new_one_is_signed(
    utility: UtilityPki, published: Path, tmp_path: Path
) -> None:
    clock = utility.clock
    assert isinstance(clock, VirtualClock)
    fep = UtilityPki.load_party(published, clock, "fep").fep_channel()
    terminal = UtilityPki.load_party(published, clock, f"terminal-{TERMINAL.hex()}")
    clock.advance(8 * DAY)  # the published CRL was valid for 7
    at_fep = connect(terminal.terminal_channel(TERMINAL)(), fep())[1]
    assert isinstance(at_fep[0], ChannelClosed) and "not current" in at_fep[0].reason
    # a CRL signed by another CA is no better
    other = UtilityPki.create(clock, name="not the utility")
    other.save(tmp_path / "other")
    (published / "ca.crl").write_bytes((tmp_path / "other" / "ca.crl").read_bytes())
    at_fep = connect(terminal.terminal_channel(TERMINAL)(), fep())[1]
    assert isinstance(at_fep[0], ChannelClosed) and "CRL" in at_fep[0].reason
    # the administrator signs a fresh one: the next connection is accepted again
    (tmp_path / "ca.key.offline").rename(published / "ca.key")
    UtilityPki.load(published, clock).save(published)
    assert connect(terminal.terminal_channel(TERMINAL)(), fep())[1] == [ChannelUp(TERMINAL)]


def test_a_party_without_its_files_is_told_what_to_run(
    utility: UtilityPki, published: Path
) -> None:
    with pytest.raises(ConfigError, match="wattguard pki --enrol 990000000002"):
        UtilityPki.load_party(published, utility.clock, "terminal-990000000002")
    (published / "ca.crl").unlink()
    with pytest.raises(ConfigError, match="wattguard pki --crl"):
        UtilityPki.load_party(published, utility.clock, "fep")
