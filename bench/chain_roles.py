"""The processes of ``bench/chain.py``: ``fleet``, ``fep`` and ``worker`` (one each per process).

    python bench/chain_roles.py fleet|fep|worker --dir RUN [options]

All three share one simulated calendar, a file (``RUN/clock``, 8 bytes a fleet process) the
fleets write and the others read (:class:`SharedCalendar`): the day runs as fast as the chain
takes it, and a real-time answer is judged fresh against the time the meters live in, not the
wall clock. Intervals (timeouts, rates) are measured on the real monotonic clock.

* **fleet**: a :class:`~wattguard.simulation.lazy_fleet.LazyFleet` of ``--meters`` meters
  behind terminals of ``--per-terminal`` meters (with ``--fleets`` F, fleet process
  ``--index`` k runs the k-th F-th of the terminals, and the fleets go in step on the
  calendar: the terminals are independent devices, and the fleet's work then spreads over
  the cores while the rest of the chain waits on it), each terminal a
  :class:`~wattguard.simulation.fleet_net.FleetNet` reading its meters by the collection tasks
  6012/6014 configure (15-minute real-time values and curve) and reporting gathered records
  over its own TCP connection to the FEP through the WAN secure channel (its certificate from
  ``RUN/pki``). The meters are in lazy fleets of ``--group`` meters (whole terminals), each
  with its own load model, server and ledger. Virtual time advances in steps of ``--step``
  seconds while no more than ``--backlog`` collected items wait to be acknowledged
  (backpressure: memory stays bounded whatever the chain's speed). A
  :class:`~wattguard.simulation.ledger.ReadingLedger` per fleet counts what its meters served;
  at the end (every outbox acknowledged) they are written to ``RUN/ledger-k.npz`` and one
  ``RESULT {json}`` line is printed.
* **fep**: the FEP (``runtime.fep.FepServer``) with the WAN secure channel, publishing on
  JetStream; its limits sized for a bench (every terminal on one loopback host, in compressed
  time).
* **worker**: an ingest worker: ``wattguard station --role ingest``'s objects
  (``station_for``, ``RoleBus``, the JetStream durable consumer, the group-commit timer) on
  PostgreSQL, its clock the shared calendar.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import mmap
import os
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

from wattguard.cipher.device import CryptoDevice
from wattguard.cipher.vault import load_vault
from wattguard.clock import SystemClock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventLog
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.terminal import Terminal
from wattguard.network.terminal.scheme import NormalScheme, TaskConfig
from wattguard.network.utility import UtilityPki
from wattguard.protocol import CSD, OAD, OMD, Data
from wattguard.protocol.apdu import Structure
from wattguard.protocol.values import ROAD, TI
from wattguard.runtime.allocator import keep_large_blocks_mapped, return_free_memory
from wattguard.runtime.buskeys import STATION
from wattguard.runtime.fep import FepServer
from wattguard.runtime.ingest import drive_group_commit
from wattguard.runtime.jetstream import JetStreamBus
from wattguard.runtime.roles import connect_bus
from wattguard.runtime.station_roles import RoleBus, StationRole, commit_batch, station_for
from wattguard.runtime.terminal import TerminalClient
from wattguard.simulation.fleet_net import FleetNet
from wattguard.simulation.lazy_fleet import SLOT, LazyFleet
from wattguard.simulation.lazy_server import LazyServer, diversified_mac_keys
from wattguard.simulation.ledger import ReadingLedger
from wattguard.simulation.profile import LoadModel
from wattguard.station.freshness import AnswerFreshness
from wattguard.station.group_commit import GroupCommitConfig
from wattguard.station.storage import open_storage

_IDLE = 0.05  # seconds the fleet waits for the station at most before looking again
_AGREE = 0.002  # seconds between looks at the calendar while the other fleets catch up
#: simulated seconds between the fleet's returns of its heap's free pages (return_free_memory)
TRIM_EVERY = 900.0
TRIMS: list[float] = []  # the wall seconds each of them took
HOURLY: list[int] = []  # the fleet's resident bytes at each whole simulated hour of the run
BATCH = 42  # items per gathered report (as bench/scale.py)
HOLD = 30.0  # seconds a partial batch waits for more items
PASSPHRASE = "WATTGUARD_PASSPHRASE"
VERBOSE = bool(os.environ.get("CHAIN_VERBOSE"))
BENCH_LIMITS = FepLimits(
    max_per_host=2000, frames_per_second=20_000.0, frame_burst=200_000,
    bytes_per_second=1e9, byte_burst=10**9, flood_limit=10**9, connections_per_second=2000.0,
    connection_burst=2000, login_timeout=600.0,
)  # fmt: skip


class SharedCalendar:
    """The run's simulated calendar in ``path``: one 8-byte slot per fleet process, each the
    time that fleet is ready to go to (negative once the fleet is done: it no longer holds
    the others back). The calendar is the earliest slot of the fleets not done (all done: the
    latest), so the fleets go in step: none runs its terminals to a time before every other
    has proposed it, and the FEP and the workers see the time every fleet lives in.
    ``slot`` is this fleet's (None: a reader); ``monotonic`` is the real clock."""

    def __init__(self, path: Path, slot: int | None = None) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115  # mapped for the process's life
        self._slots = max(1, os.fstat(self._file.fileno()).st_size // 8)
        self._map = mmap.mmap(self._file.fileno(), 8 * self._slots)
        self._format = f"<{self._slots}d"
        self._slot = slot

    @staticmethod
    def create(path: Path, start: float, fleets: int = 1) -> None:
        """Write a calendar at ``start`` for ``fleets`` fleet processes."""
        path.write_bytes(struct.pack(f"<{fleets}d", *([start] * fleets)))

    def time(self) -> float:
        return agreed(struct.unpack(self._format, _steady(lambda: self._map[:])))

    def set(self, t: float) -> None:
        """Propose ``t`` (this fleet is ready to go there)."""
        self._write(t)

    def done(self, t: float) -> None:
        """This fleet is done at ``t``: it holds no one back from now on."""
        self._write(-t)

    def _write(self, value: float) -> None:
        # One slice assignment (a copy of the 8 bytes), not struct.pack_into: that zeroes its
        # bytes before it writes them, and a worker reading in between saw the calendar at 0
        # (1970): it refused a report's answers as dated ahead of its clock, and acknowledged
        # them (a refused answer is not sent again), so a fault day lost that report.
        at = 8 * (self._slot or 0)
        self._map[at : at + 8] = struct.pack("<d", value)

    def monotonic(self) -> float:
        return time.monotonic()


def _steady(read: Callable[[], bytes]) -> bytes:
    """``read()`` until two reads in a row agree: not one torn by a fleet's write."""
    last = read()
    while (again := read()) != last:
        last = again
    return last


def agreed(slots: Sequence[float]) -> float:
    """The calendar's time from its slots (see :class:`SharedCalendar`)."""
    running = [t for t in slots if t >= 0]
    return min(running) if running else max(-t for t in slots)


def calendar_time(path: Path) -> float:
    """The calendar in ``path`` read once (a reader that keeps no mapping)."""
    raw = _steady(path.read_bytes)
    return agreed(struct.unpack(f"<{len(raw) // 8}d", raw[: len(raw) // 8 * 8]))


def fleet_share(count: int, fleets: int, index: int) -> range:
    """The terminals (of ``count``) that fleet process ``index`` of ``fleets`` runs."""
    return range(index * count // fleets, (index + 1) * count // fleets)


def terminal_addresses(meters: int, per_terminal: int) -> list[bytes]:
    return [bytes.fromhex(f"99{k:010d}") for k in range(1, -(-meters // per_terminal) + 1)]


def meter_addresses(meters: int, per_terminal: int, first: int = 0) -> list[bytes]:
    """The addresses of meters ``first`` .. ``meters`` - 1 of the run (terminal by terminal)."""
    return [bytes.fromhex(f"{1 + i // per_terminal:06d}{i % per_terminal + 1:06d}")
            for i in range(first, meters)]  # fmt: skip


def configure(terminal: Terminal, now: float) -> None:
    """Give ``terminal`` its tasks as the station does, through 6014 (schemes) and 6012."""
    current = NormalScheme(1, 1, 0, tuple(CSD(OAD(oi, 2, 0)) for oi in (0x0010, 0x2000, 0x4000)))
    road = ROAD(OAD(0x5002, 2, 0), (OAD(0x2021, 2, 0), OAD(0x0010, 2, 0)))
    curve = NormalScheme(2, 96, 3, (CSD(road),), TI(1, 15))
    for omd, units in (
        (OMD(0x6014, 127, 0), [current.to_data(), curve.to_data()]),
        (OMD(0x6012, 127, 0), [TaskConfig(k, TI(1, 15), k).to_data() for k in (1, 2)]),
    ):
        if terminal.schemes.action(omd, Data.array(*units)) != 0:
            raise SystemExit("the collection tables were refused")
    terminal.tasks = terminal.fixed_tasks + terminal.schemes.tasks(now)


class SignalledNet(FleetNet):
    """A :class:`FleetNet` that sets ``arrived`` whenever the station sends something (an
    acknowledgement, a request) and puts itself in ``woken``: the fleet waits on it for the
    backlog to drain, and then runs only the terminals the station spoke to, rather than
    going through every terminal every few milliseconds (what its CPU went on while the rest
    of the chain was busy: at 100,000 meters, 400 terminals at every acknowledgement)."""

    arrived: asyncio.Event | None = None
    woken: set[FleetNet] | None = None

    def from_upstream(self, data: bytes) -> None:
        super().from_upstream(data)
        if self.woken is not None:
            self.woken.add(self)
        if self.arrived is not None:
            self.arrived.set()


class Protect:
    """A terminal's ``protect``: plaintext + RN (``wrap_with_rn``, a fresh RN each time), the
    wrapped request encoded once for all the meters a round sends it to (the terminal hands
    each of them the same request object)."""

    def __init__(self) -> None:
        self._last: tuple[Structure | None, bytes] = (None, b"")

    def __call__(self, _address: bytes, request: Structure) -> Structure:
        last, encoded = self._last
        if request is not last:
            encoded = request.to_bytes()
            self._last = (request, encoded)
        return wrap_with_rn(encoded)


def in_flight(net: FleetNet) -> int:
    return len(net.terminal.outbox.in_flight)


def pending(net: FleetNet) -> int:
    outbox = net.terminal.outbox
    return len(outbox) + sum(map(len, outbox.in_flight.values()))


def settled(net: FleetNet) -> bool:
    """Whether everything ``net``'s meters served has reached the station: no item queued or
    in flight, and no frame on the power line. A lazy meter counts its values in the ledger
    when it answers, and the answer then takes its time up the line: a day that ended with
    one there (a round begun in the last steps) would count values no report carries."""
    return not pending(net) and net.channel.get_timer() is None


async def run_fleet(args: argparse.Namespace) -> None:
    run = Path(args.dir)
    # the load model's slot arrays (hundreds of KB, made and freed each slot) stay mappings
    # of their own: in the heap, the holes they leave grow the fleet's RSS (docs/deploy.md)
    keep_large_blocks_mapped()
    base_rss = _rss()
    peak = _PeakTrace.start()
    calendar = SharedCalendar(run / "clock", slot=args.index)
    start = calendar.time()
    master = load_vault(run / "vault", os.environ[PASSPHRASE])[0]
    every = terminal_addresses(args.meters, args.per_terminal)
    share = fleet_share(len(every), args.fleets, args.index)
    # this fleet's meters only: a list of every meter's address would be 47 B a meter of the
    # run in each fleet process
    meters = meter_addresses(min(args.meters, share.stop * args.per_terminal), args.per_terminal,
                             share.start * args.per_terminal)  # fmt: skip
    backlog = int(args.backlog * len(meters) / max(1, args.meters))
    servers = _fleets(meters, args.per_terminal * max(1, args.group // args.per_terminal),
                      master, start, seed=1 + share.start)  # fmt: skip
    utility = UtilityPki.load(run / "pki", SystemClock())
    host, port = args.fep.rsplit(":", 1)
    nets, clients = [], []
    arrived = asyncio.Event()
    woken: set[FleetNet] = set()
    for j, k in enumerate(share):
        address = every[k]
        channel = HplcChannel(seed=k)
        terminal = Terminal(
            address, channel, protect=Protect(), start=start,
            batch_items=BATCH, report_hold=HOLD, upstream_timeout=4 * SLOT, heartbeat=SLOT,
        )  # fmt: skip
        configure(terminal, start)
        for meter in meters[j * args.per_terminal : (j + 1) * args.per_terminal]:
            terminal.add_meter(meter)
        group = (j * args.per_terminal) // servers[0].fleet.n
        net = SignalledNet(terminal, channel, servers[group])
        net.arrived = arrived
        net.woken = woken
        client = TerminalClient(
            cast(Any, net), calendar, host, int(port), tick=1e6,
            channel=utility.terminal_channel(address), backoff=(0.1, 1.0),
        )  # fmt: skip
        nets.append(net)
        clients.append(client)
    if args.drop_item and args.index == 0:
        _drop(nets[0], args.drop_item)
    resent = [_count_resent(net) for net in nets]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    while not all(net.terminal.online for net in nets):
        await asyncio.sleep(0.05)
    print(f"fleet: {len(nets)} terminals online", flush=True)
    began, cpu = time.monotonic(), time.process_time()
    end = start + args.hours * 3600.0
    overdue = Overdue(nets, args.overdue)
    on_the_line = await _drive(nets, calendar, end + 600.0, args.step, backlog, arrived,
                               args.pace, overdue, woken, args.trim_every)  # fmt: skip
    wall = time.monotonic() - began
    if peak is not None:
        peak.show(len(meters))
    if os.environ.get("CHAIN_GC"):
        _show_cycles()
    ledgers = [s.ledger for s in servers if s.ledger is not None]
    counts = np.concatenate([ledger.counts for ledger in ledgers])
    names = np.array([name for ledger in ledgers for name in ledger.names])
    np.savez(run / f"ledger-{args.index}.npz", counts=counts, names=names)
    result = {
        "wall": wall, "cpu": time.process_time() - cpu, "readings": int(counts.sum()),
        "checksum": sum(ledger.checksum for ledger in ledgers) % 2**64,
        "base_rss": base_rss, "peak_rss": _rss("VmHWM"),
        "frames_in": sum(s.frames_in for s in servers),
        "ignored": sum(s.ignored for s in servers),
        "dropped": sum(n.terminal.outbox.dropped for n in nets), "overdue": overdue.batches,
        "resent": sum(count[0] for count in resent),
        "stray_acks": sum(count[1] for count in resent),
        "late_acks": sum(count[2] for count in resent),
        "on_the_line": on_the_line, "trims": len(TRIMS), "trim_wall": sum(TRIMS),
        "hourly": [rss - base_rss for rss in HOURLY],
    }  # fmt: skip
    print("RESULT " + json.dumps(result), flush=True)
    for client in clients:
        client.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class Overdue:
    """The batches in flight longer than ``limit`` wall seconds: their acknowledgement is lost
    (a worker that died after its commit, before it sent the acknowledgements). Holding the
    calendar for them would wait forever; time must pass so that the terminal's upstream
    timeout sends them again, as it would in a real deployment. :attr:`batches` counts them."""

    def __init__(self, nets: Sequence[FleetNet], limit: float) -> None:
        self.nets, self.limit = nets, limit
        self._since: dict[tuple[int, int, int], float] = {}
        self._counted: set[tuple[int, int, int]] = set()
        self.batches = 0
        self._looked = -1.0
        self._late = False

    def __call__(self) -> bool:
        """Whether a batch in flight is overdue now (looked at most four times a second:
        asked at every acknowledgement, it went through every terminal's batches)."""
        now = time.monotonic()
        if now - self._looked < 0.25:
            return self._late
        self._looked = now
        since = {}
        for k, net in enumerate(self.nets):
            for piid, batch in net.terminal.outbox.in_flight.items():
                key = (k, piid, id(batch))
                since[key] = self._since.get(key, now)
        self._since = since
        late = {key for key, t in since.items() if now - t > self.limit}
        self.batches += len(late - self._counted)
        self._counted |= late
        self._late = bool(late)
        return self._late


def _fleets(meters: list[bytes], size: int, master: Any, start: float,
            seed: int = 1) -> list[LazyServer]:  # fmt: skip
    """The lazy meters in fleets of ``size`` (whole terminals), each with its own load model
    (seeds ``seed``, ``seed`` + 1, ...), server and ledger: a fleet meters a quarter hour for
    all its meters at once, and the load model's working arrays for that (about 1.5 KB a meter
    while it runs) are then a fleet's, not the whole population's."""
    servers = []
    for first in range(0, len(meters), size):
        group = meters[first : first + size]
        model = LoadModel.mixed(len(group), seed=seed + first // size)
        fleet = LazyFleet(model, group, diversified_mac_keys(master, group), start)
        server = LazyServer(fleet)
        server.ledger = ReadingLedger(group)
        servers.append(server)
    return servers


async def _drive(nets: Sequence[FleetNet], calendar: SharedCalendar, end: float, step: float,
                 backlog: int, arrived: asyncio.Event, pace: float = 0.0,
                 overdue: Overdue | None = None,
                 woken: set[FleetNet] | None = None,
                 trim_every: float = TRIM_EVERY) -> int:  # fmt: skip
    """Advance the calendar to ``end`` in steps, each once no more than ``backlog`` items wait
    upstream or nothing is on its way (a partial batch waits for time to pass) or a batch is
    ``overdue``, and no sooner than ``pace`` wall seconds a simulated hour from the start (a
    small fault run lasts long enough for its faults), then hold it until every outbox is
    acknowledged and no answer is left on a power line (:func:`settled`). While it waits, it
    waits for the station to send something (``arrived``), at most ``_IDLE`` seconds at a
    time, and then runs the terminals in ``woken`` (those the station spoke to: nothing else
    changed, as the calendar stands still; None: all). Every ``trim_every`` simulated seconds
    (0: never) the process gives its heap's free pages back (runtime.allocator).
    Returns how many looks at the end found every outbox empty and an answer still on a power
    line: where a day held only until its outboxes were empty would have lost values its
    meters had counted (a round begun in the last steps)."""
    late = overdue or Overdue(nets, float("inf"))
    t = first = calendar.time()
    shown = began = time.monotonic()

    async def serve_woken(idle: float = _IDLE) -> None:
        """Run the terminals the station spoke to (all when ``woken`` is None) at the time they
        are at, then wait for the station to send something (at most ``idle`` seconds)."""
        for net in nets if woken is None else [n for n in nets if n in woken]:
            net.run_until(net.now)
        if woken is not None:
            woken.clear()
        await _heard(arrived, idle)

    async def go_to(t: float) -> None:
        """Propose ``t`` and run the terminals there once every fleet has (until then, only
        those the station spoke to, at the time they are at)."""
        calendar.set(t)
        while calendar.time() < t:
            await serve_woken(_AGREE)
        for net in nets:
            net.run_until(t)

    trimmed = hour = t
    while t < end:
        if t - hour >= 3600.0:
            HOURLY.append(_rss())
            hour += 3600.0
            if _PeakTrace.current is not None:
                _PeakTrace.current.hourly()
        if trim_every and t - trimmed >= trim_every:
            # the reports and answers of a quarter hour come and go between blocks that live
            # on: the pages they freed go back (runtime.allocator)
            trimming = time.monotonic()
            return_free_memory()
            TRIMS.append(time.monotonic() - trimming)
            trimmed = t
        if pace:
            await asyncio.sleep(max(0.0, began + (t - first) / 3600.0 * pace - time.monotonic()))
        while (sum(map(pending, nets)) > backlog and any(in_flight(net) for net in nets)
               and not late()):  # fmt: skip
            await serve_woken()  # the terminals are at t
            if VERBOSE and time.monotonic() - shown > 5:
                shown = time.monotonic()
                print(f"fleet: at {t:.0f}, {sum(map(pending, nets))} items pending", flush=True)
                for net in nets:
                    o = net.terminal.outbox
                    print(
                        f"  {net.terminal.address.hex()} online {net.terminal.online} items "
                        f"{len(o)} in flight {sorted(o.in_flight)} sent {o.sent_batches} "
                        f"timer {net.terminal.get_timer()}",
                        flush=True,
                    )
        t = min(t + step, end)
        await go_to(t)
        if _PeakTrace.current is not None:
            _PeakTrace.current.look()
        await asyncio.sleep(0)
    on_the_line = 0  # looks at the end that found every outbox empty, an answer on a line
    while not all(map(settled, nets)):
        on_the_line += not any(map(pending, nets))
        # time must pass for a partial batch, a lost acknowledgement, an answer on a line
        if not any(in_flight(net) for net in nets) or late():
            t += step
            await go_to(t)
        for net in nets:
            net.run_until(t)
        await _heard(arrived)
    calendar.done(t)
    return on_the_line


async def _heard(arrived: asyncio.Event, idle: float = _IDLE) -> None:
    """Wait until the station sends something (or ``idle`` seconds pass)."""
    arrived.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(arrived.wait(), idle)


class _PeakTrace:
    """With ``CHAIN_TRACEMALLOC`` set, the fleet traces its allocations and, at the end, prints
    what the fleet held (by line of source) when the traced memory was at its highest: what
    each simulated meter costs, beyond the RSS figure. With ``CHAIN_TRACEMALLOC_EARLY`` (wall
    seconds) too, it prints first what it held at the end beyond what it held that long into
    the run: what grows with the simulated time rather than with the meters."""

    current: _PeakTrace | None = None

    def __init__(self) -> None:
        import tracemalloc

        self.tracemalloc = tracemalloc
        tracemalloc.start(int(os.environ.get("CHAIN_TRACEMALLOC_FRAMES", "1")))
        self.base = tracemalloc.take_snapshot()
        self.peak: Any = None
        self.highest = 0
        self.began = time.monotonic()
        early = os.environ.get("CHAIN_TRACEMALLOC_EARLY")
        self.early_after = None if early is None else float(early)
        self.early: Any = None
        self.hours: list[int] = []  # traced bytes at each whole simulated hour
        self.second_hour: Any = None  # the snapshot at the second hour, and at the last
        self.last_hour: Any = None

    @classmethod
    def start(cls) -> _PeakTrace | None:
        if os.environ.get("CHAIN_TRACEMALLOC"):
            cls.current = cls()
        return cls.current

    def look(self) -> None:
        if (self.early is None and self.early_after is not None
                and time.monotonic() - self.began > self.early_after):  # fmt: skip
            self.early = self.tracemalloc.take_snapshot()
        now = self.tracemalloc.get_traced_memory()[0]
        if now > self.highest * 1.03:
            self.highest = now
            self.peak = self.tracemalloc.take_snapshot()

    def hourly(self) -> None:
        """A whole simulated hour passed: note what is traced (the boundary is the same
        moment of the collection cycle each hour, unlike the peak)."""
        self.hours.append(self.tracemalloc.get_traced_memory()[0])
        if len(self.hours) == 2:
            self.second_hour = self.tracemalloc.take_snapshot()
        elif len(self.hours) > 2:
            self.last_hour = self.tracemalloc.take_snapshot()

    def show(self, meters: int) -> None:
        if self.hours:
            print("fleet: traced at each simulated hour, B per meter: "
                  + " ".join(f"{b / meters:,.0f}" for b in self.hours), flush=True)  # fmt: skip
        if self.second_hour is not None and self.last_hour is not None:
            grown = self.last_hour.compare_to(self.second_hour, "lineno")
            print(f"fleet: traced growth from the 2nd to the {len(self.hours)}th hour", flush=True)
            for stat in grown[:20]:
                print(f"  {stat.size_diff / meters:8,.1f} B/meter {stat.count_diff / meters:7.3f} "
                      f"blocks/meter  {stat.traceback}", flush=True)  # fmt: skip
        if self.early is not None:
            grown = self.tracemalloc.take_snapshot().compare_to(self.early, "lineno")
            total = sum(s.size_diff for s in grown)
            print(f"fleet: traced growth since {self.early_after:g} s in: {total / meters:,.1f} "
                  "B per meter", flush=True)  # fmt: skip
            for stat in grown[:25]:
                print(f"  {stat.size_diff / meters:8,.1f} B/meter {stat.count_diff / meters:7.3f} "
                      f"blocks/meter  {stat.traceback}", flush=True)  # fmt: skip
        if self.peak is None:
            return
        kind = os.environ.get("CHAIN_TRACEMALLOC_BY", "lineno")
        stats = self.peak.compare_to(self.base, kind)
        total = sum(s.size_diff for s in stats)
        print(f"fleet: traced peak {total / meters:,.0f} B per meter", flush=True)
        for stat in stats[:40]:
            print(f"  {stat.size_diff / meters:8,.0f} B/meter {stat.count_diff / meters:7.2f} "
                  f"blocks/meter  {stat.traceback}", flush=True)  # fmt: skip


def _show_cycles() -> None:
    """With ``CHAIN_GC`` set, the fleet prints at the end how often the cyclic collector ran
    in each generation, and what a full collection then finds unreachable, by type: whether
    memory that grows with the simulated time is garbage in reference cycles waiting for a
    collection (none was found at 4,000 meters x 6 h: docs/deploy.md)."""
    import gc
    from collections import Counter

    print(f"fleet: collections per generation {[g['collections'] for g in gc.get_stats()]}",
          flush=True)  # fmt: skip
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        kinds = Counter(type(o).__qualname__ for o in gc.garbage).most_common(20)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    print(f"fleet: {found} objects in reference cycles: {kinds}", flush=True)


def _count_resent(net: FleetNet) -> list[int]:
    """How many batches the terminal put back for want of an acknowledgement in time (its
    upstream timeout: they go again), and how many acknowledgements came for a PIID with no
    report awaiting one (duplicates that found their PIID free), and how many named by their
    time tag another report than the one their PIID awaits (duplicates later than the PIID's
    rest). The terminal's link drops both before its outbox hears of them (a protocol
    violation it records), so they are counted from its security events. A PIID rests 120 s
    after its batch is acknowledged or put back (network/terminal/outbox.py), so a duplicate
    within that time finds no newer report under it; one later still names a report its PIID
    no longer awaits."""
    outbox = net.terminal.outbox
    unanswered = outbox.unanswered
    count = [0, 0, 0]

    def counted(piid: int, now: float) -> None:
        count[0] += piid & 0x3F in outbox.in_flight
        unanswered(piid, now)

    class Strays:
        def record(self, event: Any) -> None:
            count[1] += "answers no report" in event.detail
            count[2] += "a late acknowledgement" in event.detail

    outbox.unanswered = counted  # type: ignore[method-assign]
    if net.terminal.events is None:
        net.terminal.events = Strays()
    return count


def _drop(net: FleetNet, nth: int) -> None:
    """Lose the ``nth`` item the terminal collects (a fault the check must see)."""
    outbox = net.terminal.outbox
    queue = outbox.queue
    seen = 0

    def lossy(item: Any, now: float = float("-inf")) -> None:
        nonlocal seen
        seen += 1
        if seen != nth:
            queue(item, now)

    outbox.queue = lossy  # type: ignore[method-assign]


def _rss(field: str = "VmRSS") -> int:
    """The process's resident set now (``VmHWM``: its peak), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


async def run_fep(args: argparse.Namespace) -> None:
    run = Path(args.dir)
    utility = UtilityPki.load_party(run / "pki", SystemClock(), "fep")
    bus = await JetStreamBus.connect(args.bus, name="wattguard-fep-1", consumer="fep-1",
                                     manage_streams=False)  # fmt: skip
    events = EventLog()
    fep = FepServer(bus, events=events, limits=BENCH_LIMITS, channel=utility.fep_channel(events))
    port = await fep.start("127.0.0.1", args.port)
    print(f"fep: listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            await asyncio.sleep(1.0)
            print(f"fep: {len(fep.sessions)} sessions, {fep.forwarded:,} frames, "
                  f"{len(events.events)} events", flush=True)  # fmt: skip
            stats = {"published": bus.published, "duplicates": bus.duplicates,
                     "unstored": bus.unstored, "failed": bus.failed,
                     "reconnects": bus._nc.stats["reconnects"]}  # fmt: skip
            print("fep: stats " + json.dumps(stats), flush=True)
    finally:
        await fep.close()
        await bus.close()


async def run_worker(args: argparse.Namespace) -> None:
    run = Path(args.dir)
    clock = SharedCalendar(run / "clock")
    keys = load_vault(run / "vault", os.environ[PASSPHRASE])
    hsm = CryptoDevice(keys, ca_key=sm2.PrivateKey.generate(), clock=clock.time)
    storage = open_storage(args.database)
    connects = _count_connects(storage)
    nats, bus = await _connect_station(args.bus, args.replicas)
    assert isinstance(nats, JetStreamBus)
    nats.ack_wait = args.ack_wait  # before the station's subscriptions make the consumer
    role = StationRole.INGEST
    station = station_for(role, storage, RoleBus(bus, role), clock, hsm=hsm,
                          collection_interval=SLOT, freshness=AnswerFreshness(),
                          group_commit=GroupCommitConfig())  # fmt: skip
    # as `wattguard station --role ingest`: a fetched batch is committed, then acknowledged
    nats.before_ack = commit_batch(station)
    if args.stop_file:
        nats.before_ack = _stop_mid_batch(nats, nats.before_ack, Path(args.stop_file))
    committer = asyncio.create_task(drive_group_commit(station))
    await nats.ready()
    print("worker: ready", flush=True)
    try:
        while True:
            await asyncio.sleep(1.0)
            station.tick()
            _worker_stats(nats, connects[0] - 1)
            if VERBOSE:
                print(
                    f"worker: {station.received:,} received, {station.stored:,} stored", flush=True
                )
    finally:
        committer.cancel()
        station.close()
        await nats.close()
        storage.close()


async def _connect_station(url: str, replicas: int) -> tuple[Any, Any]:
    """The worker's JetStream connection; a cluster just started elects its JetStream
    leader within seconds, and refuses the streams until then: tried again for a minute."""
    deadline = time.monotonic() + 60.0
    while True:
        try:
            nats, bus, _ = await connect_bus(url, STATION, None, jetstream=True,
                                             replicas=replicas)  # fmt: skip
            return nats, bus
        except ConfigError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def _count_connects(storage: Any) -> list[int]:
    """How many times ``storage`` has connected to PostgreSQL (one: never reconnected)."""
    count = [1]
    connect = storage._connect

    def counting() -> Any:
        count[0] += 1
        return connect()

    storage._connect = counting
    return count


def _stop_mid_batch(bus: JetStreamBus, commit: Any, trigger: Path) -> Any:
    """``commit`` (the bus's ``before_ack``), except that once ``trigger`` exists the worker
    writes the size of the batch in hand to it and stops itself (SIGSTOP) before committing:
    bench/chain.py --faults then SIGKILLs it, its batch handled, uncommitted, unacknowledged."""
    seen = [0]

    def before_ack() -> bool:
        if bus.delivered > seen[0] and trigger.exists():  # a fetch may bring nothing
            # the batch in hand, and the acknowledgements down not yet published
            trigger.write_text(f"{bus.delivered - seen[0]} {bus._queue.qsize()}")
            os.kill(os.getpid(), signal.SIGSTOP)
        ok = bool(commit())
        seen[0] = bus.delivered
        return ok

    return before_ack


def _worker_stats(bus: JetStreamBus, reconnects: int) -> None:
    """One ``worker: stats {json}`` line: what bench/chain.py --faults reports as effects."""
    stats = {
        "delivered": bus.delivered, "redelivered": bus.redelivered, "batches": bus.batches,
        "failed_batches": bus.failed_batches, "terminated": bus.terminated,
        "nats_reconnects": int(bus._nc.stats.get("reconnects", 0)),
        "pg_reconnects": reconnects,
    }  # fmt: skip
    print("worker: stats " + json.dumps(stats), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("role", choices=("fleet", "fep", "worker"))
    parser.add_argument("--dir", required=True)
    parser.add_argument("--bus", default="nats://127.0.0.1:4222")
    parser.add_argument("--database", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fep", default="127.0.0.1:0")
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--per-terminal", type=int, default=250)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--step", type=float, default=30.0)
    parser.add_argument("--backlog", type=int, default=0)
    parser.add_argument("--group", type=int, default=2000, help="meters a lazy fleet holds")
    parser.add_argument("--fleets", type=int, default=1, help="fleet processes in the run")
    parser.add_argument("--index", type=int, default=0, help="this fleet process's (from 0)")
    parser.add_argument("--drop-item", type=int, default=0)
    parser.add_argument("--replicas", type=int, default=1, help="servers keeping each stream")
    parser.add_argument("--ack-wait", type=float, default=30.0, help="redelivery after (s)")
    parser.add_argument("--stop-file", default="", help="stop mid-batch once it exists")
    parser.add_argument("--pace", type=float, default=0.0, help="least wall s a simulated h")
    parser.add_argument("--overdue", type=float, default=90.0, help="a lost ack after (wall s)")
    parser.add_argument("--trim-every", type=float, default=TRIM_EVERY,
                        help="simulated s between returns of free heap pages")  # fmt: skip
    args = parser.parse_args()
    if VERBOSE:
        import logging

        logging.basicConfig(level=logging.INFO, format=f"{args.role} %(name)s: %(message)s")
    runner = {"fleet": run_fleet, "fep": run_fep, "worker": run_worker}[args.role]
    profile = os.environ.get("CHAIN_PROFILE")  # a folder: each process's cProfile goes there
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        profiler.enable()
    try:
        asyncio.run(runner(args))
    except KeyboardInterrupt:
        pass
    finally:
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}/{args.role}-{os.getpid()}.prof")
    sys.exit(0)


if __name__ == "__main__":
    main()
