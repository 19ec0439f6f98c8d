"""Roles of local (Bluetooth) peers, and which DL/T 698.45 services and objects each role
may use.

A peer is paired in one :class:`Role`. The handhelds' roles:

* ``READ_ONLY``: GET only (every GET form: normal, list, record, next, MD5).
* ``MAINTENANCE``: GET, and SET of the parameters in :data:`MAINTENANCE_SET` (clock, demand
  period, display, voltage limits) and nothing else.

The other peers' roles (docs/bluetooth.md, "Other peers"), each narrower than any handheld's:

* ``CUSTOMER`` (the customer's phone, its certificate bound to one meter): GET-Request-Normal
  and -NormalList of :data:`CUSTOMER_READ` only (energy and credit).
* ``SENSOR`` (an external sensor, its certificate bound to one meter and one object): one
  SET-Request-Normal of attribute 2 of the object its certificate names, nothing else.
* ``CONCENTRATOR`` (a collection terminal using Bluetooth as its local channel): carries whole
  698 link frames to the meter's 698 server, which judges them exactly as it judges frames from
  the power line (F101 policy, ESAM); :func:`refusal_reason` refuses it every bare APDU.

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
from wattguard.protocol.apdu.common import DAR, AResultNormal, AResultRecord
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType

__all__ = [
    "BOUND_ROLES",
    "CUSTOMER_READ",
    "HANDHELD_ROLES",
    "MAINTENANCE_SET",
    "Role",
    "denial",
    "never_local",
    "refusal_reason",
]


class Role(enum.IntEnum):
    """A local peer's role (the value is the certificate's role byte). Of the handhelds'
    roles MAINTENANCE may do more than READ_ONLY; the other peers' roles are not ordered."""

    READ_ONLY = 1
    MAINTENANCE = 2
    CUSTOMER = 3
    SENSOR = 4
    CONCENTRATOR = 5


#: The roles of a technician's handheld (the only ones PIN pairing may give).
HANDHELD_ROLES: frozenset[Role] = frozenset({Role.READ_ONLY, Role.MAINTENANCE})
#: The roles whose certificate must name the meter it pairs with (a phone, a sensor).
BOUND_ROLES: frozenset[Role] = frozenset({Role.CUSTOMER, Role.SENSOR})

#: What the customer's phone may read: its consumption and its credit (DL/T 698.45 clause 5,
#: energy objects 00xx; the wallet's variables 202C remaining credit and purchase count, 202D
#: overdraft).
CUSTOMER_READ: frozenset[int] = frozenset(
    {
        0x0000,  # combined active energy
        0x0010,  # forward active energy
        0x0020,  # reverse active energy
        0x202C,  # wallet file: remaining amount, purchase count
        0x202D,  # overdraft amount
    }
)


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


def _customer_reason(apdu: Structure) -> str | None:
    if isinstance(apdu, g.GetRequestNormal):
        oads = [apdu.oad]
    elif isinstance(apdu, g.GetRequestNormalList):
        oads = list(apdu.oads)
    else:
        return f"{type(apdu).__name__} is not open to a customer's phone"
    outside = [oad.oi for oad in oads if oad.oi not in CUSTOMER_READ]
    if outside:
        return "GET of " + ", ".join(f"{oi:04X}" for oi in outside) + " is not the customer's"
    return None


def _sensor_reason(apdu: Structure, scope: int) -> str | None:
    if not isinstance(apdu, st.SetRequestNormal):
        return f"{type(apdu).__name__} is not open to a sensor"
    if apdu.oad.oi != scope or apdu.oad.attribute != 2 or apdu.oad.element != 0:
        return f"a sensor of {scope:04X} may not SET {apdu.oad}"
    return None


def refusal_reason(apdu: Structure, role: Role, scope: int = 0) -> str | None:
    """None when ``role`` may send ``apdu``; otherwise why not. ``scope`` is the object a
    SENSOR's certificate names."""
    if role == Role.CUSTOMER:
        return _customer_reason(apdu)
    if role == Role.SENSOR:
        return _sensor_reason(apdu, scope)
    if role == Role.CONCENTRATOR:
        return "a concentrator sends link frames, not bare APDUs"
    if isinstance(apdu, _GETS):
        return None
    targets = _set_targets(apdu)
    if targets is None:
        return f"{type(apdu).__name__} is not open to handhelds"
    if role != Role.MAINTENANCE:
        return f"SET needs the maintenance role, not {role.name}"
    outside = [oi for oi in targets if oi not in MAINTENANCE_SET]
    if outside:
        return "SET of " + ", ".join(f"{oi:04X}" for oi in outside) + " is not open to handhelds"
    return None


def denial(apdu: Structure) -> Structure:
    """The 698 answer to a refused request: DAR 3 per item, or ERROR-Response."""
    denied = DAR.READ_WRITE_DENIED
    piid = getattr(apdu, "piid", 0)
    if isinstance(apdu, g.GetRequestNormal):
        return g.GetResponseNormal(piid, AResultNormal(apdu.oad, denied))
    if isinstance(apdu, g.GetRequestNormalList):
        return g.GetResponseNormalList(piid, tuple(AResultNormal(oad, denied) for oad in apdu.oads))
    if isinstance(apdu, g.GetRequestRecord):
        record = apdu.record
        return g.GetResponseRecord(piid, AResultRecord(record.oad, record.columns, denied))
    if isinstance(apdu, g.GetRequestRecordList):
        records = tuple(AResultRecord(r.oad, r.columns, denied) for r in apdu.records)
        return g.GetResponseRecordList(piid, records)
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
