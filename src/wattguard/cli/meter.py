"""``wattguard meter``: one simulated meter answering DL/T 698.45 over TCP."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import TYPE_CHECKING

from wattguard.cli._common import Commands, positive

if TYPE_CHECKING:
    from collections.abc import Callable

    from wattguard.meter.device import Meter
    from wattguard.runtime.pacing import PacedClock
    from wattguard.simulation.profile import F64

    #: ``(now, seconds) -> (active, reactive)`` power arrays of the meter's household.
    Load = Callable[[float, float], tuple[F64, F64]]

__all__ = ["add", "run"]


def add(commands: Commands) -> None:
    """Add the ``meter`` command."""
    meter = commands.add_parser("meter", help="serve one simulated meter over TCP")
    meter.add_argument("--address", default="000000000001", help="12 digits (000000000001)")
    meter.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1)")
    meter.add_argument("--port", type=int, default=8698, help="TCP port (8698; 0: any)")
    meter.add_argument("--speed", type=positive, default=1.0, help="simulated time speed (1)")
    meter.add_argument("--seed", type=int, default=0, help="seed of the household load")
    meter.add_argument("--password", default=None, help="accept CONNECT with this password")
    meter.add_argument(
        "--unprotected", action="store_true", help="do not enforce the F101 security policy"
    )
    meter.add_argument(
        "--waveform",
        action="store_true",
        help="waveform mode: the metering chip samples a distorted supply and load each step "
        "(harmonics 200B-200E, fundamental and harmonic energy 0110-0220); default profile mode",
    )
    meter.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the meter until Ctrl-C, feeding it a household load at the chosen speed."""
    from wattguard.meter.device import Meter, MeterConfig
    from wattguard.meter.management.module import LinkKeys
    from wattguard.runtime.pacing import PacedClock
    from wattguard.runtime.roles import parse_address
    from wattguard.simulation.profile import LoadClass, LoadModel

    address = parse_address(args.address, "--address")
    clock = PacedClock(time.time(), args.speed)
    config = MeterConfig(protected=not args.unprotected, password=args.password)
    meter = Meter(address, keys=LinkKeys.generate(os.urandom), random=os.urandom, config=config)
    load = LoadModel.mixed(1, seed=args.seed, mix={LoadClass.HOUSEHOLD: 1.0}).load
    try:
        asyncio.run(_serve(args, meter, clock, load))
    except KeyboardInterrupt:
        print("\nstopped")
    return 0


async def _serve(args: argparse.Namespace, meter: Meter, clock: PacedClock, load: Load) -> None:
    from wattguard.meter.metering.module import Measurement
    from wattguard.runtime.meter import MeterServer
    from wattguard.simulation.waveform import Waveform

    server = MeterServer(meter, clock)
    port = await server.start(args.host, args.port)
    meter.power_up(clock.time())
    mode = "unprotected" if args.unprotected else "F101 security policy enforced"
    mode += ", waveform mode" if args.waveform else ", profile mode"
    wave = Waveform(voltage=229.0)
    print(
        f"meter {args.address} answers DL/T 698.45 on {args.host}:{port} ({mode});",
        "Ctrl-C stops",
        flush=True,
    )
    try:
        while True:
            now = clock.time()
            p, q = load(now, 60.0)
            if args.waveform:  # one 10-cycle window stands for the minute
                voltage, current = wave.window(float(p[0]), float(q[0]))
                meter.measure_waveform(voltage, current, wave.sample_rate, now, seconds=60.0)
            else:
                amps = float((p[0] ** 2 + q[0] ** 2) ** 0.5 / 229.0)
                meter.measure(Measurement(229.0, amps, float(p[0]), float(q[0])), 60.0, now)
            server.wake()
            await asyncio.sleep(60.0 / args.speed)
    finally:
        await server.close()
