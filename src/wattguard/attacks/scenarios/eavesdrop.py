"""Scenario 1, the power line's half: what an eavesdropper on HPLC recovers.

``hplc-eavesdrop``: a passive tap on the power line (HPLC reaches every socket of the
district) records an hour of traffic while the utility tops up a customer's prepaid wallet,
writes a parameter and trips a meter. The eavesdropper's goal is the content of the utility's
commands: which command, for which amount. Protected, every command travels as ciphertext +
MAC under the meter's keys (the default F101 word for SET and ACTION): the amount and the
method are not in the frame. Unprotected, the frames carry them in the clear.

Readings are the other half (scenario ``hplc-eavesdrop-readings``): under the standard's
default word they cross the power line as plaintext + MAC, integrity-protected (the station
refuses an altered one, scenario 3) but not confidential; the demo's meters keep them private
(ciphertext + MAC, the policy's ``make_readings_private``). The summary counts what the
eavesdropper read of them here. Nothing can notice a passive tap.
"""

from __future__ import annotations

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.deployed import (
    Tap,
    UtilityCommand,
    apdu_of,
    fresh_deployment,
    hexed,
    meter_of,
    trip,
)
from wattguard.attacks.scenarios.replay import PlainWallet, commands_on_the_line
from wattguard.errors import DecodeError
from wattguard.meter.management.exposure import CHARGING_PILE_LIMIT
from wattguard.network.hplc import Direction
from wattguard.protocol import OAD, OMD, SID, SIDMAC, Data, DataType, decode_apdu
from wattguard.protocol.apdu import Structure, security
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetResponseNormalList
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse
from wattguard.protocol.apdu.set import SetRequestNormal

__all__ = ["readable"]

AMOUNT = 12_345  # fen: the top-up the eavesdropper is after
_TOP_UP = OMD(0xF100, 6, 0)


def readable(frame: bytes) -> Structure | None:
    """The APDU a frame shows to someone without keys: the bare APDU, or the plaintext inside
    a SECURITY wrapping; None for ciphertext (or no frame)."""
    apdu = apdu_of(frame)
    if isinstance(apdu, SecurityRequest | SecurityResponse):
        if apdu.payload.protection != security.Protection.PLAINTEXT or not apdu.payload.data:
            return None
        try:
            return decode_apdu(apdu.payload.data)
        except DecodeError:
            return None
    return apdu


@scenario(
    1,
    "hplc-eavesdrop",
    "a passive tap on the power line recovers the utility's commands (a top-up's amount, a "
    "parameter, a trip) and the meters' readings",
    (Protection.DATA,),
    detectable=False,
)
def hplc_eavesdrop(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected, start=T0 + 18 * 3600)
    net, meter = meter_of(deployment)
    tap = Tap(net)
    if deployment.hsm is None:
        PlainWallet().fit(meter)
        top_up = Data.structure(
            Data(DataType.DOUBLE_LONG_UNSIGNED, AMOUNT),
            Data(DataType.SID_MAC, SIDMAC(SID(0, b""), b"")),
        )
    else:
        top_up = deployment.hsm.top_up(meter.address, AMOUNT, operator="otto")
    UtilityCommand(deployment, meter.address).send(ActionRequest(1, _TOP_UP, top_up))
    deployment.run_virtual(120)
    limit = Data(DataType.DOUBLE_LONG_UNSIGNED, 7000)
    UtilityCommand(deployment, meter.address).send(
        SetRequestNormal(2, OAD(CHARGING_PILE_LIMIT, 2, 0), limit)
    )
    deployment.run_virtual(120)
    trip(deployment, meter.address)
    deployment.run_virtual(3600)
    commands, readings, hidden = [], 0, 0
    for direction, _, frame in tap.frames:
        apdu = readable(frame)
        if apdu is None:
            hidden += 1
        elif direction == Direction.DOWN and isinstance(apdu, ActionRequest | SetRequestNormal):
            commands.append(_describe(apdu))
        elif direction == Direction.UP and isinstance(apdu, GetResponseNormalList):
            readings += sum(1 for r in apdu.results if isinstance(r.result, Data))
    address = meter.address
    recovered = [c for c in commands if str(AMOUNT) in c or "8000" in c or "ff10" in c]
    return Outcome(
        bool(recovered),
        f"{len(tap.frames)} frames captured, {hidden} unreadable (ciphertext); commands "
        f"recovered: {'; '.join(recovered) if recovered else 'none'}. Readings in the clear: "
        f"{readings} values",
        evidence=[f"command as captured: {hexed(f)}" for f in commands_on_the_line(tap, address)],
    )


def _describe(apdu: ActionRequest | SetRequestNormal) -> str:
    if isinstance(apdu, ActionRequest):
        if apdu.omd == _TOP_UP:
            return f"top-up of {apdu.data.value[0].value} fen"
        return f"ACTION {apdu.omd.oi:04x} method {apdu.omd.method}"
    return f"SET {apdu.oad.oi:04x} = {apdu.data.value}"
