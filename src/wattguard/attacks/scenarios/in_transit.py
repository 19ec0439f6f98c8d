"""Scenario 3: frames altered in transit on the power line (bit flips, truncation).

A device clamped onto the power line between the terminal and a meter rewrites frames as they
pass, and recomputes the link checksums (HCS and FCS are CRCs, not secrets):

* ``hplc-bit-flip-reading``: flips the top bit of the total energy in every real-time reading
  a meter answers, so the station bills a fraction of what was used;
* ``hplc-bit-flip-command``: flips the method of the station's remote trip (8000 method 129)
  into the alarm (method 127): the meter only beeps, answers success, and the station records
  the customer as disconnected while the supply stays on;
* ``hplc-truncation``: cuts the rows off the meter's answers to the 15-minute curve read. The
  terminal takes the short answer as complete and moves its window on, so the records are never
  asked for again: they are silently lost (dropping the frame would not do it: a read that
  times out is retried).

Protected, readings come back plaintext + MAC (the MAC under the meter's key over the whole
answer, checked by the station's cryptographic device) and commands go ciphertext + MAC
(checked by the meter's ESAM): every alteration is refused, as a security event at the station.
Unprotected, each alteration is taken as genuine. The reading scenarios run with the
standard's plaintext + MAC reads rather than the demo's private readings: they test the MAC,
which the adversary should face with the values in sight (under ciphertext + MAC it cannot
even find them; a flipped ciphertext bit fails the same MAC).
"""

from __future__ import annotations

from dataclasses import replace

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.attacks.scenarios.deployed import (
    StationView,
    Tap,
    apdu_of,
    fresh_deployment,
    hexed,
    meter_of,
    trip,
)
from wattguard.errors import DecodeError
from wattguard.network.hplc import Direction
from wattguard.protocol import LinkFrame, decode_apdu, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetResponseRecord
from wattguard.protocol.apdu.security import SecurityPayload, SecurityRequest, SecurityResponse

__all__ = ["flip_energy", "flip_trip", "truncate_records"]

#: OAD 0010-0200 (forward active energy), a result with data, an array: what precedes the
#: total energy's double-long-unsigned in a GET answer.
_ENERGY_RESULT = bytes.fromhex("001002000101")
#: OMD 8000 method 129 (trip), and the XOR that turns it into method 127 (alarm).
_TRIP_METHOD = bytes.fromhex("80008100")
_TRIP_TO_ALARM = 0x81 ^ 0x7F


def _reframed(frame: bytes, apdu: bytes) -> bytes:
    """``frame`` carrying ``apdu`` instead, with its HCS and FCS recomputed."""
    old = decode_frame(frame)
    return LinkFrame(old.control, old.address, old.client_address, apdu, old.fragment).to_bytes()


def flip_energy(frame: bytes) -> tuple[bytes, int, int] | None:
    """Flip the highest set bit of the total energy in a GET answer (bare or plaintext + MAC);
    (new frame, value before, value after), or None if the frame carries no energy."""
    try:
        apdu = decode_frame(frame).apdu
    except DecodeError:
        return None
    at = apdu.find(_ENERGY_RESULT)
    if at < 0 or apdu[at + 7 : at + 8] != b"\x06":  # count, then double-long-unsigned
        return None
    start = at + 8
    value = int.from_bytes(apdu[start : start + 4], "big")
    if value == 0:
        return None
    flipped = value ^ (1 << (value.bit_length() - 1))
    new = apdu[:start] + flipped.to_bytes(4, "big") + apdu[start + 4 :]
    return _reframed(frame, new), value, flipped


def flip_trip(frame: bytes) -> bytes | None:
    """Turn a trip into an alarm: in a bare ACTION, flip the method's bits 129 -> 127; in a
    ciphertext request, flip the same bits where the method would sit (the adversary cannot
    read it, and tries anyway). None if the frame is no command."""
    apdu = apdu_of(frame)
    if isinstance(apdu, SecurityRequest):
        data = bytearray(apdu.payload.data)
        if len(data) < 8:
            return None
        data[6] ^= _TRIP_TO_ALARM
        payload = SecurityPayload(apdu.payload.protection, bytes(data))
        return _reframed(frame, SecurityRequest(payload, apdu.verification).to_bytes())
    raw = decode_frame(frame).apdu
    at = raw.find(_TRIP_METHOD)
    if at < 0:
        return None
    flipped = bytearray(raw)
    flipped[at + 2] ^= _TRIP_TO_ALARM
    return _reframed(frame, bytes(flipped))


def truncate_records(frame: bytes) -> bytes | None:
    """Cut every row off a record answer (bare, or inside plaintext + MAC, whose MAC is kept);
    None if the frame carries no records."""
    apdu = apdu_of(frame)
    outer: SecurityResponse | None = None
    if isinstance(apdu, SecurityResponse) and apdu.payload.data:
        outer, apdu = apdu, _inner(apdu.payload.data)
    if not isinstance(apdu, GetResponseRecord) or not isinstance(apdu.result.result, tuple):
        return None
    if not apdu.result.result:
        return None
    short: Structure = replace(apdu, result=replace(apdu.result, result=()))
    if outer is not None:
        payload = SecurityPayload(outer.payload.protection, short.to_bytes())
        short = SecurityResponse(payload, outer.mac)
    return _reframed(frame, short.to_bytes())


def _inner(data: bytes) -> Structure | None:
    try:
        return decode_apdu(data)
    except DecodeError:
        return None


@scenario(
    3,
    "hplc-bit-flip-reading",
    "bit flips in the energy readings on the power line (a meter billed for a fraction)",
    (Protection.DATA, Protection.MONITORING),
)
def bit_flip_reading(protected: bool) -> Outcome:
    deployment = fresh_deployment(
        protected, start=T0 + 17 * 3600, warm_up=2 * 3600, private_readings=False
    )
    net, meter = meter_of(deployment)
    flips: list[tuple[int, int]] = []

    def rewrite(direction: Direction, address: bytes, data: bytes) -> bytes | None:
        if direction != Direction.UP or address != meter.address:
            return None
        flipped = flip_energy(data)
        if flipped is None:
            return None
        flips.append(flipped[1:])
        return flipped[0]

    tap = Tap(net, rewrite)
    view = StationView(deployment)
    began = deployment.clock.time()
    deployment.run_virtual(3600)
    genuine = {before for before, _ in flips}
    stored = {
        round(r.value * 100)
        for r in deployment.storage.readings(meter.address.hex(), "00100201")
        if r.time >= began
    }
    # a stored value that is one the adversary wrote, and never one the meter sent
    accepted = [(b, a) for b, a in flips if a in stored and a not in genuine]
    outcome = Outcome(
        bool(accepted),
        f"{len(flips)} readings altered in transit; the station stored {len(accepted)} of them"
        + (
            f" (e.g. {accepted[0][1] / 100:.2f} kWh for {accepted[0][0] / 100:.2f} kWh metered)"
            if accepted
            else ""
        ),
        evidence=[f"altered answer: {hexed(frame)}" for frame in tap.rewritten[:2]],
    )
    return view.into(outcome)


@scenario(
    3,
    "hplc-bit-flip-command",
    "bit flips turn the station's remote trip into an alarm: the station records a disconnection "
    "while the supply stays on",
    (Protection.IDENTITY, Protection.MONITORING),
)
def bit_flip_command(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)

    def rewrite(direction: Direction, address: bytes, data: bytes) -> bytes | None:
        if direction != Direction.DOWN or address != meter.address:
            return None
        apdu = apdu_of(data)
        is_read = isinstance(apdu, SecurityRequest) and apdu.payload.protection == 0
        return None if is_read else flip_trip(data)

    tap = Tap(net, rewrite)
    view = StationView(deployment)
    state = trip(deployment, meter.address)
    deployment.run_virtual(900)
    supplying = meter.management.relay.supplying
    outcome = Outcome(
        state == "done" and supplying,
        f"the station's trip command ended {state}; the customer's supply is "
        f"{'on' if supplying else 'off'}",
        evidence=[f"altered command: {hexed(frame)}" for frame in tap.rewritten[:2]],
    )
    return view.into(outcome)


@scenario(
    3,
    "hplc-truncation",
    "truncated curve answers on the power line: the meter's 15-minute records silently lost",
    (Protection.DATA, Protection.MONITORING),
)
def truncation(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected, private_readings=False)
    net, meter = meter_of(deployment)
    _, neighbour = meter_of(deployment, 1)  # on the same line, left alone

    def rewrite(direction: Direction, address: bytes, data: bytes) -> bytes | None:
        if direction != Direction.UP or address != meter.address:
            return None
        return truncate_records(data)

    link = deployment.collector.links[net.terminal.address]
    refused_before = link.refused
    tap = Tap(net, rewrite)
    view = StationView(deployment)
    deployment.run_virtual(2 * 3600)
    tap.remove()
    deployment.run_virtual(1800)  # the attacker leaves: does the terminal catch up?
    curve = "50020200/00100201"
    expected = {r.time for r in deployment.storage.readings(neighbour.address.hex(), curve)}
    missing = expected - {r.time for r in deployment.storage.readings(meter.address.hex(), curve)}
    refused = link.refused - refused_before
    outcome = Outcome(
        bool(missing) and refused == 0,
        f"{len(tap.rewritten)} curve answers truncated; {len(missing)} quarter-hour records "
        f"missing at the station; {refused} answers refused as unverifiable"
        + (
            " (the records are lost all the same: the terminal, which holds no key, took the "
            "short answers as complete; the station knows which reads failed)"
            if refused and missing
            else ""
        ),
        evidence=[f"truncated answer: {hexed(frame)}" for frame in tap.rewritten[:2]],
    )
    return view.into(outcome)
