"""Scenario 9 in detail: what an opened meter's keys give away.

The last test documents a limit of the design (reported, not hidden): an over-the-air key
update is wrapped under the meter's current transport key, so an adversary who extracted that
key and watches the line learns the new keys too. The scenario therefore recovers an opened
meter by replacing its ESAM at a new key version (``extracted-keys-meter-replaced``)."""

from __future__ import annotations

from wattguard.attacks.scenarios.deployed import (
    Tap,
    UtilityCommand,
    apdu_of,
    command_frame,
    fresh_deployment,
    meter_of,
    transmit,
)
from wattguard.attacks.scenarios.forgery import TRIP, extract_keys, forge_command
from wattguard.attacks.scenarios.replay import commands_on_the_line
from wattguard.esam import profile as p
from wattguard.protocol import OMD, decode_apdu
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import SecurityRequest


def test_the_extracted_keys_are_the_meters_own_and_no_other() -> None:
    deployment = fresh_deployment(True)
    _, first = meter_of(deployment)
    _, second = meter_of(deployment, 1)
    assert deployment.hsm is not None
    master = deployment.hsm.security.master()
    assert extract_keys(first).keys == master.for_meter(first.address).keys
    assert extract_keys(first).keys != extract_keys(second).keys


def unwrap_key_update(old: p.MeterKeys, frame: bytes) -> p.MeterKeys:
    """What a passive listener with the meter's old keys does with a captured key update."""
    request = apdu_of(frame)
    assert isinstance(request, SecurityRequest) and request.verification.sid is not None
    sid = request.verification.sid
    binding = sid.ident.to_bytes(4, "big") + sid.additional
    inner = p.decrypt(old[p.KeyId.ENC], p.Direction.REQUEST, binding, request.payload.data)
    action = decode_apdu(inner)
    assert isinstance(action, ActionRequest) and action.omd == OMD(0xF100, 7, 0)
    ciphertext, protected = (item.value for item in action.data.value)
    wrap_binding = protected.sid.ident.to_bytes(4, "big") + protected.sid.additional
    wrap_key = p.subkey(old[p.KeyId.TRANSPORT], b"E")
    return p.MeterKeys.from_bytes(
        p.decrypt(wrap_key, p.Direction.KEY_WRAP, wrap_binding, ciphertext)
    )


def test_an_over_the_air_key_update_does_not_recover_an_opened_meter() -> None:
    deployment = fresh_deployment(True)
    net, meter = meter_of(deployment)
    hsm = deployment.hsm
    assert hsm is not None
    old = extract_keys(meter)
    tap = Tap(net)
    hsm.rotate(p.MasterKeys.generate(2, lambda n: bytes(range(n))))
    update = UtilityCommand(deployment, meter.address)
    update.send(ActionRequest(1, OMD(0xF100, 7, 0), hsm.key_update(meter.address, 2)))
    deployment.run_virtual(120)
    assert update.result == "ok"
    hsm.key_updated(meter.address, 2)
    assert extract_keys(meter).version == 2
    # the listener unwraps the new keys from the captured update ...
    captured = commands_on_the_line(tap, meter.address)[-1]
    learned = unwrap_key_update(old, captured)
    assert learned.version == 2 and learned.keys == extract_keys(meter).keys
    # ... and commands the meter with them as before
    transmit(deployment, net, meter.address, command_frame(
        meter.address, forge_command(learned, meter.address, TRIP)
    ))  # fmt: skip
    deployment.run_virtual(60)
    assert not meter.management.relay.supplying
