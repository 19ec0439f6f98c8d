"""Campaigns at the running station: upload, create, approve, start, advance, stop, and the
per-meter work on every tick (see :mod:`wattguard.station.campaigns` for the rules).

Theory of operation. :class:`CampaignRunner` holds every campaign and each meter's progress in
memory and writes each change through :class:`~wattguard.station.campaign_store.CampaignStore`
before it is relied on, so a restarted station restores them and goes on. At each
:meth:`CampaignRunner.tick` (and at once after each answer) the meters of a running campaign's
current wave whose turn it is get their next request through the
:class:`~wattguard.station.campaign_transport.Transport`, at most ``per_terminal`` requests at
a time behind one terminal. A firmware meter's requests are numbered by
:attr:`~wattguard.station.campaigns.MeterProgress.next_block`: 0 starts the transfer, 1..N
write blocks 0..N-1, N+1 reads the running version back (every ``poll`` seconds, at most
``polls`` times, while the meter restarts into the new image or rolls back).

An image is checked at upload as the meter will check it (vendor's SM2 signature, SM3 digest
of the body, vendor id, target module: :class:`~wattguard.meter.management.firmware.
FirmwareImage`); a refused one is never stored, its refusal is a FIRMWARE security event and
an audit entry, and :class:`~wattguard.meter.management.firmware.FirmwareRefused` says which
check failed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from wattguard.clock import Clock
from wattguard.crypto import sm2, sm3
from wattguard.errors import ConfigError
from wattguard.esam.certificate import Certificate
from wattguard.events import EventKind, SecurityEvent
from wattguard.meter.management.firmware import FirmwareImage, FirmwareRefused, Module
from wattguard.protocol import OAD, OMD
from wattguard.station.audit import StationAudit
from wattguard.station.campaign_steps import firmware_step, key_step
from wattguard.station.campaign_store import CampaignStore, StoredImage
from wattguard.station.campaign_transport import (
    ESAM,
    TRANSFER_STATE,
    KeyDevice,
    Outcome,
    Transport,
    block_action,
    start_action,
)
from wattguard.station.campaigns import (
    FINISHED,
    TRANSITIONS,
    Campaign,
    CampaignEvent,
    CampaignPlan,
    CampaignState,
    MeterProgress,
    MeterStep,
    plan_waves,
    wave_verdict,
)
from wattguard.station.collector import Collector
from wattguard.station.commands import (
    Command,
    CommandBook,
    CommandKind,
    CommandRefused,
    CommandState,
    Role,
    User,
)
from wattguard.station.monitor import SecurityMonitor
from wattguard.station.storage import Storage


class StationParts(Protocol):
    """What the runner uses of the :class:`~wattguard.station.service.Station`."""

    storage: Storage
    clock: Clock
    hsm: Any
    collector: Collector
    monitor: SecurityMonitor
    commands: CommandBook
    audit: StationAudit
    terminal_of: dict[str, bytes]

    def registered_terminal(self, meter: str) -> bytes | None: ...

    def issue(
        self, user: User, kind: CommandKind, meters: tuple[str, ...], argument: str = "",
        *, campaign: bool = False,
    ) -> Command: ...  # fmt: skip


__all__ = ["CampaignRunner"]

log = logging.getLogger(__name__)

#: The firmware block size (bytes): an F001 write-file ACTION with its protection fits one
#: HPLC frame.
BLOCK_SIZE = 512
_ACTIVE = frozenset((CampaignState.RUNNING,))


class CampaignRunner:
    """The station's campaigns (see the module docstring)."""

    def __init__(
        self,
        station: StationParts,
        *,
        vendor_key: sm2.PublicKey | None = None,
        vendor_id: str | None = None,
        per_terminal: int = 4,
        poll: float = 60.0,
        polls: int = 10,
    ) -> None:
        self.station = station
        self.store = CampaignStore(station.storage)
        self.vendor_key = vendor_key
        self.vendor_id = vendor_id
        self.per_terminal = per_terminal
        self.poll = poll
        self.polls = polls
        self.transport = Transport(station.collector, station.hsm, station.registered_terminal)
        self.campaigns = {c.id: c for c in self.store.campaigns()}
        self.progress = {c: {p.meter: p for p in self.store.progress(c)} for c in self.campaigns}
        self._images: dict[str, bytes] = {}
        self._busy: dict[tuple[int, str], bytes] = {}  # (campaign, meter) -> terminal

    @property
    def _now(self) -> float:
        return self.station.clock.time()

    def _audit(self, action: str, detail: str) -> None:
        self.station.audit(action, detail)

    # images

    def upload(self, user: User, data: bytes) -> StoredImage:
        """Check and keep a vendor-signed image (once: an image already stored is answered
        as stored). FirmwareRefused (with the failed check) for a bad image."""
        self._need(user, Role.SUPERVISOR, "uploading firmware")
        if self.vendor_key is None:
            raise ConfigError("this station knows no vendor key: firmware cannot be checked")
        try:
            image = FirmwareImage.from_bytes(
                data, self.vendor_key, vendor_id=self.vendor_id, target=Module.MANAGEMENT
            )
        except FirmwareRefused as exc:
            detail = f"{user.name}: uploaded image refused: {exc} [{exc.reason.name.lower()}]"
            self.station.monitor.record(
                SecurityEvent(EventKind.FIRMWARE, "station/firmware", detail, self._now)
            )
            self._audit("refuse", detail)
            raise
        stored = StoredImage(
            sm3.hash(data).hex(), image.vendor_id, str(image.version), len(data), bytes(data),
            user.name, self._now,
        )  # fmt: skip
        if self.store.add_image(stored):
            self._audit("upload", f"firmware {stored.version} ({stored.digest[:16]}, "
                        f"{stored.size} bytes) by {user.name}")  # fmt: skip
        return self.store.image(stored.digest) or stored

    def _image(self, digest: str) -> bytes:
        data = self._images.get(digest)
        if data is None:
            stored = self.store.image(digest)
            if stored is None:
                raise CommandRefused(f"no firmware image {digest[:16]} is stored")
            data = self._images[digest] = stored.image
        return data

    # lifecycle

    def meters_of(self, meters: tuple[str, ...], districts: tuple[str, ...]) -> tuple[str, ...]:
        """The listed meters and every meter registered behind the listed districts'
        terminals (in that order, each once)."""
        chosen = list(meters)
        for district in districts:
            behind = sorted(m for m, t in self.station.terminal_of.items() if t.hex() == district)
            if not behind:
                raise CommandRefused(f"no meter is registered in district {district}")
            chosen.extend(behind)
        return tuple(dict.fromkeys(chosen))

    def create(
        self, user: User, kind: CommandKind, meters: tuple[str, ...], target: str,
        payload: str = "", plan: CampaignPlan | None = None,
    ) -> Campaign:  # fmt: skip
        """A new campaign of ``kind`` over ``meters``, awaiting a second supervisor; ``target``
        is the firmware version, key version or certificate serial; ``payload`` the image's
        digest or the certificate's bytes (hex)."""
        plan = plan or CampaignPlan()
        if kind != CommandKind.FIRMWARE:  # keys and certificates: one wave, the tries kept
            plan = replace(_ONE_WAVE, max_attempts=plan.max_attempts)
        self._check_payload(kind, payload)
        command = self.station.issue(
            user,
            kind,
            meters,
            f"campaign: {kind.value} to {target} ({payload[:16]})",
            campaign=True,
        )
        sizes = plan_waves(len(meters), plan)
        campaign = Campaign(
            command.id, kind, target, payload, plan, user.name, self._now, waves=len(sizes),
            updated_at=self._now,
        )  # fmt: skip
        waves = [k for k, size in enumerate(sizes) for _ in range(size)]
        progress = {
            m: MeterProgress(m, w, updated=self._now) for m, w in zip(meters, waves, strict=True)
        }
        self.store.save_progress(campaign.id, progress.values())
        self.progress[campaign.id] = progress
        self._save(campaign)
        return campaign

    def _check_payload(self, kind: CommandKind, payload: str) -> None:
        if kind == CommandKind.FIRMWARE:
            self._image(payload)
        elif kind in (CommandKind.KEY_UPDATE, CommandKind.CERTIFICATE_UPDATE):
            if not isinstance(self.station.hsm, KeyDevice):
                raise CommandRefused(f"a {kind.value} needs a cryptographic device that makes it")
        else:
            raise CommandRefused(f"a {kind.value} is not a campaign")

    def decided(self, command: Command) -> None:
        """The campaign's command was approved or rejected (Station.approve / reject)."""
        campaign = self.campaigns.get(command.id)
        if campaign is None:
            return
        if command.state == CommandState.REJECTED:
            event = CampaignEvent.REJECT
        elif command.state == CommandState.APPROVED:
            event = CampaignEvent.APPROVE
        else:
            return
        if event in TRANSITIONS[campaign.state]:  # e.g. not once stopped
            self._save(campaign.move(event, self._now))

    def start(self, user: User, campaign_id: int) -> Campaign:
        """Start an approved campaign (its canary wave), or advance one whose wave passed."""
        self._need(user, Role.SUPERVISOR, "starting or advancing a campaign")
        campaign = self.get(campaign_id)
        if campaign.state == CampaignState.APPROVED:
            sent = self.station.commands.sent(campaign.id, self._now)
            self.station.storage.save_command(sent)
            campaign = self._save(campaign.move(CampaignEvent.START, self._now, wave=0))
        else:  # the next wave; in any other state the table refuses, naming it
            event = CampaignEvent.ADVANCE
            if campaign.state != CampaignState.WAVE_DONE:
                event = CampaignEvent.START
            campaign = self._save(campaign.move(event, self._now, wave=campaign.wave + 1))
        self._audit("campaign", f"#{campaign.id} wave {campaign.wave + 1} of "
                    f"{campaign.waves} started by {user.name}")  # fmt: skip
        self.pump(campaign.id)
        return campaign

    def stop(self, user: User, campaign_id: int, reason: str = "") -> Campaign:
        """Stop a campaign: no further request goes out (answers under way are recorded)."""
        self._need(user, Role.OPERATOR, "stopping a campaign")
        return self._stop(self.get(campaign_id), f"stopped by {user.name}" + (
            f": {reason}" if reason else ""))  # fmt: skip

    def _stop(self, campaign: Campaign, reason: str) -> Campaign:
        stopped = self._save(campaign.move(CampaignEvent.STOP, self._now, reason=reason[:500]))
        self._audit("campaign", f"#{campaign.id} stopped: {reason}")
        self._finish_command(stopped)
        return stopped

    def get(self, campaign_id: int) -> Campaign:
        """The campaign ``campaign_id`` (CommandNotFound if none)."""
        campaign = self.campaigns.get(campaign_id)
        if campaign is None:
            self.station.commands.get(campaign_id)  # CommandNotFound for an unknown id
            raise CommandRefused(f"command {campaign_id} is not a campaign")
        return campaign

    def _need(self, user: User, role: Role, what: str) -> None:
        """Refuse (an UNAUTHORISED event, an audit entry, CommandRefused) a user below
        ``role``."""
        if user.role >= role:
            return
        reason = f"{what} needs the {role.name.lower()} role"
        detail = f"{user.name} ({user.role.name.lower()}): {reason}"
        self.station.monitor.record(
            SecurityEvent(EventKind.UNAUTHORISED, "station/campaigns", detail, self._now)
        )
        self._audit("refuse", f"{user.name}: {reason}")
        raise CommandRefused(reason)

    def _save(self, campaign: Campaign) -> Campaign:
        self.store.save_campaign(campaign)
        self.campaigns[campaign.id] = campaign
        return campaign

    def _finish_command(self, campaign: Campaign) -> None:
        command = self.station.commands.get(campaign.id)
        if command.state == CommandState.APPROVED:
            command = self.station.commands.sent(campaign.id, self._now)
        if command.state != CommandState.SENT:
            return
        results = {
            p.meter: "ok" if p.step == MeterStep.DONE else (p.detail or p.step.value)
            for p in self.progress[campaign.id].values()
        }
        done = self.station.commands.finished(campaign.id, results, self._now)
        self.station.storage.save_command(done)

    # the work

    def tick(self) -> None:
        """Send what is due in every running campaign."""
        for campaign in list(self.campaigns.values()):
            if campaign.state in _ACTIVE:
                self.pump(campaign.id)

    def pump(self, campaign_id: int) -> None:
        """Give each meter of the current wave whose turn it is its next request."""
        campaign = self.campaigns[campaign_id]
        if campaign.state not in _ACTIVE:
            return
        now = self._now
        for progress in list(self.progress[campaign_id].values()):
            if progress.wave != campaign.wave or progress.step in FINISHED:
                continue
            if (campaign_id, progress.meter) in self._busy or progress.next_try > now:
                continue
            terminal = self.station.registered_terminal(progress.meter)
            if terminal is None:
                self._update(
                    campaign,
                    replace(progress, step=MeterStep.FAILED, detail="no longer registered"),
                )
                continue
            if sum(1 for t in self._busy.values() if t == terminal) >= self.per_terminal:
                continue
            self._busy[(campaign_id, progress.meter)] = terminal
            self._request(campaign, progress)
            campaign = self.campaigns[campaign_id]
            if campaign.state not in _ACTIVE:
                return

    def _request(self, campaign: Campaign, progress: MeterProgress) -> None:
        meter, operator = progress.meter, campaign.created_by

        def answered(outcome: Outcome) -> None:
            self._busy.pop((campaign.id, meter), None)
            self._answered(campaign.id, meter, outcome)

        if campaign.kind == CommandKind.KEY_UPDATE and progress.next_block == 1:
            self._probe(campaign, meter, answered)
        elif campaign.kind == CommandKind.KEY_UPDATE:
            version = int(campaign.target)
            parameter = self._keys.key_update(bytes.fromhex(meter), version, operator)
            self.transport.action(meter, OMD(ESAM, 7, 0), parameter, operator, answered)
        elif campaign.kind == CommandKind.CERTIFICATE_UPDATE:
            certificate = Certificate.from_bytes(bytes.fromhex(campaign.payload))
            parameter = self._keys.certificate_update(bytes.fromhex(meter), certificate, operator)
            self.transport.action(meter, OMD(ESAM, 8, 0), parameter, operator, answered)
        else:
            self._firmware_request(campaign, progress, answered)

    def _probe(self, campaign: Campaign, meter: str, answered: Callable[[Outcome], None]) -> None:
        """The update's answer was lost: did it arrive? Ask the key version under the new
        keys. The device uses them only to protect this one request (its answer is checked
        under the version the request names); every other exchange stays on the old ones."""
        address, keys = bytes.fromhex(meter), self._keys
        old, pending = keys.key_version(address), [True]

        def heard(outcome: Outcome) -> None:
            if pending[0]:  # answered at once, before the old keys were back
                pending[0] = False
                keys.key_updated(address, old)
            answered(outcome)

        keys.key_updated(address, int(campaign.target))
        try:
            self.transport.read(meter, KEY_VERSION, campaign.created_by, heard)
        finally:
            if pending[0]:
                pending[0] = False
                keys.key_updated(address, old)

    @property
    def _keys(self) -> KeyDevice:
        hsm = self.station.hsm
        if not isinstance(hsm, KeyDevice):
            raise CommandRefused("key and certificate updates need the cryptographic device")
        return hsm

    def _firmware_request(
        self, campaign: Campaign, progress: MeterProgress, answered: Callable[[Outcome], None]
    ) -> None:
        image = self._image(campaign.payload)
        blocks = math.ceil(len(image) / BLOCK_SIZE)
        step, meter, operator = progress.next_block, progress.meter, campaign.created_by
        if step == 0:
            omd, value = start_action(len(image), BLOCK_SIZE, campaign.target)
        elif step <= blocks:
            omd, value = block_action(image, step - 1, BLOCK_SIZE)
        else:
            self.transport.read(meter, TRANSFER_STATE, operator, answered)
            return
        self.transport.action(meter, omd, value, operator, answered)

    def _answered(self, campaign_id: int, meter: str, outcome: Outcome) -> None:
        campaign = self.campaigns[campaign_id]
        progress = self.progress[campaign_id][meter]
        if campaign.state not in _ACTIVE or progress.step in FINISHED:
            return
        now = self._now
        if campaign.kind == CommandKind.FIRMWARE:
            blocks = math.ceil(len(self._image(campaign.payload)) / BLOCK_SIZE)
            moved = firmware_step(campaign, progress, outcome, now, blocks, self.poll, self.polls)
        else:
            moved = key_step(campaign, progress, outcome, now)
            if campaign.kind == CommandKind.KEY_UPDATE and moved.step == MeterStep.DONE:
                # the meter holds the new keys: the device uses them for it from now on
                self._keys.key_updated(bytes.fromhex(meter), int(campaign.target))
        self._update(campaign, replace(moved, updated=now))
        self.pump(campaign_id)

    def _update(self, campaign: Campaign, progress: MeterProgress) -> None:
        self.progress[campaign.id][progress.meter] = progress
        self.store.save_progress(campaign.id, [progress])
        self._judge(campaign.id)

    def _judge(self, campaign_id: int) -> None:
        campaign = self.campaigns[campaign_id]
        if campaign.state not in _ACTIVE:
            return
        wave = [p for p in self.progress[campaign_id].values() if p.wave == campaign.wave]
        finished, reason = wave_verdict(wave, campaign.plan.max_failure_rate)
        if reason:
            self._stop(campaign, f"wave {campaign.wave + 1}: {reason}")
            return
        if not finished:
            return
        if campaign.wave + 1 >= campaign.waves:
            done = self._save(campaign.move(CampaignEvent.LAST_WAVE_PASSED, self._now))
            self._audit("campaign", f"#{campaign.id} done: every wave passed")
            self._finish_command(done)
            return
        passed = self._save(campaign.move(CampaignEvent.WAVE_PASSED, self._now))
        self._audit("campaign", f"#{campaign.id} wave {campaign.wave + 1} passed")
        if passed.plan.auto_advance:
            advanced = passed.move(CampaignEvent.ADVANCE, self._now, wave=passed.wave + 1)
            self._save(advanced)
            self._audit("campaign", f"#{campaign.id} wave {advanced.wave + 1} of "
                        f"{advanced.waves} started by itself")  # fmt: skip


#: F100 attribute 4: the ESAM's symmetric key version (octet-string of one byte).
KEY_VERSION = OAD(ESAM, 4, 0)
#: Key and certificate updates go to all their meters at once.
_ONE_WAVE = CampaignPlan(canary_share=1.0, wave_sizes=(1,), max_failure_rate=0.99)
