"""Each role of a deployment as its own process: ``wattguard fep``, ``station``, ``terminal``.

The processes meet over loopback TCP (terminal to FEP) and the NATS bus (FEP to station).
Each is configured by command-line options whose defaults come from the environment
(``WATTGUARD_BUS``, ``WATTGUARD_FEP``), and prints one status line every few seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wattguard.cipher import CryptoDevice, save_vault
from wattguard.cipher.vault import passphrase_weakness
from wattguard.clock import SystemClock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.esam.profile import MasterKeys
from wattguard.esam.station import wrap_with_rn
from wattguard.events import EventLog, SecurityEvent
from wattguard.meter.device import Meter
from wattguard.network import pki
from wattguard.network.bus import Bus, EventPublisher
from wattguard.network.channel import ChannelCore, PlainChannel
from wattguard.network.fep import FepLimits
from wattguard.network.hplc import HplcChannel
from wattguard.network.sealed_bus import SealedBus
from wattguard.network.terminal import Terminal
from wattguard.network.utility import CIPHER_NAME, UtilityPki, ca_key_sealed
from wattguard.network.wan import ChannelRole
from wattguard.runtime.api import RunningApi, start_api
from wattguard.runtime.buskeys import STATION, inbox_prefix, load_credentials
from wattguard.runtime.cipher import CipherClient, CipherServer
from wattguard.runtime.deployment import CURVE, DAILY, REALTIME, mixed_load
from wattguard.runtime.factory import factory_meter
from wattguard.runtime.fep import FepServer
from wattguard.runtime.ingest import drive_group_commit, maintain_storage
from wattguard.runtime.jetstream import DEFAULT_STREAMS, JetStreamBus, replicated
from wattguard.runtime.natsbus import NatsBus
from wattguard.runtime.pacing import PacedClock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.runtime.station_roles import (
    LeaderStation,
    RoleBus,
    StationRole,
    commit_batch,
    follow_readings,
    lead,
    serve_while_leading,
    station_for,
)
from wattguard.runtime.station_serve import serve_station
from wattguard.runtime.terminal import TerminalClient
from wattguard.station.audit import StationAudit
from wattguard.station.freshness import AnswerFreshness
from wattguard.station.group_commit import GroupCommitConfig
from wattguard.station.ingest import Reading
from wattguard.station.service import CipherService, Station
from wattguard.station.storage import open_storage
from wattguard.station.users import UserDirectory, new_token

if TYPE_CHECKING:
    from wattguard.runtime.station_charging import StationCharging

__all__ = ["connect_bus", "run_fep", "run_station", "run_terminal", "split_host_port"]

log = logging.getLogger(__name__)

#: Where the CA key's own passphrase comes from (asked for when unset).
CA_PASSPHRASE = "WATTGUARD_CA_PASSPHRASE"


def split_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"expected HOST:PORT, e.g. 127.0.0.1:8765, not {text!r}")
    return host, int(port)


def load_pki(folder: Path | None, party: str) -> UtilityPki | None:
    """A service's view of the PKI: its own key and certificate, the CA certificate and the
    published CRL; never the CA key."""
    return None if folder is None else UtilityPki.load_party(folder, SystemClock(), party)


def init_pki(folder: Path, *, encrypt_key: bool = False) -> None:
    """Create the utility's CA and the FEP's, station's and device's certificates; with
    ``encrypt_key``, the CA key sealed under its own passphrase (WATTGUARD_CA_PASSPHRASE)."""
    if (folder / "ca.key").exists():
        raise ConfigError(f"{folder} already holds a utility PKI; it is never overwritten")
    sealed = None
    if encrypt_key:
        sealed = passphrase(confirm=True, variable=CA_PASSPHRASE, what="the CA key")
        weakness = passphrase_weakness(sealed)
        if weakness is not None:
            raise ConfigError(f"that passphrase is too weak for the CA key: {weakness}")
    UtilityPki.create(SystemClock()).save(folder, ca_passphrase=sealed, random=os.urandom)
    print(f"pki: CA, FEP, station and cryptographic device certificates written to {folder}")
    if sealed is not None:
        print(f"pki: {folder}/ca.key is encrypted under its own passphrase ({CA_PASSPHRASE})")
    print(f"pki: enrol each terminal: wattguard pki --enrol ADDRESS --pki {folder}")


def administer_pki(folder: Path, *, enrol: str | None, revoke: str | None) -> None:
    """`wattguard pki --enrol|--revoke|--crl`: the CA's work, with its key; each writes a
    freshly signed CRL that running services pick up."""
    sealed = None
    if ca_key_sealed(folder):
        sealed = passphrase(variable=CA_PASSPHRASE, what="the CA key")
    utility = UtilityPki.load(folder, SystemClock(), ca_passphrase=sealed)
    if enrol is not None:
        address = parse_address(enrol)
        if address in utility.terminals:
            raise ConfigError(f"terminal {enrol} is already enrolled in {folder}")
        utility.enrol(address)
        print(f"pki: terminal {enrol} enrolled: {folder}/terminal-{enrol}.crt and .key")
    elif revoke is not None:
        utility.revoke(parse_address(revoke))
        print(f"pki: terminal {revoke} revoked; the FEP refuses it from its next connection")
    utility.save(folder, ca_passphrase=sealed, random=os.urandom)
    print(f"pki: CRL signed, valid for 7 days: {folder}/ca.crl (sign a new one daily: --crl)")


def parse_address(text: str, what: str = "a terminal address") -> bytes:
    """A 6-byte address from its 12 digits as a user typed them; ConfigError if it is not."""
    try:
        address = bytes.fromhex(text)
    except ValueError:
        address = b""
    if len(address) != 6:
        raise ConfigError(f"{what} takes 12 decimal digits, e.g. 000000000001, not {text!r}")
    return address


async def connect_bus(
    bus_url: str, service: str, bus_keys: Path | None, *, jetstream: bool = False,
    replicas: int = 1,
) -> tuple[NatsBus | JetStreamBus, Bus, SealedBus | None]:  # fmt: skip
    """The NATS connection and the bus a service uses on it: with ``bus_keys`` (the folder of
    ``wattguard bus --init``), authenticated as ``service`` and every message signed and
    verified (:class:`~wattguard.network.sealed_bus.SealedBus`); without, neither. With
    ``jetstream``, durable JetStream streams (:mod:`wattguard.runtime.jetstream`) instead of
    NATS core, each subscription a durable consumer named after ``service``, each stream kept
    on ``replicas`` servers of a cluster."""
    credentials = None if bus_keys is None else load_credentials(bus_keys, service)
    if jetstream:
        stream_bus = await JetStreamBus.connect(
            bus_url, name=f"wattguard-{service}", consumer=service,
            streams=replicated(DEFAULT_STREAMS, replicas),
            nkey_seed=None if credentials is None else credentials.nkey_seed,
            inbox=None if credentials is None else inbox_prefix(service),
            manage_streams=credentials is None or service == STATION,
        )  # fmt: skip
        if credentials is None:
            return stream_bus, stream_bus, None
        sealed = SealedBus(stream_bus, credentials.identity, credentials.directory,
                           clock=time.time, delivery=stream_bus.delivery)  # fmt: skip
        return stream_bus, sealed, sealed
    if credentials is None:
        nats = await NatsBus.connect(bus_url, name=f"wattguard-{service}")
        return nats, nats, None
    nats = await NatsBus.connect(bus_url, name=f"wattguard-{service}",
                                 nkey_seed=credentials.nkey_seed)  # fmt: skip
    sealed = SealedBus(nats, credentials.identity, credentials.directory, clock=time.time)
    return nats, sealed, sealed


async def run_fep(
    listen: str,
    bus_url: str,
    *,
    pki_folder: Path | None = None,
    bus_keys: Path | None = None,
    name: str = "fep-1",
    status_every: float = 5.0,
    jetstream: bool = False,
    replicas: int = 1,
) -> None:
    host, port = split_host_port(listen)
    utility = load_pki(pki_folder, "fep")
    nats, bus, sealed = await connect_bus(
        bus_url, name, bus_keys, jetstream=jetstream, replicas=replicas
    )
    events = _Tee(EventLog(), EventPublisher(bus, name))  # counted here, stored at the station
    if sealed is not None:
        sealed.events = events  # a forged down message becomes an event at the station
    channel: Callable[[], ChannelCore] = PlainChannel
    if utility is not None:
        channel = utility.fep_channel(events)
    fep = FepServer(bus, events=events, limits=FepLimits(), channel=channel, name=name)
    bound = await fep.start(host, port)
    mode = "WAN secure channel" if utility is not None else "UNPROTECTED (no --pki)"
    on_bus = "signed bus" if sealed is not None else "UNAUTHENTICATED bus (no --bus-keys)"
    on_bus += ", JetStream" if jetstream else ""
    print(f"fep: {name} listening on {host}:{bound} ({mode}), forwarding to {bus_url} "
          f"({on_bus})", flush=True)  # fmt: skip
    try:
        while True:
            await asyncio.sleep(status_every)
            print(
                f"fep: {len(fep.sessions)} terminals connected, {fep.forwarded:,} frames "
                f"forwarded, {len(events.first.events)} security events",
                flush=True,
            )
    finally:
        await fep.close()
        await nats.close()


@dataclass
class _Tee:
    first: EventLog
    second: EventPublisher

    def record(self, event: SecurityEvent) -> None:
        self.first.record(event)
        self.second.record(event)


@dataclass
class _Count:
    readings: int = 0

    def add(self, readings: list[Reading]) -> None:
        self.readings += len(readings)


def passphrase(
    confirm: bool = False, *, variable: str = "WATTGUARD_PASSPHRASE", what: str = "the key vault"
) -> str:
    """A passphrase (by default the vault's): from ``variable``, or asked for on the
    terminal."""
    import getpass
    import sys

    given = os.environ.get(variable)
    if given:
        return given
    if not sys.stdin.isatty():
        raise ConfigError(f"{what} needs its passphrase: set {variable}")
    first = getpass.getpass(f"{what}'s passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise ConfigError("the two passphrases differ")
    return first


def init_vault(path: Path, versions: int = 1) -> None:
    """Create a key vault with fresh master keys (refuses to overwrite one)."""

    if path.exists():
        raise ConfigError(f"{path} exists; a vault is never overwritten (move it away first)")
    chosen = passphrase(confirm=True)
    weakness = passphrase_weakness(chosen)
    if weakness is not None:
        raise ConfigError(
            f"that passphrase is too weak for a key vault: {weakness}. Whoever copies {path} "
            "can guess offline, and it holds every meter's master keys: a few unrelated words "
            "make a strong one"
        )
    keys = [MasterKeys.generate(v, os.urandom) for v in range(1, versions + 1)]
    save_vault(path, keys, chosen)
    print(f"cipher: vault {path} created with master key version(s) 1..{versions}")


async def run_cipher(listen: str, vault: Path, pki_folder: Path) -> None:
    """The cryptographic device as its own service (station certificates only)."""
    host, port = split_host_port(listen)
    device = CryptoDevice.open(
        vault, passphrase(), ca_key=sm2.PrivateKey.generate(),
        audit_path=vault.with_suffix(".audit"), state_path=vault.with_suffix(".state"),
    )  # fmt: skip
    utility = UtilityPki.load_party(pki_folder, SystemClock(), "cipher")
    assert utility.cipher is not None
    server = CipherServer(
        device, utility.channel(utility.cipher, ChannelRole.SERVER, pki.Role.STATION, None)
    )
    bound = await server.start(host, port)
    print(f"cipher: serving on {host}:{bound} to station certificates only", flush=True)
    try:
        while True:
            await asyncio.sleep(5.0)
            print(f"cipher: {server.calls:,} calls, {device.verified:,} verified, "
                  f"{device.refused:,} refused", flush=True)  # fmt: skip
    finally:
        await server.close()


def open_device(vault: Path | None, *, keep_state: bool = False) -> CryptoDevice | None:
    """The device of ``vault`` (None without one). The station's (``keep_state``) keeps its
    counters in ``<vault>.state`` as ``wattguard cipher`` does, so a restarted station goes on
    from the command counters and report windows it had; a terminal's, which only provisions
    its meters' ESAMs, keeps none (it must not overwrite the station's)."""
    if vault is None:
        return None
    state = vault.with_suffix(".state") if keep_state else None
    return CryptoDevice.open(
        vault, passphrase(), ca_key=sm2.PrivateKey.generate(), state_path=state
    )


async def run_station(
    bus_url: str,
    *,
    database: str = "sqlite:///wattguard-station.db",
    vault: Path | None = None,
    cipher: str | None = None,
    pki_folder: Path | None = None,
    bus_keys: Path | None = None,
    status_every: float = 5.0,
    api_port: int | None = 8080,
    freshness: AnswerFreshness | None = None,
    jetstream: bool = False,
    retain_days: int | None = None,
    vendor_key: sm2.PublicKey | None = None,
    vendor_id: str = "WTGD",
    charging: Path | None = None,
    role: StationRole = StationRole.ALL,
    replicas: int = 1,
) -> None:
    if role is StationRole.INGEST and not jetstream:
        raise ConfigError("--role ingest shares the up stream with other workers: add --jetstream")
    hsm = _station_hsm(vault, cipher, pki_folder)
    storage = open_storage(database)  # a bad URL is refused here, before any lock
    try:
        lock = await lead(database) if role.leads else None
    except BaseException:
        storage.close()
        raise
    nats, bus, sealed = await connect_bus(
        bus_url, STATION, bus_keys, jetstream=jetstream, replicas=replicas
    )
    # group commit (many reports per transaction, each acknowledged once durable); on
    # JetStream a fetched batch is committed before its messages are acknowledged, and the
    # leader hears the readings every process stores from the database (docs/deploy.md)
    station = station_for(
        role, storage, RoleBus(bus, role), SystemClock(), hsm=hsm,
        collection_interval=REALTIME.period, freshness=freshness,
        group_commit=GroupCommitConfig(), vendor_key=vendor_key, vendor_id=vendor_id,
        tail=jetstream and role.leads,
    )  # fmt: skip
    if isinstance(nats, JetStreamBus):
        nats.before_ack = commit_batch(station)
    background = [asyncio.create_task(drive_group_commit(station))]
    if role.leads:  # partitions ahead and retention (an ingest worker makes a day's on demand)
        background.append(asyncio.create_task(maintain_storage(storage, retain_days)))
    if isinstance(station, LeaderStation):
        background.append(asyncio.create_task(follow_readings(station)))
    if sealed is not None:
        sealed.events = station.monitor  # refused envelopes are the station's events
    jobs = _charging(station, charging) if role.leads else None
    await nats.ready()
    mode = "verifying every reading's MAC" if hsm is not None else "UNPROTECTED (no vault)"
    on_bus = "signed bus" if sealed is not None else "UNAUTHENTICATED bus (no --bus-keys)"
    on_bus += ", JetStream" if jetstream else ""
    print(f"station ({role}): collecting from {bus_url} ({on_bus}) into {database}, {mode}",
          flush=True)  # fmt: skip
    api: RunningApi | None = None
    try:
        if api_port is not None and role is not StationRole.INGEST:
            api = await start_api(station, api_port)
            _print_api(station, api.port)
        await serve_while_leading(serve_station(station, storage, status_every, jobs), lock)
    finally:
        if api is not None:
            await api.stop()
        for task in background:
            task.cancel()
        station.close()  # commits what is queued
        await nats.close()
        storage.close()
        if lock is not None:
            lock.release()


def _station_hsm(
    vault: Path | None, cipher: str | None, pki_folder: Path | None
) -> CipherService | None:
    hsm: CipherService | None = open_device(vault, keep_state=True)
    if cipher is not None:
        utility = load_pki(pki_folder, "station")
        if utility is None or utility.station is None:
            raise ConfigError("--cipher needs --pki DIR with the station's certificate")
        host, port = split_host_port(cipher)
        hsm = CipherClient(
            host, port,
            utility.channel(utility.station, ChannelRole.CLIENT, pki.Role.STATION, CIPHER_NAME),
        )  # fmt: skip
    return hsm


def _print_api(station: Station, port: int) -> None:
    users = [user for user in station.users.list() if user.disabled is None]
    print(
        f"station: API and dashboard on http://127.0.0.1:{port}/ for "
        + (
            f"{len(users)} users"
            if users
            else "nobody yet (wattguard users add NAME --role operator --database ...)"
        ),
        flush=True,
    )


def _charging(station: Station, path: Path | None) -> StationCharging | None:
    """The station's orderly-charging jobs from ``--charging FILE`` (None without)."""
    if path is None:
        return None
    from wattguard.runtime.station_charging import StationCharging

    jobs = StationCharging(station, path)
    print(f"station: orderly charging in {len(jobs.base)} districts from {path}", flush=True)
    return jobs


def manage_users(database: str, action: str, name: str | None, role: str | None) -> int:
    """`wattguard users add|token|disable|list`: the station database's API users. A new
    token is printed once; only its digest is stored."""
    storage = open_storage(database)
    try:
        clock = SystemClock().time
        directory = UserDirectory(storage, clock, audit=StationAudit(storage, clock))
        if action == "list":
            rows = directory.list()
            if not rows:
                print(f"no users in {database}; add one: wattguard users add NAME --role operator")
            for user in rows:
                made = _utc(user.created)
                state = "enabled" if user.disabled is None else f"disabled {_utc(user.disabled)}"
                print(f"{user.name:<24} {user.role.lower():<11} made {made}  {state}")
            return 0
        if name is None:
            raise ConfigError(f"wattguard users {action} needs a user NAME")
        if action == "disable":
            directory.disable(name)
            print(f"{name} disabled: their token is refused from now on")
            return 0
        token = new_token()
        if action == "add":
            if role is None:
                raise ConfigError("wattguard users add needs --role viewer|operator|supervisor")
            directory.add(name, role, token)
        else:
            directory.reissue(name, token)
        print(f"{name}'s token (shown once; send it as Authorization: Bearer ...):")
        print(token)
        return 0
    finally:
        storage.close()


def _meters(prefix: str, count: int, factory: CryptoDevice | None) -> list[Meter]:
    """A terminal's meters, addressed after its own last six digits, as the factory makes
    them (:func:`~wattguard.runtime.factory.factory_meter`), with private readings as in the
    demo."""
    return [
        factory_meter(bytes.fromhex(f"{prefix}{i:06d}"), factory, private_readings=True)
        for i in range(1, count + 1)
    ]


def _utc(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def run_terminal(
    address: str,
    fep: str,
    *,
    meters: int = 25,
    speed: float = 60.0,
    seed: int = 0,
    vault: Path | None = None,
    pki_folder: Path | None = None,
) -> None:
    host, port = split_host_port(fep)
    terminal_address = parse_address(address)
    utility = load_pki(pki_folder, f"terminal-{address}")
    if not 1 <= meters <= 999:
        raise ConfigError("--meters must be between 1 and 999")
    clock = PacedClock(time.time(), speed)
    channel = HplcChannel(seed=seed)
    # With the vault, the meters are made as the factory makes them: each ESAM provisioned
    # from the master keys, so the station (which opens the same vault) verifies their MACs.
    factory = open_device(vault)
    terminal = Terminal(
        terminal_address, channel, tasks=(REALTIME, CURVE, DAILY), start=clock.time(),
        protect=None if factory is None else (lambda _address, request: wrap_with_rn(request)),
    )  # fmt: skip
    fleet = _meters(address[-6:], meters, factory)
    for meter in fleet:
        terminal.add_meter(meter.address)
    net = Neighbourhood(terminal, channel, fleet, mixed_load(meters, seed))
    net.power_up(clock.time())
    wan: Callable[[], ChannelCore] = PlainChannel
    if utility is not None:
        wan = utility.terminal_channel(terminal_address)
    client = TerminalClient(net, clock, host, port, channel=wan)
    print(f"terminal {address}: {meters} meters, reporting to the FEP at {fep}", flush=True)
    runner = asyncio.create_task(client.run())
    try:
        while True:
            await asyncio.sleep(5.0)
            state = "online" if terminal.online else "offline"
            print(
                f"terminal {address}: {state}, {terminal.outbox.sent_batches} batches sent, "
                f"{len(terminal.outbox)} items waiting",
                flush=True,
            )
    finally:
        client.stop()
        runner.cancel()
