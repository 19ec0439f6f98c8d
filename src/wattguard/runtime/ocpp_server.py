"""The station's OCPP 1.6J central system: a websocket server that charge points dial.

A charge point connects to ``ws(s)://<station>/ocpp/<charge point id>`` offering the
``ocpp1.6`` subprotocol and authenticates with HTTP Basic before the upgrade (security
profile 1; profile 2 when the server is given a TLS context); a client that does not offer
``ocpp1.6`` is refused (400). The key is checked by :meth:`ChargePointRegistry.verify
<wattguard.station.chargepoints.ChargePointRegistry.verify>` in a thread, off the event loop:
an unknown charge point or a wrong key gets ``401`` and the station a security event;
repeated failures lock the identity or the source address out (``429`` with Retry-After,
no key checked, see :mod:`wattguard.station.chargepoints`). An
admitted charge point is served by the ``ocpp`` library's ``ChargePoint`` (message framing,
JSON schema validation, call/response matching); what it reports goes to the registry, and
:meth:`CentralSystem.deliver` sends it a limit schedule as ``SetChargingProfile``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import ssl
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wattguard.clock import Clock
from wattguard.station.chargepoints import (
    ChargePointRegistry,
    ChargePointState,
    charging_profile,
    iso,
)

__all__ = ["SUBPROTOCOL", "CentralSystem", "wait_for"]

logger = logging.getLogger(__name__)
SUBPROTOCOL = "ocpp1.6"
_PREFIX = "/ocpp/"
#: OCPP 1.6 identities are CiString, at most 48 characters in the Security Whitepaper's
#: Basic user name; longer paths are refused before any key is hashed.
_MAX_ID = 48
#: The largest OCPP message accepted (bytes): a MeterValues of many samples fits easily.
_MAX_MESSAGE = 64 * 1024
#: Key checks (scrypt hashes) run at once; more wait their turn.
_CHECKS = 2


class _Session(ChargePoint):  # type: ignore[misc]
    """One admitted charge point's conversation with the station."""

    def __init__(self, cp_id: str, connection: ServerConnection, central: CentralSystem):
        super().__init__(cp_id, connection, response_timeout=central.response_timeout)
        self.central = central
        self.registry = central.registry

    @on(Action.boot_notification)  # type: ignore[untyped-decorator]
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        self.registry.booted(self.id, charge_point_model, charge_point_vendor)
        return call_result.BootNotification(
            current_time=iso(self.central.clock.time()),
            interval=self.central.heartbeat,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)  # type: ignore[untyped-decorator]
    def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=iso(self.central.clock.time()))

    @on(Action.status_notification)  # type: ignore[untyped-decorator]
    def on_status(self, connector_id: int, error_code: str, status: str, **_: Any) -> Any:
        self.registry.states[self.id].status = status
        return call_result.StatusNotification()

    def _tag_status(self, id_tag: str) -> AuthorizationStatus:
        ok = self.registry.authorised(self.id, id_tag, self.central.clock.time())
        return AuthorizationStatus.accepted if ok else AuthorizationStatus.invalid

    @on(Action.authorize)  # type: ignore[untyped-decorator]
    def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": self._tag_status(id_tag)})

    @on(Action.start_transaction)  # type: ignore[untyped-decorator]
    def on_start(self, connector_id: int, id_tag: str, meter_start: int, **_: Any) -> Any:
        # OCPP 1.6 section 5.18: a transaction id even when the tag is Invalid; the charge
        # point then stops it (StopTransactionOnInvalidId) and the station never plans it.
        status = self._tag_status(id_tag)
        number = self.registry.started(self.id) if status == AuthorizationStatus.accepted else 0
        return call_result.StartTransaction(transaction_id=number, id_tag_info={"status": status})

    @on(Action.stop_transaction)  # type: ignore[untyped-decorator]
    def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int, **_: Any) -> Any:
        self.registry.stopped(self.id, transaction_id)
        return call_result.StopTransaction()

    @on(Action.meter_values)  # type: ignore[untyped-decorator]
    def on_meter_values(self, connector_id: int, meter_value: list[Any], **_: Any) -> Any:
        self.registry.metered(self.id, meter_value)
        return call_result.MeterValues()


class CentralSystem:
    """The OCPP 1.6J endpoint of the station, serving the charge points of ``registry``.

    ``async with CentralSystem(...) as central`` listens on ``central.port``; ``ssl`` (a
    server context) makes it ``wss://`` (security profile 2).
    """

    def __init__(
        self,
        registry: ChargePointRegistry,
        clock: Clock,
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat: int = 300,
        response_timeout: float = 10.0,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.ssl_context = ssl_context
        self.host, self.port = host, port
        self.heartbeat = heartbeat
        self.response_timeout = response_timeout
        self.sessions: dict[str, _Session] = {}
        self._profile_ids = itertools.count(1)
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[str]] = set()
        self._checking = asyncio.Semaphore(_CHECKS)
        #: The answers to the charging job's deliveries: (cp_id, kW, status).
        self.answers: list[tuple[str, float, str]] = []

    async def __aenter__(self) -> CentralSystem:
        self._server = await serve(
            self._serve,
            self.host,
            self.port,
            ssl=self.ssl_context,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            process_request=self._handshake,
            max_size=_MAX_MESSAGE,
        )
        self.port = int(next(iter(self._server.sockets)).getsockname()[1])
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def url(self) -> str:
        """Where charge points dial (without their identity)."""
        scheme = "wss" if self.ssl_context is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}{_PREFIX}"

    async def deliver(
        self,
        cp_id: str,
        limits_w: Sequence[float],
        step_seconds: int,
        start: float,
        *,
        open_ended: bool = False,
    ) -> str:
        """Send ``cp_id`` the schedule ``limits_w`` (one limit per ``step_seconds`` from
        ``start``) as SetChargingProfile: a TxProfile of its running transaction, else a
        TxDefaultProfile. The charge point's answer ("Accepted", "Rejected"), or "Offline"
        (not connected) or "NoAnswer" (no valid answer in time)."""
        session = self.sessions.get(cp_id)
        if session is None:
            return "Offline"
        state = self.registry.states[cp_id]
        profile = charging_profile(
            limits_w, step_seconds, start,
            profile_id=next(self._profile_ids), transaction=state.transaction,
            open_ended=open_ended,
        )  # fmt: skip
        request = call.SetChargingProfile(
            connector_id=1 if state.transaction is not None else 0,
            cs_charging_profiles=profile,
        )
        try:
            answer = await session.call(request)
        except (TimeoutError, ConnectionError, OSError):
            return "NoAnswer"
        return "NoAnswer" if answer is None else str(answer.status)

    def delivery(self, step_seconds: int) -> Callable[[str, float], None]:
        """A delivery callable for the station's charging job
        (:class:`~wattguard.station.charging.DistrictCharging`): ``deliver(cp_id, kw)``
        sends the charge point its limit from the start of the current interval as an
        open-ended SetChargingProfile, in a task on the running loop; each answer is appended
        to :attr:`answers` as (cp_id, kW, status)."""

        def deliver(cp_id: str, kw: float) -> None:
            now = self.clock.time()
            start = now - now % step_seconds
            sent = self.deliver(cp_id, [kw * 1000.0], step_seconds, start, open_ended=True)
            task = asyncio.get_running_loop().create_task(sent)
            self._tasks.add(task)
            task.add_done_callback(lambda done: self._delivered(done, cp_id, kw))

        return deliver

    def _delivered(self, task: asyncio.Task[str], cp_id: str, kw: float) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is None:
            self.answers.append((cp_id, kw, task.result()))
            del self.answers[:-10_000]

    async def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        cp_id = request.path.removeprefix(_PREFIX)
        if not request.path.startswith(_PREFIX) or not 0 < len(cp_id) <= _MAX_ID or "/" in cp_id:
            return connection.respond(HTTPStatus.NOT_FOUND, "no such charge point path\n")
        authorization = request.headers.get("Authorization")
        source = str(connection.remote_address[0]) if connection.remote_address else ""
        now = self.clock.time()
        locked = self.registry.locked_for(cp_id, source, now)
        if locked:  # no key checked, no event: the lockout's own event said it
            response = connection.respond(HTTPStatus.TOO_MANY_REQUESTS, "locked out\n")
            response.headers["Retry-After"] = str(math.ceil(locked))
            return response
        # The key's scrypt hash runs in a thread (it releases the GIL), a few at a time, so
        # a flood of guesses slows the guessers, not the station's loop.
        async with self._checking:
            ok = await asyncio.to_thread(self.registry.verify, cp_id, authorization)
        if ok:
            self.registry.succeeded(cp_id, source)
            self.registry.states.setdefault(cp_id, ChargePointState())
            return None
        self.registry.refused(cp_id, self.clock.time(), source)
        response = connection.respond(HTTPStatus.UNAUTHORIZED, "unauthorised\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
        return response

    async def _serve(self, connection: ServerConnection) -> None:
        if connection.subprotocol != SUBPROTOCOL or connection.request is None:
            await connection.close(1002, "OCPP 1.6J only")
            return
        cp_id = connection.request.path.removeprefix(_PREFIX)
        session = _Session(cp_id, connection, self)
        previous = self.sessions.get(cp_id)
        self.sessions[cp_id] = session
        if previous is not None:  # a reconnect replaces the old connection
            await previous._connection.close(1000, "replaced")
        try:
            await session.start()
        except ConnectionClosed as error:
            logger.debug("charge point %s gone: %r", cp_id, error)
        finally:
            if self.sessions.get(cp_id) is session:
                del self.sessions[cp_id]
                with contextlib.suppress(KeyError):
                    self.registry.states[cp_id].connected = False


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` is true (polling every 10 ms); TimeoutError after
    ``timeout`` seconds. For tests and the demo, which wait for a charge point to report."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
