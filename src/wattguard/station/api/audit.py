"""``/api/audit``: the station's audit trail, checked now."""

from typing import Any

from fastapi import APIRouter

from wattguard.station.api._dependencies import Caller, CurrentStation

__all__ = ["router"]

router = APIRouter()


@router.get("/api/audit")
async def audit(_: Caller, station: CurrentStation) -> dict[str, Any]:
    """The audit trail checked now: its length, the first entry that does not hold (or
    null), and the last entry the cryptographic device witnessed (or null)."""
    broken, witnessed = station.check_audit()
    return {
        "entries": len(station.storage.audit()),
        "broken_at": broken,
        "witnessed": None if witnessed is None else witnessed[0],
    }
