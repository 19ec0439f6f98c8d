"""A concentrator reading its meters over Bluetooth instead of HPLC: what it costs.

    python bench/bluetooth_collection.py [--meters N] [--hours H] [--check]

The same terminal (a real-time task every 15 minutes: energy, the clock and the external
temperature, each request wrapped plaintext + RN so that the meter's ESAM answers with a MAC)
reads ``--meters`` meters with an ESAM for ``--hours`` of virtual time, once over the
simulated HPLC channel and once through a ConcentratorRadio (pairing, SM4-GCM session) to the
meters' Bluetooth service. Printed: the CPU seconds of each run, their ratio, the exchanges
collected (they must be equal), and the pairings the radio ran.

``--check`` exits 1 if the two runs collected a different number of exchanges, or the
Bluetooth run costs more than 1.5 times the HPLC run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from wattguard.crypto import sm2, sm3
from wattguard.esam.station import wrap_with_rn
from wattguard.meter.bluetooth import ConcentratorRadio, HandheldCertificate, Role
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.hplc import HplcChannel, LinkProfile
from wattguard.network.terminal import CollectionTask, Terminal
from wattguard.protocol import OAD
from wattguard.runtime.simulation import Neighbourhood
from wattguard.testing import T0, seeded
from wattguard.testing.esam import fitted_meter

CA = sm2.PrivateKey.from_bytes(sm3.hash(b"bench: the utility's Bluetooth CA"))
TERMINAL = bytes.fromhex("990000000001")
TASK = CollectionTask("real-time", 900.0, (OAD(0x0010, 2, 0), OAD(0xFF30, 2, 0), OAD(0x4000, 2, 0)))
RATIO_TARGET = 1.5


def meters(count: int) -> list[Meter]:
    config = MeterConfig(handheld_ca=CA.public_key)
    return [fitted_meter(bytes.fromhex(f"{i:012d}"), config=config)[0] for i in range(1, count + 1)]


def radio() -> ConcentratorRadio:
    key = sm2.PrivateKey.from_bytes(sm3.hash(b"bench: concentrator"))
    certificate = HandheldCertificate.issue(
        CA, serial=1, handheld_id="TERMINAL-990000000001", role=Role.CONCENTRATOR,
        public_key=key.public_key, valid_from=int(T0 - 86400), valid_until=int(T0 + 86400 * 365),
    )  # fmt: skip
    return ConcentratorRadio(key, certificate, random=seeded(b"bench concentrator"))


def run(fleet: list[Meter], hours: float, bluetooth: ConcentratorRadio | None) -> tuple[float, int]:
    """CPU seconds of the run, and the exchanges the terminal collected."""
    start = T0 + 3600.0
    profile = LinkProfile(latency=0.01, bandwidth=200_000.0) if bluetooth else None
    channel = HplcChannel(seed=1, default=profile)
    terminal = Terminal(
        TERMINAL, channel, tasks=(TASK,), start=start, outbox_limit=10**7,
        protect=lambda _address, request: wrap_with_rn(request, seeded(b"bench terminal")),
    )  # fmt: skip
    for meter in fleet:
        terminal.add_meter(meter.address)

    def load(now: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(fleet), 1200.0), np.full(len(fleet), 300.0)

    net = Neighbourhood(terminal, channel, fleet, load, radio=bluetooth)
    net.power_up(start)
    began = time.process_time()
    net.run_until(start + hours * 3600)
    return time.process_time() - began, len(terminal.outbox.items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    hplc_seconds, hplc_items = run(meters(args.meters), args.hours, None)
    bluetooth = radio()
    ble_seconds, ble_items = run(meters(args.meters), args.hours, bluetooth)
    ratio = ble_seconds / hplc_seconds
    print(f"{args.meters} meters, {args.hours:g} h, a read every 15 min")
    print(f"HPLC:      {hplc_seconds:6.2f} CPU s, {hplc_items} exchanges collected")
    print(f"Bluetooth: {ble_seconds:6.2f} CPU s, {ble_items} exchanges collected, "
          f"{bluetooth.pairings} pairings")  # fmt: skip
    print(f"Bluetooth / HPLC: {ratio:.2f} (target <= {RATIO_TARGET})")
    if args.check and (ble_items != hplc_items or ratio > RATIO_TARGET):
        print("FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
