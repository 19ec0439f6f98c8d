"""``/api/firmware`` and ``/api/campaigns``: vendor-signed images uploaded once, and firmware,
key and certificate campaigns created, approved, started (or advanced), stopped and followed
per meter (the rules of :mod:`wattguard.station.campaigns`; a refusal is 403 with its reason,
an unknown campaign or meter 404, a refused image 422 naming the failed check)."""

import base64
import binascii
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from wattguard.errors import ConfigError, DecodeError
from wattguard.esam.certificate import Certificate
from wattguard.meter.management.firmware import FirmwareRefused
from wattguard.station.api._dependencies import Caller, CurrentStation, address
from wattguard.station.campaign_store import StoredImage
from wattguard.station.campaign_transport import KeyDevice
from wattguard.station.campaigns import Campaign, CampaignPlan
from wattguard.station.commands import CommandKind, CommandNotFound, CommandRefused, UnknownMeter
from wattguard.station.records import shown

__all__ = ["CampaignIn", "ImageIn", "router"]

router = APIRouter()
#: The largest image the API takes (bytes, before base64).
MAX_IMAGE = 4 * 1024 * 1024


class ImageIn(BaseModel):
    """A vendor-signed management-module image, base64 (supervisor role)."""

    image: str = Field(max_length=(MAX_IMAGE * 4) // 3 + 8, description="the image, base64")


class CampaignIn(BaseModel):
    """A campaign to create (supervisor role; a second supervisor approves it): ``kind``
    "firmware upgrade" (``image``: an uploaded image's digest), "key update" (``key_version``:
    default the device's newest) or "certificate update" (``certificate``: hex), to ``meters``
    and every meter of ``districts`` (terminal addresses); a firmware campaign's waves: the
    canary share, then ``wave_sizes`` (the last repeats), stopped when a wave's failure or
    rollback rate passes ``max_failure_rate``."""

    kind: str = Field(max_length=32)
    meters: list[str] = Field(default=[], max_length=10_000)
    districts: list[str] = Field(default=[], max_length=1000)
    image: str = Field("", max_length=64)
    key_version: int | None = Field(None, ge=1, le=255)
    certificate: str = Field("", max_length=8192)
    canary_share: float = Field(0.05, gt=0, le=1)
    wave_sizes: list[int] = Field(default=[10, 50, 200], min_length=1, max_length=32)
    max_failure_rate: float = Field(0.2, ge=0, lt=1)
    auto_advance: bool = False
    max_attempts: int = Field(5, ge=1, le=100)


def _image(stored: StoredImage, new: bool | None = None) -> dict[str, Any]:
    out = {k: v for k, v in asdict(stored).items() if k != "image"}
    if new is not None:
        out["stored"] = "new" if new else "already stored"
    return out


def _status(station: Any, campaign: Campaign) -> dict[str, Any]:
    out = asdict(campaign)
    out["kind"] = campaign.kind.value
    out["state"] = campaign.state.value
    out["plan"]["wave_sizes"] = list(campaign.plan.wave_sizes)
    if campaign.kind == CommandKind.CERTIFICATE_UPDATE:
        out["payload"] = out["payload"][:32] + "..."
    progress = station.campaigns.progress.get(campaign.id, {})
    out["counts"] = dict(Counter(p.step.value for p in progress.values()))
    out["meters"] = [
        {**asdict(p), "step": p.step.value} for p in sorted(
            progress.values(), key=lambda p: (p.wave, p.meter))
    ]  # fmt: skip
    out["command"] = station.commands.get(campaign.id).state.value
    return out


def _answer(station: Any, step: Callable[[], Campaign]) -> dict[str, Any]:
    try:
        return _status(station, step())
    except (CommandNotFound, UnknownMeter) as missing:
        raise HTTPException(404, missing.reason) from None
    except CommandRefused as refused:
        raise HTTPException(403, refused.reason) from None
    except ConfigError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/api/firmware", status_code=201)
async def upload(body: ImageIn, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    try:
        data = base64.b64decode(body.image, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "the image is not base64") from None
    known = {i.digest for i in station.campaigns.store.images()}
    try:
        stored = station.campaigns.upload(caller, data)
    except FirmwareRefused as exc:
        raise HTTPException(422, f"{exc} [{exc.reason.name.lower()}]") from None
    except CommandRefused as refused:
        raise HTTPException(403, refused.reason) from None
    except ConfigError as exc:
        raise HTTPException(409, str(exc)) from None
    return _image(stored, stored.digest not in known)


@router.get("/api/firmware")
async def images(_: Caller, station: CurrentStation) -> list[dict[str, Any]]:
    return [_image(i) for i in station.campaigns.store.images()]


@router.get("/api/campaigns")
async def campaigns(_: Caller, station: CurrentStation) -> list[dict[str, Any]]:
    runner = station.campaigns
    return [_status(station, c) for c in sorted(runner.campaigns.values(), key=lambda c: -c.id)]


@router.get("/api/campaigns/{campaign_id}")
async def campaign(campaign_id: int, _: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(station, lambda: station.campaigns.get(campaign_id))


@router.post("/api/campaigns", status_code=201)
async def create(body: CampaignIn, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    try:
        kind = CommandKind(body.kind.lower())
    except ValueError:
        raise HTTPException(400, f"unknown campaign kind {shown(body.kind)}") from None
    meters = tuple(address(m) for m in body.meters)
    districts = tuple(address(d) for d in body.districts)
    target, payload = _target(station, kind, body)
    try:
        plan = CampaignPlan(
            body.canary_share, tuple(body.wave_sizes), body.max_failure_rate,
            body.auto_advance, body.max_attempts,
        )  # fmt: skip
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None

    def made() -> Campaign:
        chosen = station.campaigns.meters_of(meters, districts)
        return station.campaigns.create(caller, kind, chosen, target, payload, plan)

    return _answer(station, made)


def _target(station: Any, kind: CommandKind, body: CampaignIn) -> tuple[str, str]:
    """What the campaign's meters should report afterwards, and its payload."""
    if kind == CommandKind.FIRMWARE:
        stored = station.campaigns.store.image(body.image.lower())
        if stored is None:
            raise HTTPException(404, f"no uploaded image {shown(body.image)}")
        return stored.version, stored.digest
    if kind == CommandKind.KEY_UPDATE:
        hsm = station.hsm
        if not isinstance(hsm, KeyDevice):
            raise HTTPException(409, "key updates need a cryptographic device that makes them")
        return str(body.key_version or hsm.newest_key_version()), ""
    if kind == CommandKind.CERTIFICATE_UPDATE:
        try:
            certificate = Certificate.from_bytes(bytes.fromhex(body.certificate))
        except (ValueError, DecodeError):
            raise HTTPException(400, "the certificate is not a certificate (hex)") from None
        return str(certificate.serial), certificate.to_bytes().hex()
    raise HTTPException(400, f"a {kind.value} is not a campaign")


@router.post("/api/campaigns/{campaign_id}/approve")
async def approve(campaign_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    def approved() -> Campaign:
        station.campaigns.get(campaign_id)
        station.approve(caller, campaign_id)
        return station.campaigns.get(campaign_id)

    return _answer(station, approved)


@router.post("/api/campaigns/{campaign_id}/reject")
async def reject(campaign_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    def rejected() -> Campaign:
        station.campaigns.get(campaign_id)
        station.reject(caller, campaign_id)
        return station.campaigns.get(campaign_id)

    return _answer(station, rejected)


@router.post("/api/campaigns/{campaign_id}/start")
async def start(campaign_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(station, lambda: station.campaigns.start(caller, campaign_id))


@router.post("/api/campaigns/{campaign_id}/stop")
async def stop(campaign_id: int, caller: Caller, station: CurrentStation) -> dict[str, Any]:
    return _answer(station, lambda: station.campaigns.stop(caller, campaign_id))
