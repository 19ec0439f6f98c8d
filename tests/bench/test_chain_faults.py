"""bench/chain.py --faults at a tiny size: 50 meters for a simulated hour on a three-node NATS
cluster, while an ingest worker is SIGKILLed mid-batch (and a replacement started), the
workers' PostgreSQL connections are terminated and the FEP's NATS node is killed and started
again; the database still holds exactly what the meters served. The checks that make a fault
run fail (a fault the day ended before, a killed batch nobody got again) are shown failing
without services; a lost reading is caught as in test_chain_bench.py."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

from test_chain_bench import _chain, bench_module


def _faults() -> ModuleType:
    return bench_module("chain_faults", "chain_faults.py")


def test_faults_during_the_day_lose_nothing_and_duplicate_nothing() -> None:
    chain = _chain()
    run = chain.run_chain(50, 1.0, per_terminal=25, quiet=True, faults=True, ack_wait=5.0,
                          pace=40.0)  # fmt: skip
    assert run.mismatches == []
    schedule = sys.modules["chain_faults"].SCHEDULE
    assert [f.kind for f in run.faults] == [kind for _, kind in schedule]
    assert "SIGKILLed mid-batch" in run.faults[0].detail  # it held a batch when killed
    assert [f.simulated for f in run.faults] == sorted(f.simulated for f in run.faults)
    redelivered = int(run.effects[0].split(":")[1].split()[0].replace(",", ""))
    assert redelivered >= 1  # the killed worker's batch went to another worker
    assert chain.report([run], full=False) == 0


def _injector(faults: ModuleType, tmp_path: Path, hours_in: float) -> object:
    clock = tmp_path / "clock"
    clock.write_bytes(struct.pack("<d", 1000.0 + hours_in * 3600.0))
    cluster = SimpleNamespace()
    return faults.FaultInjector(tmp_path, 1000.0, 1.0, cluster, [], lambda: None, lambda: 0)


def test_a_fault_the_day_ended_before_fails_the_run(tmp_path: Path) -> None:
    faults = _faults()
    injector = _injector(faults, tmp_path, 0.0)  # the calendar never reaches the first fault
    injector.finished.set()  # type: ignore[attr-defined]
    injector.run()  # type: ignore[attr-defined]
    assert injector.faults == []  # type: ignore[attr-defined]
    assert injector.problems == [  # type: ignore[attr-defined]
        "fault 'kill worker' not injected: the day ended first"
    ]


def test_a_killed_batch_nobody_got_again_fails_the_run(tmp_path: Path) -> None:
    faults = _faults()
    injector = _injector(faults, tmp_path, 1.0)
    injector.killed_batch = 3  # type: ignore[attr-defined]
    quiet = 'worker: stats {"delivered": 90, "redelivered": 0}'
    workers = [SimpleNamespace(name="worker-2", lines=["worker: ready", quiet])]
    fep = SimpleNamespace(lines=[])
    lines, problems = faults.effects(injector, workers, fep)
    assert problems == ["the killed worker's batch was not redelivered to another worker"]
    assert lines[0].startswith("messages redelivered to the workers: 0 (the killed worker held 3)")
    workers[0].lines.append('worker: stats {"delivered": 93, "redelivered": 3}')
    assert faults.effects(injector, workers, fep)[1] == []
