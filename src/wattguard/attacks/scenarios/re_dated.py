"""Scenario 2: a genuine reading handed in again with another date (issue #13, item 2).

A compromised terminal (or anyone who captured a terminal's exchange with a meter) holds a
meter's genuine answer to a real-time read, MAC and all. It cannot alter the values, but it
writes the item header that says when the read went out, and that header is covered by no MAC.
It relays the captured answer again, labelled 2030-01-01:

* ``re-dated-reading``: the station stores the old values at 2030-01-01, where they become
  the meter's latest reading (what billing, balance and the dashboard read), and every genuine
  reading after that looks older than it.

Protected, a real-time value is stored at the meter's own date-time, read in the same MAC'd
answer, and the station takes each answer to a read once (by the random number the meter bound
its MAC to) and only while young: the re-dated copy is refused as a replay, as a security
event. Unprotected (no MAC, no record of answers), the station takes the terminal's word for
the time, as it did before.
"""

from __future__ import annotations

import datetime as dt

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.deployed import (
    StationView,
    Tap,
    apdu_of,
    fresh_deployment,
    hexed,
    meter_of,
)
from wattguard.network.hplc import Direction
from wattguard.network.terminal import Collected
from wattguard.protocol import decode_apdu, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetRequestNormalList
from wattguard.protocol.apdu.security import SecurityRequest

__all__ = ["FORGED_AT", "real_time_exchange"]

#: The date the adversary puts on the captured answer.
FORGED_AT = int(dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp())
#: Total forward active energy: the quantity billing reads.
ENERGY = "00100201"


def _is_real_time_read(apdu: Structure | None) -> bool:
    if isinstance(apdu, SecurityRequest):
        apdu = decode_apdu(apdu.payload.data)
    return isinstance(apdu, GetRequestNormalList)


def real_time_exchange(tap: Tap, meter: bytes) -> tuple[bytes, bytes] | None:
    """The last real-time read to ``meter`` seen on the line and the meter's answer to it
    (APDU bytes, as a terminal keeps them), or None."""
    found: tuple[bytes, bytes] | None = None
    request: bytes | None = None
    for direction, address, frame in tap.frames:
        if address != meter:
            continue
        if direction == Direction.DOWN:
            request = decode_frame(frame).apdu if _is_real_time_read(apdu_of(frame)) else None
        elif request is not None:
            found, request = (request, decode_frame(frame).apdu), None
    return found


@scenario(
    2,
    "re-dated-reading",
    "a compromised terminal hands in a meter's genuine, verified answer again, labelled "
    "2030-01-01: the station stores it as the meter's latest reading",
    (Protection.DATA, Protection.MONITORING),
)
def re_dated_reading(protected: bool) -> Outcome:
    deployment = fresh_deployment(protected)
    net, meter = meter_of(deployment)
    tap = Tap(net)
    deployment.run_virtual(960)  # the next real-time read and its answer go over the line
    exchange = real_time_exchange(tap, meter.address)
    assert exchange is not None, "no real-time read was seen on the line"
    request, answer = exchange
    view = StationView(deployment)
    # the compromised terminal relays the captured exchange once more, with its own label
    net.terminal.outbox.queue(Collected(meter.address, FORGED_AT, request, answer))
    deployment.run_virtual(120)
    address = meter.address.hex()
    forged = deployment.storage.readings(address, ENERGY, start=FORGED_AT, end=FORGED_AT + 1)
    latest = deployment.storage.latest(ENERGY, [address])
    latest_at = dt.datetime.fromtimestamp(latest[0].time, dt.UTC) if latest else None
    outcome = Outcome(
        bool(forged),
        f"a captured answer relayed again as of 2030-01-01: {len(forged)} reading(s) stored at "
        f"that date; the meter's latest energy reading is dated {latest_at:%Y-%m-%d %H:%M}"
        if latest_at is not None
        else "no reading of the meter is stored",
        evidence=[f"captured answer: {hexed(answer)}", f"relabelled item at {FORGED_AT}"],
    )
    return view.into(outcome)
