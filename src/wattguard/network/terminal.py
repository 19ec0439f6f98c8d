"""The collection terminal (concentrator): reads its meters over HPLC, keeps what it read until
the station has it, and relays the station's commands and the meters' reports.

Theory of operation. A terminal faces two ways.

*Down*, towards its meters over the :class:`~wattguard.network.hplc.HplcChannel`: one
:class:`~wattguard.protocol.ClientConnection` per meter of its archive, with at most one
request in flight per meter (HPLC is half-duplex and slow; a real CCO polls each meter in
turn). Requests come from the collection tasks and from the station's PROXY requests. A
:class:`CollectionTask` reads either a list of attributes (real-time values) or a record
object (minute-freeze curves, daily freezes, events) with selector 2 over the window since
the last read that succeeded. A read that times out leaves the window where it was, so the
next run catches up on everything missed (in slices of ``max_records``).

Reads can be protected: ``protect`` wraps each request (for example in a SECURITY-Request,
plaintext + RN, so the meter answers with a MAC under its own key). The terminal never checks
that MAC and cannot forge it: it forwards the request and the meter's answer exactly as they
travelled, and the station's cryptographic device verifies them. The terminal is therefore
not trusted with the integrity of readings.

*Up*, towards the front-end processor: a :class:`~wattguard.protocol.ServerConnection` with
login and heartbeat. What the terminal collected waits in the outbox (store-and-forward) and
goes up as REPORT-Notification-TransData batches once the link is online; a batch leaves the
outbox only when the station acknowledges it, and goes back to the front when the
acknowledgement times out or the link drops. The same reading may therefore reach the station
twice (a lost acknowledgement); the station stores each reading once (its key is the meter,
the object and the freeze time). Each item of a batch is one octet-string:
``meter address (6) | time (4, POSIX seconds, big-endian) | request length (2) | request APDU
| response APDU``; a meter's own report has an empty request (docs/network.md).

From the station the terminal serves PROXY-Request GET-List, ACTION-List and
TransCommand (a whole frame forwarded to the meter it addresses, its answer returned as the
meter sent it: how the station's end-to-end protected commands reach a meter), and GET of its
own address (4001). Anything else gets an ERROR-Response.

Everything is sans-IO: bytes in with ``receive_hplc`` and ``receive_upstream``, bytes out to
the channel and in :meth:`Terminal.upstream_output`, timers through :meth:`Terminal.step`.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattguard.errors import DecodeError, LocalProtocolError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.hplc import Direction, HplcChannel, LinkProfile
from wattguard.protocol import OAD, Data, DataType, ServerAddress, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionRequestList, ActionResponseNormalList
from wattguard.protocol.apdu.common import DAR, AResultNormal
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.get import (
    GetRecord,
    GetRequestNormal,
    GetRequestNormalList,
    GetRequestRecord,
    GetResponseNormal,
    GetResponseNormalList,
)
from wattguard.protocol.apdu.proxy import (
    ProxyActionAnswer,
    ProxyActionRequestList,
    ProxyActionResponseList,
    ProxyActionResult,
    ProxyGetAnswer,
    ProxyGetRequestList,
    ProxyGetResponseList,
    ProxyTransCommandRequest,
    ProxyTransCommandResponse,
)
from wattguard.protocol.apdu.report import ReportNotificationTransData, ReportResponseTransData
from wattguard.protocol.connection import (
    ClientConnection,
    IncomingRequest,
    LinkEvent,
    Notification,
    ProtocolViolation,
    RequestTimedOut,
    Response,
    ServerConnection,
)
from wattguard.protocol.data import CSD, RCSD, RSD
from wattguard.protocol.objects import HPLC_PORT
from wattguard.protocol.state import Link
from wattguard.protocol.stream import FrameDecoder
from wattguard.protocol.values import TI, DateTimeS

__all__ = [
    "HPLC_PORT",
    "Collected",
    "CollectionTask",
    "Terminal",
    "decode_item",
    "encode_item",
]

log = logging.getLogger(__name__)

#: Seconds after a freeze boundary by which every meter has frozen it: a record task reads a
#: boundary's records only once this long has passed, so it never reads a window before the
#: meter has filled it (and then skips it for good).
SETTLE = 60.0
#: The freeze-time column of every freeze record (2021: data freeze time).
FREEZE_TIME = OAD(0x2021, 2, 0)

RequestWrapper = Callable[[bytes, Structure], Structure]
_ITEM_HEAD = struct.Struct(">6sIH")


@dataclass(frozen=True, slots=True)
class CollectionTask:
    """What to read from every meter, and how often.

    With ``record`` unset it reads ``oads`` (real-time values, GET-Request-NormalList).
    With ``record`` set (e.g. ``OAD(0x5002, 2, 0)``, the minute freeze) it reads the records
    whose freeze time falls in ``[since, until)``, ``interval`` seconds apart, with columns
    ``oads`` (all columns when empty), at most ``max_records`` per read.
    """

    name: str
    period: float
    oads: tuple[OAD, ...] = ()
    record: OAD | None = None
    interval: float = 60.0
    max_records: int = 60

    def __post_init__(self) -> None:
        if self.period <= 0 or self.interval <= 0 or self.max_records < 1:
            raise ValueError(f"task {self.name}: period, interval and max_records must be > 0")
        if self.record is None and not self.oads:
            raise ValueError(f"task {self.name}: a real-time task needs attributes to read")

    def request(self, piid: int, since: float, until: float) -> Structure:
        if self.record is None:
            return GetRequestNormalList(piid, self.oads)
        columns = RCSD(tuple(CSD(oad) for oad in self.oads))
        rsd = RSD(2, (FREEZE_TIME, _date_time_s(since), _date_time_s(until), _ti(self.interval)))
        return GetRequestRecord(piid, GetRecord(self.record, rsd, columns))


@dataclass(frozen=True, slots=True)
class Collected:
    """One exchange with a meter, as it travelled: what the station verifies and stores.
    ``at`` is when the request went out (for a report: when it arrived)."""

    meter: bytes
    at: float
    request: bytes  # empty for a report the meter sent on its own
    response: bytes


def encode_item(item: Collected) -> bytes:
    return (
        _ITEM_HEAD.pack(item.meter, int(item.at) & 0xFFFFFFFF, len(item.request))
        + item.request
        + item.response
    )


def decode_item(data: bytes) -> Collected:
    """The inverse of :func:`encode_item`; raises DecodeError on a malformed item."""
    if len(data) < _ITEM_HEAD.size:
        raise DecodeError("a collected item is shorter than its header", offset=0)
    meter, at, length = _ITEM_HEAD.unpack_from(data)
    end = _ITEM_HEAD.size + length
    if end > len(data):
        raise DecodeError("a collected item's request runs past its end", offset=_ITEM_HEAD.size)
    return Collected(meter, float(at), data[_ITEM_HEAD.size : end], data[end:])


@dataclass
class _Job:
    """One request to one meter."""

    apdu: Structure | None  # None: a raw frame (transparent forwarding)
    done: Callable[[Structure | bytes | None], None]
    raw: bytes = b""
    deadline: float = 0.0
    task: str | None = None
    sent_at: float = 0.0


@dataclass
class _MeterLine:
    address: bytes
    connection: ClientConnection
    jobs: deque[_Job] = field(default_factory=deque)
    busy: _Job | None = None
    raw_decoder: FrameDecoder | None = None
    piid: int = 0
    since: dict[str, float] = field(default_factory=dict)
    next_run: dict[str, float] = field(default_factory=dict)
    failures: int = 0

    def next_piid(self) -> int:
        self.piid = (self.piid + 1) % 64
        return self.piid


class _Proxy:
    """One PROXY request from the station, waiting for its meters' answers."""

    def __init__(self, request: IncomingRequest, targets: int) -> None:
        self.request = request
        self.answers: list[Any] = [None] * targets
        self.waiting = targets


def _posix(now: float) -> float:
    """The terminal's calendar is its clock: its ``now`` is POSIX seconds already."""
    return now


class Terminal:
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
        start: float = 0.0,
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
        self.batch_items = batch_items
        self.window = window
        self.outbox_limit = outbox_limit
        self.start = start
        self.meters: dict[bytes, _MeterLine] = {}
        self.outbox: deque[Collected] = deque()
        self.dropped = 0
        self.sent_batches = 0
        self._in_flight: dict[int, tuple[Collected, ...]] = {}
        self._now = start
        self._report_piid = 0
        self.upstream = self._new_upstream()
        self._connected = False

    # archive

    def add_meter(self, address: bytes, profile: LinkProfile | None = None) -> None:
        """Add a meter to the archive (and to the HPLC network)."""
        if len(address) != 6:
            raise ValueError("a meter address is 6 bytes (12 BCD digits)")
        connection = ClientConnection(ServerAddress(address), timeout=self.meter_timeout)
        line = _MeterLine(address, connection)
        for task in self.tasks:
            line.since[task.name] = _floor(self.start, task.interval)
            line.next_run[task.name] = self.start
        self.meters[address] = line
        self.channel.attach(address, profile)

    def remove_meter(self, address: bytes) -> None:
        self.meters.pop(address, None)
        self.channel.detach(address)

    # the meters' side

    def receive_hplc(self, address: bytes, data: bytes, now: float) -> None:
        """Bytes a meter sent up the power line."""
        self._now = now
        line = self.meters.get(address)
        if line is None:
            self._record(EventKind.UNAUTHORISED, f"frame from unknown meter {address.hex()}", now)
            return
        if line.busy is not None and line.raw_decoder is not None:
            line.raw_decoder.receive_data(data)
            for frame in line.raw_decoder.frames():
                self._finish(line, frame.to_bytes(), now)
                break
            return
        line.connection.receive_data(data, now)
        self._drain_meter(line, now)

    def _drain_meter(self, line: _MeterLine, now: float) -> None:
        while (event := line.connection.next_event()) is not None:
            if isinstance(event, Response):
                self._finish(line, event.response, now)
            elif isinstance(event, RequestTimedOut):
                self._finish(line, None, now)
            elif isinstance(event, Notification):
                self._queue(Collected(line.address, now, b"", event.apdu.to_bytes()))
            elif isinstance(event, ProtocolViolation):
                self._record(
                    EventKind.MALFORMED, f"from meter {line.address.hex()}: {event.error}", now
                )
        self._send_down(line, now)

    def _send_down(self, line: _MeterLine, now: float) -> None:
        out = line.connection.data_to_send()
        if out:
            self.channel.send(Direction.DOWN, line.address, out, now)

    def _dispatch(self, line: _MeterLine, now: float) -> None:
        if line.busy is not None or not line.jobs:
            return
        job = line.jobs.popleft()
        line.busy = job
        job.deadline = now + self.meter_timeout
        job.sent_at = now
        if job.apdu is None:
            line.raw_decoder = FrameDecoder()
            self.channel.send(Direction.DOWN, line.address, job.raw, now)
            return
        try:
            line.connection.send_request(job.apdu, now)
        except LocalProtocolError as exc:
            log.warning("%s: request to %s not sent: %s", self.name, line.address.hex(), exc)
            line.busy = None
            job.done(None)
            return
        self._send_down(line, now)

    def _finish(self, line: _MeterLine, answer: Structure | bytes | None, now: float) -> None:
        job, line.busy, line.raw_decoder = line.busy, None, None
        line.failures = 0 if answer is not None else line.failures + 1
        if job is not None:
            job.done(answer)
        self._dispatch(line, now)

    # collection tasks

    def _schedule(self, line: _MeterLine, now: float) -> None:
        for task in self.tasks:
            # a task added after the meter was archived starts now, from its boundary
            line.since.setdefault(task.name, _floor(now, task.interval))
            if line.next_run.setdefault(task.name, now) > now:
                continue
            line.next_run[task.name] = now + task.period
            if any(job.task == task.name for job in line.jobs):
                continue  # the previous run has not even started: do not pile up
            since = line.since[task.name]
            until, resume = now, now
            if task.record is not None:
                # The records from ``since`` (a boundary) up to the latest boundary a meter
                # has surely frozen (SETTLE seconds ago), that one included: the window is
                # [since, last + 1) on the grid of the task's interval, and the next one starts
                # at the boundary after ``last``.
                newest = _floor(now - SETTLE, task.interval)
                last = min(newest, since + (task.max_records - 1) * task.interval)
                if last < since:
                    continue
                until, resume = last + 1, last + task.interval
            request = task.request(line.next_piid(), since, until)
            if self.protect is not None:
                request = self.protect(line.address, request)
            line.jobs.append(self._task_job(line, task, request, resume))

    def _task_job(
        self, line: _MeterLine, task: CollectionTask, request: Structure, resume: float
    ) -> _Job:
        sent = request.to_bytes()

        def done(answer: Structure | bytes | None) -> None:
            if not isinstance(answer, Structure):
                return  # not read: the window stays, the next run catches up
            line.since[task.name] = resume
            newest = _floor(self._now - SETTLE, task.interval)
            if task.record is not None and resume <= newest:
                line.next_run[task.name] = self._now  # more to catch up on
            self._queue(Collected(line.address, job.sent_at, sent, answer.to_bytes()))

        job = _Job(request, done, task=task.name)
        return job

    # the station's side

    def connected(self, now: float) -> None:
        """The transport to the front-end processor is up: log in."""
        self._now = now
        self.upstream = self._new_upstream()
        self._connected = True
        self.upstream.login(now)

    def disconnected(self, now: float) -> None:
        """The transport dropped: every unacknowledged batch goes back to the outbox."""
        self._now = now
        self._connected = False
        self._requeue_in_flight()
        self.upstream = self._new_upstream()

    @property
    def online(self) -> bool:
        return self._connected and self.upstream.link == Link.ONLINE

    def receive_upstream(self, data: bytes, now: float) -> None:
        self._now = now
        self.upstream.receive_data(data, now)
        self._drain_upstream(now)

    def upstream_output(self) -> bytes:
        return self.upstream.data_to_send()

    def _drain_upstream(self, now: float) -> None:
        while (event := self.upstream.next_event()) is not None:
            if isinstance(event, Response) and isinstance(event.response, ReportResponseTransData):
                self._in_flight.pop(event.response.piid & 0x3F, None)
            elif isinstance(event, RequestTimedOut):
                request = event.request
                if isinstance(request, ReportNotificationTransData):
                    batch = self._in_flight.pop(request.piid & 0x3F, ())
                    self.outbox.extendleft(reversed(batch))
            elif isinstance(event, IncomingRequest):
                self._serve_station(event, now)
            elif isinstance(event, ProtocolViolation):
                self._record(EventKind.MALFORMED, f"from the station side: {event.error}", now)
            elif isinstance(event, LinkEvent):
                log.debug("%s: %s", self.name, type(event.apdu).__name__)
        self._send_up(now)

    def _send_up(self, now: float) -> None:
        if not self.online:
            return
        while self.outbox and len(self._in_flight) < self.window:
            piid = self._free_piid()
            if piid is None:
                return
            batch = tuple(
                self.outbox.popleft() for _ in range(min(self.batch_items, len(self.outbox)))
            )
            report = ReportNotificationTransData(
                piid, HPLC_PORT, tuple(encode_item(item) for item in batch)
            )
            self._in_flight[piid] = batch
            self.upstream.notify(report, now)
            self.sent_batches += 1

    def _free_piid(self) -> int | None:
        for _ in range(64):
            self._report_piid = (self._report_piid + 1) % 64
            if self._report_piid not in self._in_flight:
                return self._report_piid
        return None

    def _requeue_in_flight(self) -> None:
        for piid in sorted(self._in_flight, reverse=True):
            self.outbox.extendleft(reversed(self._in_flight[piid]))
        self._in_flight.clear()

    def _queue(self, item: Collected) -> None:
        self.outbox.append(item)
        while len(self.outbox) > self.outbox_limit:
            self.outbox.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("%s: outbox full, %d oldest items dropped", self.name, self.dropped)

    def _serve_station(self, request: IncomingRequest, now: float) -> None:
        apdu = request.apdu
        if isinstance(apdu, ProxyGetRequestList):
            self._proxy_get(request, apdu, now)
        elif isinstance(apdu, ProxyActionRequestList):
            self._proxy_action(request, apdu, now)
        elif isinstance(apdu, ProxyTransCommandRequest):
            self._proxy_trans(request, apdu, now)
        elif isinstance(apdu, GetRequestNormal) and apdu.oad == OAD(0x4001, 2, 0):
            result = AResultNormal(apdu.oad, Data(DataType.OCTET_STRING, self.address))
            self.upstream.respond(request, GetResponseNormal(apdu.piid, result))
        else:
            piid = getattr(apdu, "piid", 0)
            self.upstream.respond(request, ErrorResponse(piid, ErrorType.SERVICE_UNSUPPORTED))

    def _proxy_get(self, request: IncomingRequest, apdu: ProxyGetRequestList, now: float) -> None:
        def answered(target: Any, answer: Any) -> ProxyGetAnswer:
            if isinstance(answer, GetResponseNormalList):
                return ProxyGetAnswer(target.tsa, answer.results)
            failed = _failure(answer)
            return ProxyGetAnswer(
                target.tsa, tuple(AResultNormal(oad, failed) for oad in target.oads)
            )

        self._fan_out(
            request, apdu.targets, now,
            ask=lambda target, piid: GetRequestNormalList(piid, target.oads),
            answered=answered,
            respond=lambda answers: ProxyGetResponseList(apdu.piid, answers),
        )  # fmt: skip

    def _proxy_action(
        self, request: IncomingRequest, apdu: ProxyActionRequestList, now: float
    ) -> None:
        def answered(target: Any, answer: Any) -> ProxyActionAnswer:
            if isinstance(answer, ActionResponseNormalList):
                results = tuple(ProxyActionResult(r.omd, r.dar, r.data) for r in answer.results)
            else:
                failed = _failure(answer)
                results = tuple(ProxyActionResult(it.omd, failed) for it in target.items)
            return ProxyActionAnswer(target.tsa, results)

        self._fan_out(
            request, apdu.targets, now,
            ask=lambda target, piid: ActionRequestList(piid, target.items),
            answered=answered,
            respond=lambda answers: ProxyActionResponseList(apdu.piid, answers),
        )  # fmt: skip

    def _fan_out(
        self,
        request: IncomingRequest,
        targets: tuple[Any, ...],
        now: float,
        *,
        ask: Callable[[Any, int], Structure],
        answered: Callable[[Any, Any], Any],
        respond: Callable[[tuple[Any, ...]], Structure],
    ) -> None:
        """One PROXY list request to many meters: ``ask`` makes each meter's request,
        ``answered`` turns its answer (or a DAR: unknown meter, timeout) into the target's
        entry, and ``respond`` builds the response once every target has one."""
        proxy = _Proxy(request, len(targets))
        for i, target in enumerate(targets):
            line = self.meters.get(target.tsa.address)

            def done(answer: Any, i: int = i, target: Any = target) -> None:
                proxy.answers[i] = answered(target, answer)
                self._proxy_done(proxy, lambda: respond(tuple(proxy.answers)))

            if line is None:
                done(DAR.ADDRESS_ABNORMAL)
                continue
            line.jobs.append(_Job(ask(target, line.next_piid()), done))
            self._dispatch(line, now)

    def _proxy_trans(
        self, request: IncomingRequest, apdu: ProxyTransCommandRequest, now: float
    ) -> None:
        def done(answer: Any) -> None:
            result: Any = answer if isinstance(answer, bytes) else DAR.REQUEST_TIMEOUT
            self.upstream.respond(request, ProxyTransCommandResponse(apdu.piid, apdu.port, result))
            self._send_up(self._now)

        try:
            frame = decode_frame(apdu.command)
        except DecodeError as exc:
            self._record(EventKind.MALFORMED, f"transparent command: {exc}", now)
            self.upstream.respond(
                request, ProxyTransCommandResponse(apdu.piid, apdu.port, DAR.TYPE_MISMATCH)
            )
            return
        line = self.meters.get(frame.address.address)
        if line is None:
            self.upstream.respond(
                request, ProxyTransCommandResponse(apdu.piid, apdu.port, DAR.ADDRESS_ABNORMAL)
            )
            return
        line.jobs.append(_Job(None, done, raw=apdu.command))
        self._dispatch(line, now)

    def _proxy_done(self, proxy: _Proxy, build: Callable[[], Structure]) -> None:
        proxy.waiting -= 1
        if proxy.waiting == 0:
            self.upstream.respond(proxy.request, build())
            self._send_up(self._now)

    # time

    def step(self, now: float) -> None:
        """Run what is due: meter timeouts, collection tasks, the upstream link's timers, and
        sending the outbox."""
        self._now = now
        for line in self.meters.values():
            if line.busy is not None and line.raw_decoder is not None and line.busy.deadline <= now:
                self._finish(line, None, now)
            timer = line.connection.get_timer()
            if timer is not None and timer <= now:
                line.connection.handle_timer(now)
                self._drain_meter(line, now)
            self._schedule(line, now)
            self._dispatch(line, now)
        if self._connected:
            timer = self.upstream.get_timer()
            if timer is not None and timer <= now:
                self.upstream.handle_timer(now)
                if self.upstream.link == Link.OFFLINE:
                    self._requeue_in_flight()
                    self.upstream.login(now)
            self._drain_upstream(now)

    def next_time(self) -> float | None:
        """When :meth:`step` must next run (None: nothing is scheduled)."""
        times: list[float] = []
        for line in self.meters.values():
            # only the tasks in force: a task taken out leaves no timer behind
            times.extend(line.next_run.get(task.name, self.start) for task in self.tasks)
            timer = line.connection.get_timer()
            if timer is not None:
                times.append(timer)
            if line.busy is not None and line.raw_decoder is not None:
                times.append(line.busy.deadline)
        if self._connected and (timer := self.upstream.get_timer()) is not None:
            times.append(timer)
        return min(times, default=None)

    # helpers

    def _new_upstream(self) -> ServerConnection:
        return ServerConnection(
            ServerAddress(self.address),
            timeout=self.upstream_timeout,
            calendar=_posix,
            heartbeat=self.heartbeat,
        )

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        log.info("%s: %s", self.name, detail)
        if self.events is not None:
            self.events.record(SecurityEvent(kind, self.name, detail, now))


def _failure(answer: Any) -> DAR:
    """The DAR for a target that gave no answer: not in the archive, or silent; a meter that
    answered with something else (an ERROR-Response) counts as a temporary failure."""
    if isinstance(answer, DAR):
        return answer
    return DAR.REQUEST_TIMEOUT if answer is None else DAR.TEMPORARY_FAILURE


def _floor(t: float, step: float) -> float:
    return float(int(t // step) * step)


def _date_time_s(posix: float) -> Data:
    moment = dt.datetime.fromtimestamp(posix, dt.UTC).replace(tzinfo=None)
    return Data(DataType.DATE_TIME_S, DateTimeS.from_datetime(moment))


def _ti(seconds: float) -> Data:
    if seconds % 86400 == 0:
        return Data(DataType.TI, TI(3, int(seconds // 86400)))
    if seconds % 3600 == 0:
        return Data(DataType.TI, TI(2, int(seconds // 3600)))
    if seconds % 60 == 0:
        return Data(DataType.TI, TI(1, int(seconds // 60)))
    return Data(DataType.TI, TI(0, int(seconds)))
