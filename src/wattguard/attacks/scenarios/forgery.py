"""Scenario 4: forged commands on the power line, and the adversary's key tools.

The adversary transmits a remote trip to a customer's meter on the power line, built with the
public profile (docs/security.md: SM4 encryption and MACs, the SID layout; the algorithms are
no secret, only the keys are):

* ``forged-command-no-key``: the bare ACTION, as an unprotected meter takes it;
* ``forged-command-wrong-key``: ciphertext + SID_MAC under keys the adversary made up, with a
  counter far above any the station used (the ESAM accepts gaps);
* ``forged-command-other-meter-key``: the same under the keys extracted from the adversary's own
  meter on the same line (an opened ESAM, :func:`extract_keys`).

Protected, the meter's F101 policy wants ciphertext + MAC for an ACTION (DAR 20 for the bare
one) and its ESAM checks the MAC under the meter's own diversified keys (DAR 22 for the
others); each refusal is reported to the station. Unprotected, there is no key to have
wrong: the adversary sends the bare ACTION the meter takes, and the supply goes off.

The tools are used by the other scenarios too: :func:`extract_keys` (the invasive attack on
one meter's secure element), :func:`forge_command` and :func:`forge_answer` (what anyone with
a meter's keys can build).
"""

from __future__ import annotations

import os
from typing import cast

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    command_frame,
    fresh_deployment,
    hexed,
    meter_of,
    transmit,
)
from wattguard.esam import profile as p
from wattguard.esam.chip import Esam
from wattguard.esam.client import EsamClient
from wattguard.esam.state import open_sealed
from wattguard.meter.device import Meter
from wattguard.meter.management.esam_store import StoredEsam
from wattguard.protocol import OMD, SID, Data, DataType
from wattguard.protocol.apdu import Structure, security
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import (
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)

__all__ = [
    "TRIP",
    "extract_keys",
    "forge_answer",
    "forge_command",
    "made_up_keys",
    "open_answer",
]

#: The station's remote trip (8000 method 129, no parameters: trip now).
TRIP = ActionRequest(7, OMD(0x8000, 129, 0), Data(DataType.NULL, None))
#: A command counter above anything the station will have used.
_FAR_AHEAD = 0x7FFF_0000


def extract_keys(meter: Meter) -> p.MeterKeys:
    """The invasive attack on an opened meter: the ESAM's non-volatile memory is read out and
    its device key recovered (decapsulation and probing; the soft ESAM models the memory as
    its sealed state). Returns the meter's symmetric keys as the chip holds them."""
    client = meter.management.esam
    if not isinstance(client, EsamClient):
        raise ValueError("this meter has no ESAM to extract keys from")
    chip = client._esam  # the chip on the board, under the probe
    if isinstance(chip, StoredEsam):  # its state kept in the meter's store: the chip itself
        chip = chip.esam
    chip = cast(Esam, chip)
    return open_sealed(chip.to_bytes(), chip._device_key).keys


def made_up_keys(version: int = 1) -> p.MeterKeys:
    """Keys the adversary invents (a guess, or a key from some other utility)."""
    return p.MeterKeys(version, {k: os.urandom(p.KEY_SIZE) for k in p.KeyId})


def forge_command(
    keys: p.MeterKeys, target: bytes, apdu: Structure, counter: int = _FAR_AHEAD
) -> SecurityRequest:
    """``apdu`` to the meter at ``target`` as ciphertext + SID_MAC under ``keys`` (the
    profile's construction, docs/security.md)."""
    sid = p.SidFields(p.Operation.COMMAND, p.Keyset.METER, keys.version, counter, target)
    ciphertext = p.encrypt(keys[p.KeyId.ENC], p.Direction.REQUEST, sid.binding, apdu.to_bytes())
    protected = bytes((security.Protection.CIPHERTEXT,)) + ciphertext
    tag = p.mac(keys[p.KeyId.MAC], p.Label.REQUEST, sid.binding, protected)
    return SecurityRequest(
        SecurityPayload(security.Protection.CIPHERTEXT, ciphertext),
        Verification(VerificationKind.SID_MAC, sid=SID(sid.ident, sid.attach), mac=tag),
    )


def forge_answer(keys: p.MeterKeys, request: SecurityRequest, apdu: bytes) -> SecurityResponse:
    """A meter's plaintext + MAC answer carrying ``apdu``, to a plaintext + RN read (the RN
    travels in the clear): what the station's cryptographic device accepts as the meter's."""
    binding = request.verification.random
    tag = p.mac(keys[p.KeyId.MAC], p.Label.RESPONSE, binding, b"\x00" + apdu)
    return SecurityResponse(SecurityPayload(security.Protection.PLAINTEXT, apdu), tag)


def open_answer(keys: p.MeterKeys, request: SecurityRequest, answer: SecurityResponse) -> bytes:
    """What a meter's answer to a plaintext + RN read carries, read with its extracted keys:
    the plaintext, or the ciphertext of a private reading decrypted (docs/security.md)."""
    data = answer.payload.data
    if answer.payload.protection == security.Protection.CIPHERTEXT:
        binding = request.verification.random
        return p.decrypt(keys[p.KeyId.ENC], p.Direction.RESPONSE, binding, data)
    return data


def _forged_trip(protected: bool, how: str) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    _, own = meter_of(deployment, 1)  # the adversary's own meter, on the same line
    request: Structure = TRIP
    if deployment.hsm is not None and how != "no key":
        keys = extract_keys(own) if how == "other meter" else made_up_keys()
        request = forge_command(keys, meter.address, TRIP)
    frame = command_frame(meter.address, request)
    view = StationView(deployment)
    transmit(deployment, net, meter.address, frame)
    deployment.run_virtual(900)
    state = meter.management.relay.state
    outcome = Outcome(
        not meter.management.relay.supplying,
        f"forged trip ({how if deployment.hsm is not None else 'bare: no key needed'}) sent to "
        f"meter {meter.address.hex()}: its relay is {state.value}",
        evidence=[f"forged frame: {hexed(frame)}"],
    )
    return view.into(outcome)


@scenario(
    4,
    "forged-command-no-key",
    "a remote trip forged without any key, transmitted on the power line",
    (Protection.IDENTITY, Protection.MONITORING),
)
def forged_no_key(protected: bool) -> Outcome:
    return _forged_trip(protected, "no key")


@scenario(
    4,
    "forged-command-wrong-key",
    "a remote trip forged as ciphertext + MAC under made-up keys",
    (Protection.IDENTITY, Protection.MONITORING),
)
def forged_wrong_key(protected: bool) -> Outcome:
    return _forged_trip(protected, "wrong key")


@scenario(
    4,
    "forged-command-other-meter-key",
    "a remote trip forged under the keys extracted from another meter (the adversary's own)",
    (Protection.IDENTITY, Protection.MONITORING),
)
def forged_other_meter_key(protected: bool) -> Outcome:
    return _forged_trip(protected, "other meter")
