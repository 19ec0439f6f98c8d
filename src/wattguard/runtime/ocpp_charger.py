"""A simulated OCPP 1.6J charge point that dials a central system over a real websocket.

It is the ``ocpp`` library's ``ChargePoint`` around a
:class:`~wattguard.simulation.charger.ChargerModel`: it boots, reports its status, starts and
stops transactions, keeps the charging profiles it is sent (the model accepts or rejects
them) and reports MeterValues (active power and the energy register) after each step, never
drawing more than the limit in force.

It authenticates with HTTP Basic (its identity and AuthorizationKey, security profile 1) and,
given a TLS context that trusts only the station's CA, checks the central system's
certificate (profile 2). A central system that fails that check is refused before a byte of
OCPP passes: :class:`OcppRefused` is raised and a security event recorded. So is a central
system that refuses the charge point (401).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call
from ocpp.v16 import call_result as result
from ocpp.v16.enums import Action, AuthorizationStatus, ChargePointErrorCode, ChargePointStatus
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from wattguard.clock import Clock
from wattguard.errors import SecurityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.simulation.charger import ChargerModel
from wattguard.station.chargepoints import iso

__all__ = ["OcppRefused", "SimulatedChargePoint", "charge_point"]

SUBPROTOCOL = "ocpp1.6"


class OcppRefused(SecurityError):
    """The OCPP connection was refused: the central system's certificate did not verify
    against the trusted CA, or the central system refused our identity and key (401)."""


class SimulatedChargePoint(ChargePoint):  # type: ignore[misc]
    """A charge point with one connector, driven by its :class:`ChargerModel`."""

    def __init__(self, cp_id: str, connection: ClientConnection, model: ChargerModel, clock: Clock):
        super().__init__(cp_id, connection, response_timeout=10)
        self.model = model
        self.clock = clock
        #: Every SetChargingProfile it was sent: (its answer, the profile as sent).
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on(Action.set_charging_profile)  # type: ignore[untyped-decorator]
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: Any) -> Any:
        status = self.model.set_profile(cs_charging_profiles, self.clock.time())
        self.received.append((status, cs_charging_profiles))
        return result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)  # type: ignore[untyped-decorator]
    def on_clear_charging_profile(self, **_: Any) -> Any:
        found = bool(self.model.profiles)
        self.model.profiles.clear()
        return result.ClearChargingProfile(status="Accepted" if found else "Unknown")

    async def boot(self, model: str = "wattguard-sim", vendor: str = "wattguard") -> str:
        """BootNotification, then StatusNotification Available; the registration status."""
        answer = await self.call(
            call.BootNotification(charge_point_model=model, charge_point_vendor=vendor)
        )
        await self._status(ChargePointStatus.available)
        return str(answer.status)

    async def authorize(self, id_tag: str = "EV-0001") -> str:
        """Authorize the driver's ``id_tag``: the station's answer ("Accepted", "Invalid")."""
        answer = await self.call(call.Authorize(id_tag=id_tag))
        return str(answer.id_tag_info["status"])

    async def plug_in(self, id_tag: str = "EV-0001") -> int:
        """StartTransaction and StatusNotification Charging; the transaction's id (0 when the
        station answers the tag other than Accepted: no charging, StopTransactionOnInvalidId)."""
        answer = await self.call(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=round(self.model.energy_wh),
                timestamp=iso(self.clock.time()),
            )
        )  # fmt: skip
        if answer.id_tag_info.get("status") != AuthorizationStatus.accepted:
            return 0
        self.model.transaction = int(answer.transaction_id)
        await self._status(ChargePointStatus.charging)
        return self.model.transaction

    async def unplug(self) -> None:
        """StopTransaction and StatusNotification Available."""
        if self.model.transaction is None:
            return
        number, self.model.transaction = self.model.transaction, None
        await self.call(
            call.StopTransaction(
                meter_stop=round(self.model.energy_wh), timestamp=iso(self.clock.time()),
                transaction_id=number,
            )
        )  # fmt: skip
        await self._status(ChargePointStatus.available)

    async def step(self, demand_w: float, seconds: float) -> float:
        """Charge for the ``seconds`` that end now (the clock's time) at the vehicle's
        ``demand_w`` within the limit in force, then report MeterValues; the power drawn."""
        now = self.clock.time()
        power = self.model.step(demand_w, seconds, now)
        energy = f"{self.model.energy_wh:.1f}"
        sampled = [
            {"value": f"{power:.1f}", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": energy, "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        ]
        await self.call(
            call.MeterValues(
                connector_id=1, transaction_id=self.model.transaction,
                meter_value=[{"timestamp": iso(now), "sampledValue": sampled}],
            )
        )  # fmt: skip
        return power

    async def _status(self, status: ChargePointStatus) -> None:
        await self.call(
            call.StatusNotification(
                connector_id=1, error_code=ChargePointErrorCode.no_error, status=status
            )
        )


@contextlib.asynccontextmanager
async def charge_point(
    url: str,
    cp_id: str,
    key: str,
    model: ChargerModel,
    clock: Clock,
    events: EventSink,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[SimulatedChargePoint]:
    """Dial ``url + cp_id`` as charge point ``cp_id`` with AuthorizationKey ``key`` (over
    TLS when ``ssl_context`` is given) and serve its messages for the ``async with`` block.
    :class:`OcppRefused` (and a security event) when either side refuses the other."""
    token = base64.b64encode(f"{cp_id}:{key}".encode()).decode()
    source = f"charge point {cp_id}"
    try:
        connection = await connect(
            url + cp_id,
            ssl=ssl_context,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
            open_timeout=5,
        )
    except ssl.SSLError as error:
        detail = "the central system's TLS certificate did not verify"
        events.record(SecurityEvent(EventKind.KEY, source, detail, clock.time()))
        raise OcppRefused(detail) from error
    except InvalidStatus as error:
        detail = f"the central system refused us ({error.response.status_code})"
        events.record(SecurityEvent(EventKind.AUTHENTICATION, source, detail, clock.time()))
        raise OcppRefused(detail) from error
    device = SimulatedChargePoint(cp_id, connection, model, clock)
    task = asyncio.create_task(device.start())
    try:
        yield device
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await connection.close()
