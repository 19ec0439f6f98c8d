"""PIN brute force against the meter's Bluetooth service, and the cost of pairing.

    python bench/bluetooth.py [--days D] [--seconds S] [--check]

1. An attacker tries 6-digit PINs in order against the real service on a virtual clock for
   ``--days`` (default 365), waiting out every lockout; the meter's PIN is the last one he
   would try, so the count is the whole budget. Printed: guesses judged, the policy's
   analytic figure, and the chance of finding a random PIN in that time.
2. Without the lockout: PIN pairings per CPU second (handheld and meter in one process) and
   the time to exhaust the 10^6 PINs at that rate.
3. A paired session: sealed GET round trips per CPU second.

``--check`` exits 1 if the simulation and the policy disagree or a year allows more than
0.5 % of the PIN space.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from timing import measure

from wattguard.events import EventKind, EventLog, SecurityEvent
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.handheld import Handheld, PairingRefused
from wattguard.meter.bluetooth.lockout import LockoutPolicy
from wattguard.meter.bluetooth.service import BluetoothService
from wattguard.protocol import OAD
from wattguard.protocol.apdu import get as g

ADDRESS = bytes.fromhex("000000000001")
SPACE = 10**6
START = 1_750_000_000.0


def answer(apdu: bytes, role: Role) -> bytes:
    return bytes.fromhex("8501010010020000")  # a GET-Response with DAR 0; content unused here


class Attempts:
    """An event sink that counts judged pairing attempts (one AUTHENTICATION event each)."""

    def __init__(self) -> None:
        self.judged = 0

    def record(self, event: SecurityEvent) -> None:
        self.judged += event.kind == EventKind.AUTHENTICATION


def simulate(days: float, policy: LockoutPolicy) -> int:
    """Guesses the service judged in ``days`` of an attacker who never stops."""
    attempts = Attempts()
    service = BluetoothService(ADDRESS, answer, attempts, pin="999999", lockout=policy)
    clock = [START]
    end = START + days * 86400
    while clock[0] <= end:
        guess = f"{attempts.judged:06d}"  # the next PIN not yet judged
        try:
            Handheld("attacker").pair_pin(lambda frame: service.receive(frame, clock[0]), guess)
            raise SystemExit("the attacker found the PIN: the simulation is wrong")
        except PairingRefused as refused:
            clock[0] += refused.retry_after
    return attempts.judged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=365.0)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    policy = LockoutPolicy()
    judged = simulate(args.days, policy)
    analytic = policy.guesses_within(args.days * 86400)
    print(
        f"lockout policy: {policy.max_failures} failures, {policy.base_seconds:g} s doubling "
        f"to {policy.max_seconds:g} s"
    )
    print(
        f"PIN guesses in {args.days:g} days: {judged} simulated, {analytic} by the policy; "
        f"a {100 * judged / SPACE:.3f} % chance of finding a random PIN"
    )
    half = SPACE / 2 / policy.max_failures  # days, at the capped rate
    print(f"expected time to find a random PIN: about {half / 365:.0f} years")

    service = BluetoothService(
        ADDRESS, answer, EventLog(), pin="999999", lockout=LockoutPolicy(max_failures=10**12)
    )

    def guess() -> None:
        with contextlib.suppress(PairingRefused):
            Handheld("attacker").pair_pin(lambda frame: service.receive(frame, START), "000000")

    rate = measure(guess, args.seconds)
    print(
        f"without the lockout: {rate:,.0f} PIN pairings per CPU second; the whole space in "
        f"{SPACE / rate / 3600:.1f} CPU hours"
    )

    paired = BluetoothService(ADDRESS, answer, EventLog(), pin="999999")
    handheld = Handheld("tech")

    def transport(frame: bytes) -> bytes:
        return paired.receive(frame, START)

    handheld.pair_pin(transport, "999999")
    request = g.GetRequestNormal(1, OAD(0x0010, 2)).to_bytes()
    session = measure(lambda: handheld.request(transport, request), args.seconds)
    print(f"paired session: {session:,.0f} sealed GET round trips per CPU second")

    ok = judged == analytic and judged / SPACE <= 0.005 * args.days / 365
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
