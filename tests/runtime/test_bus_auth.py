"""The authenticated bus over a real nats-server started here with the configuration that
``wattguard bus --init`` writes (issue #13, item 1): nobody without credentials connects, each
service publishes and subscribes only where its role allows, a consumer refuses a forged,
tampered or replayed envelope with a security event, and the real FEP-station path works."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.events import EventKind, EventLog
from wattguard.network.bus import down_subject, up_subject
from wattguard.network.sealed_bus import BusIdentity, BusRole, SealedBus
from wattguard.testing.processes import spawn, stop
from wattguard.testing.services import NATS_SERVER, free_port, nats_server, require

TERMINAL = bytes.fromhex("990000000001")


@dataclass
class Server:
    url: str
    keys: Path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    require(os.access(NATS_SERVER, os.X_OK), f"no nats-server binary at {NATS_SERVER}")
    try:
        import nats  # noqa: F401
        import nkeys  # noqa: F401
    except ImportError:
        require(False, "nats-py and nkeys are not installed (the 'nats' extra)")
    from wattguard.runtime.buskeys import SERVER_CONFIG, init_bus

    port = free_port()
    keys = tmp_path / "bus"
    init_bus(keys, ["fep-1", "fep-2"], listen=f"127.0.0.1:{port}")
    with nats_server(["-c", str(keys / SERVER_CONFIG)], port) as url:
        yield Server(url, keys)


def test_the_credentials_files(tmp_path: Path) -> None:
    from wattguard.runtime.buskeys import add_fep, init_bus, load_credentials

    try:
        import nkeys  # noqa: F401
    except ImportError:
        require(False, "nkeys is not installed (the 'nats' extra)")
    folder = tmp_path / "bus"
    init_bus(folder, ["fep-1"])
    add_fep(folder, "fep-2")
    for name in ("station", "fep-1", "fep-2"):
        for suffix in (".nk", ".sm2"):
            assert stat.S_IMODE((folder / f"{name}{suffix}").stat().st_mode) == 0o600
        credentials = load_credentials(folder, name)
        assert credentials.identity.name == name
    config = (folder / "nats-server.conf").read_text()
    assert config.count("nkey:") == 3 and '"events.fep-2"' in config
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())
    with pytest.raises(ConfigError, match="never overwritten"):
        init_bus(folder, ["fep-3"])
    with pytest.raises(ConfigError, match="already exists"):
        add_fep(folder, "fep-1")
    with pytest.raises(ConfigError, match="no bus service"):
        load_credentials(folder, "fep-9")


def test_no_credentials_no_connection(server: Server) -> None:
    from wattguard.runtime.natsbus import NatsBus

    with pytest.raises(ConfigError, match="cannot reach NATS"):
        asyncio.run(NatsBus.connect(server.url))


async def _connect(server: Server, name: str) -> tuple[object, SealedBus]:
    from wattguard.runtime.buskeys import load_credentials
    from wattguard.runtime.natsbus import NatsBus

    credentials = load_credentials(server.keys, name)
    nats = await NatsBus.connect(server.url, name=name, nkey_seed=credentials.nkey_seed)
    sealed = SealedBus(nats, credentials.identity, credentials.directory, clock=time.time,
                       events=EventLog())  # fmt: skip
    return nats, sealed


def test_each_credential_only_where_its_role_allows(server: Server) -> None:
    """fep-1's credential subscribes to up.* and publishes on down.* and events.fep-2: the
    server delivers none of it; what the roles allow passes."""
    from wattguard.runtime.natsbus import NatsBus

    async def scenario() -> dict[str, list[bytes]]:
        station_nats, station = await _connect(server, "station")
        fep1_nats, _ = await _connect(server, "fep-1")
        fep2_nats, fep2 = await _connect(server, "fep-2")
        assert isinstance(station_nats, NatsBus) and isinstance(fep1_nats, NatsBus)
        assert isinstance(fep2_nats, NatsBus)
        got: dict[str, list[bytes]] = {"fep1 up": [], "station up": [], "fep2 down": [],
                                       "station events": []}  # fmt: skip
        fep1_nats.subscribe("up.*", lambda s, p: got["fep1 up"].append(p))  # refused
        station_nats.subscribe("up.*", lambda s, p: got["station up"].append(p))
        station_nats.subscribe("events.*", lambda s, p: got["station events"].append(p))
        fep2_nats.subscribe("down.*", lambda s, p: got["fep2 down"].append(p))
        for bus in (station_nats, fep1_nats, fep2_nats):
            await bus.ready()
        fep1_nats.publish(down_subject(TERMINAL), b"forged trip")  # refused by the server
        fep1_nats.publish("events.fep-2", b"forged event")  # refused: not its own subject
        fep2.publish(up_subject(TERMINAL), b"genuine frame")
        station.publish(down_subject(TERMINAL), b"genuine command")
        for bus in (station_nats, fep1_nats, fep2_nats):
            await bus.ready()
        await asyncio.sleep(0.3)
        for bus in (station_nats, fep1_nats, fep2_nats):
            await bus.close()
        return got

    got = asyncio.run(scenario())
    assert got["fep1 up"] == [] and got["station events"] == []
    assert len(got["station up"]) == 1 and len(got["fep2 down"]) == 1
    assert b"genuine frame" in got["station up"][0]


def test_the_consumer_refuses_forged_tampered_and_replayed_envelopes(server: Server) -> None:
    """An adversary holding fep-1's NATS credential (not its signing key) publishes a forged
    TAMPER event, a tampered frame and a replay: the station's consumer refuses each with
    an event, and the genuine frame alone reaches it."""
    from wattguard.runtime.natsbus import NatsBus

    async def scenario() -> tuple[list[bytes], list[bytes], SealedBus]:
        station_nats, station = await _connect(server, "station")
        fep_nats, fep = await _connect(server, "fep-1")
        assert isinstance(station_nats, NatsBus) and isinstance(fep_nats, NatsBus)
        frames: list[bytes] = []
        events: list[bytes] = []
        station.subscribe("up.*", lambda s, p: frames.append(p))
        station.subscribe("events.*", lambda s, p: events.append(p))
        await station_nats.ready()
        impostor = BusIdentity("fep-1", BusRole.FEP, sm2.PrivateKey.generate())
        forged = impostor.seal("events.fep-1", b'{"kind": "TAMPER"}', int(time.time() * 1e6))
        fep_nats.publish("events.fep-1", forged.to_bytes())
        genuine = fep.identity.seal(up_subject(TERMINAL), b"frame", int(time.time() * 1e6))
        fep_nats.publish(up_subject(TERMINAL), genuine.to_bytes())
        fep_nats.publish(up_subject(TERMINAL), genuine.to_bytes())  # replayed
        tampered = genuine.to_bytes().replace(b"frame", b"fraud")
        fep_nats.publish(up_subject(TERMINAL), tampered)
        await fep_nats.ready()
        await asyncio.sleep(0.3)
        await fep_nats.close()
        await station_nats.close()
        return frames, events, station

    frames, events, station = asyncio.run(scenario())
    assert frames == [b"frame"] and events == [] and station.refused == 3
    log = station.events
    assert isinstance(log, EventLog)
    # two bad signatures from "fep-1" within a minute: one event (aggregated), then the count
    station.flush()
    assert sorted(e.kind.name for e in log.events) == ["AUTHENTICATION", "AUTHENTICATION",
                                                       "REPLAY"]  # fmt: skip
    assert "1 more envelopes from fep-1" in log.events[-1].detail


def test_fep_and_station_processes_on_the_authenticated_bus(server: Server, tmp_path: Path) -> None:
    """The real roles with --bus-keys: readings flow end to end; a forged TAMPER published
    with a stolen NATS credential is refused at the station and stored as a refusal, not as a
    tamper."""
    from wattguard.runtime.natsbus import NatsBus
    from wattguard.station.storage import open_storage

    port = free_port()
    database = f"sqlite:///{tmp_path / 'station.db'}"
    keys = str(server.keys)
    station = spawn("station", "--bus", server.url, "--bus-keys", keys, "--database", database,
                     "--no-api")  # fmt: skip
    fep = spawn("fep", "--bus", server.url, "--bus-keys", keys, "--name", "fep-2",
                 "--listen", f"127.0.0.1:{port}")  # fmt: skip
    processes = [station, fep]
    try:
        assert station.stdout is not None and fep.stdout is not None
        assert "(signed bus)" in station.stdout.readline()
        assert "fep-2" in (line := fep.stdout.readline()) and "signed bus" in line, line
        terminal = spawn("terminal", "--address", "990000000042", "--fep", f"127.0.0.1:{port}",
                          "--meters", "5", "--speed", "900")  # fmt: skip
        processes.append(terminal)

        async def forge() -> None:
            from wattguard.runtime.buskeys import load_credentials

            stolen = load_credentials(server.keys, "fep-1").nkey_seed
            nats = await NatsBus.connect(server.url, nkey_seed=stolen)
            nats.publish("events.fep-1", b'{"kind": "TAMPER", "source": "fep-1", '
                                         b'"detail": "meter case opened", "at": 1.0}')  # fmt: skip
            await nats.ready()
            await nats.close()

        asyncio.run(forge())
        deadline = time.monotonic() + 40
        readings = 0
        while time.monotonic() < deadline and readings < 50:
            match = re.search(r"station: ([\d,]+) readings from", station.stdout.readline())
            if match:
                readings = int(match.group(1).replace(",", ""))
        assert readings >= 50
    finally:
        stop(processes)
    storage = open_storage(database)
    try:
        assert storage.events(kind=EventKind.TAMPER) == []
        refused = storage.events(kind=EventKind.MALFORMED, source="bus station")
        assert refused and "events.fep-1" in refused[0].detail
    finally:
        storage.close()


def test_the_bus_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from wattguard.cli import main

    try:
        import nkeys  # noqa: F401
    except ImportError:
        require(False, "nkeys is not installed (the 'nats' extra)")
    folder = str(tmp_path / "bus")
    assert main(["bus", "--init", folder, "--fep", "fep-1", "--fep", "fep-2"]) == 0
    assert "nats-server -c" in capsys.readouterr().out
    assert main(["bus", "--add-fep", "fep-3", "--bus-keys", folder]) == 0
    assert main(["bus", "--remove", "fep-1", "--bus-keys", folder]) == 0
    config = (tmp_path / "bus" / "nats-server.conf").read_text()
    assert "# fep-3" in config and "# fep-1" not in config
    assert not (tmp_path / "bus" / "fep-1.sm2").exists()
    capsys.readouterr()
    for args, reason in [
        (["bus", "--init", folder], "never overwritten"),
        (["bus", "--remove", "station", "--bus-keys", folder], "no FEP 'station'"),
        (["bus", "--add-fep", "FEP 4", "--bus-keys", folder], "a-z, 0-9"),
        (["bus", "--add-fep", "fep-4"], "needs --bus-keys"),
    ]:
        assert main(args) == 2
        assert reason in capsys.readouterr().err
