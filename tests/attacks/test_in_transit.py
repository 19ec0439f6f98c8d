"""The power-line adversary's rewrites are real alterations: whole frames with valid link
checksums (so only the MACs can tell), on frames captured from a running deployment."""

from __future__ import annotations

import pytest

from wattguard.attacks.scenarios.deployed import (
    Tap,
    apdu_of,
    command_frame,
    fresh_deployment,
    meter_of,
)
from wattguard.attacks.scenarios.forgery import TRIP, forge_command, made_up_keys
from wattguard.attacks.scenarios.in_transit import flip_energy, flip_trip, truncate_records
from wattguard.protocol import OMD, decode_apdu, decode_frame
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.get import GetResponseNormalList, GetResponseRecord
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse


@pytest.mark.parametrize("protected", [True, False])
def test_energy_flips_and_truncations_keep_the_frame_valid(protected: bool) -> None:
    deployment = fresh_deployment(protected, warm_up=0, private_readings=False)
    net, meter = meter_of(deployment)
    tap = Tap(net)
    deployment.run_virtual(2 * 3600)
    answers = tap.up(meter.address)
    flipped = [f for f in map(flip_energy, answers) if f is not None]
    assert flipped and all(after < before for _, before, after in flipped)
    for frame, _, after in flipped:
        apdu = apdu_of(frame)  # decodes: the HCS and FCS were recomputed
        assert isinstance(apdu, SecurityResponse) is protected
        if isinstance(apdu, SecurityResponse):
            apdu = decode_apdu(apdu.payload.data)
        assert isinstance(apdu, GetResponseNormalList)
        assert apdu.results[0].result.value[0].value == after
    short = [f for f in map(truncate_records, answers) if f is not None]
    assert short
    for frame in short:
        apdu = apdu_of(frame)
        assert isinstance(apdu, SecurityResponse) is protected
        if isinstance(apdu, SecurityResponse):
            assert apdu.mac  # the MAC is kept, and no longer fits
            apdu = decode_apdu(apdu.payload.data)
        assert isinstance(apdu, GetResponseRecord) and apdu.result.result == ()
    assert flip_energy(b"\x68garbage") is None and truncate_records(answers[0][:-3]) is None


def test_a_trip_becomes_an_alarm_and_a_ciphertext_changes_in_one_byte() -> None:
    bare = command_frame(bytes.fromhex("000001000001"), TRIP)
    alarm = apdu_of(flip_trip(bare) or b"")
    assert isinstance(alarm, ActionRequest) and alarm.omd == OMD(0x8000, 127, 0)
    wrapped = forge_command(made_up_keys(), bytes.fromhex("000001000001"), TRIP)
    frame = command_frame(bytes.fromhex("000001000001"), wrapped)
    altered = apdu_of(flip_trip(frame) or b"")
    assert isinstance(altered, SecurityRequest)
    before, after = wrapped.payload.data, altered.payload.data
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert altered.verification == wrapped.verification
    decode_frame(flip_trip(frame) or b"")  # valid checksums
