"""What the station side keeps across a restart of the cryptographic device (issue #13, item 6):
the report anti-replay window and the command counters, on disk before they are relied on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattguard.cipher import CryptoDevice, save_vault
from wattguard.cipher.state import DeviceState
from wattguard.crypto import sm2
from wattguard.errors import ConfigError, ReplayError
from wattguard.esam.client import EsamClient
from wattguard.esam.profile import KeyId, MasterKeys
from wattguard.events import EventKind, EventLog
from wattguard.protocol import OMD, Data, DataType
from wattguard.protocol.apdu.action import ActionRequest
from wattguard.protocol.apdu.security import SecurityRequest, SecurityResponse
from wattguard.runtime.roles import open_device
from wattguard.testing import HOUSE, T0
from wattguard.testing.meter import Line, new_meter

KEYS = MasterKeys(1, {k: bytes([k * 5 % 256]) * 16 for k in KeyId})
CA = sm2.PrivateKey.generate()
A = bytes.fromhex("000000000021")
ALARM = ActionRequest(1, OMD(0x8000, 127, 0), Data(DataType.NULL, None)).to_bytes()


def device(**kwargs: object) -> CryptoDevice:
    return CryptoDevice([KEYS], ca_key=CA, clock=lambda: T0, **kwargs)  # type: ignore[arg-type]


def reports_of(client: EsamClient, count: int) -> list[SecurityRequest]:
    """``count`` event reports as the meter's ESAM protects them (counters in order)."""
    return [client.protect_report(b"\x88\x01\x01" + bytes([i]), T0 + i) for i in range(count)]


def test_reports_seen_before_a_restart_of_the_device_are_not_accepted_again(
    tmp_path: Path,
) -> None:
    state = tmp_path / "device.state"
    hsm = device(state_path=state)
    client = EsamClient(hsm.provision_esam(A))
    reports = reports_of(client, 100)
    for report in reports:
        hsm.open_report(A, report)
    assert hsm.security.reports_heard(A) == 100

    events = EventLog()
    restarted = device(state_path=state, events=events)  # the device process started again
    for old in (0, 1):  # below the window the device had before it stopped
        with pytest.raises(ReplayError):
            restarted.open_report(A, reports[old])
    for duplicate in (50, 99):  # exact duplicates pass (a terminal's resend) but count once
        assert restarted.open_report(A, reports[duplicate]) == reports[duplicate].payload.data
    assert restarted.security.reports_heard(A) == 100  # the count the report audit compares
    assert len(events.of_kind(EventKind.REPLAY)) == 2
    (new,) = reports_of(client, 1)
    assert restarted.open_report(A, new) == new.payload.data  # the meter's next one is fine
    assert restarted.security.reports_heard(A) == 101


def test_the_window_is_on_disk_before_the_report_is_handed_back(tmp_path: Path) -> None:
    """A crash right after the device answered must not reopen the window: the journal
    already holds the counter when open_report returns (the device is never closed here)."""
    state = tmp_path / "device.state"
    hsm = device(state_path=state)
    reports = reports_of(EsamClient(hsm.provision_esam(A)), 70)
    for report in reports:
        hsm.open_report(A, report)
    journal = state.with_name(state.name + ".journal")
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["meter"] for line in lines if "report" in line] == [A.hex()] * 70
    crashed = device(state_path=state)
    with pytest.raises(ReplayError):
        crashed.open_report(A, reports[2])  # below the window of the device that crashed
    assert crashed.security.reports_heard(A) == 70


def test_the_journal_is_folded_into_the_snapshot_and_a_torn_line_is_ignored(
    tmp_path: Path,
) -> None:
    state = tmp_path / "device.state"
    hsm = device(state_path=state)
    hsm.provision_esam(A)
    for _ in range(5):
        hsm.protect(A, ALARM)
    journal = state.with_name(state.name + ".journal")
    with journal.open("ab") as out:
        out.write(b'{"meter": "0000000000')  # a crash in the middle of an append
    restarted = device(state_path=state)
    assert restarted.security.counters()[A][1] == 5
    assert json.loads(state.read_text())[A.hex()]["command_counter"] == 5  # folded in
    assert journal.read_text() == ""
    journal.write_text('{"meter": "zz"}\n{"meter": "000000000021"}\n')  # damaged mid-file
    with pytest.raises(ConfigError, match="damaged"):
        device(state_path=state)


def test_the_station_s_own_device_keeps_its_command_counters_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`wattguard station --vault`: a restarted station goes on from its command counters,
    so the meters do not refuse its commands as replays (DAR 22)."""
    vault = tmp_path / "keys.vault"
    save_vault(vault, [KEYS], "station pass", iterations=1000)
    monkeypatch.setenv("WATTGUARD_PASSPHRASE", "station pass")
    factory = device()  # the meter's ESAM, provisioned from the same master keys
    meter = new_meter(A, esam=EsamClient(factory.provision_esam(A)))
    meter.power_up(T0)
    meter.measure(HOUSE, 60.0, T0 + 60)
    line = Line(meter)

    first = open_device(vault, keep_state=True)
    assert first is not None
    for k in range(3):
        answer = line.exchange(first.protect(A, ALARM), T0 + 100 + k)
        assert isinstance(answer, SecurityResponse) and answer.payload.dar is None
    restarted = open_device(vault, keep_state=True)  # the station process started again
    assert restarted is not None
    answer = line.exchange(restarted.protect(A, ALARM), T0 + 200)
    assert isinstance(answer, SecurityResponse) and answer.payload.dar is None
    assert restarted.security.counters()[A][1] == 4


def test_a_long_journal_is_compacted_into_the_snapshot(tmp_path: Path) -> None:
    hsm = device()
    hsm.provision_esam(A)
    state = DeviceState(tmp_path / "device.state", compact_after=3)
    state.load(hsm.security)
    for _ in range(4):
        hsm.security.wrap(A, ALARM)
        state.counters(hsm.security, A)
    state.close()
    assert len(state.journal_path.read_text().splitlines()) == 1  # 3 folded in, then 1
    assert json.loads(state.path.read_text())[A.hex()]["command_counter"] == 3
    fresh = device()
    DeviceState(state.path).load(fresh.security)
    assert fresh.security.counters()[A][1] == 4
