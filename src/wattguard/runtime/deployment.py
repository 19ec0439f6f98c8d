"""A whole deployment in one process: meters behind terminals, front-end processor, station.

Theory of operation. :class:`Deployment` builds ``meters`` assembled meters in neighbourhoods
of ``per_terminal`` behind their collection terminals, the station's collector on a bus, and
(live mode) a front-end processor on a loopback TCP port that the terminals connect to.

* :meth:`Deployment.run_live` paces simulated time at ``speed`` times real time over real
  TCP, and calls ``report`` with a :class:`Summary` every second;
* :meth:`Deployment.run_virtual` runs the same cores without sockets as fast as the machine
  allows (the FEP's checks still sit between terminals and the bus), calling ``progress``
  with the fraction done.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from wattguard.cipher import CryptoDevice
from wattguard.clock import Clock, VirtualClock
from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventSink
from wattguard.meter.device import Meter
from wattguard.meter.management.firmware import FirmwareBuilder
from wattguard.network.bus import Bus, InProcessBus, down_subject, up_subject
from wattguard.network.channel import ChannelCore, PlainChannel
from wattguard.network.fep import FepLimits, FepSession, FrameAdmitted
from wattguard.network.hplc import HplcChannel, LinkProfile
from wattguard.network.sealed_bus import BusDirectory, BusIdentity, BusRole, SealedBus
from wattguard.network.terminal import Terminal
from wattguard.network.utility import UtilityPki
from wattguard.protocol.apdu import Structure
from wattguard.runtime.api import RunningApi, start_api
from wattguard.runtime.deployment_config import (
    CURVE,
    CURVE_NET,
    DAILY,
    DAILY_NET,
    IRREGULAR_KINDS,
    PACE_MARGIN,
    REALTIME,
    REPORT_ITEMS,
    SUPPLY_OVER_CURRENT_A,
    SUPPLY_OVERLOAD_W,
    DeploymentConfig,
    ReadingTracker,
    Summary,
    mixed_load,
)
from wattguard.runtime.district import District
from wattguard.runtime.factory import factory_meter
from wattguard.runtime.fep import FepServer
from wattguard.runtime.pacing import PacedClock, patience
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.terminal import TerminalClient
from wattguard.simulation.profile import LoadClass, LoadModel
from wattguard.station import Station
from wattguard.station.analysis import AnalysisJob
from wattguard.station.commands import Role, User
from wattguard.station.storage import open_storage

# the collection tasks and the config are re-exported: callers found them here first
__all__ = [
    "CURVE",
    "CURVE_NET",
    "DAILY",
    "DAILY_NET",
    "REALTIME",
    "Deployment",
    "DeploymentConfig",
    "Summary",
    "live_clock",
    "mixed_load",
    "random_users",
    "virtual_clock",
]


#: The vendor id of the simulated meters' management software, and its factory image's body.
VENDOR_ID = "WTGD"
FACTORY_BODY = b"wattguard management module firmware 1.0.0\n" * 32

#: The deployment's API users unless it is given others: fixed tokens for tests and examples.
FIXED_USERS: dict[str, User] = {
    "operator-token": User("otto", Role.OPERATOR),
    "supervisor-token": User("sun", Role.SUPERVISOR),
    "second-supervisor-token": User("shi", Role.SUPERVISOR),
    "viewer-token": User("vera", Role.VIEWER),
}


def random_users(token: Callable[[], str]) -> dict[str, User]:
    """The same four users with tokens from ``token`` (e.g. :func:`~wattguard.station.users.
    new_token`)."""
    return {token(): user for user in FIXED_USERS.values()}


class Deployment:
    """A whole deployment in one process (see the module docstring): meters behind terminals, the
    FEP and the station, run live over loopback TCP or in virtual time."""

    def __init__(
        self,
        config: DeploymentConfig,
        clock: Clock,
        *,
        users: Mapping[str, User] | None = None,
        vendor: sm2.PrivateKey | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # The wire: what anyone on the bus sees and can publish on. With ``sealed_bus`` the FEP
        # and the station each have their own identity over it and refuse what they cannot
        # attribute; without, both use the wire as it is.
        self.bus = InProcessBus()
        self._bus_keys: tuple[BusIdentity, BusIdentity, BusDirectory] | None = None
        self.fep_bus: Bus = self.bus
        if config.sealed_bus:
            station_id = BusIdentity("station", BusRole.STATION, sm2.PrivateKey.generate())
            fep_id = BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate())
            directory = BusDirectory(
                {i.name: (i.role, i.key.public_key) for i in (station_id, fep_id)}
            )
            self._bus_keys = (station_id, fep_id, directory)
            self.fep_bus = SealedBus(self.bus, fep_id, directory, clock=clock.time)
        self.tracker = ReadingTracker()
        # The meters' vendor: signs management-module images (the station checks them at
        # upload against its public key, the meters again before they install one).
        vendor_key = vendor or (
            sm2.PrivateKey.generate() if config.seed is None
            else sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard vendor %d" % config.seed))
        )  # fmt: skip
        self.vendor = FirmwareBuilder(vendor_key, VENDOR_ID)
        self.factory_image = self.vendor.build(FACTORY_BODY, "1.0.0")
        random = config.key_random()  # fresh keys each run, unless a seed asks otherwise
        # The cryptographic device holds this deployment's master keys; every meter's ESAM is
        # provisioned from it, so the station can verify each reading's MAC.
        self.hsm: CryptoDevice | None = None
        if config.protected:
            self.hsm = CryptoDevice(
                [MasterKeys.generate(1, random)],
                ca_key=sm2.PrivateKey.generate(),
                clock=clock.time,
                random=random,
            )
        self.pki = UtilityPki.create(clock) if config.protected else None
        self.storage = open_storage(config.database)
        self.station = self._start_station()
        self.events: EventSink = self.station.monitor  # stored, and checked against the rules
        self.collector = self.station.collector
        # The API's users, one per role (two supervisors, for approvals): fixed tokens that
        # tests can name unless the caller gives others (`wattguard demo` makes random ones).
        # They live in the station's user directory, as users made by `wattguard users add` do.
        self.users: dict[str, User] = dict(FIXED_USERS if users is None else users)
        self.station.users.ensure(self.users)
        self.nets: list[Neighbourhood] = []
        self.bypassed: dict[str, float] = {}  # the simulation's truth: meter -> hidden share
        # and every irregular meter: meter -> (kind, share hidden / error / broken since)
        self.irregular: dict[str, tuple[str, float]] = {}
        self.supply_meters: set[str] = set()
        self.districts: list[District] = []
        start = clock.time()
        profile = LinkProfile(loss=config.hplc_loss)
        remaining, k = config.meters, 0
        while remaining > 0:
            k += 1
            count = min(config.per_terminal, remaining)
            remaining -= count
            address = bytes.fromhex(f"99{k:010d}")
            channel = HplcChannel(seed=config.simulation_seed * 1000 + k, default=profile)
            terminal = Terminal(
                address, channel, start=start,
                tasks=(REALTIME, *((CURVE_NET, DAILY_NET) if config.districts else (CURVE, DAILY))),
                protect=_read_with_rn if config.protected else None,
                batch_items=REPORT_ITEMS,
            )  # fmt: skip
            meters = [self._meter(bytes.fromhex(f"{k:06d}{i:06d}")) for i in range(1, count + 1)]
            for meter in meters:
                terminal.add_meter(meter.address)
                self.station.register_meter(meter.address, address)
            loads = LoadModel.mixed(count, seed=config.simulation_seed * 1000 + k)
            for meter, kind in zip(meters, loads.classes, strict=True):
                if kind == LoadClass.PV:  # commissioned for a customer who may export (FF11)
                    meter.management.parameters.may_export = True
            net = Neighbourhood(terminal, channel, meters, loads.load)
            net.power_up(start)
            self.nets.append(net)
            if config.districts:
                self._district(net, k, loads.classes)
        # the station's analytics job (it needs the districts' supply meters)
        # the day freezes are read hourly: two hours after midnight (the job's grace) it is in
        self.analysis = AnalysisJob(self.storage) if config.districts else None
        self.analysed_days = 0
        self._analysed_at = start
        self.sessions: dict[bytes, FepSession] = {}
        self._wired = False
        self._began = time.monotonic()
        self._previous = (self._began, 0)  # (monotonic, readings) at the last summary
        #: Called with the simulated time after each station tick, live and virtual (the
        #: demo's operations walkthrough, runtime/showcase.py, and orderly charging,
        #: runtime/charging_runtime.py, run from here).
        self.on_tick: list[Callable[[float], None]] = []

    def _district(self, net: Neighbourhood, k: int, classes: Any) -> None:
        """A supply meter at the terminal's transformer (address ``kkkkkk000000``), technical
        losses, and one irregular customer, never a PV customer (a bypass around an exporting
        meter hides export, not load). The kinds go in turn with the terminal's number: a
        bypass (30-60 % hidden), a meter registering 2 % high or low, an evening theft (50-90 %
        hidden 17:00-23:00 UTC), a meter that breaks (registers nothing) a day after the
        start. The truth is kept in :attr:`irregular` (and :attr:`bypassed`), which the
        station never reads."""
        total = self._meter(bytes.fromhex(f"{k:06d}000000"))
        # a transformer-area meter carries the whole district: its over-current and overload
        # limits are the transformer's, not a household's (60 A, 13.2 kW)
        limits = total.management.parameters
        limits.over_current = (SUPPLY_OVER_CURRENT_A * 10_000, limits.over_current[1])
        limits.quality[0x3008] = (SUPPLY_OVERLOAD_W * 10, limits.quality[0x3008][1])
        # the area's rooftop PV can feed back through the transformer at noon: a district
        # meter measures both ways (FF11), a reverse flow there is no tamper
        limits.may_export = True
        rng = np.random.default_rng(self.config.simulation_seed * 1000 + k)
        seed = self.config.simulation_seed * 1000 + k
        district = District(net, total, losses=float(rng.uniform(0.02, 0.05)), seed=seed)
        self.districts.append(district)  # the simulation's truth (feeders), never the station's
        # stored as the district's supply meter: the balance and the rules find it
        self.station.register_total_meter(total.address, net.terminal.address)
        self.supply_meters.add(total.address.hex())
        candidates = [
            meter.address
            for meter, kind in zip(district.customers, classes, strict=True)
            if kind != LoadClass.PV
        ]
        if len(district.customers) >= 2 and candidates:
            victim = candidates[int(rng.integers(len(candidates)))]
            self._seed_irregularity(district, victim, IRREGULAR_KINDS[(k - 1) % 4], rng)

    def _seed_irregularity(
        self, district: District, victim: bytes, kind: str, rng: np.random.Generator
    ) -> None:
        """Make ``victim``'s meter irregular in the way ``kind`` names; keep the truth."""
        if kind == "bypass":
            value = float(rng.uniform(0.3, 0.6))
            district.bypass(victim, value)
            self.bypassed[victim.hex()] = value
        elif kind == "meter error":
            value = float(rng.choice((-0.02, 0.02)))
            district.misregister(victim, value)
        elif kind == "evening theft":
            value = float(rng.uniform(0.5, 0.9))
            district.bypass_hours(victim, value, 17.0, 23.0)
        else:
            value = self.clock.time() + 86400.0
            district.break_meter(victim, value)
        self.irregular[victim.hex()] = (kind, value)

    def _ticked(self, now: float) -> None:
        for hook in self.on_tick:
            hook(now)

    def analyse(self, now: float) -> None:
        """Run the analytics job (at most once a simulated hour)."""
        if self.analysis is None or now - self._analysed_at < 3600:
            return
        self._analysed_at = now
        self.analysed_days += self.analysis.run(now)

    def _start_station(self) -> Station:
        """A station on its own :class:`SealedBus` over the wire (a new one per station
        process), or on the wire itself; bus refusals on either side are its events."""
        bus: Bus = self.bus
        if self._bus_keys is not None:
            station_id, _, directory = self._bus_keys
            bus = SealedBus(self.bus, station_id, directory, clock=self.clock.time)
        station = Station(
            self.storage,
            bus,
            self.clock,
            hsm=self.hsm,
            collection_interval=REALTIME.period,
            trip_window=self.config.trip_window,
            vendor_key=self.vendor.vendor_key.public_key,
            vendor_id=VENDOR_ID,
        )
        station.on_readings.append(self.tracker.sink)
        for sealed in (bus, self.fep_bus):
            if isinstance(sealed, SealedBus):
                sealed.events = station.monitor
        return station

    def _meter(self, address: bytes) -> Meter:
        # Meters report their events on their own (REPORT, with RN_MAC from the ESAM).
        return factory_meter(
            address, self.hsm, active_reports=True, private_readings=self.config.private_readings,
            vendor_key=self.vendor.vendor_key.public_key, factory_image=self.factory_image,
        )  # fmt: skip

    @property
    def meter_count(self) -> int:
        """The customers' meters (a district's supply meter is not counted)."""
        return sum(len(net.meters) for net in self.nets) - len(self.supply_meters)

    def summary(self) -> Summary:
        now = self.clock.time()
        moment = time.monotonic()
        elapsed = max(moment - self._began, 1e-9)
        last_moment, last_readings = self._previous
        interval = moment - last_moment
        interval_rate = (self.tracker.readings - last_readings) / interval if interval > 0 else 0.0
        self._previous = (moment, self.tracker.readings)
        recent = now - 2 * REALTIME.period - 120
        return Summary(
            simulated=now,
            elapsed=elapsed,
            readings=self.tracker.readings,
            readings_per_second=self.tracker.readings / elapsed,
            meters_reporting=sum(
                1
                for m, t in self.tracker.last.items()
                if t >= recent and m not in self.supply_meters
            ),
            meters=self.meter_count,
            terminals_online=self.collector.online(),
            terminals=len(self.nets),
            security_events=self.storage.count_events(),
            refused=sum(link.refused for link in self.collector.links.values()),
            open_alerts=len(self.storage.alerts(open_only=True)),
            analysed_days=self.analysed_days,
            interval_rate=interval_rate,
            alerts=len(self.storage.alerts(limit=1_000_000)),
            speed=self.clock.effective_speed() if isinstance(self.clock, PacedClock) else None,
            asked_speed=self.clock.speed if isinstance(self.clock, PacedClock) else None,
        )

    # live, over loopback TCP

    async def run_live(
        self,
        duration: float | None,
        report: Callable[[Summary], None],
        *,
        port: int = 0,
        api_port: int | None = None,
        on_api: Callable[[int], None] | None = None,
    ) -> Summary:
        # Boundary security: terminals reach the FEP only through the WAN secure channel
        # (certificates from the utility's CA, SM2 key exchange, SM4-GCM records).
        fep_channel: Callable[[], ChannelCore] = PlainChannel
        if self.pki is not None:
            fep_channel = self.pki.fep_channel(self.events)
        # the handshake and the login cross the real network: at least WAN_PATIENCE real seconds
        limits = FepLimits(login_timeout=patience(self.clock, FepLimits().login_timeout))
        fep = FepServer(
            self.fep_bus, clock=self.clock, events=self.events, channel=fep_channel, limits=limits
        )
        fep_port = await fep.start("127.0.0.1", port)
        api: RunningApi | None = None
        if api_port is not None:
            try:
                api = await start_api(self.station, api_port)
            except ConfigError:
                await fep.close()
                raise
            if on_api is not None:
                on_api(api.port)
        clients = [
            TerminalClient(
                net, self.clock, "127.0.0.1", fep_port,
                channel=PlainChannel if self.pki is None else self.pki.terminal_channel(
                    net.terminal.address, self.events
                ),
            )
            for net in self.nets
        ]  # fmt: skip
        self.station.collector.request_timeout = patience(
            self.clock, self.station.collector.request_timeout
        )
        if isinstance(self.clock, PacedClock):
            paced = self.clock
            paced.resume()

            def keep_up() -> None:  # simulated time waits for the slowest neighbourhood
                paced.hold(min(net.now for net in self.nets) + PACE_MARGIN)

            for client in clients:
                client.on_progress = keep_up
        tasks = [asyncio.create_task(client.run()) for client in clients]
        began = time.monotonic()
        try:
            while duration is None or time.monotonic() - began < duration:
                await asyncio.sleep(1.0)
                self.station.tick()
                self.analyse(self.clock.time())
                self._ticked(self.clock.time())
                report(self.summary())
        finally:
            for client in clients:
                client.stop()
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            await fep.close()
            if api is not None:
                await api.stop()
        return self.summary()

    # virtual time, no sockets

    def run_virtual(
        self, seconds: float, progress: Callable[[float], None] | None = None
    ) -> Summary:
        if not isinstance(self.clock, VirtualClock):
            raise ConfigError("virtual runs need a VirtualClock")
        clock = self.clock
        start = clock.time()
        if not self._wired:  # the first run connects the terminals (FEP checks in between)
            self._wired = True
            for net in self.nets:
                net.upstream = self._forward(net)
                self.fep_bus.subscribe(down_subject(net.terminal.address), self._deliver(net))
                self.reconnect(net.terminal.address)
        step = 60.0
        t = start
        while t < start + seconds:
            t = min(t + step, start + seconds)
            clock.advance(t - clock.time())
            for net in self.nets:
                net.run_until(t)
            self.station.tick()
            self.analyse(t)
            self._ticked(t)
            if progress is not None:
                progress((t - start) / seconds)
        return self.summary()

    # faults, in virtual time

    def channel_losses(self) -> int:
        """Frames the HPLC channels lost so far."""
        return sum(net.channel.lost for net in self.nets)

    def disconnect(self, terminal: bytes) -> None:
        """The terminal's WAN link drops (or its FEP goes down): nothing passes either way
        until :meth:`reconnect`."""
        self.sessions.pop(terminal, None)
        for net in self.nets:
            if net.terminal.address == terminal:
                net.terminal.receive_data(b"", self.clock.time())

    def reconnect(self, terminal: bytes) -> None:
        """A new connection through a (new) FEP session; the terminal logs in again."""
        now = self.clock.time()
        self.sessions[terminal] = FepSession(terminal, now, events=self.events)
        for net in self.nets:
            if net.terminal.address == terminal:
                net.connected(now)

    def restart_station(self) -> None:
        """The station process dies and starts again on the same storage and device."""
        self.station.close()
        self.station = self._start_station()
        self.events = self.station.monitor
        self.collector = self.station.collector

    def _forward(self, net: Neighbourhood) -> Callable[[bytes], None]:
        terminal = net.terminal.address

        def forward(data: bytes) -> None:
            session = self.sessions.get(terminal)
            if session is None:
                return  # the line is down
            session.receive_data(data, self.clock.monotonic())
            while (event := session.next_event()) is not None:
                if isinstance(event, FrameAdmitted):
                    frame = event.frame
                    self.fep_bus.publish(up_subject(frame.address.address), frame.to_bytes())

        return forward

    def _deliver(self, net: Neighbourhood) -> Callable[[str, bytes], None]:
        terminal = net.terminal.address

        def deliver(subject: str, payload: bytes) -> None:
            if terminal in self.sessions:
                net.from_upstream(payload)

        return deliver


def _read_with_rn(address: bytes, request: Structure) -> Structure:
    """The terminal's protection of its reads: plaintext + RN, so the meter answers with a
    MAC under its own keys that the station's cryptographic device checks."""
    return wrap_with_rn(request)


def live_clock(config: DeploymentConfig) -> PacedClock:
    """The clock of a live run: paced at ``config.speed``, paused until :meth:`Deployment.run_live`
    starts (the deployment's setup takes real seconds that are not simulated time)."""
    start = config.start if config.start is not None else time.time()
    return PacedClock(start, config.speed, paused=True)


def virtual_clock(config: DeploymentConfig) -> VirtualClock:
    if config.start is not None:
        return VirtualClock(config.start)
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return VirtualClock(today.timestamp())
