"""Faults during bench/chain.py's simulated day (``--faults``): the cluster and the injector.

With ``--faults`` the run's bus is a three-node NATS JetStream cluster on loopback ports
(:class:`Cluster`, the layout of deploy/nats-cluster/: every stream kept on the three nodes),
every NATS client (the FEP, the ingest workers) given the three URLs, and while the day runs a
:class:`FaultInjector` thread waits for set moments of the simulated calendar (fractions of the
day, :data:`SCHEDULE`) and, one after the other:

1. **kills an ingest worker in the middle of a batch**: worker-1 runs with a stop file
   (bench/chain_roles.py ``--stop-file``); once the injector creates the file, the worker
   stops itself (SIGSTOP) at its next fetched batch, its messages handled but neither
   committed nor acknowledged, and writes the batch's size there; the injector then SIGKILLs
   it. The server hands the batch to the other worker after the consumer's ``ack_wait``;
2. **starts a replacement worker** (worker-3) on the same durable consumer;
3. **terminates the workers' PostgreSQL connections** (``pg_terminate_backend`` on every
   backend of the run's database): a worker's commit fails, it keeps its batch, backs off and
   commits it again on a new connection;
4. **kills the FEP's NATS node** (SIGKILL; the node the FEP is connected to, by each node's
   monitoring port), so the FEP (and any worker on that node) moves to another node while it
   publishes, and the streams the node led elect new leaders;
5. **starts that node again** on its own store: it rejoins and catches up;
6. **kills the node that leads the up stream** (the terminals' reports and the workers'
   consumer of them), which the cluster must hand to another node mid-flow;
7. **starts that node again**.

Each fault is logged with its simulated time (hours into the day) and its wall time (seconds
since the fleet started). The run is judged as every run is, at the end by count per meter
and checksum; a fault the day ended before, or a killed batch that no worker got again, is a
failure of the run too.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain_roles import calendar_time

from wattguard.testing.services import free_ports

#: The faults, in order, and the fraction of the simulated day each waits for.
SCHEDULE = (
    (0.12, "kill worker"),
    (0.24, "replacement worker"),
    (0.36, "drop PostgreSQL"),
    (0.48, "stop the FEP's NATS node"),
    (0.60, "restart NATS node"),
    (0.72, "stop the up stream's leader"),
    (0.84, "restart NATS node"),
)
FEP_CLIENT = "wattguard-fep-1"  # the FEP's NATS connection name (bench/chain_roles.py)
UP_STREAM = "WATTGUARD_UP"  # the stream of the terminals' reports (runtime/jetstream.py)
STOP_FILE = "stop-worker-1"  # in the run's folder: worker-1 stops mid-batch once it exists


@dataclass
class Fault:
    """One fault injected: what, when (simulated hours into the day, wall seconds since the
    fleet started), and what the injector saw of it."""

    kind: str
    simulated: float
    wall: float
    detail: str


def wait_port(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class Cluster:
    """Three nats-server nodes with JetStream, one cluster on loopback ports, each node its
    own store under ``run``; ``spawn(name, command)`` starts a process of the run."""

    def __init__(self, run: Path, server: str, spawn: Callable[[str, list[str]], Any]) -> None:
        ports = free_ports(9)
        self.clients, routes, self.monitors = ports[:3], ports[3:6], ports[6:]
        self.spawn = spawn
        self.commands = []
        for i in range(3):
            others = ", ".join(f'"nats-route://127.0.0.1:{p}"' for p in routes if p != routes[i])
            config = run / f"nats-{i + 1}.conf"
            config.write_text(
                f'server_name: "nats-{i + 1}"\nlisten: "127.0.0.1:{self.clients[i]}"\n'
                f'http: "127.0.0.1:{self.monitors[i]}"\n'
                f'jetstream {{ store_dir: "{run / f"js{i + 1}"}" }}\n'
                f'cluster {{ name: "chain", listen: "127.0.0.1:{routes[i]}", '
                f"routes: [{others}] }}\n"
            )
            self.commands.append([server, "-c", str(config)])
        self.nodes = [spawn(f"nats-{i + 1}", self.commands[i]) for i in range(3)]
        for port in self.clients:
            wait_port(port)

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.clients)

    def _monitor(self, k: int, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitors[k]}{path}", timeout=2) as r:
            return json.load(r)

    def serving(self, client: str) -> int:
        """The node (0-2) the NATS client named ``client`` is connected to (-1: none)."""
        for k in range(3):
            with contextlib.suppress(OSError, ValueError):
                if any(c.get("name") == client for c in self._monitor(k, "/connz")["connections"]):
                    return k
        return -1

    def leaders(self, k: int) -> list[str]:
        """The streams node ``k`` leads (by its monitoring port; empty when it cannot say)."""
        with contextlib.suppress(OSError, ValueError, KeyError):
            details = self._monitor(k, "/jsz?accounts=true&streams=true")["account_details"]
            return sorted(
                stream["name"]
                for account in details
                for stream in account.get("stream_detail", [])
                if stream.get("cluster", {}).get("leader") == f"nats-{k + 1}"
            )
        return []

    def stop(self, k: int) -> None:
        child = self.nodes[k]
        child.final_cpu = child.cpu()
        child.process.send_signal(signal.SIGKILL)
        child.process.wait()

    def restart(self, k: int) -> None:
        self.nodes[k] = self.spawn(f"nats-{k + 1}", self.commands[k])
        wait_port(self.clients[k])


class FaultInjector(threading.Thread):
    """Injects :data:`SCHEDULE`'s faults at their moments of the simulated day (see the
    module docstring); :attr:`faults` what was done, :attr:`problems` what could not be."""

    def __init__(self, run: Path, start: float, hours: float, cluster: Cluster,
                 workers: list[Any], replacement: Callable[[], Any],
                 terminate: Callable[[], int]) -> None:  # fmt: skip
        super().__init__(daemon=True, name="faults")
        self.run_dir, self.start_time, self.hours = run, start, hours
        self.cluster, self.workers = cluster, workers
        self.replacement, self.terminate = replacement, terminate
        self.faults: list[Fault] = []
        self.problems: list[str] = []
        self.killed_batch = 0
        self.began = time.monotonic()
        self.finished = threading.Event()  # the day is over: faults not yet done are missed
        self._stopped_node = -1

    def simulated(self) -> float:
        """Hours into the simulated day now (the run's shared calendar)."""
        return (calendar_time(self.run_dir / "clock") - self.start_time) / 3600.0

    def run(self) -> None:
        for fraction, kind in SCHEDULE:
            while self.simulated() < fraction * self.hours:
                if self.finished.wait(0.05):
                    self.problems.append(f"fault {kind!r} not injected: the day ended first")
                    return
            at, wall = self.simulated(), time.monotonic() - self.began
            try:
                detail = self._inject(kind)
            except Exception as exc:  # reported as a failure of the run, not a crash
                self.problems.append(f"fault {kind!r} failed: {exc}")
                return
            self.faults.append(Fault(kind, at, wall, detail))
            print(f"  fault at {at:.2f} h simulated, {wall:.1f} s wall: {kind}: {detail}",
                  flush=True)  # fmt: skip

    def _inject(self, kind: str) -> str:
        if kind == "kill worker":
            return self._kill_worker()
        if kind == "replacement worker":
            child = self.replacement()
            return f"{child.name} started (pid {child.process.pid})"
        if kind == "drop PostgreSQL":
            return f"pg_terminate_backend on {self.terminate()} backends of the run's database"
        if kind.startswith("stop "):
            if kind == "stop the FEP's NATS node":  # the FEP must move while it publishes
                k = self.cluster.serving(FEP_CLIENT)
            else:  # the up stream and its consumer must elect another leader
                k = next((k for k in range(3) if UP_STREAM in self.cluster.leaders(k)), -1)
            k = self._stopped_node = 0 if k < 0 else k
            led = ", ".join(self.cluster.leaders(k)) or "no stream"
            on = "the FEP's node" if self.cluster.serving(FEP_CLIENT) == k else "not the FEP's"
            self.cluster.stop(k)
            return f"nats-{k + 1} SIGKILLed ({on}; it led {led})"
        if kind == "restart NATS node":
            self.cluster.restart(self._stopped_node)
            return f"nats-{self._stopped_node + 1} started again on its store"
        raise ValueError(kind)

    def _kill_worker(self) -> str:
        worker = self.workers[0]
        trigger = self.run_dir / STOP_FILE
        trigger.touch()
        pid = worker.process.pid
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and _state(pid) != "T":
            time.sleep(0.01)
        stopped = _state(pid) == "T"
        worker.final_cpu = worker.cpu()
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        if not stopped:
            return f"{worker.name} SIGKILLed, no batch in hand within 60 s"
        batch, unsent = (int(n) for n in trigger.read_text().split())
        self.killed_batch = batch
        return (f"{worker.name} SIGKILLed mid-batch: {batch} messages handled, not committed, "
                f"not acknowledged; {unsent} acknowledgements down (of batches committed "
                "before) not yet published")  # fmt: skip


def _state(pid: int) -> str:
    """The state letter of process ``pid`` (R, S, T: stopped, ...; "" when gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return ""


def last_stats(lines: list[str], prefix: str) -> dict[str, int]:
    """The last ``<prefix>stats {json}`` line a process printed, as a dict (empty: none)."""
    for line in reversed(lines):
        if line.startswith(prefix + "stats "):
            return dict(json.loads(line[len(prefix) + 6 :]))
    return {}


def effects(injector: FaultInjector, workers: list[Any], fep: Any) -> tuple[list[str], list[str]]:
    """What the faults did, as lines to print, and what shows one did not work (a killed
    batch that no other worker got again)."""
    stats = {w.name: last_stats(w.lines, "worker: ") for w in workers}
    total = {key: sum(s.get(key, 0) for s in stats.values()) for key in
             ("delivered", "redelivered", "failed_batches", "terminated", "nats_reconnects",
              "pg_reconnects")}  # fmt: skip
    fep_stats = last_stats(fep.lines, "fep: ")
    lines = [
        f"messages redelivered to the workers: {total['redelivered']:,} "
        f"(the killed worker held {injector.killed_batch}); delivered {total['delivered']:,}",
        f"commits failed and retried: {total['failed_batches']:,} batches; PostgreSQL "
        f"reconnects: {total['pg_reconnects']:,}; messages given up: {total['terminated']}",
        f"NATS reconnects: workers {total['nats_reconnects']:,}, FEP "
        f"{fep_stats.get('reconnects', 0):,}; FEP publishes {fep_stats.get('published', 0):,}, "
        f"deduplicated by the server {fep_stats.get('duplicates', 0):,}, called duplicates "
        f"of nothing stored and sent again {fep_stats.get('unstored', 0):,}, given up "
        f"{fep_stats.get('failed', 0):,}",
    ]
    problems = list(injector.problems)
    if injector.killed_batch and total["redelivered"] < 1:
        problems.append("the killed worker's batch was not redelivered to another worker")
    return lines, problems
