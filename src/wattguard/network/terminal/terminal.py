"""The collection terminal (concentrator): reads its meters over HPLC, keeps what it read until
the station has it, and relays the station's commands and the meters' reports.

Theory of operation. A terminal faces two ways.

*Down*, towards its meters over the :class:`~wattguard.network.hplc.HplcChannel`: a
:class:`~wattguard.protocol.ClientConnection` per meter being read, with at most one
request in flight per meter and at most ``polling_slots`` meters read at once, the others
waiting their turn (:mod:`.lines`, :class:`~.lines.Polling`). Requests come from the
collection tasks (:mod:`.tasks`: fixed ones given at construction, and those the station
configures in the 6012/6014 tables, :mod:`.scheme`) and from the station's PROXY requests
(:mod:`.proxy`). A :class:`~.tasks.CollectionTask` reads either a list of attributes
(real-time values) or a record object (minute-freeze curves, daily freezes, events) with
selector 2 over the window since the last read that succeeded. A read that times out leaves
the window where it was, so the next run catches up on everything missed (in slices of
``max_records``).

Reads can be protected: ``protect`` wraps each request (for example in a SECURITY-Request,
plaintext + RN, so the meter answers with a MAC under its own key). The terminal never checks
that MAC and cannot forge it: it forwards the request and the meter's answer exactly as they
travelled, and the station's cryptographic device verifies them. The terminal is therefore
not trusted with the integrity of readings.

*Up*, towards the front-end processor: a :class:`~wattguard.protocol.ServerConnection` with
login and heartbeat. While a transport is up the link is never left without a timer: a login
has its deadline, an online link its heartbeat, and an offline one (the login refused or
unanswered, the heartbeats unanswered) logs in again, at once the first time and then with
a back-off (``_relogin_delay``). What the terminal collected waits in the
:class:`~.outbox.Outbox` (store-and-forward) and goes up as REPORT-Notification-TransData
batches once the link is online; the station's PROXY requests are answered by the
:class:`~.proxy.ProxyRelay`.

Everything is sans-IO, in the shape of :class:`wattguard.sansio.Core` with the station side
as the primary port: ``receive_data(data, now)`` takes the station's bytes (``b""``: the
transport dropped, and every unacknowledged batch goes back to the outbox),
``data_to_send()`` gives the bytes for the station, ``get_timer()`` / ``handle_timer(now)``
run the timers of both sides, and ``next_event()`` says when the link comes up or goes down.
:meth:`Terminal.connected` starts a login once a transport is up. The power line is a named
port: bytes in with :meth:`Terminal.receive_hplc`, out through the HPLC channel. The
terminal's ``now`` is POSIX seconds: its clock is its calendar.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from wattguard.errors import LocalProtocolError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.hplc import Direction, HplcChannel, LinkProfile
from wattguard.network.terminal.lines import (
    POLLING_SLOTS,
    Answer,
    Job,
    LineTimers,
    MeterLine,
    Polling,
    TaskMarks,
)
from wattguard.network.terminal.link_events import (
    Offline,
    Online,
    TerminalEvent,
    posix,
    relogin_delay,
)
from wattguard.network.terminal.outbox import Outbox
from wattguard.network.terminal.proxy import ProxyRelay
from wattguard.network.terminal.scheme import SchemeTable
from wattguard.network.terminal.tasks import (
    SETTLE,
    Collected,
    CollectionTask,
    Requests,
    floor,
    window,
)
from wattguard.protocol import (
    OMD,
    Data,
    IncomingRequest,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
    ServerAddress,
    ServerConnection,
)
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.report import ReportNotificationTransData, ReportResponseTransData
from wattguard.protocol.state import Link
from wattguard.protocol.stream import FrameDecoder

__all__ = ["Offline", "Online", "RequestWrapper", "Terminal", "TerminalEvent"]

log = logging.getLogger(__name__)

#: ``protect(meter address, request)``: the request as it goes to the meter.
RequestWrapper = Callable[[bytes, Structure], Structure]


class Terminal:
    """A collection terminal at ``address`` over ``channel`` (see the module docstring).

    ``tasks`` run against every meter of the archive (:meth:`add_meter`); ``protect`` wraps
    their requests; ``events`` records security events. ``heartbeat`` and
    ``upstream_timeout`` are the station link's, ``meter_timeout`` each meter request's;
    ``batch_items``, ``window`` and ``outbox_limit`` size the outbox, and ``report_hold`` is
    how long it gathers items into a batch that is not full (0: no gathering;
    :class:`~.outbox.Outbox`). ``start`` is when the tasks first run. ``polling_slots`` is
    how many meters it reads at once (:data:`~.lines.POLLING_SLOTS`).
    """

    def __init__(
        self,
        address: bytes,
        channel: HplcChannel,
        *,
        tasks: tuple[CollectionTask, ...] = (),
        protect: RequestWrapper | None = None,
        events: EventSink | None = None,
        heartbeat: float = 300.0,
        meter_timeout: float = 10.0,
        upstream_timeout: float = 30.0,
        batch_items: int = 8,
        window: int = 4,
        outbox_limit: int = 2_000_000,
        report_hold: float = 0.0,
        start: float = 0.0,
        polling_slots: int = POLLING_SLOTS,
    ) -> None:
        if len(address) != 6:
            raise ValueError("a terminal address is 6 bytes (12 BCD digits)")
        self.address = address
        self.name = f"terminal {address.hex()}"
        self.channel = channel
        self.tasks = tasks
        self.protect = protect
        self.events = events
        self.heartbeat = heartbeat
        self.meter_timeout = meter_timeout
        self.upstream_timeout = upstream_timeout
        self.start = start
        self.meters: dict[bytes, MeterLine] = {}
        self.outbox = Outbox(
            self.name, batch_items=batch_items, window=window, limit=outbox_limit,
            hold=report_hold,
        )  # fmt: skip
        self.fixed_tasks = tasks
        self.schemes = SchemeTable()
        self.relay = ProxyRelay(
            address, self.meters, self._enqueue, self._respond, self._respond_later, self._record,
            configure=self._configure, table=self.schemes.attribute,
        )  # fmt: skip
        self._now = start
        self.upstream = self._new_upstream()
        self._connected = False
        self._was_online = False
        self._login_due: float | None = None  # when to log in again (the link is OFFLINE)
        self._failures = 0  # link drops and logins without coming online, in a row
        self._events: deque[TerminalEvent] = deque()
        self._marks = TaskMarks()
        self._line_timers = LineTimers(self.meters, self._marks, start)
        self._polling = Polling(polling_slots)
        self._turning = False
        self._requests = Requests()

    # archive

    def add_meter(self, address: bytes, profile: LinkProfile | None = None) -> None:
        """Add a meter to the archive (and to the HPLC network)."""
        if len(address) != 6:
            raise ValueError("a meter address is 6 bytes (12 BCD digits)")
        if (old := self.meters.get(address)) is not None:
            self._marks.remove(old.row)  # added again: a fresh line
        line = MeterLine(address, self.meter_timeout, self._marks.add())
        for task in self.tasks:
            self._marks.set_since(task.name, line.row, floor(self.start, task.interval))
            self._marks.set_next_run(task.name, line.row, self.start)
        self.meters[address] = line
        self._line_timers.touch(address)
        self.channel.attach(address, profile)

    def remove_meter(self, address: bytes) -> None:
        """Take a meter out of the archive (and off the HPLC network)."""
        line = self.meters.pop(address, None)
        if line is not None:
            self._marks.remove(line.row)
        self._line_timers.touch(address)
        self.channel.detach(address)
        self._polling.forget(address)
        self._next_turn(self._now)

    def add_task(self, task: CollectionTask) -> None:
        """Run ``task`` from now on, beside the fixed ones (a task of the same name is
        replaced): what a deployment adds once it knows, say, which meters have a pile."""
        self.fixed_tasks = (*(t for t in self.fixed_tasks if t.name != task.name), task)
        self.tasks = (*(t for t in self.tasks if t.name != task.name), task)

    def _configure(self, omd: OMD, value: Data, now: float) -> DAR:
        """The station's ACTION on 6012/6014: the tasks in force become the fixed ones plus
        those of the tables (:mod:`.scheme`)."""
        dar = self.schemes.action(omd, value)
        if dar == DAR.SUCCESS:
            self.tasks = self.fixed_tasks + self.schemes.tasks(now)
            log.info("%s: collection tasks now %s", self.name, [t.name for t in self.tasks])
        return dar

    # the station's side: the primary port

    def connected(self, now: float) -> None:
        """The transport to the front-end processor is up: log in."""
        self._now = now
        self.upstream = self._new_upstream()
        self._connected = True
        self._login_due, self._failures = None, 0
        self.upstream.login(now)

    @property
    def online(self) -> bool:
        """Whether the station accepted the login (and the link has not dropped since)."""
        return self._connected and self.upstream.link == Link.ONLINE

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the station; ``b""``: the transport dropped, and every unacknowledged
        batch goes back to the outbox."""
        self._now = now
        # A request the station sends on to a meter touches that meter's line as it is queued
        # (_enqueue) and new tasks are seen by the line timers themselves: an acknowledgement
        # (most of what comes down) changes no line, so no line's timer is worked out again.
        if not data:
            self._connected = False
            self._login_due = None
            self.outbox.requeue(now)
            self.upstream = self._new_upstream()
            self._note_link(now)
            return
        self.upstream.receive_data(data, now)
        self._drain_upstream(now)

    def next_event(self) -> TerminalEvent | None:
        """The next :data:`TerminalEvent`, or None."""
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        """The bytes for the station (cleared once taken)."""
        return self.upstream.data_to_send()

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must next run (None: nothing is scheduled)."""
        times: list[float] = []
        if (first := self._line_timers.earliest(self.tasks)) is not None:
            times.append(first)
        if self._connected and (timer := self.upstream.get_timer()) is not None:
            times.append(timer)
        if self._connected and self._login_due is not None:
            times.append(self._login_due)
        if self.online and (due := self.outbox.due()) is not None:
            times.append(due)
        return min(times, default=None)

    def handle_timer(self, now: float) -> None:
        """Run what is due: meter timeouts, collection tasks, the upstream link's timers, and
        sending the outbox."""
        self._now = now
        for line in self._line_timers.due(self.tasks, now):
            busy = line.busy
            if busy is not None and busy.raw_decoder is not None and busy.deadline <= now:
                self._finish(line, None, now)
            timer = line.connection_timer()
            if timer is not None and timer <= now:
                line.connection.handle_timer(now)
                self._drain_meter(line, now)
            self._poll(line, now)
            line.release()
        if self._connected:
            moved = False  # the link's state changes only by its timers or a login
            timer = self.upstream.get_timer()
            if timer is not None and timer <= now:
                self.upstream.handle_timer(now)
                self._watch_link(now)
                moved = True
            if self._login_due is not None and self._login_due <= now:
                self._login_due = None
                self.upstream.login(now)
                moved = True
            if moved:
                self._drain_upstream(now)
            else:
                self._send_up(now)  # what the collection queued since

    def _watch_link(self, now: float) -> None:
        """Give an OFFLINE link its exit: a login, now or after the back-off."""
        link = self.upstream.link
        if link == Link.ONLINE:
            self._failures = 0
        elif link == Link.OFFLINE and self._connected and self._login_due is None:
            self.outbox.requeue(now)
            self._note_link(now)
            self._failures += 1
            delay = relogin_delay(self._failures, self.upstream_timeout, self.heartbeat)
            self._login_due = now + delay

    def _drain_upstream(self, now: float) -> None:
        while (event := self.upstream.next_event()) is not None:
            if isinstance(event, Response) and isinstance(event.response, ReportResponseTransData):
                self.outbox.acknowledged(event.response.piid, now)
            elif isinstance(event, RequestTimedOut):
                if isinstance(event.request, ReportNotificationTransData):
                    self.outbox.unanswered(event.request.piid, now)
            elif isinstance(event, IncomingRequest):
                self.relay.serve(event, now)
            elif isinstance(event, ProtocolViolation):
                self._record(EventKind.MALFORMED, f"from the station side: {event.error}", now)
            elif isinstance(event, LinkEvent):
                log.debug("%s: %s", self.name, type(event.apdu).__name__)
        self._watch_link(now)
        self._note_link(now)
        self._send_up(now)

    def _send_up(self, now: float) -> None:
        if not self.online:
            return
        while (report := self.outbox.next_report(now)) is not None:
            self.upstream.notify(report, now)

    def _note_link(self, now: float) -> None:
        online = self.online
        if online != self._was_online:
            self._was_online = online
            self._events.append(Online(now) if online else Offline(now))

    def _respond(self, request: IncomingRequest, apdu: Structure) -> None:
        self.upstream.respond(request, apdu)

    def _respond_later(self, request: IncomingRequest, apdu: Structure) -> None:
        self.upstream.respond(request, apdu)
        self._send_up(self._now)

    # the meters' side: the power-line port

    def receive_hplc(self, address: bytes, data: bytes, now: float) -> None:
        """Bytes a meter sent up the power line."""
        self._now = now
        self._line_timers.touch(address)
        line = self.meters.get(address)
        if line is None:
            self._record(EventKind.UNAUTHORISED, f"frame from unknown meter {address.hex()}", now)
            return
        if line.busy is not None and (decoder := line.busy.raw_decoder) is not None:
            decoder.receive_data(data)
            for frame in decoder.frames():
                if frame.control.from_server and not frame.control.client_started:
                    # the meter's own report, not the answer: collected as any report is
                    line.connection.receive_data(frame.to_bytes(), now)
                    self._drain_meter(line, now)
                    continue
                self._finish(line, frame.to_bytes(), now)
                break
            return
        line.connection.receive_data(data, now)
        self._drain_meter(line, now)

    def _drain_meter(self, line: MeterLine, now: float) -> None:
        connection = line.connection  # the line may let it go on the way (_settle)
        while (event := connection.next_event()) is not None:
            if isinstance(event, Response):
                if line.busy is not None:
                    line.busy.answered = event.raw
                self._finish(line, event.response, now)
            elif isinstance(event, RequestTimedOut):
                self._finish(line, None, now)
            elif isinstance(event, Notification):
                self.outbox.queue(Collected(line.address, now, b"", event.apdu.to_bytes()), now)
            elif isinstance(event, ProtocolViolation):
                self._record(
                    EventKind.MALFORMED, f"from meter {line.address.hex()}: {event.error}", now
                )
        if out := connection.data_to_send():
            self.channel.send(Direction.DOWN, line.address, out, now)
        line.release()  # drained and sent: an idle line gives its connection back

    def _send_down(self, line: MeterLine, now: float) -> None:
        out = line.connection.data_to_send()
        if out:
            self.channel.send(Direction.DOWN, line.address, out, now)

    def _enqueue(self, line: MeterLine, job: Job, now: float) -> None:
        self._line_timers.touch(line.address)
        line.push(job)
        if self._polling.take(line):
            self._dispatch(line, now)
        else:
            self._polling.wait(line, first=True)  # the station's request goes before the tasks

    def _poll(self, line: MeterLine, now: float) -> None:
        """Run ``line``'s due tasks and send its next request if it holds a polling slot or
        one is free; otherwise, if it has something to do, it waits its turn."""
        if not self._polling.take(line):
            if line.jobs or self._marks.due(line, self.tasks, now):
                self._polling.wait(line)
            return
        self._schedule(line, now)
        self._dispatch(line, now)
        self._settle(line, now)

    def _settle(self, line: MeterLine, now: float) -> None:
        """Give ``line``'s slot back once it is idle, and the next waiting line its turn."""
        if self._polling.give_back(line):
            line.release()
            self._next_turn(now)

    def _next_turn(self, now: float) -> None:
        if self._turning:
            return  # the loop below is running further up the stack
        self._turning = True
        try:
            while (line := self._polling.next_waiting()) is not None:
                if self.meters.get(line.address) is line:
                    self._line_timers.touch(line.address)
                    self._poll(line, now)
        finally:
            self._turning = False

    def _dispatch(self, line: MeterLine, now: float) -> None:
        while line.busy is None and (job := line.pop()) is not None:
            self._send_job(line, job, now)

    def _send_job(self, line: MeterLine, job: Job, now: float) -> None:
        line.busy = job
        job.deadline = now + self.meter_timeout
        job.sent_at = now
        if job.apdu is None:
            job.raw_decoder = FrameDecoder()
            self.channel.send(Direction.DOWN, line.address, job.raw, now)
            return
        try:
            line.connection.send_request(job.apdu, now, job.encoded)
        except LocalProtocolError as exc:
            log.warning("%s: request to %s not sent: %s", self.name, line.address.hex(), exc)
            line.busy = None
            job.finish(None)
            return
        self._send_down(line, now)

    def _finish(self, line: MeterLine, answer: Answer, now: float) -> None:
        job, line.busy = line.busy, None
        if job is not None:
            job.raw_decoder = None
            job.finish(answer)
        self._dispatch(line, now)
        self._settle(line, now)

    # collection tasks

    def _schedule(self, line: MeterLine, now: float) -> None:
        marks, row = self._marks, line.row
        for task in self.tasks:
            if not task.covers(line.address):
                continue
            # a task added after the meter was archived starts now, from its boundary
            since = marks.since(task.name, row)
            if since is None:
                since = floor(now, task.interval)
                marks.set_since(task.name, row, since)
            run = marks.next_run(task.name, row)
            if run is not None and run > now:
                continue
            marks.set_next_run(task.name, row, now + task.period)
            if line.queued(task.name):
                continue  # the previous run has not even started: do not pile up
            reach = window(task, since, now)
            if reach is None:
                continue
            until, resume = reach
            request = self._requests.get(task, line.next_piid(), since, until)
            if self.protect is not None:
                request = self.protect(line.address, request)
            line.push(self._task_job(line, task, request, resume))

    def _task_job(
        self, line: MeterLine, task: CollectionTask, request: Structure, resume: float
    ) -> Job:
        sent = request.to_bytes()

        def done(answer: Answer) -> None:
            if not isinstance(answer, Structure):
                return  # not read: the window stays, the next run catches up
            if self.meters.get(line.address) is not line:
                return  # the meter left the archive (its row may be another's now)
            self._marks.set_since(task.name, line.row, resume)
            newest = floor(self._now - SETTLE, task.interval)
            if task.record is not None and resume <= newest:
                self._marks.set_next_run(task.name, line.row, self._now)  # more to catch up on
            answered = job.answered or answer.to_bytes()
            self.outbox.queue(Collected(line.address, job.sent_at, sent, answered), self._now)

        job = Job(request, done, task=task.name, encoded=sent)
        return job

    # helpers

    def _new_upstream(self) -> ServerConnection:
        return ServerConnection(
            ServerAddress(self.address),
            timeout=self.upstream_timeout,
            calendar=posix,
            heartbeat=self.heartbeat,
        )

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s", self.name, detail)
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.name, detail, now))
