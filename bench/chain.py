"""A simulated day through the whole chain: terminals -> FEP -> JetStream -> ingest -> PostgreSQL.

    python bench/chain.py [--meters N ...] [--full] [--hours H] [--workers W] [--fleets F]

For each size (1,000 and 10,000 meters; ``--full`` adds 100,000) a run of its own, as a
deployment: a nats-server with JetStream in a temporary folder, a fresh PostgreSQL database,
and the processes of ``bench/chain_roles.py`` over real TCP and NATS: ``--workers`` ingest
workers (the station's ingest role on PostgreSQL), one FEP (the WAN secure channel, every
terminal with a certificate of the run's own CA) and ``--fleets`` fleet processes (two by
default; lazy meters, ~250 a terminal, read by 6012/6014 tasks every 15 minutes, real-time
values and curve, reported in gathered REPORT frames; the fleets share the terminals and go
in step on the simulated calendar: on 2 cores two are 23 % faster than one at 100,000
meters; see docs/deploy.md). The simulated day runs as fast as the
chain takes it (virtual time with backpressure). At the end every reading the meters served
is checked against the database: the count per meter and an order-independent checksum
(``simulation/ledger.py``).

Printed per size: wall time, readings, readings/s of the whole chain, CPU seconds per
component (each process, the nats-server, the run's PostgreSQL backends), memory per simulated
meter (each fleet process's peak RSS over its RSS before its fleet was built, added up, per
meter), then how readings/s and CPU per reading grow with the size, and the projection of a
100,000-meter day from the largest size's CPU per reading on this machine's cores.

Exit status 1 on any count or checksum difference, and with ``--full`` when the 100,000-meter
day takes more than 60 minutes or holds more than 2 KB per meter.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from chain_faults import STOP_FILE, Cluster, Fault, FaultInjector, effects  # noqa: E402
from chain_roles import (  # noqa: E402
    PASSPHRASE,
    TRIM_EVERY,
    SharedCalendar,
    meter_addresses,
    terminal_addresses,
)

from wattguard.cipher.vault import save_vault  # noqa: E402
from wattguard.clock import SystemClock  # noqa: E402
from wattguard.esam.profile import MasterKeys  # noqa: E402
from wattguard.network.utility import UtilityPki  # noqa: E402
from wattguard.simulation.ledger import CHECKSUM_SQL  # noqa: E402
from wattguard.station.register import MeterRegister  # noqa: E402
from wattguard.station.storage import open_storage  # noqa: E402

START = 1_784_073_600.0  # 2026-07-15 00:00 UTC (as bench/scale.py)
POSTGRES = os.environ.get("WATTGUARD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
DAY_TARGET = 3600.0  # seconds of wall time for the 100,000-meter day
MEMORY_TARGET = 2048.0  # bytes per simulated meter
FULL = 100_000
TICK = os.sysconf("SC_CLK_TCK")
MASK = (1 << 64) - 1
VERBOSE = bool(os.environ.get("CHAIN_VERBOSE"))


@dataclass
class Figures:
    meters: int
    hours: float
    wall: float = 0.0
    readings: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    memory: float = 0.0  # bytes per meter (peak RSS growth of the fleet process)
    mismatches: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    faults: list[Fault] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.readings / self.wall if self.wall else 0.0

    @property
    def cpu_per_reading(self) -> float:
        return sum(self.cpu.values()) / max(1, self.readings)


class Child:
    """A process of the run, its output collected by a thread."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.lines: list[str] = []
        self.final_cpu: float | None = None
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if VERBOSE:
                print(f"[{self.name}] {line.rstrip()}", file=sys.stderr, flush=True)

    def cpu(self) -> float:
        """CPU seconds so far (what it had used when a fault killed it, once gone)."""
        if self.final_cpu is not None:
            return self.final_cpu
        return cpu_of(self.process.pid)

    def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        tail = "\n  ".join(self.lines[-15:])
        raise RuntimeError(f"{self.name}: no {prefix!r} line:\n  {tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(name: str) -> str:
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(sql)


def prepare(run: Path, meters: int, per_terminal: int, fleets: int = 1) -> None:
    """The run's CA (every terminal enrolled), vault and calendar (for ``fleets``)."""
    utility = UtilityPki.create(SystemClock())
    for address in terminal_addresses(meters, per_terminal):
        utility.enrol(address)
    utility.save(run / "pki")
    save_vault(run / "vault", [MasterKeys.generate(1, os.urandom)], os.environ[PASSPHRASE],
               iterations=1000)  # fmt: skip
    SharedCalendar.create(run / "clock", START, fleets)


def register_archive(url: str, meters: int, per_terminal: int, quiet: bool = False) -> None:
    """Import the utility's archive (every meter behind its terminal) into the register, as
    ``wattguard meters import`` does, before the terminals report: a deployment knows its
    meters. (A station left to learn them at first sight pays a look-up and a commit per meter
    in each ingest worker: at 100,000 meters that was most of the workers' first hour.)"""
    terminals = terminal_addresses(meters, per_terminal)
    lines = ["address,terminal"] + [
        f"{meter.hex()},{terminals[k // per_terminal].hex()}"
        for k, meter in enumerate(meter_addresses(meters, per_terminal))
    ]
    began = time.monotonic()
    storage = open_storage(url)
    try:
        MeterRegister(storage, SystemClock().time).import_csv("\n".join(lines) + "\n")
    finally:
        storage.close()
    if not quiet:
        print(f"  archive: {meters:,} meters registered in {time.monotonic() - began:.1f} s",
              file=sys.stderr, flush=True)  # fmt: skip


def run_chain(meters: int, hours: float, *, workers: int = 2, per_terminal: int = 250,
              drop_item: int = 0, step: float = 30.0, quiet: bool = False, faults: bool = False,
              ack_wait: float = 30.0, pace: float = 0.0,
              backlog: float = 0.5, fleets: int = 1,
              trim_every: float = TRIM_EVERY) -> Figures:  # fmt: skip
    """Run ``meters`` meters for ``hours`` simulated hours through the chain (see the module
    docstring) and check the database against the meters; with ``faults``, on a three-node
    NATS cluster while bench/chain_faults.py injects its faults. ``ack_wait``: seconds before
    JetStream hands a worker's unacknowledged messages to another; ``pace``: least wall
    seconds a simulated hour (a small fault run must last long enough for its faults);
    ``backlog``: collected items per meter that may wait for the station before the fleet's
    clock waits (a terminal in real time reports a round's items within seconds, holding far
    fewer; 2 held about 4 at the peak of a step, 600 B a meter; from 2 to 1 to 0.5 the
    readings per second moved less than between two runs of the same setting); ``fleets``:
    fleet processes sharing the terminals (bench/chain_roles.py); ``trim_every``: simulated
    seconds between a fleet's returns of its heap's free pages to the system (0: never)."""
    fleets = max(1, min(fleets, -(-meters // per_terminal)))  # at least a terminal each
    figures = Figures(meters, hours)
    os.environ.setdefault(PASSPHRASE, secrets.token_hex(16))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent / "src"),
                                                      env.get("PYTHONPATH")]))  # fmt: skip
    database = f"chain_{os.getpid()}_{meters}_{secrets.token_hex(3)}"
    url = database_url(database)
    children: list[Child] = []

    def spawn(name: str, command: list[str]) -> Child:
        children.append(Child(name, command, env))
        return children[-1]

    with tempfile.TemporaryDirectory(prefix="wattguard-chain-") as folder:
        run = Path(folder)
        prepare(run, meters, per_terminal, fleets)
        admin(f"CREATE DATABASE {database}")
        try:
            if faults:
                cluster = Cluster(run, NATS_SERVER, spawn)
                bus, replicas = cluster.url, 3
            else:
                nats_port = free_port()
                spawn("nats-server", [NATS_SERVER, "-js", "-sd", str(run / "js"), "-a",
                                      "127.0.0.1", "-p", str(nats_port)])  # fmt: skip
                _wait_port(nats_port)
                bus, replicas = f"nats://127.0.0.1:{nats_port}", 1
            register_archive(url, meters, per_terminal, quiet)  # and the schema, made once
            script = [sys.executable, str(HERE / "chain_roles.py")]
            common = ["--dir", str(run), "--bus", bus]
            worker = [*script, "worker", *common, "--database", url, "--replicas",
                      str(replicas), "--ack-wait", str(ack_wait)]  # fmt: skip
            pool = [spawn(f"worker-{k + 1}", worker + (["--stop-file", str(run / STOP_FILE)]
                                                       if faults and k == 0 else []))
                    for k in range(workers)]  # fmt: skip
            for child in pool:
                child.wait_for("worker: ready", 90)
            fep_port = free_port()
            fep = spawn("fep", [*script, "fep", *common, "--port", str(fep_port)])
            fep.wait_for("fep: listening", 60)
            figures.load = (os.getloadavg()[0], 0.0)
            fleet_command = [*script, "fleet", *common, "--fep", f"127.0.0.1:{fep_port}",
                             "--meters", str(meters), "--per-terminal", str(per_terminal),
                             "--hours", str(hours), "--step", str(step),
                             "--backlog", str(int(backlog * meters)), "--drop-item",
                             str(drop_item), "--pace", str(pace),
                             "--fleets", str(fleets), "--trim-every", str(trim_every)]  # fmt: skip
            fleet_pool = [spawn("fleet" if fleets == 1 else f"fleet-{k + 1}",
                                [*fleet_command, "--index", str(k)])
                          for k in range(fleets)]  # fmt: skip
            for fleet in fleet_pool:
                fleet.wait_for("fleet: ", 600)
            before = {id(c): c.cpu() for c in children}
            before_pg = _backends_cpu(database)
            injector = None
            if faults:

                def replacement() -> Child:
                    child = spawn(f"worker-{len(pool) + 1}", worker)
                    pool.append(child)
                    child.wait_for("worker: ready", 90)
                    return child

                injector = FaultInjector(run, START, hours, cluster, pool, replacement,
                                         lambda: _terminate(database))  # fmt: skip
                injector.start()
            result = merged([fleet.wait_for("RESULT ", 4 * 3600) for fleet in fleet_pool])
            figures.load = (figures.load[0], os.getloadavg()[0])
            figures.wall = result["wall"]
            figures.readings = result["readings"]
            figures.memory = result["held"] / meters
            if result["hourly"]:
                figures.effects.append(
                    "the fleets' resident memory at each simulated hour, B per meter: "
                    + " ".join(f"{rss / meters:,.0f}" for rss in result["hourly"])
                )
            if result.get("trims"):
                figures.effects.append(
                    f"the fleets gave their heaps' free pages back {result['trims']} times "
                    f"(every {trim_every / 60:g} simulated minutes), "
                    f"{result['trim_wall'] * 1e3:,.0f} ms of wall time in all"
                )
            for c in children:
                name = c.name.split("-")[0] if c.name.startswith(("nats-", "fleet-")) else c.name
                figures.cpu[name] = figures.cpu.get(name, 0.0) + c.cpu() - before.get(id(c), 0)
            figures.cpu["postgres"] = _backends_cpu(database) - before_pg
            if injector is not None:
                injector.finished.set()
                injector.join()
                figures.faults = injector.faults
                injected, problems = effects(injector, pool, fep)
                figures.effects[:0] = injected
                figures.effects.append(
                    f"report batches unacknowledged until the terminal's upstream timeout, "
                    f"sent again: {result.get('resent', 0)} (the calendar let run for "
                    f"{result.get('overdue', 0)} of them); acknowledgements for a PIID with "
                    f"nothing in flight: {result.get('stray_acks', 0)}, naming an earlier "
                    f"report than the one their PIID awaits: {result.get('late_acks', 0)}; "
                    f"items the terminals' full outboxes dropped: {result.get('dropped', 0)}; "
                    f"looks at the end that waited for answers still on a power line: "
                    f"{result.get('on_the_line', 0)}"
                )
                figures.mismatches.extend(problems)
            for child in reversed(children):
                child.stop()
            figures.mismatches[:0] = compare(url, run, result)
            if injector is not None:
                figures.effects.extend(station_events(url))
        except BaseException:
            for child in children:
                if not quiet:
                    print(f"--- {child.name}:\n  " + "\n  ".join(child.lines[-10:]),
                          file=sys.stderr)  # fmt: skip
            raise
        finally:
            for child in reversed(children):
                child.stop()
            with contextlib.suppress(Exception):
                admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return figures


def _terminate(database: str) -> int:
    """pg_terminate_backend on every connection to ``database`` (the workers'): how many."""
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


def _wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def _backends_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``database`` now (the workers')."""
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
        ).fetchall()
    return sum(cpu_of(pid) for (pid,) in rows)


def merged(lines: list[str]) -> dict[str, Any]:
    """The fleet processes' RESULT lines as one: counts added, the checksums added modulo
    2^64 (each is a sum), the wall time the longest, ``held`` the memory the fleets held
    (peak RSS over RSS before the fleet was built, added over the processes)."""
    import json

    results = [json.loads(line[len("RESULT ") :]) for line in lines]
    out: dict[str, Any] = {
        key: sum(r[key] for r in results)
        for key in results[0]
        if key not in ("wall", "checksum", "hourly")
    }
    out["wall"] = max(r["wall"] for r in results)
    out["checksum"] = sum(r["checksum"] for r in results) & MASK
    out["held"] = sum(r["peak_rss"] - r["base_rss"] for r in results)
    hours = min(len(r.get("hourly", [])) for r in results)
    out["hourly"] = [sum(r["hourly"][h] for r in results) for h in range(hours)]
    return out


def station_events(url: str, shown: int = 5) -> list[str]:
    """The security events the station stored during the run, counted by kind, and the first
    ``shown`` of the kinds that mean an answer or report was refused (a refused report is
    acknowledged: sending it again would not change it)."""
    import psycopg

    with psycopg.connect(url) as connection:
        counts = connection.execute(
            "SELECT kind, count(*) FROM events GROUP BY kind ORDER BY kind"
        ).fetchall()
        refused = connection.execute(
            "SELECT kind, source, detail FROM events WHERE kind IN ('REPLAY', 'BAD_MAC') "
            "OR (kind = 'MALFORMED' AND source LIKE 'station%%') ORDER BY id LIMIT %s",
            (shown,),
        ).fetchall()
    lines = ["security events stored: " + (", ".join(f"{k} {n}" for k, n in counts) or "none")]
    lines += [f"  {kind}: {source}: {detail[:160]}" for kind, source, detail in refused]
    return lines


def compare(url: str, run: Path, result: dict[str, Any]) -> list[str]:
    """What differs between the meters' ledger and the database (empty: nothing)."""
    import psycopg

    produced: dict[str, int] = {}
    for path in sorted(run.glob("ledger-*.npz")):
        ledger = np.load(path)
        produced.update(zip(ledger["names"].tolist(), ledger["counts"].tolist(), strict=True))
    with psycopg.connect(url) as connection:
        rows = connection.execute(CHECKSUM_SQL).fetchall()
    stored = {meter: int(count) for meter, count, _ in rows}
    checksum = sum(int(total) for _, _, total in rows) & MASK
    out = []
    for meter in sorted(set(produced) | set(stored)):
        if produced.get(meter, 0) != stored.get(meter, 0):
            out.append(f"meter {meter}: served {produced.get(meter, 0)}, stored "
                       f"{stored.get(meter, 0)}")  # fmt: skip
    if sum(stored.values()) != result["readings"]:
        out.append(f"readings: served {result['readings']:,}, stored {sum(stored.values()):,}")
    if checksum != result["checksum"]:
        out.append(f"checksum: served {result['checksum']:016x}, stored {checksum:016x}")
    return out


def report(results: list[Figures], full: bool) -> int:
    failed: list[str] = []
    for f in results:
        print(f"\n{f.meters:,} meters, {f.hours:g} simulated h (load {f.load[0]:.1f} -> "
              f"{f.load[1]:.1f} on {os.cpu_count()} cores)")  # fmt: skip
        print(f"  wall {f.wall:,.1f} s, {f.readings:,} readings, {f.rate:,.0f} readings/s, "
              f"{f.cpu_per_reading * 1e6:,.1f} CPU us per reading, "
              f"{f.memory:,.0f} B per meter (fleet RSS)")  # fmt: skip
        cpu = ", ".join(f"{name} {seconds:,.1f}" for name, seconds in f.cpu.items())
        print(f"  CPU s: {cpu}")
        for fault in f.faults:
            print(f"  FAULT at {fault.simulated:5.2f} h simulated, {fault.wall:7.1f} s wall: "
                  f"{fault.kind}: {fault.detail}")  # fmt: skip
        for effect in f.effects:
            print(f"  effect: {effect}")
        for problem in f.mismatches[:10]:
            print(f"  MISMATCH {problem}")
        if f.mismatches:
            failed.append(f"{f.meters:,} meters: {len(f.mismatches)} differences")
        else:
            print("  every reading served is stored exactly once (counts per meter, checksum)")
    _growth(results)
    last = results[-1]
    scale = FULL / last.meters * 24.0 / last.hours
    cores = os.cpu_count() or 1
    by_cpu = last.readings * scale * last.cpu_per_reading / cores
    print(f"\nprojection, {FULL:,} meters x 24 h from {last.meters:,} meters: "
          f"{last.readings * scale:,.0f} readings; {by_cpu / 60:,.0f} min if the chain's CPU "
          f"per reading ({last.cpu_per_reading * 1e6:,.1f} us) had the {cores} cores to itself, "
          f"{last.wall * scale / 60:,.0f} min at this run's readings/s "
          f"(target {DAY_TARGET / 60:.0f} min)")  # fmt: skip
    if full and last.meters >= FULL:
        if last.wall * 24.0 / last.hours > DAY_TARGET:
            failed.append(f"the {FULL:,}-meter day takes {last.wall / 60:,.0f} min")
        if last.memory > MEMORY_TARGET:
            failed.append(f"{last.memory:,.0f} B per meter")
    for failure in failed:
        print(f"TARGET MISSED: {failure}")
    return 1 if failed else 0


def _growth(results: list[Figures]) -> None:
    first = results[0]
    for f in results[1:]:
        grow = f.meters / first.meters
        marginal = (f.memory * f.meters - first.memory * first.meters) / (f.meters - first.meters)
        print(f"x{grow:g} meters: readings/s x{f.rate / first.rate:.2f}, CPU per reading "
              f"x{f.cpu_per_reading / first.cpu_per_reading:.2f}, memory per meter "
              f"x{f.memory / first.memory:.2f} (linear: x1.00 each); each meter added holds "
              f"{marginal:,.0f} B")  # fmt: skip
        for name in f.cpu:
            a = first.cpu.get(name, 0.0) / max(1, first.readings)
            b = f.cpu[name] / max(1, f.readings)
            if a and abs(b / a - 1) > 0.25:
                print(f"  not linear: {name} CPU per reading x{b / a:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--full", action="store_true", help="add 100,000 meters")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-terminal", type=int, default=250)
    parser.add_argument(
        "--drop-item",
        type=int,
        default=0,
        help="lose the Nth item the first terminal collects (the check fails)",
    )
    parser.add_argument("--faults", action="store_true",
                        help="a three-node NATS cluster, and faults during the day "
                             "(bench/chain_faults.py)")  # fmt: skip
    parser.add_argument(
        "--ack-wait",
        type=float,
        default=30.0,
        help="seconds before a worker's unacknowledged messages go to another",
    )
    parser.add_argument("--pace", type=float, default=0.0,
                        help="least wall seconds a simulated hour")  # fmt: skip
    parser.add_argument("--fleets", type=int, default=2,
                        help="fleet processes sharing the terminals (default 2)")  # fmt: skip
    parser.add_argument("--backlog", type=float, default=0.5,
                        help="collected items per meter that may wait for the station")  # fmt: skip
    parser.add_argument("--step", type=float, default=30.0,
                        help="simulated seconds the fleets' clock advances at a time")  # fmt: skip
    parser.add_argument("--trim-every", type=float, default=TRIM_EVERY,
                        help="simulated seconds between the fleets' returns of free heap pages "
                             "to the system (0: never)")  # fmt: skip
    args = parser.parse_args(argv)
    # stopped (timeout, kill): end the run's processes and drop its database on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sorted(set(args.meters + ([FULL] if args.full else [])))  # --meters 100000 --full: one
    results = []
    for n in sizes:
        print(f"  chain: {n:,} meters x {args.hours:g} h ...", file=sys.stderr, flush=True)
        results.append(run_chain(n, args.hours, workers=args.workers,
                                 per_terminal=args.per_terminal,
                                 drop_item=args.drop_item, faults=args.faults,
                                 ack_wait=args.ack_wait, pace=args.pace,
                                 backlog=args.backlog, fleets=args.fleets,
                                 step=args.step, trim_every=args.trim_every))  # fmt: skip
    return report(results, args.full)


if __name__ == "__main__":
    sys.exit(main())
