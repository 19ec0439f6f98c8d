"""The lazy fleet at 1,000 / 10,000 (/ 100,000) meters: speed, memory, frames and bytes.

    python bench/scale.py [--hours H] [--full] [--reference-meters N] [--reference-minutes M]
    python bench/scale.py --chain [--hours H] [--full]

``--chain`` runs ``bench/chain.py`` instead: a simulated day (``--hours``, default 24) through
terminals, FEP, JetStream, ingest workers and PostgreSQL, every reading checked.

For each size a :class:`~wattguard.simulation.lazy_fleet.LazyFleet` is read as a terminal reads
it (``runtime.deployment``'s tasks): every 15 minutes each meter answers one real-time read
(0010, 2000, 4000) and one read of its 15-minute curve (5002), each a real DL/T 698.45 request
frame under plaintext + RN, answered by :class:`~wattguard.simulation.lazy_server.LazyServer`
with a real frame under the meter's ESAM MAC. ``--full`` adds 100,000 meters (minutes of run).

Printed per size: simulated meter-minutes per CPU second (the reads included), the
tracemalloc memory per meter (held after the run, and the peak with one 15-minute block of load
model temporaries), HPLC frames and bytes per stored reading (readings counted by the station's
own ``readings_of``), and the uplink: the same exchanges packed as a terminal with gathering
reports them (REPORT-Notification-TransData of 42 items, 1024-byte link fragments). Then how
each figure grows from the smallest size (linear: meter-minutes/s flat, memory/meter flat).

Reference, same run: assembled :class:`~wattguard.meter.device.Meter` objects (ESAM fitted by
the cryptographic device, ``runtime.factory``) stepped by a ``MeterFleet`` and read the same
way, on the first ``--reference-meters`` (1,000) of the same load model.

Exit status 1 when memory per meter (held) > 2 KB at any size, or when the lazy fleet is not
faster than the assembled fleet on the same 1,000 meters.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wattguard.cipher.device import CryptoDevice
from wattguard.crypto import sm2
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.network.terminal import Collected, encode_item
from wattguard.protocol import Control, LinkFrame, ServerAddress, decode_apdu, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.report import ReportNotificationTransData
from wattguard.protocol.objects import HPLC_PORT
from wattguard.runtime.deployment import CURVE, REALTIME
from wattguard.runtime.factory import factory_meter
from wattguard.simulation.fleet import MeterFleet
from wattguard.simulation.lazy_fleet import SLOT, LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.profile import LoadModel
from wattguard.station.ingest import readings_of

MEMORY_TARGET = 2048.0
START = 1_784_073_600.0  # 2026-07-15 00:00 UTC
BATCH = 42
PIECE = 1024


@dataclass
class Figures:
    meters: int
    rate: float  # meter-minutes per second
    held: float  # bytes per meter after the run
    peak: float  # bytes per meter, peak
    frames: float  # HPLC frames per reading
    bytes: float  # HPLC bytes per reading
    up_frames: float  # uplink frames per reading
    up_bytes: float  # uplink bytes per reading


def addresses(n: int) -> list[bytes]:
    return [bytes.fromhex(f"{1 + i // 250:06d}{i % 250 + 1:06d}") for i in range(n)]


def request_frame(address: bytes, apdu: Structure) -> bytes:
    """The frame a terminal sends a meter (client address 0x10, as ClientConnection)."""
    control = Control(from_server=False, client_started=True)
    return LinkFrame(control, ServerAddress(address), 0x10, apdu.to_bytes()).to_bytes()


AskFn = Callable[[bytes, bytes, float], list[bytes]]


class Reader:
    """Reads every meter twice a slot (real-time and curve) through ``answer``; counts."""

    def __init__(self, meters: list[bytes]) -> None:
        self.meters = meters
        self.frames = self.bytes = self.readings = 0
        self.sample: list[Collected] = []
        self._per_answer: dict[str, int] = {}

    def round(self, ask: AskFn, now: float) -> None:
        since = now - SLOT
        for address in self.meters:
            for task in (REALTIME, CURVE):
                request = wrap_with_rn(task.request(1, since, now), os.urandom)
                frame = request_frame(address, request)
                answers = ask(address, frame, now)
                self.frames += 1 + len(answers)
                self.bytes += len(frame) + sum(map(len, answers))
                self._count(task.name, address, request, answers, now)

    def _count(
        self, name: str, address: bytes, request: Structure, answers: list[bytes], now: float
    ) -> None:
        if name not in self._per_answer:  # the station's own count, once per kind of read
            answer = decode_apdu(decode_frame(answers[0]).apdu)
            inner = decode_apdu(answer.payload.data)  # type: ignore[attr-defined]
            self._per_answer[name] = len(readings_of(address, inner, now))
        self.readings += self._per_answer[name]
        if len(self.sample) < 2 * BATCH * 4:
            response = b"".join(decode_frame(a).apdu for a in answers)
            self.sample.append(Collected(address, now, request.to_bytes(), response))


def uplink(sample: list[Collected], readings_per_item: float) -> tuple[float, float]:
    """(frames, bytes) per reading of ``sample`` reported in batches of BATCH items."""
    frames = size = 0
    for first in range(0, len(sample), BATCH):
        items = tuple(encode_item(c) for c in sample[first : first + BATCH])
        apdu = ReportNotificationTransData(first % 64, HPLC_PORT, items).to_bytes()
        pieces = max(1, math.ceil(len(apdu) / PIECE))
        frames += pieces
        size += len(apdu) + pieces * 17  # header, address, HCS, FCS, fragment word
    readings = len(sample) * readings_per_item
    return frames / readings, size / readings


def lazy_memory(n: int, keys: np.ndarray, hours: float) -> tuple[float, float]:
    """(held, peak) tracemalloc bytes per meter of a lazy fleet, its load model and its
    server, metered for ``hours`` (the process-wide caches of the protocol code, bounded and
    shared by every meter, are not the fleet's and are left out by reading nothing)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fleet = LazyFleet(LoadModel.mixed(n, seed=1), addresses(n), keys, START)
    server = LazyServer(fleet)
    fleet.advance_to(START + hours * 3600 + 5)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del server
    return (held - base) / n, (peak - base) / n


def lazy_run(n: int, master: MasterKeys, hours: float) -> Figures:
    meters = addresses(n)
    keys = diversified_mac_keys(master, meters)
    held, peak = lazy_memory(n, keys, hours)
    fleet = LazyFleet(LoadModel.mixed(n, seed=1), meters, keys, START)
    server = LazyServer(fleet)
    reader = Reader(meters)
    slots = int(hours * 3600 / SLOT)
    begin = time.process_time()
    for k in range(1, slots + 1):
        reader.round(lambda _a, frame, now: server.receive(frame, now), START + k * SLOT + 5)
    seconds = time.process_time() - begin
    per_item = reader.readings / (2 * n * slots)
    up_frames, up_bytes = uplink(reader.sample, per_item)
    return Figures(
        n, n * slots * 15 / seconds, held, peak,
        reader.frames / reader.readings, reader.bytes / reader.readings, up_frames, up_bytes,
    )  # fmt: skip


def full_run(n: int, master: MasterKeys, minutes: int) -> float:
    """Meter-minutes per second of ``n`` assembled meters stepped and read the same way."""
    hsm = CryptoDevice(
        [master], ca_key=sm2.PrivateKey.generate(), clock=lambda: START, random=os.urandom
    )
    meters = addresses(n)
    devices = {a: factory_meter(a, hsm) for a in meters}
    fleet = MeterFleet(list(devices.values()), LoadModel.mixed(n, seed=1).source())
    fleet.power_up(START)
    reader = Reader(meters)

    def ask(address: bytes, frame: bytes, now: float) -> list[bytes]:
        meter = devices[address]
        meter.receive_data(frame, now)
        return [decode_frame(meter.data_to_send()).to_bytes()]

    begin = time.process_time()
    done = 0
    while done < minutes:
        step = min(15, minutes - done)
        fleet.run_until(START + (done + step) * 60.0)
        done += step
        if done % 15 == 0:
            reader.round(ask, START + done * 60.0 + 5)
    return n * minutes / (time.process_time() - begin)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hours", type=float, default=None, help="simulated hours per size (2; with --chain 24)"
    )
    parser.add_argument("--chain", action="store_true", help="the whole chain: bench/chain.py")
    parser.add_argument("--full", action="store_true", help="add 100,000 meters")
    parser.add_argument("--reference-meters", type=int, default=1000)
    parser.add_argument("--reference-minutes", type=int, default=30)
    args = parser.parse_args()
    if args.chain:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import chain

        hours = 24.0 if args.hours is None else args.hours
        return int(chain.main(["--hours", str(hours)] + (["--full"] if args.full else [])))
    args.hours = 2.0 if args.hours is None else args.hours
    master = MasterKeys.generate(1, os.urandom)
    sizes = [1_000, 10_000] + ([100_000] if args.full else [])
    results = []
    for n in sizes:
        print(f"  lazy fleet: {n:,} meters x {args.hours:g} h ...", file=sys.stderr, flush=True)
        results.append(lazy_run(n, master, args.hours))
    refs = args.reference_meters
    print(f"  assembled reference: {refs:,} meters ...", file=sys.stderr, flush=True)
    full = full_run(refs, master, args.reference_minutes)
    return report(results, full, refs)


def report(results: list[Figures], full: float, refs: int) -> int:
    print(f"{'meters':>8} {'meter-min/s':>12} {'held B/m':>9} {'peak B/m':>9} "
          f"{'HPLC fr/rd':>10} {'HPLC B/rd':>10} {'up fr/rd':>9} {'up B/rd':>8}")  # fmt: skip
    for r in results:
        head = f"{r.meters:>8,} {r.rate:>12,.0f} {r.held:>9,.0f} {r.peak:>9,.0f}"
        print(f"{head} {r.frames:>10.3f} {r.bytes:>10.1f} {r.up_frames:>9.4f} {r.up_bytes:>8.1f}")
    first = results[0]
    for r in results[1:]:
        growth = r.meters / first.meters
        print(f"  x{growth:g} meters: rate x{r.rate / first.rate:.2f}, memory/meter "
              f"x{r.held / first.held:.2f}, bytes/reading x{r.bytes / first.bytes:.2f} "
              f"(linear: all x1.00)")  # fmt: skip
    same = next((r for r in results if r.meters == refs), None)
    print(f"assembled meters (ESAM fitted), {refs:,}: {full:,.0f} meter-min/s", end="")
    failed = [f"{r.meters:,} meters hold {r.held:,.0f} B each" for r in results
              if r.held > MEMORY_TARGET]  # fmt: skip
    if same is not None:
        print(f"; the lazy fleet is {same.rate / full:,.1f}x faster on the same meters")
        if same.rate <= full:
            failed.append("the lazy fleet is not faster than the assembled one")
    else:
        print()
    for failure in failed:
        print(f"TARGET MISSED: {failure}")
    if not failed:
        print(f"targets met: <= {MEMORY_TARGET:,.0f} B per meter, faster than assembled meters")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
