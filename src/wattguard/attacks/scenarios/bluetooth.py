"""Scenario 8: the meter's Bluetooth port for handhelds.

The adversary is in radio range with a handheld (or a laptop that speaks the pairing frames,
:mod:`wattguard.meter.bluetooth.pairing`). The meter has a 6-digit PIN for read-only handhelds and
the utility CA's key for certificate pairing (docs/bluetooth.md).

* ``bluetooth-unauthenticated-read``: read the energy registers without pairing;
* ``bluetooth-unauthenticated-write``: set the meter's clock back eight hours without pairing
  (peak consumption then falls in the cheap tariff period);
* ``bluetooth-pin-brute-force``: try PINs in order for one hour of the meter's clock, waiting
  out every lock as a patient attacker would. Unprotected here means *the lockout* off (the PIN
  is still checked); a PIN early in the search order keeps that run short, and the summary
  says what the lockout allows in a year;
* ``bluetooth-escalation-pin``: the holder of the read-only PIN (any technician) asks for the
  MAINTENANCE role and sets the clock;
* ``bluetooth-escalation-certificate``: a technician edits the role byte of their own
  read-only certificate (keeping the CA's signature) to pair as MAINTENANCE.

Unprotected: the meter's Bluetooth service serves plain frames without pairing and checks no
proof or role (``MeterConfig(protected=False)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import ADDRESS, HOUSE, T0
from wattguard.attacks.scenarios.rigs import CA
from wattguard.crypto import sm2, sm3
from wattguard.events import EventKind
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import LockoutPolicy
from wattguard.meter.device import Meter, MeterConfig
from wattguard.protocol import OAD, Data, DataType, decode_apdu
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.protocol.apdu.set import SetRequestNormal, SetResponseNormal
from wattguard.protocol.values import DateTimeS
from wattguard.randomness import seeded
from wattguard.testing.meter import new_meter

PIN = "000042"
NOW = T0 + 3600.0
HOUR = 3600.0
NO_LOCKOUT = LockoutPolicy(max_failures=10**9)


def _meter(protected: bool, lockout: LockoutPolicy | None = None) -> Meter:
    config = MeterConfig(
        protected=protected, bluetooth_pin=PIN, handheld_ca=CA.public_key,
        bluetooth_lockout=lockout,
    )  # fmt: skip
    meter = new_meter(ADDRESS, config=config)
    meter.power_up(T0)
    for minute in range(1, 61):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter


def _radio(meter: Meter, sent: list[str], now: float = NOW) -> Callable[[bytes], bytes]:
    def transport(frame: bytes) -> bytes:
        sent.append(frame.hex()[:64] + ("..." if len(frame) > 32 else ""))
        return meter.receive_bluetooth(frame, now)

    return transport


def _set_clock_back(piid: int = 2) -> bytes:
    value = Data(DataType.DATE_TIME_S, DateTimeS.from_posix(NOW - 8 * HOUR))
    return SetRequestNormal(piid, OAD(0x4000, 2, 0), value).to_bytes()


def _clock_moved(meter: Meter) -> float:
    return meter.management.calendar() - meter.now


def _events(meter: Meter, outcome: Outcome) -> Outcome:
    return outcome.saw(list(meter.log.security))


@scenario(
    8,
    "bluetooth-unauthenticated-read",
    "a stranger in radio range reads the meter without pairing",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def unauthenticated_read(protected: bool) -> Outcome:
    meter = _meter(protected)
    sent: list[str] = []
    request = GetRequestNormal(1, OAD(0x0010, 2, 0)).to_bytes()
    try:
        answer = decode_apdu(Handheld("stranger").request_plain(_radio(meter, sent), request))
    except PairingRefused as refused:
        return _events(meter, Outcome(False, f"refused: {refused}", evidence=sent))
    energy = None
    if isinstance(answer, GetResponseNormal) and answer.result.result is not None:
        energy = answer.result.result.value[0].value
    outcome = Outcome(
        energy is not None, f"read forward active energy {energy} (0.01 kWh)", evidence=sent
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-unauthenticated-write",
    "a stranger in radio range sets the meter's clock back eight hours without pairing",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def unauthenticated_write(protected: bool) -> Outcome:
    meter = _meter(protected)
    sent: list[str] = []
    refused = ""
    try:
        Handheld("stranger").request_plain(_radio(meter, sent), _set_clock_back())
    except PairingRefused as exc:
        refused = f"refused ({exc}); "
    moved = _clock_moved(meter)
    outcome = Outcome(
        moved < -HOUR, f"{refused}the meter's clock moved by {moved:+.0f} s", evidence=sent
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-pin-brute-force",
    "PIN pairing tried in order for an hour, waiting out every lock",
    (Protection.IDENTITY, Protection.MONITORING),
)
def pin_brute_force(protected: bool) -> Outcome:
    meter = _meter(True, lockout=None if protected else NO_LOCKOUT)
    now, end, guess, found = NOW, NOW + HOUR, 0, None
    random = seeded(b"brute force")

    def radio(frame: bytes) -> bytes:
        return meter.receive_bluetooth(frame, now)

    def judged() -> int:
        return sum(e.kind == EventKind.AUTHENTICATION for e in meter.log.security)

    while now <= end and found is None and guess < 10**6:
        before = judged()
        try:
            Handheld("attacker", random=random).pair_pin(radio, f"{guess:06d}")
            found = f"{guess:06d}"
        except PairingRefused as refused:
            if judged() > before:
                guess += 1
            now += refused.retry_after  # wait out a lock
    year = LockoutPolicy().guesses_within(365 * 86400.0)
    summary = (
        f"PIN {found} found at guess {guess + 1}"
        if found
        else f"{guess} guesses judged in an hour, PIN not found"
    )
    outcome = Outcome(
        found is not None,
        f"{summary}; the lockout allows {year:,} guesses a year "
        f"({year / 1e4:.2f}% of the PIN space)",
        evidence=[f"locks: {sum('locked for' in e.detail for e in meter.log.security)}"],
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-escalation-pin",
    "the holder of the read-only PIN pairs as MAINTENANCE and sets the clock",
    (Protection.IDENTITY, Protection.MONITORING),
)
def escalation_pin(protected: bool) -> Outcome:
    meter = _meter(protected)
    sent: list[str] = []
    radio = _radio(meter, sent)
    handheld = Handheld("technician", random=seeded(b"technician"))
    try:
        role = handheld.pair_pin(radio, PIN, Role.MAINTENANCE)
        answer = decode_apdu(handheld.request(radio, _set_clock_back()))
    except PairingRefused as refused:
        return _events(meter, Outcome(False, f"pairing refused: {refused}", evidence=sent))
    moved = _clock_moved(meter)
    dar = answer.dar if isinstance(answer, SetResponseNormal) else None
    outcome = Outcome(
        role == Role.MAINTENANCE and moved < -HOUR,
        f"paired as {role.name}; SET 4000 answered DAR {dar}; the clock moved by {moved:+.0f} s",
        evidence=sent,
    )
    return _events(meter, outcome)


@scenario(
    8,
    "bluetooth-escalation-certificate",
    "a technician edits the role in a read-only certificate to pair as MAINTENANCE",
    (Protection.IDENTITY, Protection.MONITORING),
)
def escalation_certificate(protected: bool) -> Outcome:
    key = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: technician handheld"))
    genuine = HandheldCertificate.issue(
        CA, serial=31, handheld_id="HH-31", role=Role.READ_ONLY, public_key=key.public_key,
        valid_from=int(T0 - 86400), valid_until=int(T0 + 365 * 86400),
    )  # fmt: skip
    promoted = replace(genuine, role=Role.MAINTENANCE)  # the CA's signature kept
    meter = _meter(protected)
    sent: list[str] = []
    radio = _radio(meter, sent)
    handheld = Handheld("HH-31", private_key=key, certificate=promoted, random=seeded(b"HH-31"))
    try:
        role = handheld.pair_certificate(radio)
        answer = decode_apdu(handheld.request(radio, _set_clock_back()))
    except PairingRefused as refused:
        return _events(meter, Outcome(False, f"pairing refused: {refused}", evidence=sent))
    moved = _clock_moved(meter)
    dar = answer.dar if isinstance(answer, SetResponseNormal) else None
    outcome = Outcome(
        role == Role.MAINTENANCE and moved < -HOUR,
        f"paired as {role.name}; SET 4000 answered DAR {dar}; the clock moved by {moved:+.0f} s",
        evidence=[f"certificate role byte edited: {genuine.to_bytes().hex()[:40]}...", *sent],
    )
    return _events(meter, outcome)
