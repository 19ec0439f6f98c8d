"""The signed bus's cost: what an FEP pays to seal a message and the station to open one.

    python bench/bus.py [--seconds S]

Rows: sealing an up message (a 200-byte report frame) into an SM2-signed envelope, opening
it at the consumer (decode, signature, subject and role, freshness), and the two through an
in-process bus, beside the bare in-process publish. Timed in CPU seconds.
"""

from __future__ import annotations

import argparse
import itertools

from timing import measure

from wattguard.crypto import sm2
from wattguard.network.bus import InProcessBus
from wattguard.network.sealed_bus import BusDirectory, BusIdentity, BusRole, Envelope, SealedBus
from wattguard.testing import T0

SUBJECT = "up.990000000001"
FRAME = bytes(200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    seconds = parser.parse_args().seconds
    station = BusIdentity("station", BusRole.STATION, sm2.PrivateKey.generate())
    fep = BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate())
    directory = BusDirectory({i.name: (i.role, i.key.public_key) for i in (station, fep)})
    ticks = itertools.count()

    def clock() -> float:
        return T0 + next(ticks) * 1e-3  # each call a millisecond later: every sequence fresh

    wire = InProcessBus()
    consumer = SealedBus(wire, station, directory, clock=clock)
    consumer.subscribe("up.*", lambda subject, payload: None)
    publisher = SealedBus(wire, fep, directory, clock=clock)
    envelope = fep.seal(SUBJECT, FRAME, 1).to_bytes()
    bare = InProcessBus()
    bare.subscribe("up.*", lambda subject, payload: None)
    rows = [
        ("seal (SM2 sign) a 200-byte frame", lambda: fep.seal(SUBJECT, FRAME, 1)),
        ("decode + verify an envelope", lambda: fep.key.public_key.verify(
            Envelope.from_bytes(envelope).signed_part(), envelope[-64:], b"wattguard bus")),
        ("publish + deliver, signed bus", lambda: publisher.publish(SUBJECT, FRAME)),
        ("publish + deliver, bare in-process bus", lambda: bare.publish(SUBJECT, FRAME)),
    ]  # fmt: skip
    print(f"{'operation':<42} {'per second':>12}")
    for name, operation in rows:
        print(f"{name:<42} {measure(operation, seconds):>12,.0f}")
    assert consumer.refused == 0, "the bench's own messages were refused"


if __name__ == "__main__":
    main()
