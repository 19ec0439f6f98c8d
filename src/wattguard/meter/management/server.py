"""The meter's DL/T 698.45 application server: requests in, responses out, with the security
policy enforced.

Theory of operation. The link layer (a :class:`~wattguard.protocol.ServerConnection`) hands
over each request APDU; :meth:`ApplicationServer.handle` returns the APDU to answer with.
A bare request is served in :attr:`Mode.PLAINTEXT`. A SECURITY-Request goes to the ESAM first:
it verifies the MAC or decrypts (and refuses replays); the inner APDU is then served in the
mode the wrapping gave it, and the answer is wrapped again by the ESAM (a MAC, or ciphertext
and a MAC). A read in plaintext + MAC of an object whose policy word reads only in
ciphertext + MAC (a load curve under the private-readings policy) is served, and its answer
raised to ciphertext + MAC: the request only names objects, the answer carries the values.
Every object touched is checked against the F101 policy
(:mod:`wattguard.meter.management.policy`): an access the policy does not allow in that mode is
answered with DAR 20 (security mismatch) and recorded as an UNAUTHORISED security event; a wrapping
the ESAM refuses is answered with a SECURITY-Response carrying DAR 22 (ESAM verification failed),
and the ESAM's refusal is recorded too. CONNECT negotiates the application association:
no security, a password, or the ESAM's symmetric or signature session.
Nothing raises out of :meth:`handle` for anything a peer can send.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, Protocol

from wattguard.errors import DecodeError, SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.meter.management.model import ObjectModel
from wattguard.meter.management.policy import Operation, SecurityPolicy, mode_of
from wattguard.protocol import OAD, Data, decode_apdu
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu import action as act
from wattguard.protocol.apdu import get as g
from wattguard.protocol.apdu import set as st
from wattguard.protocol.apdu.common import DAR, AResultNormal, AResultRecord
from wattguard.protocol.apdu.connect import (
    ConnectMechanism,
    ConnectRequest,
    ConnectResponse,
    ConnectResponseInfo,
    ConnectResult,
    FactoryVersion,
    Mechanism,
    Negotiation,
    ReleaseRequest,
    ReleaseResponse,
    SecurityData,
)
from wattguard.protocol.apdu.error import ErrorResponse, ErrorType
from wattguard.protocol.apdu.security import (
    Protection,
    SecurityPayload,
    SecurityRequest,
    SecurityResponse,
)

__all__ = ["ApplicationServer", "SecurityElement"]

log = logging.getLogger(__name__)


class SecurityElement(Protocol):
    """What the server needs of the ESAM (``wattguard.esam.EsamClient`` provides it)."""

    def open_request(self, request: SecurityRequest, now: float) -> bytes: ...

    def protect_response(
        self, request: SecurityRequest, apdu: bytes, now: float, *, cipher: bool = False
    ) -> SecurityResponse: ...

    def connect(self, mechanism: ConnectMechanism, now: float) -> SecurityData | ConnectResult: ...

    def release(self) -> None: ...

    def protect_report(self, apdu: bytes, now: float) -> SecurityRequest: ...


#: What a wattguard meter offers in CONNECT (DL/T 698.45 clause 7.2.1, Negotiation).
SERVER_NEGOTIATION = Negotiation(
    version=0x0016,
    protocol_conformance=b"\xff" * 8,
    function_conformance=b"\xff" * 16,
    send_max=1024,
    receive_max=1024,
    window=1,
    apdu_max=2048,
    timeout=7200,
)
FACTORY = FactoryVersion("WTGD", "0100", "261124", "0100", "261124", bytes(8))


class ApplicationServer:
    """Serve a meter's object model to a client, enforcing the security policy."""

    def __init__(
        self,
        model: ObjectModel,
        policy: SecurityPolicy,
        events: EventSink,
        source: str,
        *,
        esam: SecurityElement | None = None,
        password: str | None = None,
        factory: FactoryVersion = FACTORY,
    ) -> None:
        self.model = model
        self.policy = policy
        self.events = events
        self.source = source
        self.esam = esam
        self.password = password
        self.factory = factory
        # Set while serving a secured GET whose values the policy keeps confidential.
        self._cipher_answer = False

    def handle(self, apdu: Structure, now: float) -> Structure | None:
        """The answer to one request APDU (None: no answer is due)."""
        try:
            if isinstance(apdu, SecurityRequest):
                return self._secured(apdu, now)
            if isinstance(apdu, ConnectRequest):
                return self._connect(apdu, now)
            if isinstance(apdu, ReleaseRequest):
                if self.esam is not None:
                    self.esam.release()
                return ReleaseResponse(apdu.piid, 0)
            return self._serve(apdu, None, now)
        except Exception:  # a bug must not take the meter off the network
            log.exception("request %s failed", type(apdu).__name__)
            return ErrorResponse(getattr(apdu, "piid", 0), ErrorType.OTHER)

    # SECURITY

    def _secured(self, request: SecurityRequest, now: float) -> Structure:
        self._cipher_answer = False
        if self.esam is None:
            self._record(EventKind.UNAUTHORISED, "secured request but no ESAM fitted", now)
            return SecurityResponse(SecurityPayload(Protection.PLAINTEXT, dar=DAR.OTHER))
        try:
            inner = self.esam.open_request(request, now)
        except SecurityError:
            return SecurityResponse(
                SecurityPayload(Protection.PLAINTEXT, dar=DAR.ESAM_VERIFICATION_FAILED)
            )
        try:
            apdu = decode_apdu(inner)
        except DecodeError as exc:
            self._record(EventKind.MALFORMED, f"secured APDU: {exc.reason}", now)
            answer: Structure = ErrorResponse(0, ErrorType.APDU_UNDECODABLE)
        else:
            if isinstance(apdu, ConnectRequest | ReleaseRequest | SecurityRequest):
                answer = ErrorResponse(getattr(apdu, "piid", 0), ErrorType.SERVICE_UNSUPPORTED)
            else:
                answer = self._serve(apdu, request, now)
        cipher, self._cipher_answer = self._cipher_answer, False
        return self.esam.protect_response(request, answer.to_bytes(), now, cipher=cipher)

    # CONNECT

    def _connect(self, request: ConnectRequest, now: float) -> ConnectResponse:
        result, security = self._authenticate(request.mechanism, now)
        theirs = request.negotiation
        ours = SERVER_NEGOTIATION
        agreed = Negotiation(
            version=min(theirs.version, ours.version),
            protocol_conformance=bytes(
                a & b
                for a, b in zip(theirs.protocol_conformance, ours.protocol_conformance, strict=True)
            ),
            function_conformance=bytes(
                a & b
                for a, b in zip(theirs.function_conformance, ours.function_conformance, strict=True)
            ),
            send_max=min(theirs.receive_max, ours.send_max) or ours.send_max,
            receive_max=min(theirs.send_max, ours.receive_max) or ours.receive_max,
            window=1,
            apdu_max=min(theirs.apdu_max, ours.apdu_max) or ours.apdu_max,
            timeout=min(theirs.timeout, ours.timeout) or ours.timeout,
        )
        info = ConnectResponseInfo(result, security)
        return ConnectResponse(request.piid, self.factory, agreed, info)

    def _authenticate(
        self, mechanism: ConnectMechanism, now: float
    ) -> tuple[ConnectResult, SecurityData | None]:
        if mechanism.mechanism == Mechanism.NULL:
            return ConnectResult.ACCEPTED, None
        if mechanism.mechanism == Mechanism.PASSWORD:
            expected = self.password
            if expected is not None and hmac.compare_digest(
                mechanism.password.encode(), expected.encode()
            ):
                return ConnectResult.ACCEPTED, None
            self._record(EventKind.AUTHENTICATION, "CONNECT with a wrong password", now)
            return ConnectResult.PASSWORD_ERROR, None
        if self.esam is None:
            self._record(EventKind.AUTHENTICATION, "secure CONNECT but no ESAM fitted", now)
            return ConnectResult.OTHER, None
        answer = self.esam.connect(mechanism, now)
        if isinstance(answer, SecurityData):
            return ConnectResult.ACCEPTED, answer
        return answer, None

    # GET, SET, ACTION

    def _serve(self, apdu: Structure, wrap: SecurityRequest | None, now: float) -> Structure:
        handler = _HANDLERS.get(type(apdu))
        if handler is None:
            return ErrorResponse(getattr(apdu, "piid", 0), ErrorType.SERVICE_UNSUPPORTED)
        answer: Structure = handler(self, apdu, wrap, now)
        return answer

    def _allowed(
        self, oi: int, operation: Operation, wrap: SecurityRequest | None, now: float
    ) -> bool:
        mode = mode_of(wrap, operation)
        if self.policy.allows(oi, operation, mode):
            return True
        if operation == Operation.GET and self.policy.raises_read(oi, mode):
            self._cipher_answer = True  # the values go back as ciphertext + MAC
            return True
        self._record(
            EventKind.UNAUTHORISED,
            f"{operation.name} of {oi:04X} in {mode.name} refused by the security policy",
            now,
        )
        return False

    def _read(self, oad: OAD, wrap: SecurityRequest | None, now: float) -> Data | DAR:
        if not self._allowed(oad.oi, Operation.GET, wrap, now):
            return DAR.SECURITY_MISMATCH
        return self.model.get(oad)

    def _write(self, oad: OAD, value: Data, wrap: SecurityRequest | None, now: float) -> DAR:
        if not self._allowed(oad.oi, Operation.SET, wrap, now):
            return DAR.SECURITY_MISMATCH
        return self.model.set(oad, value)

    def _act(self, item: Any, wrap: SecurityRequest | None, now: float) -> tuple[DAR, Data | None]:
        if not self._allowed(item.omd.oi, Operation.ACTION, wrap, now):
            return DAR.SECURITY_MISMATCH, None
        return self.model.action(item.omd, item.data)

    def _record_read(self, request: g.GetRecord, wrap: SecurityRequest | None, now: float) -> Any:
        if not self._allowed(request.oad.oi, Operation.GET, wrap, now):
            return AResultRecord(request.oad, request.columns, DAR.SECURITY_MISMATCH)
        return self.model.get_record(request)

    def _record(self, kind: EventKind, detail: str, now: float) -> None:
        self.events.record(SecurityEvent(kind, self.source, detail, now))


def _get_normal(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    return g.GetResponseNormal(a.piid, AResultNormal(a.oad, s._read(a.oad, w, now)))


def _get_list(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    results = tuple(AResultNormal(oad, s._read(oad, w, now)) for oad in a.oads)
    return g.GetResponseNormalList(a.piid, results)


def _get_record(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    return g.GetResponseRecord(a.piid, s._record_read(a.record, w, now))


def _get_record_list(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    return g.GetResponseRecordList(a.piid, tuple(s._record_read(r, w, now) for r in a.records))


def _set_normal(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    return st.SetResponseNormal(a.piid, a.oad, s._write(a.oad, a.data, w, now))


def _set_list(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    results = tuple(st.SetResult(i.oad, s._write(i.oad, i.data, w, now)) for i in a.items)
    return st.SetResponseNormalList(a.piid, results)


def _set_then_get(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    results = tuple(
        st.SetThenGetResult(
            i.oad, s._write(i.oad, i.data, w, now), i.read_oad, s._read(i.read_oad, w, now)
        )
        for i in a.items
    )
    return st.SetThenGetResponseNormalList(a.piid, results)


def _action(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    return act.ActionResponseNormal(a.piid, act.ActionResult(a.omd, *s._act(a, w, now)))


def _action_list(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    results = tuple(act.ActionResult(i.omd, *s._act(i, w, now)) for i in a.items)
    return act.ActionResponseNormalList(a.piid, results)


def _action_then_get(s: ApplicationServer, a: Any, w: SecurityRequest | None, now: float) -> Any:
    results = tuple(
        act.ActionThenGetResult(i.omd, *s._act(i, w, now), i.read_oad, s._read(i.read_oad, w, now))
        for i in a.items
    )
    return act.ActionThenGetResponseNormalList(a.piid, results)


_HANDLERS: dict[type, Any] = {
    g.GetRequestNormal: _get_normal,
    g.GetRequestNormalList: _get_list,
    g.GetRequestRecord: _get_record,
    g.GetRequestRecordList: _get_record_list,
    st.SetRequestNormal: _set_normal,
    st.SetRequestNormalList: _set_list,
    st.SetThenGetRequestNormalList: _set_then_get,
    act.ActionRequest: _action,
    act.ActionRequestList: _action_list,
    act.ActionThenGetRequestNormalList: _action_then_get,
}
