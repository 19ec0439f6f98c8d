"""Signed envelopes on the bus (issue #13, item 1): a message reaches a consumer only when a
known service signed it, for the subject it arrived on, which that service may publish on,
and it is fresh; everything else is dropped with an aggregated security event."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError
from wattguard.events import EventKind, EventLog, SecurityEvent
from wattguard.network.bus import InProcessBus, down_subject, up_subject
from wattguard.network.sealed_bus import (
    BusDirectory,
    BusIdentity,
    BusRole,
    Envelope,
    SealedBus,
    may_publish,
    may_subscribe,
)
from wattguard.testing import T0

TERMINAL = bytes.fromhex("990000000001")
FRAME = bytes.fromhex("6817004305010000000000001a2b") + b"frame"


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    wire: InProcessBus
    clock: Clock
    station: SealedBus
    fep: SealedBus
    other: SealedBus
    station_events: EventLog
    fep_events: EventLog
    got_up: list[tuple[str, bytes]]
    got_events: list[tuple[str, bytes]]
    got_down: list[bytes]


def identities() -> tuple[BusIdentity, BusIdentity, BusIdentity]:
    return (
        BusIdentity("station", BusRole.STATION, sm2.PrivateKey.generate()),
        BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate()),
        BusIdentity("fep-2", BusRole.FEP, sm2.PrivateKey.generate()),
    )


def directory_of(*services: BusIdentity) -> BusDirectory:
    return BusDirectory({s.name: (s.role, s.key.public_key) for s in services})


@pytest.fixture
def rig() -> Rig:
    station_id, fep_id, other_id = identities()
    directory = directory_of(station_id, fep_id, other_id)
    wire, clock = InProcessBus(), Clock()
    station_events, fep_events = EventLog(), EventLog()
    station = SealedBus(wire, station_id, directory, clock=clock, events=station_events)
    fep = SealedBus(wire, fep_id, directory, clock=clock, events=fep_events)
    other = SealedBus(wire, other_id, directory, clock=clock)
    got_up: list[tuple[str, bytes]] = []
    got_events: list[tuple[str, bytes]] = []
    got_down: list[bytes] = []
    station.subscribe("up.*", lambda s, p: got_up.append((s, p)))
    station.subscribe("events.*", lambda s, p: got_events.append((s, p)))
    fep.subscribe(down_subject(TERMINAL), lambda s, p: got_down.append(p))
    return Rig(wire, clock, station, fep, other, station_events, fep_events, got_up,
               got_events, got_down)  # fmt: skip


def kinds(log: EventLog) -> list[EventKind]:
    return [event.kind for event in log.events]


def test_genuine_messages_pass_both_ways(rig: Rig) -> None:
    rig.fep.publish(up_subject(TERMINAL), FRAME)
    rig.station.publish(down_subject(TERMINAL), b"down frame")
    rig.other.publish("events.fep-2", b"{}")
    assert rig.got_up == [(up_subject(TERMINAL), FRAME)]
    assert rig.got_down == [b"down frame"]
    assert rig.got_events == [("events.fep-2", b"{}")]
    assert not rig.station_events.events and not rig.fep_events.events


def test_an_unsigned_message_is_dropped_with_an_event(rig: Rig) -> None:
    rig.wire.publish("events.fep-1", b'{"kind": "TAMPER", "source": "fep-1"}')
    rig.wire.publish(down_subject(TERMINAL), FRAME)
    assert rig.got_events == [] and rig.got_down == []
    assert kinds(rig.station_events) == [EventKind.MALFORMED]
    assert kinds(rig.fep_events) == [EventKind.MALFORMED]


def test_a_forged_signature_or_an_unknown_sender_is_refused(rig: Rig) -> None:
    impostor = BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate())
    stranger = BusIdentity("fep-9", BusRole.FEP, sm2.PrivateKey.generate())
    sequence = int(rig.clock.now * 1e6)
    for forger in (impostor, stranger):
        rig.wire.publish("events.fep-1", forger.seal("events.fep-1", b"{}", sequence).to_bytes())
    assert rig.got_events == []
    assert kinds(rig.station_events) == [EventKind.AUTHENTICATION] * 2
    assert "unknown sender" in rig.station_events.events[1].detail


def test_a_tampered_envelope_is_refused(rig: Rig) -> None:
    captured: list[bytes] = []
    rig.wire.subscribe("up.*", lambda s, p: captured.append(p))
    rig.fep.publish(up_subject(TERMINAL), FRAME)
    genuine = captured[0]
    at = genuine.index(FRAME) + 3
    tampered = genuine[:at] + bytes([genuine[at] ^ 1]) + genuine[at + 1 :]
    rig.wire.publish(up_subject(TERMINAL), tampered)
    assert rig.got_up == [(up_subject(TERMINAL), FRAME)]
    assert kinds(rig.station_events) == [EventKind.AUTHENTICATION]


def test_a_replayed_envelope_is_refused(rig: Rig) -> None:
    captured: list[bytes] = []
    rig.wire.subscribe("down.*", lambda s, p: captured.append(p))
    rig.station.publish(down_subject(TERMINAL), b"trip")
    rig.clock.now += 1
    rig.wire.publish(down_subject(TERMINAL), captured[0])
    assert rig.got_down == [b"trip"]
    assert kinds(rig.fep_events) == [EventKind.REPLAY]


def test_a_replay_after_a_resubscription_is_refused_too(rig: Rig) -> None:
    """A terminal that reconnects to the FEP subscribes again to its down subject: the marks
    of its last subscription still hold."""
    captured: list[bytes] = []
    rig.wire.subscribe("down.*", lambda s, p: captured.append(p))
    got: list[bytes] = []
    off = rig.fep.subscribe(down_subject(bytes(6)), lambda s, p: got.append(p))
    rig.station.publish(down_subject(bytes(6)), b"trip")
    off()
    rig.fep.subscribe(down_subject(bytes(6)), lambda s, p: got.append(p))
    rig.wire.publish(down_subject(bytes(6)), captured[-1])
    assert got == [b"trip"] and kinds(rig.fep_events) == [EventKind.REPLAY]


def test_an_old_envelope_is_refused_even_by_a_new_consumer(rig: Rig) -> None:
    captured: list[bytes] = []
    rig.wire.subscribe("up.*", lambda s, p: captured.append(p))
    rig.fep.publish(up_subject(TERMINAL), FRAME)
    rig.clock.now += 3600  # the station restarts later: a new consumer, no marks
    events = EventLog()
    fresh = SealedBus(rig.wire, rig.station.identity, rig.station.directory, clock=rig.clock,
                      events=events)  # fmt: skip
    got: list[bytes] = []
    fresh.subscribe("up.*", lambda s, p: got.append(p))
    rig.wire.publish(up_subject(TERMINAL), captured[0])
    assert got == [] and kinds(events) == [EventKind.REPLAY]


def test_a_service_cannot_speak_outside_its_role(rig: Rig) -> None:
    """fep-1 signs a down request and an event in fep-2's name: genuine signatures, refused
    subjects. A genuine envelope moved to another subject is refused as well."""
    sequence = int(rig.clock.now * 1e6)
    fep_id = rig.fep.identity
    rig.wire.publish(down_subject(TERMINAL),
                     fep_id.seal(down_subject(TERMINAL), b"trip", sequence).to_bytes())  # fmt: skip
    rig.wire.publish("events.fep-2", fep_id.seal("events.fep-2", b"{}", sequence + 1).to_bytes())
    moved = fep_id.seal(up_subject(TERMINAL), FRAME, sequence + 2).to_bytes()
    rig.wire.publish(up_subject(bytes(6)), moved)
    assert rig.got_down == [] and rig.got_events == [] and rig.got_up == []
    assert kinds(rig.fep_events) == [EventKind.UNAUTHORISED]
    assert kinds(rig.station_events) == [EventKind.UNAUTHORISED]  # aggregated: same sender
    with pytest.raises(ConfigError):
        rig.fep.publish(down_subject(TERMINAL), b"trip")
    with pytest.raises(ConfigError):
        rig.fep.publish("events.fep-2", b"{}")
    with pytest.raises(ConfigError):
        rig.fep.subscribe("up.*", lambda s, p: None)


def test_a_flood_of_forgeries_makes_few_events_and_keeps_the_count(rig: Rig) -> None:
    for _ in range(1000):
        rig.wire.publish("events.fep-1", b"forged")
    assert rig.station.refused == 1000
    assert len(rig.station_events.events) == 1
    rig.clock.now += 61
    rig.wire.publish("events.fep-1", b"forged")
    assert len(rig.station_events.events) == 2
    assert "999 more" in rig.station_events.events[1].detail
    rig.wire.publish("events.fep-1", b"forged")
    rig.station.flush()
    assert "1 more" in rig.station_events.events[2].detail


def test_permissions_by_role() -> None:
    assert may_publish(BusRole.FEP, "fep-1", "up.990000000001")
    assert may_publish(BusRole.FEP, "fep-1", "events.fep-1")
    assert not may_publish(BusRole.FEP, "fep-1", "events.fep-2")
    assert not may_publish(BusRole.FEP, "fep-1", "down.990000000001")
    assert may_publish(BusRole.STATION, "station", "down.990000000001")
    assert not may_publish(BusRole.STATION, "station", "up.990000000001")
    assert may_subscribe(BusRole.FEP, "down.990000000001")
    assert not may_subscribe(BusRole.FEP, "down.>")
    assert not may_subscribe(BusRole.FEP, "up.*")
    assert may_subscribe(BusRole.STATION, "events.*")
    assert not may_subscribe(BusRole.STATION, "down.*")


def test_envelope_round_trip_and_refusals() -> None:
    _, fep_id, _ = identities()
    envelope = fep_id.seal("up.990000000001", FRAME, 123)
    data = envelope.to_bytes()
    assert Envelope.from_bytes(data) == envelope
    for bad in (data[:-1], data + b"\x00", b"\x02" + data[1:], b""):
        with pytest.raises(DecodeError):
            Envelope.from_bytes(bad)


def test_directory_round_trip_and_bad_names() -> None:
    station_id, fep_id, _ = identities()
    directory = directory_of(station_id, fep_id)
    assert BusDirectory.from_json(directory.to_json()) == directory
    for raw in ([], {"Fep 1": {"role": "fep", "sm2": "04"}}, {"x": {"role": "boss"}}):
        with pytest.raises(ConfigError):
            BusDirectory.from_json(raw)
    with pytest.raises(ConfigError):
        BusIdentity("fep.1", BusRole.FEP, sm2.PrivateKey.generate())


def test_the_station_stores_only_attributed_events() -> None:
    """A forged TAMPER on ``events.fep-1`` opens nothing; a genuine one from fep-2 is stored
    and names fep-2."""
    from wattguard.clock import VirtualClock
    from wattguard.network.bus import EventPublisher
    from wattguard.station import Station
    from wattguard.station.storage import open_storage

    station_id, fep_id, other_id = identities()
    directory = directory_of(station_id, fep_id, other_id)
    wire, clock = InProcessBus(), Clock()
    sealed = SealedBus(wire, station_id, directory, clock=clock)
    storage = open_storage("sqlite:///:memory:")
    station = Station(storage, sealed, VirtualClock(clock.now))
    sealed.events = station.monitor
    forged = b'{"kind": "TAMPER", "source": "fep-1", "detail": "case opened", "at": 1.0}'
    wire.publish("events.fep-1", forged)
    assert [e.kind for e in storage.events(limit=10)] == [EventKind.MALFORMED]
    publisher = EventPublisher(SealedBus(wire, other_id, directory, clock=clock), "fep-2")
    publisher.record(SecurityEvent(EventKind.FLOOD, "10.0.0.7:4000", "too fast", clock.now))
    stored = [e for e in storage.events(limit=10) if e.kind == EventKind.FLOOD]
    assert len(stored) == 1 and stored[0].source.startswith("fep-2")
    assert not any(e.kind == EventKind.TAMPER for e in storage.events(limit=10))
    station.close()
    storage.close()
