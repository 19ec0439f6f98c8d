"""Roles of local (Bluetooth) handhelds, and which DL/T 698.45 services and objects each role
may use.

A handheld is paired in one :class:`Role`:

* ``READ_ONLY``: GET only (every GET form: normal, list, record, next, MD5).
* ``MAINTENANCE``: GET, and SET of the parameters in :data:`MAINTENANCE_SET` (clock, demand
  period, display, voltage limits) and nothing else.

No handheld role may ACTION (relay trip and close, power keeping, key update, wallet top-up,
event reset are all methods), PROXY (reach other meters), CONNECT or RELEASE (the pairing is
the association), or send a SECURITY-Request (its inner APDU cannot be inspected here). The
objects in :func:`never_local` (the ESAM and the security policy, the relay and its controls,
the prepaid wallet) are outside every local role by design, whatever a future allowlist says:
:data:`MAINTENANCE_SET` is checked against them at import.

A request is judged as a whole: one item outside the role refuses all of it, so nothing is
half-applied. :func:`denial` builds the 698 answer to a refused request, with DAR 3
(read/write denied) for each item.
"""

from __future__ import annotations

import enum

from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu import action as act
from wattguard.protocol.apdu import get as g
from wattguard.protocol.apdu import set as st
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType

__all__ = ["MAINTENANCE_SET", "Role", "denial", "never_local", "refusal_reason"]


class Role(enum.IntEnum):
    """A handheld's role; a higher value may do more."""

    READ_ONLY = 1
    MAINTENANCE = 2


#: What a MAINTENANCE handheld may SET (DL/T 698.45 parameter objects, clause 5 / Appendix).
MAINTENANCE_SET: frozenset[int] = frozenset(
    {
        0x4000,  # date and time
        0x4007,  # LCD display parameters
        0x4030,  # voltage qualification parameters
        0x4100,  # maximum demand period
        0x4101,  # sliding window time
    }
)

_WALLET = frozenset({0x202C, 0x202D, 0x202E})  # wallet file, overdraft, accumulated purchase


def never_local(oi: int) -> bool:
    """Objects no local role may change: ESAM and security (F1xx), control (80xx: relay,
    power keeping, alarms), and the prepaid wallet."""
    return 0xF100 <= oi <= 0xF1FF or 0x8000 <= oi <= 0x80FF or oi in _WALLET


if any(never_local(oi) for oi in MAINTENANCE_SET):  # pragma: no cover - a guard on the table
    raise AssertionError("MAINTENANCE_SET names an object no local role may change")

_GETS = (
    g.GetRequestNormal,
    g.GetRequestNormalList,
    g.GetRequestRecord,
    g.GetRequestRecordList,
    g.GetRequestNext,
    g.GetRequestMD5,
)


def _set_targets(apdu: Structure) -> list[int] | None:
    if isinstance(apdu, st.SetRequestNormal):
        return [apdu.oad.oi]
    if isinstance(apdu, st.SetRequestNormalList | st.SetThenGetRequestNormalList):
        return [item.oad.oi for item in apdu.items]
    return None


def refusal_reason(apdu: Structure, role: Role) -> str | None:
    """None when ``role`` may send ``apdu``; otherwise why not."""
    if isinstance(apdu, _GETS):
        return None
    targets = _set_targets(apdu)
    if targets is None:
        return f"{type(apdu).__name__} is not open to handhelds"
    if role < Role.MAINTENANCE:
        return f"SET needs the maintenance role, not {role.name}"
    outside = [oi for oi in targets if oi not in MAINTENANCE_SET]
    if outside:
        return "SET of " + ", ".join(f"{oi:04X}" for oi in outside) + " is not open to handhelds"
    return None


def denial(apdu: Structure) -> Structure:
    """The 698 answer to a refused request: DAR 3 per item, or ERROR-Response."""
    denied = DAR.READ_WRITE_DENIED
    piid = getattr(apdu, "piid", 0)
    if isinstance(apdu, st.SetRequestNormal):
        return st.SetResponseNormal(piid, apdu.oad, denied)
    if isinstance(apdu, st.SetRequestNormalList):
        return st.SetResponseNormalList(
            piid, tuple(st.SetResult(item.oad, denied) for item in apdu.items)
        )
    if isinstance(apdu, st.SetThenGetRequestNormalList):
        results = tuple(
            st.SetThenGetResult(item.oad, denied, item.read_oad, denied) for item in apdu.items
        )
        return st.SetThenGetResponseNormalList(piid, results)
    if isinstance(apdu, act.ActionRequest):
        return act.ActionResponseNormal(piid, act.ActionResult(apdu.omd, denied))
    if isinstance(apdu, act.ActionRequestList):
        return act.ActionResponseNormalList(
            piid, tuple(act.ActionResult(item.omd, denied) for item in apdu.items)
        )
    if isinstance(apdu, act.ActionThenGetRequestNormalList):
        results_then_get = tuple(
            act.ActionThenGetResult(item.omd, denied, None, item.read_oad, denied)
            for item in apdu.items
        )
        return act.ActionThenGetResponseNormalList(piid, results_then_get)
    return ErrorResponse(piid, ErrorType.SERVICE_UNSUPPORTED)
