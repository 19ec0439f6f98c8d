"""WAN secure channel speed: handshakes per second and 1 KiB record throughput, beside raw
SM4-GCM on the same machine in the same run.

    python bench/wan.py [--seconds S] [--rounds R] [--check]

Handshake: a terminal and a FEP (certificates from one CA, a current CRL held by each side),
wired back to back in this process; the CPU time each side spends is counted separately, so
the FEP's figure is what one core of a FEP can accept. Records: 1 KiB of application data per
record, sealed by ``send`` + ``data_to_send`` and opened by ``receive_data`` + ``next_event``,
beside ``sm4.gcm_seal`` / ``gcm_open`` of 1 KiB with an 11-byte AAD (the cipher alone), and
beside the unprotected channel (framing alone). Times are CPU seconds; rounds interleave and
each row keeps its best. Target (information for the lead, checked by ``--check``): the
channel moves records at >= 0.5 of raw SM4-GCM, i.e. the record layer at most doubles the
cost of the cipher.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from timing import measure

from wattguard.clock import VirtualClock
from wattguard.crypto import sm2, sm4
from wattguard.network import pki, wan
from wattguard.testing import T0

RECORD = 1024
BATCH = 4096  # records per throughput sample (4 MiB)
MIN_RATIO = 0.5


@dataclass
class Row:
    name: str
    value: float = 0.0
    unit: str = "/s"
    reference: str | None = None  # the row this one is compared with

    def keep(self, value: float) -> None:
        self.value = max(self.value, value)


class Bench:
    def __init__(self) -> None:
        self.clock = VirtualClock(T0)
        self.ca = pki.CertificateAuthority.create("bench CA", T0 - 60)
        self.parties: dict[pki.Role, tuple[sm2.PrivateKey, pki.Certificate]] = {}
        for name, role in (("000000000001", pki.Role.TERMINAL), ("FEP-1", pki.Role.FEP)):
            key = sm2.PrivateKey.generate()
            self.parties[role] = (key, self.ca.issue(name, role, key.public_key, T0 - 60))
        self.crl = self.ca.crl(T0 - 60)

    def pair(self, protected: bool = True) -> tuple[wan.SecureChannel, wan.SecureChannel]:
        def end(role: wan.ChannelRole, own: pki.Role, peer: pki.Role) -> wan.SecureChannel:
            key, certificate = self.parties[own]
            trust = pki.TrustStore(self.ca.certificate, [self.crl], now=self.clock.time())
            return wan.SecureChannel(
                role,
                clock=self.clock,
                peer_role=peer,
                key=key,
                chain=[certificate],
                trust=trust,
                protected=protected,
            )

        return (
            end(wan.ChannelRole.CLIENT, pki.Role.TERMINAL, pki.Role.FEP),
            end(wan.ChannelRole.SERVER, pki.Role.FEP, pki.Role.TERMINAL),
        )

    def handshakes(self, seconds: float) -> tuple[float, float, float]:
        """(both ends, FEP side, terminal side) handshakes per CPU second."""
        count, client_time, server_time = 0, 0.0, 0.0
        while client_time + server_time < seconds or count < 3:
            client, server = self.pair()
            start = time.process_time()
            client.initiate()
            hello = client.data_to_send()
            middle = time.process_time()
            server.receive_data(hello, 0.0)
            reply = server.data_to_send()
            after_server = time.process_time()
            client.receive_data(reply, 0.0)
            finished = client.data_to_send()
            after_client = time.process_time()
            server.receive_data(finished, 0.0)
            end = time.process_time()
            if server.state is not wan.State.ESTABLISHED:
                raise RuntimeError("the benchmark handshake failed")
            client_time += (middle - start) + (after_client - after_server)
            server_time += (after_server - middle) + (end - after_client)
            count += 1
        return count / (client_time + server_time), count / server_time, count / client_time


def _establish(client: wan.SecureChannel, server: wan.SecureChannel) -> None:
    client.initiate()
    while True:
        up, down = client.data_to_send(), server.data_to_send()
        if not up and not down:
            return
        if up:
            server.receive_data(up, 0.0)
        if down:
            client.receive_data(down, 0.0)


def run(seconds: float, rounds: int) -> dict[str, Row]:
    bench = Bench()
    key, nonce, payload, aad = bytes(range(16)), bytes(12), bytes(RECORD), bytes(11)
    sealed = sm4.gcm_seal(key, nonce, payload, aad)
    rows = {
        "hs": Row("handshakes, both ends"),
        "hs_fep": Row("handshakes, FEP side"),
        "hs_terminal": Row("handshakes, terminal side"),
        "raw_seal": Row("raw SM4-GCM seal, 1 KiB", unit=" MB/s"),
        "raw_open": Row("raw SM4-GCM open, 1 KiB", unit=" MB/s"),
        "seal": Row("channel send, 1 KiB records", unit=" MB/s", reference="raw_seal"),
        "open": Row("channel receive, 1 KiB records", unit=" MB/s", reference="raw_open"),
        "plain_seal": Row("unprotected send, 1 KiB", unit=" MB/s"),
        "plain_open": Row("unprotected receive, 1 KiB", unit=" MB/s"),
    }
    for round_number in range(1, rounds + 1):
        print(f"  round {round_number}/{rounds} ...", file=sys.stderr, flush=True)
        both, fep, terminal = bench.handshakes(seconds)
        rows["hs"].keep(both)
        rows["hs_fep"].keep(fep)
        rows["hs_terminal"].keep(terminal)
        raw = measure(lambda: sm4.gcm_seal(key, nonce, payload, aad), seconds)
        rows["raw_seal"].keep(raw * RECORD / 1e6)
        raw = measure(lambda: sm4.gcm_open(key, nonce, sealed, aad), seconds)
        rows["raw_open"].keep(raw * RECORD / 1e6)
        for prefix, protected in (("", True), ("plain_", False)):
            client, server = bench.pair(protected)
            _establish(client, server)
            seal, opened = _throughput(client, server)
            rows[f"{prefix}seal"].keep(seal)
            rows[f"{prefix}open"].keep(opened)
    return rows


def _throughput(client: wan.SecureChannel, server: wan.SecureChannel) -> tuple[float, float]:
    payload = bytes(RECORD)
    wire = []
    start = time.process_time()
    for _ in range(BATCH):
        client.send(payload)
        wire.append(client.data_to_send())
    sealed = time.process_time() - start
    start = time.process_time()
    for chunk in wire:
        server.receive_data(chunk, 0.0)
        server.next_event()
    opened = time.process_time() - start
    megabytes = BATCH * RECORD / 1e6
    return megabytes / sealed, megabytes / opened


def ratios(rows: dict[str, Row]) -> dict[str, float]:
    """Channel throughput over raw SM4-GCM, for the rows that name a reference."""
    return {
        key: row.value / rows[row.reference].value
        for key, row in rows.items()
        if row.reference is not None
    }


def report(rows: dict[str, Row]) -> str:
    found = ratios(rows)
    lines = [
        f"SM2 backend: {sm2.backend_name()}",
        f"{'measure':<34} {'value':>12}  ratio to raw SM4-GCM",
    ]
    for key, row in rows.items():
        ratio = found.get(key)
        note = f"{ratio:6.2f}  (target >= {MIN_RATIO})" if ratio is not None else ""
        if ratio is not None:
            note += " met" if ratio >= MIN_RATIO else " MISSED"
        lines.append(f"{row.name:<34} {row.value:12.1f}{row.unit:<6} {note}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best kept")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args()
    rows = run(args.seconds, args.rounds)
    print(report(rows))
    return 1 if args.check and any(r < MIN_RATIO for r in ratios(rows).values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
