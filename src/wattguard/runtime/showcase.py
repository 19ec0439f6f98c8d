"""The demo's operations walkthrough: what an operator does to the running deployment, with the
effects read back from the station and the meters over DL/T 698.45.

Theory of operation. :class:`Showcase` runs beside a :class:`~wattguard.runtime.deployment.
Deployment` (``wattguard demo``, live or ``--virtual``): :meth:`Showcase.step` is called with the
simulated time after every station tick and carries out each :data:`STEPS` entry once its
time (seconds after the start) has come. Everything goes the way an operator's would, through
the station (:meth:`~wattguard.station.Station.issue`, its rules, on-demand reads through the
terminals), as the deployment's users, with the command rules, approvals and audit trail:

* at the start a supervisor creates a rule: a meter's over-current event -> an alarm with a
  message on that meter's display (``display alarm``);
* the over-current limit (3005) of the meter drawing most is set to 1 A: the meter raises the
  operational alarm, the station stores it, the rule fires and the alarm is on the display;
* a tariff table with prices, switching over an hour later, is issued and approved by a
  second supervisor; after the switch-over the day table in force (4016) is read back;
* the second busiest meter is tripped: its stored forward energy (0010) stops rising;
* a firmware campaign: the vendor's new management-module image is uploaded once (verified
  against the vendor key), a supervisor's campaign over the first district's customers is
  approved by a second, its canary wave goes first and the next follows by itself once the
  canary passed; the meters report the new version over DL/T 698.45;
* later steps say what the trip, the tariff change, the rule and the alarms came to.

:meth:`Showcase.lines` reports what each step achieved, from the station's own records, for
the demo's end summary; ``say`` prints each step as it happens.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.protocol import OAD
from wattguard.runtime.deployment import Deployment
from wattguard.station.campaigns import CampaignPlan
from wattguard.station.commands import Command, CommandKind, CommandRefused, Role, User
from wattguard.station.ondemand import OnDemandRead
from wattguard.station.records import OperationalKind

__all__ = ["ENERGY", "FIRMWARE_VERSION", "IN_FORCE", "PERIODS", "PRICES", "STEPS", "Showcase"]

#: The management-module firmware version the demo's campaign rolls out.
FIRMWARE_VERSION = "1.1.0"

#: The forward active energy, as the real-time collection stores it (kWh).
ENERGY = "00100201"
#: The over-current limit the busiest meter is given (A; the lowest the station allows).
OVER_CURRENT_LIMIT = 1.0
#: The time-of-use day table the demo's tariff change brings in (start, tariff: 1 peak,
#: 2 flat, 3 valley) and its prices (yuan/kWh, tariff 1 first).
PERIODS = (("00:00", 3), ("08:00", 1), ("11:00", 2), ("18:00", 1), ("22:00", 2))
PRICES = (0.6800, 0.5300, 0.3100)
#: The same day table as 4016 reads back: [[hour, minute, tariff], ...].
IN_FORCE = [[int(start[:2]), int(start[3:]), tariff] for start, tariff in PERIODS]
#: What happens when, in simulated seconds after the start (:meth:`Showcase.step`).
STEPS = (
    (0, "rule"),
    (1200, "tariff"),
    (2100, "over_current"),
    (2700, "trip"),
    (3600, "firmware_wave"),
    (4500, "trip_check"),
    (5700, "tariff_check"),
    (6600, "report"),
)
#: How long after the issue the tariff table switches over (seconds).
SWITCH_AFTER = 3600.0


@dataclass
class Showcase:
    """The demo's operations (module docstring), step by step in simulated time."""

    deployment: Deployment
    say: Callable[[str], None] = print
    start: float = 0.0
    rule_id: int | None = None
    alarmed: str | None = None  # the meter given the low over-current limit
    tripped: str | None = None
    trip_command: int | None = None
    tariff_command: int | None = None
    switch_at: float | None = None
    tariff_read: OnDemandRead | None = None
    campaign_id: int | None = None
    done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.start = self.deployment.clock.time()
        users = self.deployment.users.values()
        self.operator = next(u for u in users if u.role is Role.OPERATOR)
        supervisors = [u for u in users if u.role is Role.SUPERVISOR]
        self.supervisor, self.second = supervisors[0], supervisors[-1]

    def step(self, now: float) -> None:
        """Carry out every step whose time has come (each once)."""
        for after, name in STEPS:
            if now - self.start >= after and name not in self.done:
                self.done.add(name)
                try:
                    getattr(self, name)(now)
                except CommandRefused as refused:
                    self._say(now, f"{name.replace('_', ' ')} refused: {refused.reason}")

    def _say(self, now: float, text: str) -> None:
        self.say(f"  [demo {_clock(now)}] {text}")

    # the steps

    def rule(self, now: float) -> None:
        """A supervisor's rule: a meter's over-current event -> an alarm on its display."""
        rule = self.deployment.station.rules.create(
            self.supervisor, "over-current alarm on the display",
            {"event": {"operational": OperationalKind.OVER_CURRENT.value}},
            {"command": {"kind": CommandKind.DISPLAY_ALARM.value, "argument": "over current",
                         "targets": "matched"}},
            cooldown=3600,
        )  # fmt: skip
        self.rule_id = rule.id
        self._say(now, f"rule #{rule.id} by {self.supervisor.name}: {rule.name}")

    def over_current(self, now: float) -> None:
        """The busiest meter's over-current limit (3005) down to 1 A: an operational alarm."""
        busiest = self._busiest()
        if not busiest:
            self._say(now, "over-current limit: no meter has reported energy yet")
            return
        self.alarmed = busiest[0]
        argument = json.dumps({"event": "over-current", "limit": OVER_CURRENT_LIMIT, "delay": 0})
        command = self._issue(self.supervisor, CommandKind.EVENT_THRESHOLD, self.alarmed, argument)
        self._say(now, f"meter {self.alarmed}: over-current limit {OVER_CURRENT_LIMIT:g} A "
                       f"(command #{command.id}, {command.state.value})")  # fmt: skip

    def tariff(self, now: float) -> None:
        """A new tariff table for the first district's customers, approved by a second person,
        switching over :data:`SWITCH_AFTER` later."""
        meters = self._customers()
        self.switch_at = (now + SWITCH_AFTER) // 60 * 60
        switch = dt.datetime.fromtimestamp(self.switch_at, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        periods = [list(period) for period in PERIODS]
        argument = json.dumps({"periods": periods, "switch_at": switch, "prices": list(PRICES)})
        station = self.deployment.station
        held = station.issue(self.supervisor, CommandKind.TARIFF, meters, argument)
        command = station.approve(self.second, held.id)
        self.tariff_command = command.id
        self._say(now, f"tariff table for {len(meters)} meters, switching over at "
                       f"{_clock(self.switch_at)} (command #{command.id} by "
                       f"{self.supervisor.name}, approved by {self.second.name})")  # fmt: skip

    def trip(self, now: float) -> None:
        """Trip the second busiest meter (the busiest carries the over-current alarm)."""
        busiest = [m for m in self._busiest() if m != self.alarmed]
        if not busiest:
            self._say(now, "trip: no meter has reported energy yet")
            return
        self.tripped = busiest[0]
        command = self._issue(self.operator, CommandKind.TRIP, self.tripped, "")
        self.trip_command = command.id
        self._say(now, f"meter {self.tripped}: trip (command #{command.id} by "
                       f"{self.operator.name}); its forward energy should stop")  # fmt: skip

    def firmware_wave(self, now: float) -> None:
        """A firmware campaign over the first district's customers: the image uploaded once, a
        second supervisor's approval, a canary wave of a quarter of them, the rest after it."""
        deployment = self.deployment
        runner = deployment.station.campaigns
        body = b"wattguard management firmware %b\n" % FIRMWARE_VERSION.encode()
        stored = runner.upload(
            self.supervisor, deployment.vendor.build(body * 40, FIRMWARE_VERSION)
        )
        meters = self._customers()
        plan = CampaignPlan(canary_share=0.25, wave_sizes=(len(meters),), auto_advance=True)
        made = runner.create(
            self.supervisor, CommandKind.FIRMWARE, meters, stored.version, stored.digest, plan
        )
        deployment.station.approve(self.second, made.id)
        campaign = runner.start(self.supervisor, made.id)
        self.campaign_id = campaign.id
        self._say(now, f"firmware {stored.version} campaign #{campaign.id} over {len(meters)} "
                       f"meters by {self.supervisor.name}, approved by {self.second.name}: "
                       f"wave 1 of {campaign.waves} (the canary) started")  # fmt: skip

    def trip_check(self, now: float) -> None:
        """Say what the tripped meter's stored forward energy did since the trip."""
        self._say(now, self._trip_line())

    def report(self, now: float) -> None:
        """Say what the rule and the operational alarms came to (and the tariff read back)."""
        lines = (self._tariff_line(), self._firmware_line(), self._rule_line(), self._alarm_line())
        for line in lines:
            self._say(now, line)

    def tariff_check(self, now: float) -> None:
        """Read the day table in force (4016) from a meter of the tariff change, now."""
        if self.tariff_command is None:
            return
        command = self.deployment.station.commands.get(self.tariff_command)
        self.tariff_read = self.deployment.station.read_now(
            self.operator, command.meters[0], OAD(0x4016, 2, 0)
        )
        self._say(now, f"meter {command.meters[0]}: reading the day table in force (4016)")

    # what the station saw

    def _issue(self, user: User, kind: CommandKind, meter: str, argument: str) -> Command:
        return self.deployment.station.issue(user, kind, (meter,), argument)

    def _customers(self) -> tuple[str, ...]:
        net = self.deployment.nets[0]
        return tuple(m.hex() for m in net.meters if m.hex() not in self.deployment.supply_meters)

    def _busiest(self) -> list[str]:
        """The customers' meters by the energy the station stored for them since the start,
        most first (those without two readings left out)."""
        storage = self.deployment.storage
        rises: list[tuple[float, str]] = []
        for net in self.deployment.nets:
            for meter in net.meters:
                address = meter.hex()
                if address in self.deployment.supply_meters:
                    continue
                stored = storage.readings(address, ENERGY, start=int(self.start))
                if len(stored) >= 2:
                    rises.append((stored[-1].value - stored[0].value, address))
        return [address for _, address in sorted(rises, reverse=True)]

    def trip_energy(self) -> tuple[float, float, int] | None:
        """The tripped meter's stored forward energy at the first reading after the trip was
        done and at the latest, and how many readings came since (None: not yet)."""
        if self.trip_command is None or self.tripped is None:
            return None
        command = self.deployment.station.commands.get(self.trip_command)
        if command.state.value != "done":
            return None
        after = self.deployment.storage.readings(
            self.tripped, ENERGY, start=int(command.updated_at)
        )
        if not after:
            return None
        return after[0].value, after[-1].value, len(after)

    def lines(self) -> list[str]:
        """What each step achieved, from the station's records (for the end summary)."""
        return [
            self._trip_line(), self._tariff_line(), self._firmware_line(), self._rule_line(),
            self._alarm_line(),
        ]  # fmt: skip

    def _trip_line(self) -> str:
        energy = self.trip_energy()
        if energy is None:
            return "trip: not carried out yet"
        first, last, count = energy
        assert self.tripped is not None
        before = self.deployment.storage.readings(self.tripped, ENERGY, start=int(self.start))
        rose = first - before[0].value if before else 0.0
        verdict = "stopped" if last == first else f"STILL RISING (+{last - first:.3f} kWh)"
        return (
            f"trip: meter {self.tripped} tripped (command #{self.trip_command} done); its "
            f"forward energy rose {rose:.3f} kWh before, then {first:.3f} kWh at the trip and "
            f"{last:.3f} kWh {count - 1} readings later: {verdict}"
        )

    def _tariff_line(self) -> str:
        read = None if self.tariff_read is None else self.deployment.station.reads.get(
            self.tariff_read.id
        )  # fmt: skip
        if read is None or read.state != "done":
            return "tariff: the new table is not read back yet"
        in_force = [[h, m, t] for h, m, t in read.value[0]] if read.value else []
        verdict = "the new table is in force" if in_force == IN_FORCE else "NOT the new table"
        return (
            f"tariff: command #{self.tariff_command} switched over at "
            f"{_clock(self.switch_at or 0)}; meter {read.meter} reads back 4016 = "
            f"{in_force}: {verdict}"
        )

    def firmware_versions(self) -> dict[str, str]:
        """Each meter of the campaign and the version it reported (empty before it)."""
        if self.campaign_id is None:
            return {}
        progress = self.deployment.station.campaigns.progress.get(self.campaign_id, {})
        return {meter: p.reported for meter, p in progress.items()}

    def _firmware_line(self) -> str:
        if self.campaign_id is None:
            return "firmware: no campaign yet"
        campaign = self.deployment.station.campaigns.get(self.campaign_id)
        reported = self.firmware_versions()
        new = sum(version == FIRMWARE_VERSION for version in reported.values())
        return (
            f"firmware: campaign #{campaign.id} {campaign.state.value}, wave {campaign.wave + 1} "
            f"of {campaign.waves}; {new} of {len(reported)} meters report {FIRMWARE_VERSION}"
        )

    def _rule_line(self) -> str:
        if self.rule_id is None:
            return "rule: not created"
        firings = self.deployment.storage.firings(self.rule_id)
        if not firings:
            return f"rule #{self.rule_id}: has not fired yet"
        last = firings[0]
        outcome = last.outcome
        if last.command_id is not None:
            command = self.deployment.station.commands.get(last.command_id)
            outcome = f"{command.kind.value} {command.argument!r}, command #{command.id} "
            outcome += command.state.value
        return (
            f"rule #{self.rule_id} fired {len(firings)} time(s), last at {_clock(last.time)} "
            f"for meter {', '.join(last.meters)}: {outcome}"
        )

    def _alarm_line(self) -> str:
        events = self.deployment.storage.operational_events(since=self.start)
        kinds: dict[str, int] = {}
        for event in events:
            kinds[event.kind.value] = kinds.get(event.kind.value, 0) + 1
        shown = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
        return f"operational alarms stored: {shown}"


def _clock(posix: float) -> str:
    return dt.datetime.fromtimestamp(posix, dt.UTC).strftime("%H:%M")
