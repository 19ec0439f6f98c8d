"""The soft ESAM's throughput: what one meter's secure element and the station's side of the
profile cost per operation, through the real command frames.

    python bench/esam.py [--seconds S]

Rows: the meter's whole round for one secured request (OPEN_REQUEST + PROTECT_RESPONSE
through ``transmit``, with the client's framing), the station's wrap and open of the same,
an RN_MAC report and its check, a CONNECT of each mechanism (both sides), and sealing the
state. Timed in CPU seconds.
"""

from __future__ import annotations

import argparse
import os

from timing import measure

from wattguard.crypto import sm2
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import MasterKeys
from wattguard.esam.provisioning import provision, station_certificate
from wattguard.esam.station import StationSecurity
from wattguard.protocol.apdu.connect import Mechanism
from wattguard.protocol.apdu.security import Protection
from wattguard.testing import T0 as NOW

ADDRESS = bytes.fromhex("000000000001")
GET = bytes.fromhex("0501010010020000")
ANSWER = bytes.fromhex("8501010010020001010506000000be06000000000600000000060000000006000000be00")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    seconds = parser.parse_args().seconds
    master = MasterKeys.generate(1, os.urandom)
    ca, station_key = sm2.PrivateKey.generate(), sm2.PrivateKey.generate()
    certificate = station_certificate(ca, station_key.public_key, now=NOW)
    esam = provision(ADDRESS, master, ca, now=NOW, station_certificate=certificate)
    client = EsamClient(esam)
    station = StationSecurity(master, identity=station_key, ca_public=ca.public_key)
    esam_certificate = client.info(NOW).certificate

    def meter_round(protection: Protection) -> object:
        def run() -> object:
            # each round needs a fresh counter (the chip refuses a replay): wrap each time
            request = station.wrap(ADDRESS, GET, protection=protection)
            client.open_request(request, NOW)
            return client.protect_response(request, ANSWER, NOW)

        return run

    def station_round(protection: Protection) -> object:
        def run() -> object:
            request = station.wrap(ADDRESS, GET, protection=protection)
            client.open_request(request, NOW)
            response = client.protect_response(request, ANSWER, NOW)
            return station.open_response(ADDRESS, request, response)

        return run

    def connect(mechanism: Mechanism) -> object:
        def run() -> object:
            offer = station.connect_mechanism(
                ADDRESS, mechanism, NOW, esam_certificate=esam_certificate
            )
            answer = client.connect(offer, NOW)
            station.accept_connect(ADDRESS, answer)  # type: ignore[arg-type]
            return answer

        return run

    def report() -> object:
        return station.open_report(ADDRESS, client.protect_report(ANSWER, NOW))

    rows = [
        ("wrap + meter round, plaintext + MAC", meter_round(Protection.PLAINTEXT)),
        ("wrap + meter round, ciphertext + MAC", meter_round(Protection.CIPHERTEXT)),
        ("full round + station check, plaintext + MAC", station_round(Protection.PLAINTEXT)),
        ("full round + station check, ciphertext + MAC", station_round(Protection.CIPHERTEXT)),
        ("RN_MAC report + station check", report),
        ("CONNECT symmetric, both sides", connect(Mechanism.SYMMETRIC)),
        ("CONNECT signature, both sides", connect(Mechanism.SIGNATURE)),
        ("seal the state", esam.to_bytes),
    ]
    for name, operation in rows:
        ops = measure(operation, seconds)  # type: ignore[arg-type]
        print(f"{name:48s} {ops:10,.0f} ops/s  {1e6 / ops:8.1f} us")


if __name__ == "__main__":
    main()
