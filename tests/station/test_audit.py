"""The station's SM3-chained audit trail, on every backend: someone with write access to the
database alters, deletes, reorders or inserts rows behind the station's back, and verify()
names the first row that no longer fits; the same edits go unnoticed by the table itself. A
rewrite that recomputes every hash is caught against the checkpoint the cryptographic device
witnessed, and goes unnoticed without it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from wattguard.cipher import CryptoDevice
from wattguard.cipher.audit import GENESIS, chain_hash
from wattguard.clock import VirtualClock
from wattguard.crypto import sm2, sm3
from wattguard.esam.profile import MasterKeys
from wattguard.events import EventKind
from wattguard.network.bus import InProcessBus
from wattguard.station import Station
from wattguard.station.audit import StationAudit
from wattguard.station.commands import CommandKind, Role, User
from wattguard.testing.storage import Backend, Store


def _trail(store: Store, entries: int = 6) -> StationAudit:
    times = iter(range(100, 100 + entries))
    audit = StationAudit(store, clock=lambda: float(next(times)))
    for k in range(entries):
        audit("approve", f"command {k} by sam")
    assert audit.verify() is None
    return audit


def test_the_chain_is_sm3_of_the_previous_hash_and_the_entry(backend: Backend) -> None:
    store = backend.open()
    audit = _trail(store, 2)
    rows = store.audit()
    assert [row.seq for row in rows] == [0, 1]
    action = b"approve"
    body = (0).to_bytes(8, "big") + bytes.fromhex("4059000000000000")  # 100.0 as a double
    body += len(action).to_bytes(2, "big") + action + b"command 0 by sam"
    assert rows[0].hash == sm3.hash(GENESIS + body).hex()
    assert rows[1].hash == chain_hash(bytes.fromhex(rows[0].hash), 1, 101.0, "approve",
                                      "command 1 by sam").hex()  # fmt: skip
    assert audit.head.hex() == rows[1].hash
    assert audit.checkpoint() == (1, audit.head)


def _swap_seq(backend: Backend, store: Store, a: int, b: int) -> None:
    backend.raw(store, "UPDATE audit SET seq = -1 WHERE seq = ?", (a,))
    backend.raw(store, "UPDATE audit SET seq = ? WHERE seq = ?", (a, b))
    backend.raw(store, "UPDATE audit SET seq = ? WHERE seq = -1", (b,))


def _swap_contents(backend: Backend, store: Store, a: int, b: int) -> None:
    rows = {row.seq: row for row in store.audit()}
    for mine, theirs in ((a, b), (b, a)):
        other = rows[theirs]
        backend.raw(
            store,
            "UPDATE audit SET time = ?, action = ?, detail = ?, hash = ? WHERE seq = ?",
            (other.time, other.action, other.detail, other.hash, mine),
        )


EDITS: dict[str, tuple[Callable[[Backend, Store], None], int]] = {
    "detail altered": (
        lambda b, s: b.raw(s, "UPDATE audit SET detail = 'command 2 by eve' WHERE seq = 2"),
        2,
    ),
    "time altered": (lambda b, s: b.raw(s, "UPDATE audit SET time = 99 WHERE seq = 3"), 3),
    "action altered": (lambda b, s: b.raw(s, "UPDATE audit SET action = 'x' WHERE seq = 0"), 0),
    "hash altered": (
        lambda b, s: b.raw(s, "UPDATE audit SET hash = ? WHERE seq = 4", ("00" * 32,)), 4
    ),
    "hash not hex": (lambda b, s: b.raw(s, "UPDATE audit SET hash = 'zz' WHERE seq = 1"), 1),
    "row deleted": (lambda b, s: b.raw(s, "DELETE FROM audit WHERE seq = 1"), 1),
    "sequence numbers swapped": (lambda b, s: _swap_seq(b, s, 2, 3), 2),
    "rows swapped": (lambda b, s: _swap_contents(b, s, 3, 4), 3),
    "row inserted at the end": (
        lambda b, s: b.raw(
            s, "INSERT INTO audit VALUES (6, 200.0, 'approve', 'forged', ?)", ("11" * 32,)
        ),
        6,
    ),
    "row renumbered": (lambda b, s: b.raw(s, "UPDATE audit SET seq = 9 WHERE seq = 5"), 5),
}  # fmt: skip


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_an_edited_trail_is_caught_at_the_first_row_that_does_not_fit(
    backend: Backend, edit: str
) -> None:
    store = backend.open()
    audit = _trail(store)
    change, broken_at = EDITS[edit]
    before = list(store.audit())
    change(backend, store)
    assert store.audit() != before  # the database took the edit without a murmur...
    assert audit.verify() == broken_at  # ...the chain did not


def _rewrite_from(backend: Backend, store: Store, start: int, detail: str) -> None:
    """What an attacker who knows the chain function does: edit, then recompute every hash."""
    backend.raw(store, "UPDATE audit SET detail = ? WHERE seq = ?", (detail, start))
    previous = GENESIS
    for seq, time, action, text, _ in store.audit():
        digest = chain_hash(previous, seq, time, action, text)
        backend.raw(store, "UPDATE audit SET hash = ? WHERE seq = ?", (digest.hex(), seq))
        previous = digest


def test_a_rewritten_or_cut_tail_is_caught_only_against_a_checkpoint(backend: Backend) -> None:
    store = backend.open()
    audit = _trail(store)
    checkpoint = audit.checkpoint()
    assert checkpoint is not None and audit.verify(checkpoint) is None
    _rewrite_from(backend, store, 2, "command 2 by eve")
    assert audit.verify() is None  # a chain with no key cannot tell on its own
    assert audit.verify(checkpoint) == 5  # the checkpointed entry no longer has its hash
    _rewrite_from(backend, store, 2, "command 2 by sam")  # put back as it was
    assert audit.verify(checkpoint) is None
    backend.raw(store, "DELETE FROM audit WHERE seq >= 4")
    assert audit.verify() is None
    assert audit.verify(checkpoint) == 4  # where the missing entries should be


def test_a_reopened_trail_continues_the_chain(persistent: Backend) -> None:
    audit = _trail(persistent.open(), 3)
    head = audit.head
    again = StationAudit(persistent.open(), clock=lambda: 500.0)
    assert again.head == head
    row = again.append("login", "sun")
    assert row.seq == 3 and again.verify() is None


def test_two_stations_appending_at_once_extend_one_chain(persistent: Backend) -> None:
    audits = [StationAudit(persistent.open(), clock=lambda: 1.0) for _ in range(2)]

    def append(audit: StationAudit, name: str) -> None:
        for k in range(40):
            audit(name, f"entry {k}")

    threads = [
        threading.Thread(target=append, args=(audit, f"station {n}"))
        for n, audit in enumerate(audits)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = audits[0].storage.audit()
    assert [row.seq for row in rows] == list(range(80))
    assert audits[0].verify() is None and audits[1].verify() is None


# the witness: a rewrite that recomputes every hash


def _rewrite(backend: Backend, store: Store, seq: int, detail: str) -> None:
    """What an insider with write access to the database does: change an entry, then
    recompute its hash and every later one (SM3 has no key), so the chain is whole again."""
    rows = store.audit()
    previous = GENESIS if seq == 0 else bytes.fromhex(rows[seq - 1].hash)
    for row in rows[seq:]:
        text = detail if row.seq == seq else row.detail
        digest = chain_hash(previous, row.seq, row.time, row.action, text)
        backend.raw(
            store, "UPDATE audit SET detail = ?, hash = ? WHERE seq = ?",
            (text, digest.hex(), row.seq),
        )  # fmt: skip
        previous = digest


@pytest.mark.parametrize("witnessed", [True, False])
def test_a_rewritten_trail_is_caught_only_against_the_devices_checkpoint(
    persistent: Backend, witnessed: bool
) -> None:
    clock = VirtualClock(1000.0)
    device = CryptoDevice(
        [MasterKeys.generate(1, lambda n: bytes(n))], ca_key=sm2.PrivateKey.generate(),
        clock=clock.time,
    )  # fmt: skip
    hsm = device if witnessed else None
    store = persistent.open()
    station = Station(store, InProcessBus(), clock, hsm=hsm)
    station.register_meter(bytes.fromhex("000000000001"), bytes.fromhex("990000000001"))
    otto = User("otto", Role.OPERATOR)
    station.commands.issue(otto, CommandKind.TRIP, ("000000000001",), clock.time())
    station.commands.issue(otto, CommandKind.CLOSE, ("000000000001",), clock.time())
    station.tick()  # the trail's head goes to the device (when there is one)
    entries = store.audit()
    assert len(entries) >= 2 and station.verify_audit() is None
    # the insider hides who issued the first command, and re-hashes the rest
    _rewrite(persistent, store, 0, entries[0].detail.replace("otto", "sam"))
    assert StationAudit(store, clock.time).verify() is None  # the chain alone is whole again
    restarted = Station(persistent.open(), InProcessBus(), clock, hsm=hsm)
    if witnessed:
        assert restarted.audit_broken_at is not None
        tamper = restarted.storage.events(kind=EventKind.TAMPER)
        assert tamper and "audit trail does not hold" in tamper[0].detail
        assert any(a.rule == "tamper" for a in restarted.storage.alerts(open_only=True))
    else:
        assert restarted.audit_broken_at is None  # without the witness: unnoticed
        assert not restarted.storage.events(kind=EventKind.TAMPER)
