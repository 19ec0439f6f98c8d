"""A utility's archive goes into the register in one transaction (``wattguard meters import``),
audited entry by entry on an unbroken chain, on each database: a 100,000-meter district is
registered before its terminals report, not learnt a SELECT and a commit at a time."""

from __future__ import annotations

from wattguard.station.audit import StationAudit
from wattguard.station.register import MeterRegister
from wattguard.testing import MIDNIGHT
from wattguard.testing.storage import Backend

METERS = 3_000


def _csv(rows: list[tuple[int, int]], cls: str = "") -> str:
    lines = ["address,terminal,class"]
    lines += [f"{m:012d},{990000000000 + t:012d},{cls}" for m, t in rows]
    return "\n".join(lines) + "\n"


def test_an_archive_is_imported_at_once_and_every_change_audited(backend: Backend) -> None:
    storage = backend.open()
    register = MeterRegister(storage, lambda: MIDNIGHT)
    register.add(f"{7:012d}", f"{990000000001:012d}")  # known already, behind terminal 1
    rows = [(m, 1 + m // 250) for m in range(1, METERS + 1)]
    changes = register.import_csv(_csv(rows))
    outcomes = [c.outcome for c in changes]
    assert outcomes.count("added") == METERS - 1 and outcomes[6] == "unchanged"
    assert len(storage.meters()) == METERS
    assert dict(storage.meters())[f"{600:012d}"] == f"{990000000003:012d}"
    # again, with two meters moved and one class given: only those change
    rows[9] = (10, 7)
    rows[19] = (20, 8)
    again = register.import_csv(_csv(rows[:30]) + f"{40:012d},{990000000001:012d},three-phase\n")
    moved = [(c.meter, c.previous) for c in again if c.outcome == "moved"]
    assert moved == [(f"{10:012d}", f"{990000000001:012d}"), (f"{20:012d}", f"{990000000001:012d}")]
    assert storage.meter(f"{10:012d}").terminal == f"{990000000007:012d}"  # type: ignore[union-attr]
    assert storage.meter(f"{40:012d}").meter_class == "three-phase"  # type: ignore[union-attr]
    audit = StationAudit(storage, lambda: MIDNIGHT)
    actions = [row.action for row in storage.audit()]
    assert actions.count("meter added") == METERS and actions.count("meter moved") == 2
    assert actions.count("meter class") == 1
    assert audit.verify() is None, "the bulk entries chain on as single ones do"
    assert [row.seq for row in storage.audit()] == list(range(len(actions)))


def test_a_bulk_audit_continues_the_chain_of_single_entries(backend: Backend) -> None:
    storage = backend.open()
    audit = StationAudit(storage, lambda: MIDNIGHT)
    audit.append("first", "one entry")
    rows = audit.append_many([("bulk", f"entry {k}") for k in range(5)])
    audit.append("last", "one entry again")
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5] and audit.verify() is None
    assert audit.append_many([]) == [] and len(storage.audit()) == 7
    # a bulk entry changed in the database breaks the chain where it was changed
    backend.raw(storage, "UPDATE audit SET detail = 'forged' WHERE seq = 3")
    assert StationAudit(storage, lambda: MIDNIGHT).verify() == 3
