"""Scenario 9: one meter's keys extracted.

The adversary opens their own meter (the cover switch fires), reads out its ESAM
(:func:`~wattguard.attacks.scenarios.forgery.extract_keys`) and sits on the power line it
shares with the neighbours' meters.

* ``extracted-keys-other-meters``: with those keys it goes for a neighbour's meter: a remote
  trip, a top-up of the neighbour's wallet, and a forged report of the neighbour's energy.
  Protected, every meter's keys are diversified from the master keys with its own address, so
  the neighbour's ESAM and the station's cryptographic device check under keys the adversary
  does not have; each forgery is refused and reported. What the keys *do* give is the opened
  meter itself: the summary shows the adversary crediting its own wallet, which no check can
  tell from the utility's top-up. Unprotected, nothing needs a key.
* ``extracted-keys-meter-replaced``: the adversary forges its own meter's energy readings (the
  answers it rewrites on the line, MAC'd with the extracted keys, and reports it injects).
  Alerted by the cover-open tamper alert, the utility rotates its master keys and replaces the
  opened meter's ESAM at the new key version; the cryptographic device now verifies that meter
  under the new version only, and the adversary's forgeries are refused. Unprotected, the
  forged readings keep being stored.

Why a replacement and not an over-the-air key update: the update (F100 method 7) wraps the new
keys under the meter's current transport key, which the adversary extracted; one who watches
the line unwraps the new keys (tests/attacks/test_key_compromise.py shows it). An opened
ESAM is recovered only by a new one.
"""

from __future__ import annotations

import os

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    Tap,
    apdu_of,
    command_frame,
    fresh_deployment,
    hexed,
    meter_of,
    transmit,
)
from wattguard.attacks.scenarios.forgery import (
    TRIP,
    extract_keys,
    forge_answer,
    forge_command,
    open_answer,
)
from wattguard.attacks.scenarios.replay import PlainWallet
from wattguard.esam import profile as p
from wattguard.meter.device import Meter
from wattguard.network.hplc import Direction
from wattguard.protocol import (
    OAD,
    OMD,
    SID,
    SIDMAC,
    Control,
    Data,
    DataType,
    LinkFrame,
    ServerAddress,
    decode_apdu,
    decode_frame,
)
from wattguard.protocol.apdu import security
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetResponseNormalList
from wattguard.protocol.apdu.report import ReportNotificationList
from wattguard.protocol.apdu.security import (
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.runtime.deployment import Deployment
from wattguard.runtime.factory import factory_meter
from wattguard.runtime.simulation import Neighbourhood

__all__ = ["forge_report", "forged_top_up", "lowered", "replace_meter"]

ENERGY = OAD(0x0010, 2, 0)
_FAR_AHEAD = 0x7FFF_0000


def lowered(answer: GetResponseNormalList, share: float = 0.5) -> GetResponseNormalList:
    """The same answer with every energy value cut to ``share`` of itself."""
    results = []
    for result in answer.results:
        value = result.result
        if isinstance(value, Data) and result.oad == ENERGY:
            items = tuple(Data(v.type, int(v.value * share)) for v in value.value)
            value = Data(value.type, items)
        results.append(AResultNormal(result.oad, value))
    return GetResponseNormalList(answer.piid, tuple(results))


def forge_report(
    keys: p.MeterKeys | None, meter: bytes, energy_raw: int, counter: int = _FAR_AHEAD
) -> bytes:
    """A frame from ``meter`` reporting ``energy_raw`` (0.01 kWh) as its total energy, as
    plaintext + RN_MAC under ``keys`` (bare without keys)."""
    value = Data.array(*(Data(DataType.DOUBLE_LONG_UNSIGNED, energy_raw) for _ in range(5)))
    report = ReportNotificationList(9, (AResultNormal(ENERGY, value),))
    apdu: object = report
    if keys is not None:
        rn = p.StructuredRandom(p.Keyset.METER, keys.version, counter, os.urandom(8)).to_bytes()
        tag = p.mac(keys[p.KeyId.MAC], p.Label.REPORT, rn, b"\x00" + report.to_bytes())
        apdu = SecurityRequest(
            SecurityPayload(security.Protection.PLAINTEXT, report.to_bytes()),
            Verification(VerificationKind.RN_MAC, random=rn, mac=tag),
        )
    return LinkFrame(
        Control(from_server=True, client_started=False), ServerAddress(meter), 0x10,
        apdu.to_bytes(),  # type: ignore[attr-defined]
    ).to_bytes()  # fmt: skip


def forged_top_up(keys: p.MeterKeys, target: bytes, amount: int, count: int) -> SecurityRequest:
    """A top-up of ``amount`` fen for the meter at ``target`` (purchase ``count``), its wallet
    MAC and its command wrapping both under ``keys``."""
    sid = p.SidFields(p.Operation.TOP_UP, p.Keyset.METER, keys.version, count, target)
    tag = p.mac(keys[p.KeyId.WALLET], p.Label.TOP_UP, sid.binding, amount.to_bytes(4, "big"))
    parameter = Data.structure(
        Data(DataType.DOUBLE_LONG_UNSIGNED, amount),
        Data(DataType.SID_MAC, SIDMAC(SID(sid.ident, sid.attach), tag)),
    )
    return forge_command(keys, target, ActionRequest(8, OMD(0xF100, 6, 0), parameter))


def _credit(meter: Meter) -> int:
    wallet = meter.management.wallet
    return 0 if wallet is None else wallet.balance()


@scenario(
    9,
    "extracted-keys-other-meters",
    "with the keys read out of one opened meter, trip, credit and forge the readings of the "
    "neighbours' meters",
    (Protection.IDENTITY, Protection.DATA, Protection.MONITORING),
)
def other_meters(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, neighbour = meter_of(deployment)
    _, own = meter_of(deployment, 1)
    if deployment.hsm is None:
        PlainWallet().fit(neighbour)
    now = deployment.clock.time()
    own.management.cover_opened(now)  # the adversary opens its own meter
    keys = extract_keys(own) if deployment.hsm is not None else None
    view = StationView(deployment)
    credit_before = _credit(neighbour)
    amount, forged_energy = 50_000, 9_999_999  # 500 yuan; a neighbour billed 99,999.99 kWh
    if keys is not None:
        trip = command_frame(neighbour.address, forge_command(keys, neighbour.address, TRIP))
        top_up = command_frame(neighbour.address, forged_top_up(keys, neighbour.address, amount, 1))
    else:
        trip = command_frame(neighbour.address, TRIP)
        bare = Data.structure(
            Data(DataType.DOUBLE_LONG_UNSIGNED, amount),
            Data(DataType.SID_MAC, SIDMAC(SID(0, b""), b"")),
        )
        top_up = command_frame(neighbour.address, ActionRequest(8, OMD(0xF100, 6, 0), bare))
    report = forge_report(keys, neighbour.address, forged_energy)
    for frame in (trip, top_up):
        transmit(deployment, net, neighbour.address, frame)
        deployment.run_virtual(60)
    net.channel.send(Direction.UP, neighbour.address, report, deployment.clock.time())
    # and what the keys do give: the adversary's own wallet
    own_credit = ""
    if keys is not None:
        transmit(deployment, net, own.address, command_frame(
            own.address, forged_top_up(keys, own.address, amount, 1)
        ))  # fmt: skip
        deployment.run_virtual(60)
        own_credit = (
            f"; with its own meter's keys the adversary credited its own wallet with "
            f"{_credit(own) / 100:.2f} yuan (an opened meter is lost: replace it)"
        )
    deployment.run_virtual(900)
    stored = deployment.storage.readings(neighbour.address.hex(), "00100201")
    forged_stored = any(r.time >= now and round(r.value * 100) == forged_energy for r in stored)
    tripped = not neighbour.management.relay.supplying
    credited = _credit(neighbour) - credit_before
    outcome = Outcome(
        tripped or credited > 0 or forged_stored,
        f"neighbour's meter: relay {neighbour.management.relay.state.value}, wallet credited "
        f"{credited / 100:.2f} yuan, forged energy report "
        f"{'stored' if forged_stored else 'not stored'}" + own_credit,
        evidence=[
            f"trip: {hexed(trip)}",
            f"top-up: {hexed(top_up)}",
            f"report: {hexed(report)}",
        ],
    )
    return view.into(outcome)


def replace_meter(deployment: Deployment, net: Neighbourhood, old: Meter) -> Meter:
    """The utility's answer to an opened meter: its master keys rotate to a new version and a
    new meter (a new ESAM, provisioned at the new version) takes the old one's place on the
    line; the cryptographic device verifies that address under the new version from now on."""
    now = deployment.clock.time()
    hsm = deployment.hsm
    if hsm is not None:
        hsm.rotate(p.MasterKeys.generate(hsm.security.current_version + 1, os.urandom))
    new = factory_meter(old.address, hsm, active_reports=True)
    new.power_up(now)
    fleet = net.fleet
    fleet.meters[fleet.meters.index(old)] = new
    fleet.by_address[old.address] = new
    net.meters[old.address] = new
    return new


@scenario(
    9,
    "extracted-keys-meter-replaced",
    "an opened meter's extracted keys keep forging its readings after the utility replaced its "
    "ESAM (keys rotated)",
    (Protection.IDENTITY, Protection.DATA, Protection.MONITORING),
)
def meter_replaced(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected, warm_up=2 * 3600)
    net, own = meter_of(deployment)
    own.management.cover_opened(deployment.clock.time())
    keys = extract_keys(own) if deployment.hsm is not None else None
    forged: set[tuple[int, int]] = set()  # (when the terminal asked, raw energy written)
    last_read: dict[bytes, tuple[int, SecurityRequest]] = {}

    def rewrite(direction: Direction, address: bytes, data: bytes) -> bytes | None:
        if address != own.address:
            return None
        apdu = apdu_of(data)
        if direction == Direction.DOWN:
            last_read[address] = (int(net.now), apdu)  # type: ignore[assignment]
            return None
        asked, request = last_read.get(address, (0, None))
        if (
            isinstance(apdu, SecurityResponse)
            and keys is not None
            and isinstance(request, SecurityRequest)
        ):
            opened = open_answer(keys, request, apdu) if apdu.payload.data else b""
            inner = decode_apdu(opened) if opened else None
            if isinstance(inner, GetResponseNormalList):
                less = lowered(inner)
                forged.update((asked, value) for value in _energies(less))
                answer = forge_answer(keys, request, less.to_bytes())
                return _reframe(data, answer.to_bytes())
        elif isinstance(apdu, GetResponseNormalList) and keys is None:
            less = lowered(apdu)
            forged.update((asked, value) for value in _energies(less))
            return _reframe(data, less.to_bytes())
        return None

    tap = Tap(net, rewrite)
    deployment.run_virtual(3600)
    before = _forged_stored(deployment, own.address, forged, 0.0)
    view = StationView(deployment)
    replaced_at = deployment.clock.time()
    replace_meter(deployment, net, own)
    deployment.run_virtual(1800 + 420)  # between two reads
    report = forge_report(keys, own.address, 1, counter=_FAR_AHEAD)
    injected = int(deployment.clock.time())
    forged.update((injected + d, 1) for d in range(3))  # stored when the terminal took it
    net.channel.send(Direction.UP, own.address, report, deployment.clock.time())
    deployment.run_virtual(1800)
    after = _forged_stored(deployment, own.address, forged, replaced_at)
    outcome = Outcome(
        after > 0,
        f"forged readings stored: {before} before the replacement, {after} after it (rewritten "
        f"answers and an injected report)",
        evidence=[f"forged answer: {hexed(f)}" for f in tap.rewritten[:2]]
        + [f"forged report: {hexed(report)}"],
    )
    return view.into(outcome)


def _energies(answer: GetResponseNormalList) -> set[int]:
    return {
        int(result.result.value[0].value)
        for result in answer.results
        if result.oad == ENERGY and isinstance(result.result, Data)
    }


def _forged_stored(
    deployment: Deployment, meter: bytes, forged: set[tuple[int, int]], since: float
) -> int:
    """Readings stored at a time and with a value the adversary wrote (a forged value is half
    the genuine one, so it never equals what the meter answered then, zero apart)."""
    stored = deployment.storage.readings(meter.hex(), "00100201")
    return sum(
        1
        for r in stored
        if r.time >= since and (r.time, round(r.value * 100)) in forged and r.value > 0
    )


def _reframe(frame: bytes, apdu: bytes) -> bytes:
    old = decode_frame(frame)
    return LinkFrame(old.control, old.address, old.client_address, apdu).to_bytes()
