"""``/api/whoami``: whose a token is."""

from fastapi import APIRouter

from wattguard.station.api._dependencies import Caller

__all__ = ["router"]

router = APIRouter()


@router.get("/api/whoami")
async def whoami(caller: Caller) -> dict[str, str]:
    """The user the token belongs to, and their role."""
    return {"name": caller.name, "role": caller.role.name.lower()}
