"""The master station as one object: storage, the security monitor, the collector on the bus,
command authorisation and dispatch through the cryptographic device.

Theory of operation. :class:`Station` owns:

* the :class:`~wattguard.station.storage.Storage` (readings, events, alerts, commands,
  audit) and the :class:`~wattguard.station.monitor.SecurityMonitor`, which is the event sink
  of everything station-side (the collector, the FEP checks of an in-process FEP, the
  cryptographic device's refusals);
* the :class:`~wattguard.station.collector.Collector` (one 698 link per terminal);
* the :class:`~wattguard.station.commands.CommandBook` with its SM3-chained audit trail.

A remote command goes: :meth:`Station.issue` (roles, second-person approval) →
:meth:`Station.dispatch` → per meter, the cryptographic device protects the ACTION under
that meter's keys (ciphertext + SID_MAC), the frame travels in a PROXY TransCommand to the
meter's terminal, the meter's answer comes back the same way and is opened by the device;
each meter's outcome ("ok" or why not) is recorded, and the command ends DONE or FAILED.
Without a cryptographic device (the unprotected configuration) the ACTION travels bare.
What each kind sends (a relay ACTION, a SET of parameters, a wallet ACTION whose parameter the
device makes) comes from one table, :data:`~wattguard.station.command_kinds.KINDS`, which also
checks the argument at issue time; :meth:`Station.exchange` is the one way to a meter, which
on-demand reads (:meth:`Station.read_now`, :mod:`~wattguard.station.ondemand`) take too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy.typing as npt

from wattguard.clock import Clock
from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.bus import EVENTS, Bus, decode_event
from wattguard.protocol import (
    OAD,
    Control,
    Data,
    LinkFrame,
    ServerAddress,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.get import GetRequestNormal
from wattguard.protocol.apdu.proxy import ProxyTransCommandRequest
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityRequest,
    VerificationKind,
)
from wattguard.protocol.objects import HPLC_PORT, HPLC_SERIAL
from wattguard.station.analysis import DISTRICT_CLASS
from wattguard.station.audit import StationAudit
from wattguard.station.balance import EnergyBalance
from wattguard.station.campaign_runner import CampaignRunner
from wattguard.station.campaigns import CAMPAIGN_KINDS
from wattguard.station.collector import Collector
from wattguard.station.command_kinds import KINDS, MeterContext, approval_reason, parse
from wattguard.station.commands import (
    TRIP_WINDOW,
    Command,
    CommandBook,
    CommandKind,
    CommandRefused,
    CommandState,
    Role,
    UnknownMeter,
    User,
)
from wattguard.station.freshness import AnswerFreshness
from wattguard.station.group_commit import GroupCommitConfig, IngestQueue
from wattguard.station.ingest import METER_TIME, PlainVerifier, Reading, Verifier
from wattguard.station.meter_reports import take_meter_report
from wattguard.station.monitor import SecurityMonitor
from wattguard.station.ondemand import OnDemandRead, ReadBook, RelayBook, opened, outcome_of
from wattguard.station.operations import OperationsMonitor
from wattguard.station.records import InvalidRecord
from wattguard.station.rule_book import RuleBook
from wattguard.station.rules import security_fact
from wattguard.station.storage import Storage
from wattguard.station.tariff_records import TariffRecords
from wattguard.station.users import UserDirectory
from wattguard.station.watch import COLLECTION_INTERVAL, ReportingWatch

if TYPE_CHECKING:  # the job imports the analytics (scikit-learn): only when a job runs
    from wattguard.station.charging import DistrictCharging

#: The label of the station's audit checkpoints in the cryptographic device's log.
AUDIT_LABEL = "station-audit"

__all__ = ["Station"]

log = logging.getLogger(__name__)


class CipherService(Verifier, Protocol):
    """The cryptographic device as the station uses it: in process
    (:class:`~wattguard.cipher.CryptoDevice`) or as its own service
    (:class:`~wattguard.runtime.cipher.CipherClient`)."""

    events: EventSink | None
    verified: int
    refused: int

    def register(self, address: bytes) -> None: ...

    def witness(self, label: str, sequence: int, head: bytes) -> None: ...

    def witnessed(self, label: str) -> tuple[int, bytes] | None: ...

    def protect(
        self,
        address: bytes,
        apdu: bytes,
        *,
        protection: Protection = ...,
        verification: VerificationKind = ...,
        operator: str = ...,
    ) -> SecurityRequest: ...

    def top_up(
        self, address: bytes, amount: int, operator: str = ..., *, refund: bool = ...
    ) -> Data: ...


@dataclass
class _Dispatch:
    command: Command
    waiting: int
    results: dict[str, str]


class Station:
    """The master station as one object: storage, security monitor, collector, command book and
    audit trail, with commands dispatched through the cryptographic device when there is one."""

    def __init__(
        self,
        storage: Storage,
        bus: Bus,
        clock: Clock,
        *,
        hsm: CipherService | None = None,
        approval_threshold: int = 10,
        trip_window: float = TRIP_WINDOW,
        district_threshold: int | None = None,
        extra_events: EventSink | None = None,
        collection_interval: float = COLLECTION_INTERVAL,
        freshness: AnswerFreshness | None = None,
        balance: bool = True,
        group_commit: GroupCommitConfig | None = None,
        vendor_key: sm2.PublicKey | None = None,
        vendor_id: str | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.hsm = hsm
        self.monitor = SecurityMonitor(storage, clock=clock.time)
        # operational events (over-current, voltage, alarms...): stored beside, not mixed in
        self.operations = OperationsMonitor(storage, clock.time)
        self.events: EventSink = self.monitor
        self.extra_events = extra_events
        if hsm is not None:
            hsm.events = self.monitor
        self.audit = StationAudit(storage, clock.time)
        # The solo trip budget counts per person and per district (the meters of a terminal)
        # over the window, from the commands restored below.
        self.commands = CommandBook(
            approval_threshold, events=self.monitor, audit=self.audit, trip_window=trip_window,
            district_threshold=district_threshold, district_of=self._district,
            kind_rule=approval_reason,
        )  # fmt: skip
        self.users = UserDirectory(storage, clock.time, audit=self.audit)
        self._witnessed: int | None = None
        self.commands.restore(storage.commands(limit=1_000_000))
        self.reads = ReadBook()  # on-demand reads (ondemand.py)
        self.relays = RelayBook()  # each meter's relay state as last learnt
        self.relays.restore(self.commands.commands.values())
        # each meter's own time-of-use table for the analyses, from the tariff commands it
        # confirmed, recorded at their switch-over (station.tariff_records)
        self.tariffs = TariffRecords(_tariff_recorder(storage))
        self.tariffs.restore(self.commands.commands.values())
        verifier: Verifier = hsm if hsm is not None else PlainVerifier()
        # group commit (station.group_commit): the runtime drives its timer (tick_ingest)
        self.ingest: IngestQueue | None = None
        if group_commit is not None:
            self.ingest = IngestQueue(
                storage, clock.monotonic, clock.time, after=self._committed, config=group_commit
            )
        self.collector = Collector(
            bus, clock, verifier, self._store, events=self.monitor,
            require_protection=hsm is not None, on_report=self._meter_report,
            freshness=freshness, on_meter=self._meter_seen, commits=self.ingest,
        )  # fmt: skip
        # Security events of components in other processes (FEPs) arrive on the bus.
        self._events_off = bus.subscribe(f"{EVENTS}.*", self._remote_event)
        self.terminal_of: dict[str, bytes] = dict(
            (meter, bytes.fromhex(terminal)) for meter, terminal in storage.meters()
        )
        # meters (and terminals' worth of meters) that stop reporting raise alerts
        self.watch = ReportingWatch(
            self.terminal_of, self.monitor, clock.time(), interval=collection_interval
        )
        self._moves_told: set[tuple[str, bytes]] = set()
        self.stored = 0
        self.received = 0
        #: The districts' orderly-charging jobs, by district, as whoever runs them registers
        #: them (runtime/charging_runtime.py); the API's /api/charging shows them.
        self.charging: dict[str, DistrictCharging] = {}
        self._dispatches: dict[int, _Dispatch] = {}
        self.on_readings: list[Callable[[list[Reading]], None]] = []
        # The districts' energy balance runs by default over every stored batch; a district
        # is checked once its total meter is registered (register_total_meter), as stored.
        self.balance: EnergyBalance | None = EnergyBalance(self.monitor) if balance else None
        self._total_of: dict[str, str] = storage.supply_meters()  # terminal -> total meter
        for terminal in self._total_of:
            self._district_changed(terminal)
        # Rules: conditions on readings, events, district load and time -> commands issued as
        # their owner, or alerts (station.rule_book); they hear every batch and event.
        self.rules = RuleBook(
            storage, clock.time, issue=self.issue, user_of=self.users.enabled,
            members=self._members, district_of=self._terminal_hex, supply=self._total_of,
            audit=self.audit, events=self.monitor,
        )  # fmt: skip
        self.monitor.on_event.append(lambda e: self.rules.observe_event(security_fact(e)))
        # firmware, key and certificate campaigns (station.campaign_runner), restored
        self.campaigns = CampaignRunner(self, vendor_key=vendor_key, vendor_id=vendor_id)
        # At every start: a TAMPER event if the trail does not hold. A cryptographic device
        # that cannot be reached now does not keep the station from starting.
        try:
            self.audit_broken_at = self.verify_audit()
        except ConfigError as exc:
            log.warning("station: the audit trail was not checked at start: %s", exc)
            self.audit_broken_at = None

    # readings

    def _store(self, readings: list[Reading]) -> None:
        """One report's readings, committed on their own (no group commit)."""
        self.stored += self.storage.add_readings(readings, received=self.clock.time())
        self._committed(readings)

    def _committed(self, readings: list[Reading]) -> None:
        """After a report's readings are durable: counts, the watch, the balance, hooks."""
        self.received += len(readings)
        if self.ingest is not None:
            self.stored = self.ingest.stats.new
        self._heard(readings)

    def _heard(self, readings: list[Reading]) -> None:
        """Stored readings reach the watch, the balance, the rules and the hooks."""
        self.watch.seen({reading.meter for reading in readings}, self.clock.time())
        if self.balance is not None:
            self.balance.on_readings(readings)
        self.rules.observe_readings(readings)
        for hook in self.on_readings:
            hook(readings)

    def _remote_event(self, subject: str, payload: bytes) -> None:
        # ``events.<service>``: on a sealed bus only that service can have signed it
        # (network/sealed_bus.py), so the stored event names the FEP it came from.
        origin = subject.partition(".")[2]
        try:
            event = decode_event(payload)
        except DecodeError as exc:
            log.warning("station: %s on %s", exc, subject)
            return
        if not event.source.startswith(origin):
            event = replace(event, source=f"{origin}: {event.source}"[:200])
        self.monitor.record(event)

    def close(self) -> None:
        """Stop listening on the bus, commit what group commit holds (the storage stays
        open)."""
        self.collector.close()
        if self.ingest is not None:
            self.ingest.flush()
        self._events_off()

    def _meter_report(self, meter: bytes, report: Structure, at: float) -> None:
        """A meter's own report of its events (station/meter_reports.py)."""
        take_meter_report(self, meter, report, at)

    def _members(self, terminal: str) -> tuple[str, ...]:
        """The meters registered behind ``terminal`` (hex)."""
        return tuple(sorted(m for m, t in self.terminal_of.items() if t.hex() == terminal))

    def _terminal_hex(self, meter: str) -> str | None:
        terminal = self.registered_terminal(meter)
        return None if terminal is None else terminal.hex()

    def _district(self, meter: str) -> str:
        """A meter's district: the terminal it is registered behind."""
        terminal = self.terminal_of.get(meter)
        return "unknown" if terminal is None else terminal.hex()

    def register_meter(self, meter: bytes, terminal: bytes) -> None:
        self.storage.register_meter(meter.hex(), terminal.hex(), self.clock.time())
        self.terminal_of[meter.hex()] = terminal
        if self.hsm is not None:
            self.hsm.register(meter)
        self._district_changed(terminal.hex())

    def register_total_meter(self, meter: bytes, terminal: bytes) -> None:
        """Register ``meter`` as the total (supply) meter at the transformer of ``terminal``'s
        district: from now on the energy balance checks the district (its customers: every
        other meter of the terminal, as they register) and the rules' district-load conditions
        read it. Stored (with the meter's class ``district``): a restarted station knows it."""
        now = self.clock.time()
        self.storage.set_supply_meter(terminal.hex(), meter.hex(), now)
        self.storage.register_meter(meter.hex(), terminal.hex(), now, DISTRICT_CLASS)
        self._total_of[terminal.hex()] = meter.hex()
        self.register_meter(meter, terminal)

    def supply_meter(self, terminal: str) -> str | None:
        """The supply meter registered for ``terminal``'s district (hex), or None."""
        return self._total_of.get(terminal)

    def _district_changed(self, terminal: str) -> None:
        total = self._total_of.get(terminal)
        if self.balance is None or total is None:
            return
        customers = [m for m, t in self.terminal_of.items() if t.hex() == terminal and m != total]
        if customers:
            self.balance.add_district(terminal, total, customers)

    def registered_terminal(self, meter: str) -> bytes | None:
        """The terminal ``meter`` (12 hex digits) is registered behind, as known or as an
        administrator registered it in storage since (``wattguard meters add``); None if it
        is not registered."""
        terminal = self.terminal_of.get(meter)
        if terminal is None:
            try:
                record = self.storage.meter(meter)
            except InvalidRecord:
                return None
            if record is not None:
                terminal = self.terminal_of[meter] = bytes.fromhex(record.terminal)
        return terminal

    def _meter_seen(self, meter: bytes, terminal: bytes, at: float) -> None:
        """A verified answer of ``meter`` came on ``terminal``'s link. A meter seen for the
        first time is registered behind that terminal (trust on first use: the terminal is
        the one whose certificate the FEP checked, and the meter's MAC was verified). A
        registered meter answering through another terminal stays where it is registered:
        the move is a MOVED security event (once per meter and terminal) until an
        administrator confirms it (``wattguard meters add ADDRESS --terminal ...``)."""
        address = meter.hex()
        known = self.registered_terminal(address)
        if known == terminal:
            return
        if known is None:
            self.register_meter(meter, terminal)
            log.info("station: meter %s learnt behind terminal %s", address, terminal.hex())
            return
        record = self.storage.meter(address)  # an administrator may have moved it since
        if record is not None and record.terminal == terminal.hex():
            self.terminal_of[address] = terminal
            return
        if (address, terminal) in self._moves_told:
            return
        self._moves_told.add((address, terminal))
        detail = (
            f"answered through terminal {terminal.hex()} but is registered behind "
            f"{known.hex()}; kept there until an administrator moves it "
            f"(wattguard meters add {address} --terminal {terminal.hex()})"
        )
        self.monitor.record(SecurityEvent(EventKind.MOVED, f"meter {address}", detail, at))

    # commands

    def issue(
        self,
        user: User,
        kind: CommandKind,
        meters: tuple[str, ...],
        argument: str = "",
        *,
        campaign: bool = False,
    ) -> Command:
        if kind in CAMPAIGN_KINDS and not campaign:
            raise CommandRefused(f"a {kind.value} runs as a campaign: /api/campaigns")
        unknown = tuple(m for m in meters if self.registered_terminal(m) is None)
        if unknown:
            raise UnknownMeter(unknown)
        if not argument.isprintable():  # e.g. a lone surrogate: it could never be stored
            raise CommandRefused("a command's argument must be printable text")
        parse(kind, argument)  # BadArgument (400) says what is wrong, before anything is stored
        command = self.commands.issue(user, kind, meters, self.clock.time(), argument)
        self.storage.save_command(command)
        if command.state == CommandState.APPROVED:
            self.dispatch(command.id)
        return self.commands.get(command.id)

    def approve(self, user: User, command_id: int) -> Command:
        command = self.commands.approve(user, command_id, self.clock.time())
        self.storage.save_command(command)
        if command.kind in CAMPAIGN_KINDS:  # it starts when a supervisor starts it
            self.campaigns.decided(command)
            return command
        self.dispatch(command_id)
        return self.commands.get(command_id)

    def reject(self, user: User, command_id: int) -> Command:
        command = self.commands.reject(user, command_id, self.clock.time())
        self.storage.save_command(command)
        self.campaigns.decided(command)
        return command

    def dispatch(self, command_id: int) -> None:
        command = self.commands.get(command_id)
        spec = KINDS.get(command.kind)
        if spec is None or spec.build is None:
            raise CommandRefused(f"{command.kind.value} is not dispatched by this station yet")
        value = spec.check(command.argument)
        sent = self.commands.sent(command_id, self.clock.time())
        self.storage.save_command(sent)
        pending = _Dispatch(sent, len(sent.meters), {})
        self._dispatches[command_id] = pending
        context = MeterContext(self.clock.time(), self._wallet(sent.issued_by))
        for address in sent.meters:
            if sent.kind == CommandKind.TIME_SYNC:  # the drift before, for the clock report
                self._read(address, METER_TIME, sent.issued_by)
            try:
                request = spec.request(value, bytes.fromhex(address), context)
            except CommandRefused as refused:
                self._answered(pending, address, refused.reason)
                continue
            self.exchange(address, request, sent.issued_by, self._outcome(pending, address))

    def _outcome(self, pending: _Dispatch, address: str) -> Callable[[Structure | str], None]:
        return lambda answer: self._answered(pending, address, outcome_of(answer))

    def _wallet(self, operator: str) -> Callable[[bytes, int, bool], Data] | None:
        """The cryptographic device's F100 method 6 parameter maker (None without one)."""
        hsm = self.hsm
        if hsm is None:
            return None
        return lambda meter, amount, refund: hsm.top_up(meter, amount, operator, refund=refund)

    def _answered(self, pending: _Dispatch, address: str, outcome: str) -> None:
        pending.results[address] = outcome
        pending.waiting -= 1
        if outcome == "ok":
            self.relays.command_done(pending.command.kind, address, pending.command.id)
            self.tariffs.confirmed(pending.command, address)
        if pending.waiting == 0:
            done = self.commands.finished(pending.command.id, pending.results, self.clock.time())
            self.storage.save_command(done)
            self._dispatches.pop(pending.command.id, None)

    def exchange(
        self, address: str, inner: Structure, operator: str,
        answered: Callable[[Structure | str], None],
    ) -> None:  # fmt: skip
        """Send ``inner`` (a request APDU) to meter ``address``: protected by the cryptographic
        device (ciphertext + SID_MAC) when there is one, in a PROXY TransCommand through the
        meter's terminal; ``answered`` hears the opened answer APDU, or why there is none."""
        meter = bytes.fromhex(address)
        apdu: Structure = inner
        if self.hsm is not None:
            apdu = self.hsm.protect(
                meter, inner.to_bytes(), protection=Protection.CIPHERTEXT, operator=operator
            )
        frame = LinkFrame(
            Control(from_server=False, client_started=True), ServerAddress(meter), 0x10,
            apdu.to_bytes(),
        ).to_bytes()  # fmt: skip
        request = apdu
        self.collector.request(
            self.terminal_of[address],
            lambda piid: ProxyTransCommandRequest(piid, HPLC_PORT, HPLC_SERIAL, 30, 1, frame),
            lambda answer: answered(opened(self.hsm, meter, request, answer)),
        )

    def read_now(self, user: User, meter: str, oad: OAD) -> OnDemandRead:
        """Read ``oad`` of ``meter`` now, through its terminal (not from the store): the read,
        pending until the answer comes (:attr:`reads`). Operator role or above; audited."""
        if self.registered_terminal(meter) is None:
            raise UnknownMeter((meter,))
        if user.role < Role.OPERATOR:
            self.commands.refuse(
                user, "an on-demand read needs the operator role", self.clock.time()
            )
        return self._read(meter, oad, user.name)

    def _read(self, meter: str, oad: OAD, operator: str) -> OnDemandRead:
        read = self.reads.start(meter, oad, operator, self.clock.time())
        self.audit("read", f"#{read.id} {oad} of meter {meter} by {operator}")

        def answered(answer: Structure | str) -> None:
            done = self.reads.finish(read.id, answer, self.clock.time())
            self.relays.learn(done)

        self.exchange(meter, GetRequestNormal(1, oad), operator, answered)
        return read

    def tick_ingest(self) -> float | None:
        """Commit the group commit's batch if it is due; when to call again (monotonic
        seconds; None: nothing waits). The runtime calls it every few milliseconds."""
        if self.ingest is None:
            return None
        self.ingest.handle_timer(self.clock.monotonic())
        return self.ingest.get_timer()

    def tick(self) -> None:
        self.tick_ingest()
        self.collector.tick()
        self.watch.check(self.clock.time())
        self.monitor.tick(self.clock.time())
        self.operations.tick()
        self.rules.tick()
        self.campaigns.tick()
        self.tariffs.tick(self.clock.time())
        self._witness_audit()

    # the audit trail's witness

    def _witness_audit(self) -> None:
        """Give the cryptographic device the audit trail's newest checkpoint (when it moved):
        someone who can write the database can rewrite the trail and recompute its hashes,
        but cannot reach the device's own log."""
        last = self.audit.last
        if self.hsm is None or last is None or last.seq == self._witnessed:
            return
        try:
            self.hsm.witness(AUDIT_LABEL, last.seq, bytes.fromhex(last.hash))
        except ConfigError as exc:  # the device is unreachable: try again at the next tick
            log.warning("station: the audit checkpoint could not be witnessed: %s", exc)
            return
        self._witnessed = last.seq

    def verify_audit(self) -> int | None:
        """Check the audit trail, against the checkpoint the cryptographic device witnessed
        when there is one; the index of the first entry that does not fit (a TAMPER event),
        or None."""
        return self.check_audit()[0]

    def check_audit(self) -> tuple[int | None, tuple[int, bytes] | None]:
        """:meth:`verify_audit`'s answer, and the checkpoint it was checked against (one
        call to the cryptographic device)."""
        checkpoint = None if self.hsm is None else self.hsm.witnessed(AUDIT_LABEL)
        broken = self.audit.verify(checkpoint)
        if broken is not None:
            witnessed = "" if checkpoint is None else f" (witnessed up to entry {checkpoint[0]})"
            self.monitor.record(
                SecurityEvent(
                    EventKind.TAMPER, "station/audit",
                    f"the audit trail does not hold from entry {broken}{witnessed}: "
                    "edited, cut short or rewritten",
                    self.clock.time(),
                )
            )  # fmt: skip
        return broken, checkpoint


def _tariff_recorder(storage: Storage) -> Callable[[str, npt.ArrayLike], None] | None:
    """Where confirmed tariff tables go: the analyses' table of the meters' own tariffs (SQL
    storage only; without it the analyses use the station's default table)."""
    from wattguard.station.analysis_store import AnalysisStore

    try:
        return AnalysisStore(storage).set_tariff
    except ConfigError:
        return None
