"""The demo's operations walkthrough (runtime/showcase.py): a trip that stops the energy, a
tariff change in force, a rule that fires and an operational alarm, each with its real effect
in the station's records and in the meters; and ``wattguard demo --virtual`` prints them and
leaves them in its database."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from wattguard.attacks.scenarios.common import T0
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.runtime.showcase import ENERGY, FIRMWARE_VERSION, IN_FORCE, STEPS, Showcase
from wattguard.station.commands import CommandKind, CommandState
from wattguard.station.records import OperationalKind
from wattguard.station.storage import open_storage

EVENING = T0 + 21.5 * 3600  # the demo's start: the evening's loads
RUN = max(after for after, _ in STEPS) + 600


def test_the_walkthrough_has_real_effects() -> None:
    config = DeploymentConfig(meters=8, per_terminal=4, seed=2, districts=True, start=EVENING)
    deployment = Deployment(config, virtual_clock(config))
    said: list[str] = []
    showcase = Showcase(deployment, said.append)
    deployment.on_tick.append(showcase.step)
    deployment.run_virtual(RUN)
    station, storage = deployment.station, deployment.storage
    meters = {m.address.hex(): m for net in deployment.nets for m in net.fleet.meters}
    # the trip: done, the meter's relay open, and its forward energy stopped, as stored
    assert showcase.tripped is not None and showcase.trip_command is not None
    trip = station.commands.get(showcase.trip_command)
    assert trip.kind == CommandKind.TRIP and trip.state == CommandState.DONE
    tripped = meters[showcase.tripped]
    assert not tripped.management.relay.supplying
    stored = storage.readings(showcase.tripped, ENERGY, start=int(EVENING))
    before = [r.value for r in stored if r.time < trip.updated_at]
    after = [r.value for r in stored if r.time >= trip.updated_at]
    assert before[-1] > before[0]  # it was drawing energy
    assert len(after) >= 4 and len(set(after)) == 1  # and then none
    # the tariff: approved by a second person, in force in the meters and read back over 698
    assert showcase.tariff_command is not None
    tariff = station.commands.get(showcase.tariff_command)
    assert tariff.state == CommandState.DONE and tariff.approved_by not in (None, tariff.issued_by)
    assert showcase.tariff_read is not None
    read = station.reads.get(showcase.tariff_read.id)
    assert read is not None and read.state == "done" and read.value == [IN_FORCE]
    for address in tariff.meters:
        table = meters[address].management.parameters.current_table
        assert [list(period) for period in table] == IN_FORCE
    # the operational alarm: the meter given the low limit raised it, the station stored it
    alarms = storage.operational_events(kind=OperationalKind.OVER_CURRENT)
    assert alarms and {a.meter for a in alarms} == {showcase.alarmed}
    # the rule fired for that meter: its firing stored, its display alarm done and shown
    assert showcase.rule_id is not None
    firings = storage.firings(showcase.rule_id)  # newest first; again after its cool-down
    firing = firings[-1]
    assert firing.meters == (showcase.alarmed,) and firing.command_id is not None
    alarm = station.commands.get(firing.command_id)
    assert alarm.kind == CommandKind.DISPLAY_ALARM and alarm.state == CommandState.DONE
    assert showcase.alarmed is not None
    assert meters[showcase.alarmed].management.relay.alarm_message == "over current"
    # the firmware campaign: every meter of it runs the new image, as it reports over 698
    assert showcase.campaign_id is not None
    reported = showcase.firmware_versions()
    assert reported and set(reported.values()) == {FIRMWARE_VERSION}, reported
    for address in reported:
        upgrader = meters[address].upgrader
        assert upgrader is not None and str(upgrader.active_version) == FIRMWARE_VERSION
    # and the demo said so as it happened
    text = "\n".join(said)
    firmware = rf"campaign #\d+ done, .*(\d+) of \1 meters report {FIRMWARE_VERSION}"
    for expected in (r"trip \(command", r": stopped", "the new table is in force",
                     r"fired [1-9]\d* time\(s\)", r"stored: [1-9]\d* over current",
                     firmware):  # fmt: skip
        assert re.search(expected, text), text


def test_the_virtual_demo_prints_the_walkthrough_and_stores_its_effects(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/station.db"
    done = subprocess.run(
        [sys.executable, "-m", "wattguard", "demo", "--virtual", "--days", f"{RUN / 86400:.4f}",
         "--meters", "8", "--per-terminal", "4", "--seed", "2", "--database", database],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    summary = out[out.index("\noperations:\n") :]
    assert re.search(r"trip: meter \d{12} tripped .*: stopped", summary), summary
    assert re.search(r"tariff: .* reads back 4016 = .*: the new table is in force", summary)
    assert re.search(r"rule #1 fired \d+ time\(s\).*display alarm 'over current'.* done", summary)
    assert re.search(r"operational alarms stored: \d+ over current", summary), summary
    assert re.search(r"firmware: campaign #\d+ done, .*(\d+) of \1 meters report", summary)
    storage = open_storage(database)  # what the demo left behind
    try:
        firings = storage.firings()
        assert firings and firings[0].command_id is not None
        assert storage.operational_events(kind=OperationalKind.OVER_CURRENT)
        kinds = {c.kind: c.state for c in storage.commands()}
        assert kinds[CommandKind.TRIP] == kinds[CommandKind.TARIFF] == CommandState.DONE
        assert storage.supply_meters()  # the districts' supply meters, stored
    finally:
        storage.close()
