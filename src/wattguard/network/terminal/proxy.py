"""What a collection terminal answers its station: PROXY requests relayed to its meters.

Theory of operation. The station reaches meters through their terminal: PROXY-Request
GET-List and ACTION-List fan out to every meter they name (one request per meter, queued on
its line, answered in any order) and come back as one response once every target has an
entry; a meter not in the archive gets DAR address-abnormal at once, a silent one
request-timeout. TransCommand forwards a whole frame to the meter it addresses and returns its
answer as the meter sent it: how the station's end-to-end protected commands reach a meter
(the terminal cannot read or forge them). GET of the terminal's own address (4001) is
answered directly, and so are the station's ACTIONs on the collection tables 6012 and 6014
and GETs of their attribute 2 (:mod:`.scheme`); anything else gets an ERROR-Response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wattguard.errors import DecodeError
from wattguard.events import EventKind
from wattguard.network.terminal.lines import Answer, Job, MeterLine
from wattguard.protocol import OAD, OMD, Data, DataType, IncomingRequest, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import (
    ActionRequest,
    ActionRequestList,
    ActionResponseNormal,
    ActionResponseNormalList,
    ActionResult,
)
from wattguard.protocol.apdu.common import DAR, AResultNormal
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.get import (
    GetRequestNormal,
    GetRequestNormalList,
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

__all__ = ["ProxyRelay"]

_OWN_ADDRESS = OAD(0x4001, 2, 0)
_TABLES = (0x6012, 0x6014)
Respond = Callable[[IncomingRequest, Structure], None]
#: ``configure(method, parameter, now)``: an ACTION on 6012/6014, answered with its DAR.
Configure = Callable[[OMD, Data, float], DAR]


class _Proxy:
    """One PROXY request from the station, waiting for its meters' answers."""

    def __init__(self, request: IncomingRequest, targets: int) -> None:
        self.request = request
        self.answers: list[Any] = [None] * targets
        self.waiting = targets


@dataclass
class ProxyRelay:
    """The terminal's answers to its station (see the module docstring).

    ``meters`` is the terminal's archive; ``enqueue`` queues a job on a meter's line;
    ``respond`` answers a request at once, ``respond_later`` answers it from a meter's answer
    (and lets the outbox go up); ``record`` records a security event.
    """

    address: bytes
    meters: dict[bytes, MeterLine]
    enqueue: Callable[[MeterLine, Job, float], None]
    respond: Respond
    respond_later: Respond
    record: Callable[[EventKind, str, float], None]
    configure: Configure | None = None
    table: Callable[[int], Data] | None = None

    def serve(self, request: IncomingRequest, now: float) -> None:
        """Answer (or start answering) one request from the station."""
        apdu = request.apdu
        if isinstance(apdu, ProxyGetRequestList):
            self._proxy_get(request, apdu, now)
        elif isinstance(apdu, ProxyActionRequestList):
            self._proxy_action(request, apdu, now)
        elif isinstance(apdu, ProxyTransCommandRequest):
            self._proxy_trans(request, apdu, now)
        elif isinstance(apdu, GetRequestNormal) and apdu.oad == _OWN_ADDRESS:
            result = AResultNormal(apdu.oad, Data(DataType.OCTET_STRING, self.address))
            self.respond(request, GetResponseNormal(apdu.piid, result))
        elif isinstance(apdu, ActionRequest) and apdu.omd.oi in _TABLES and self.configure:
            dar = self.configure(apdu.omd, apdu.data, now)
            self.respond(request, ActionResponseNormal(apdu.piid, ActionResult(apdu.omd, dar)))
        elif (
            isinstance(apdu, GetRequestNormal)
            and apdu.oad in (OAD(oi, 2, 0) for oi in _TABLES)
            and self.table is not None
        ):
            result = AResultNormal(apdu.oad, self.table(apdu.oad.oi))
            self.respond(request, GetResponseNormal(apdu.piid, result))
        else:
            piid = getattr(apdu, "piid", 0)
            self.respond(request, ErrorResponse(piid, ErrorType.SERVICE_UNSUPPORTED))

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
            build=lambda answers: ProxyGetResponseList(apdu.piid, answers),
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
            build=lambda answers: ProxyActionResponseList(apdu.piid, answers),
        )  # fmt: skip

    def _fan_out(
        self,
        request: IncomingRequest,
        targets: tuple[Any, ...],
        now: float,
        *,
        ask: Callable[[Any, int], Structure],
        answered: Callable[[Any, Any], Any],
        build: Callable[[tuple[Any, ...]], Structure],
    ) -> None:
        """One PROXY list request to many meters: ``ask`` makes each meter's request,
        ``answered`` turns its answer (or a DAR: unknown meter, timeout) into the target's
        entry, and ``build`` builds the response once every target has one."""
        proxy = _Proxy(request, len(targets))
        for i, target in enumerate(targets):
            line = self.meters.get(target.tsa.address)

            def done(answer: Answer | DAR, i: int = i, target: Any = target) -> None:
                proxy.answers[i] = answered(target, answer)
                proxy.waiting -= 1
                if proxy.waiting == 0:
                    self.respond_later(proxy.request, build(tuple(proxy.answers)))

            if line is None:
                done(DAR.ADDRESS_ABNORMAL)
                continue
            self.enqueue(line, Job(ask(target, line.next_piid()), done), now)

    def _proxy_trans(
        self, request: IncomingRequest, apdu: ProxyTransCommandRequest, now: float
    ) -> None:
        def answer(result: Any) -> ProxyTransCommandResponse:
            return ProxyTransCommandResponse(apdu.piid, apdu.port, result)

        def done(answered: Answer) -> None:
            result = answered if isinstance(answered, bytes) else DAR.REQUEST_TIMEOUT
            self.respond_later(request, answer(result))

        try:
            frame = decode_frame(apdu.command)
        except DecodeError as exc:
            self.record(EventKind.MALFORMED, f"transparent command: {exc}", now)
            self.respond(request, answer(DAR.TYPE_MISMATCH))
            return
        line = self.meters.get(frame.address.address)
        if line is None:
            self.respond(request, answer(DAR.ADDRESS_ABNORMAL))
            return
        self.enqueue(line, Job(None, done, raw=apdu.command), now)


def _failure(answer: Any) -> DAR:
    """The DAR for a target that gave no answer: not in the archive, or silent; a meter that
    answered with something else (an ERROR-Response) counts as a temporary failure."""
    if isinstance(answer, DAR):
        return answer
    return DAR.REQUEST_TIMEOUT if answer is None else DAR.TEMPORARY_FAILURE
