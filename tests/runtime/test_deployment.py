"""The one-process deployment behind `wattguard demo`."""

from __future__ import annotations

import re

import pytest

from wattguard.cli import main
from wattguard.errors import ConfigError
from wattguard.events import EventKind
from wattguard.network.hplc import Direction
from wattguard.protocol import Control, Data, LinkFrame, ServerAddress, decode_apdu, decode_frame
from wattguard.protocol.apdu.common import AResultNormal
from wattguard.protocol.apdu.get import GetResponseNormalList
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
    Verification,
    VerificationKind,
)
from wattguard.protocol.values import SID
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.testing import MIDNIGHT as START


def test_virtual_hours_collect_every_meter() -> None:
    config = DeploymentConfig(meters=12, per_terminal=5, start=START)
    deployment = Deployment(config, virtual_clock(config))
    assert len(deployment.nets) == 3 and deployment.meter_count == 12
    fractions: list[float] = []
    summary = deployment.run_virtual(2 * 3600, fractions.append)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    # real-time reads at 0, 15, ..., 105 minutes: 8 reads x (energy total and 4 tariffs) per
    # meter, and the voltage from the second read on (at power-up nothing was measured yet)
    store = deployment.storage
    realtime = sum(store.count_readings_of(f"001002{k:02d}") for k in range(1, 6))
    realtime += store.count_readings_of("20000201")
    assert realtime == 12 * (8 * 5 + 7)
    # and the 15-minute curve: the records at 15, 30, ..., 90 minutes (the read at 105 minutes
    # asks up to the quarter then beginning), five values each
    curve = [store.readings(f"{1:06d}{1:06d}", "50020200/00100201")]
    assert [r.time - START for r in curve[0]] == [900 * k for k in range(1, 7)]
    assert summary.readings == realtime + 12 * 6 * 5
    assert summary.meters_reporting == 12 and summary.terminals_online == 3
    assert summary.security_events == 0
    # every read verified: 8 real-time reads, 7 curve reads (none at 0: nothing frozen yet) and
    # one of the daily freeze (the midnight the run began at, tried once it had settled)
    assert deployment.hsm is not None and deployment.hsm.verified == 12 * (8 + 7 + 1)


def _inflate_energy(apdu: GetResponseNormalList) -> GetResponseNormalList:
    results = []
    for result in apdu.results:
        value = result.result
        if isinstance(value, Data) and str(result.oad) == "00100200":
            items = tuple(Data(v.type, v.value + 1000) for v in value.value)
            value = Data(value.type, items)
        results.append(AResultNormal(result.oad, value))
    return GetResponseNormalList(apdu.piid, tuple(results))


def tamper(direction: Direction, address: bytes, data: bytes) -> list[bytes]:
    """A man in the middle on the power line who adds 10 kWh to every energy reading, with valid
    frame checksums."""
    if direction != Direction.UP:
        return [data]
    try:
        frame = decode_frame(data)
        apdu = decode_apdu(frame.apdu)
    except Exception:
        return [data]
    if isinstance(apdu, GetResponseNormalList):
        apdu = _inflate_energy(apdu)
    elif isinstance(apdu, SecurityResponse) and apdu.payload.data:
        inner = decode_apdu(apdu.payload.data)
        if isinstance(inner, GetResponseNormalList):
            payload = SecurityPayload(apdu.payload.protection, _inflate_energy(inner).to_bytes())
            apdu = SecurityResponse(payload, apdu.mac)
    forged = LinkFrame(frame.control, frame.address, frame.client_address, apdu.to_bytes())
    return [forged.to_bytes()]


@pytest.mark.parametrize("protected", [True, False])
def test_readings_altered_on_the_power_line_are_refused_only_when_protected(
    protected: bool,
) -> None:
    # the standard's plaintext + MAC reads: the values are in sight, the MAC is what refuses
    config = DeploymentConfig(
        meters=4, per_terminal=4, start=START, protected=protected, private_readings=False
    )
    deployment = Deployment(config, virtual_clock(config))
    deployment.nets[0].channel.manipulate = tamper
    summary = deployment.run_virtual(3600)
    if protected:
        # nothing altered is stored; each refusal is a security event at the station
        assert deployment.storage.count_readings_of("00100201") == 0
        assert summary.refused == 4 * 4
        assert len(deployment.storage.events(kind=EventKind.BAD_MAC)) >= 4 * 4
        assert deployment.storage.alerts(open_only=True)  # the monitor raised an alert
    else:
        # the same attack goes through: the station stores the inflated energies
        assert deployment.storage.count_readings_of("00100201") == 4 * 4
        assert summary.refused == 0


def test_configuration_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="at least one meter"):
        DeploymentConfig(meters=0)
    with pytest.raises(ConfigError, match="speed"):
        DeploymentConfig(speed=0)


def test_the_demo_command_runs_virtually(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["demo", "--virtual", "--days", "0.05", "--meters", "6", "--per-terminal", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "6 meters behind 2 terminals" in out and "readings stored" in out


def test_the_demo_command_runs_live_over_tcp(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["demo", "--duration", "2.5", "--speed", "900", "--meters", "4", "--api-port", "0"])
        == 0
    )
    out = capsys.readouterr().out
    assert "front-end processor on loopback TCP" in out
    assert "bus: every message signed" in out  # the separate processes' envelopes, in process
    link = re.search(r"dashboard on http://127\.0\.0\.1:[1-9][0-9]*/#token=([\w-]{32}) ", out)
    assert link is not None
    # this run's own random tokens, one a line with its user; none of the fixed test tokens
    assert re.search(rf"^  {link.group(1)} +otto \(operator\)$", out, re.MULTILINE)
    assert "operator-token" not in out
    assert "terminals online 1/1" in out and "open alerts 0" in out


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--speed", "-3"])
    assert "must be positive" in capsys.readouterr().err
    assert main(["demo", "--meters", "0", "--virtual"]) == 2
    assert "at least one meter" in capsys.readouterr().err


def test_tamper_and_refusals_inside_a_meter_reach_the_station() -> None:
    config = DeploymentConfig(meters=3, per_terminal=3, start=START)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(600)
    net = deployment.nets[0]
    meter = next(iter(net.meters.values()))
    meter.management.cover_opened(deployment.clock.time())
    # a forged command on the power line: a trip under no key the meter knows
    forged = LinkFrame(
        Control(from_server=False, client_started=True), ServerAddress(meter.address), 0x10,
        SecurityRequest(
            SecurityPayload(Protection.CIPHERTEXT, bytes(32)),
            Verification(VerificationKind.SID_MAC, sid=SID(1, bytes(4)), mac=bytes(4)),
        ).to_bytes(),
    ).to_bytes()  # fmt: skip
    net.channel.send(Direction.DOWN, meter.address, forged, deployment.clock.time())
    deployment.run_virtual(1200)
    source = f"meter {meter.address.hex()}"
    tamper = deployment.storage.events(kind=EventKind.TAMPER, source=source)
    assert tamper and "cover" in tamper[0].detail
    refusals = [e for e in deployment.storage.events(source=source) if e.kind != EventKind.TAMPER]
    assert refusals, "the meter's refusal of the forged command did not reach the station"
    assert any(a.rule == "tamper" for a in deployment.storage.alerts(open_only=True))


def test_a_taken_api_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--duration", "1", "--meters", "2", "--api-port", str(port)]) == 2
    assert "choose another port with --api-port" in capsys.readouterr().err


def test_the_summary_counts_open_alerts() -> None:
    config = DeploymentConfig(meters=2, per_terminal=2)
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(1800)
    assert deployment.summary().open_alerts == 0
    meter = next(iter(deployment.nets[0].meters.values()))
    meter.management.cover_opened(deployment.clock.time())
    summary = deployment.run_virtual(900)
    assert summary.open_alerts == 1 and "open alerts 1" in summary.line()
