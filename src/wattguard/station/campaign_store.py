"""The campaigns' tables in the station database (schema version 8, :mod:`wattguard.station.
_schema`): firmware images, campaigns and each meter's progress in one.

* ``firmware_images``: an uploaded image, once, under the SM3 digest of its bytes (hex), with
  the vendor, version and size its header states (checked at upload), the bytes as base64 text
  (the same column type on SQLite and PostgreSQL), who uploaded it and when;
* ``campaigns``: one row per campaign, keyed by its command's id; the plan as JSON;
* ``campaign_meters``: one row per meter of a campaign, written at every step, so that a
  restarted station goes on where each meter stood (for a firmware transfer, the next block).

Every value is a parameter; the same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from wattguard.errors import ConfigError
from wattguard.station._sql import SqlStorage
from wattguard.station.campaigns import (
    Campaign,
    CampaignPlan,
    CampaignState,
    MeterProgress,
    MeterStep,
)
from wattguard.station.commands import CommandKind
from wattguard.station.storage import Storage

__all__ = ["CampaignStore", "StoredImage"]

_CAMPAIGN_COLUMNS = (
    "id, kind, target, payload, plan, created_by, created_at, state, wave, waves, reason, "
    "updated_at"
)
_METER_COLUMNS = (
    "campaign, meter, wave, step, next_block, attempts, next_try, reported, detail, updated"
)


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A firmware image as stored: its SM3 digest (hex), vendor, version, size and bytes."""

    digest: str
    vendor: str
    version: str
    size: int
    image: bytes
    uploaded_by: str
    uploaded: float


class CampaignStore:
    """The campaign tables over a station's SQL storage."""

    def __init__(self, storage: Storage) -> None:
        if not isinstance(storage, SqlStorage):
            raise ConfigError("campaigns need the station's SQL storage (SQLite or PostgreSQL)")
        self.storage = storage

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self.storage._read() as cur:
            cur.execute(self.storage._sql(sql), params)
            return list(cur.fetchall())

    # images

    def add_image(self, image: StoredImage) -> bool:
        """Store ``image`` unless one with its digest is stored; whether it was new."""
        if self.image(image.digest) is not None:
            return False
        with self.storage._write() as cur:
            cur.execute(
                self.storage._sql(
                    "INSERT INTO firmware_images (digest, vendor, version, size, image, "
                    "uploaded_by, uploaded) VALUES (?, ?, ?, ?, ?, ?, ?)"
                ),
                (image.digest, image.vendor, image.version, image.size,
                 base64.b64encode(image.image).decode("ascii"), image.uploaded_by,
                 image.uploaded),
            )  # fmt: skip
        return True

    def image(self, digest: str) -> StoredImage | None:
        """The image stored under ``digest``, or None."""
        rows = self._query(
            "SELECT digest, vendor, version, size, image, uploaded_by, uploaded "
            "FROM firmware_images WHERE digest = ?",
            (digest,),
        )
        if not rows:
            return None
        digest, vendor, version, size, text, by, at = rows[0]
        return StoredImage(digest, vendor, version, int(size), base64.b64decode(text), by, at)

    def images(self) -> list[StoredImage]:
        """Every stored image (without its bytes: ``image`` is empty), newest first."""
        rows = self._query(
            "SELECT digest, vendor, version, size, uploaded_by, uploaded FROM firmware_images "
            "ORDER BY uploaded DESC"
        )
        return [StoredImage(d, v, ver, int(s), b"", by, at) for d, v, ver, s, by, at in rows]

    # campaigns

    def save_campaign(self, campaign: Campaign) -> None:
        """Insert or replace ``campaign``'s row."""
        row = (
            campaign.id, campaign.kind.value, campaign.target, campaign.payload,
            json.dumps(asdict(campaign.plan)), campaign.created_by, campaign.created_at,
            campaign.state.value, campaign.wave, campaign.waves, campaign.reason,
            campaign.updated_at,
        )  # fmt: skip
        with self.storage._write() as cur:
            cur.execute(self.storage._sql("DELETE FROM campaigns WHERE id = ?"), (campaign.id,))
            cur.execute(
                self.storage._sql(
                    f"INSERT INTO campaigns ({_CAMPAIGN_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                row,
            )

    def campaigns(self) -> list[Campaign]:
        """Every campaign, newest first."""
        rows = self._query(f"SELECT {_CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id DESC")
        return [_campaign(row) for row in rows]

    def save_progress(self, campaign: int, progress: Iterable[MeterProgress]) -> None:
        """Insert or replace the rows of ``progress`` (one transaction)."""
        rows = [
            (campaign, p.meter, p.wave, p.step.value, p.next_block, p.attempts, p.next_try,
             p.reported, p.detail[:500], p.updated)
            for p in progress
        ]  # fmt: skip
        if not rows:
            return
        with self.storage._write() as cur:
            cur.executemany(
                self.storage._sql("DELETE FROM campaign_meters WHERE campaign = ? AND meter = ?"),
                [(campaign, row[1]) for row in rows],
            )
            cur.executemany(
                self.storage._sql(
                    f"INSERT INTO campaign_meters ({_METER_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                rows,
            )

    def progress(self, campaign: int) -> list[MeterProgress]:
        """Each meter's progress in ``campaign``, by wave, then in the campaign's order."""
        rows = self._query(
            f"SELECT {_METER_COLUMNS} FROM campaign_meters WHERE campaign = ? ORDER BY wave, meter",
            (campaign,),
        )
        return [
            MeterProgress(meter, int(wave), MeterStep(step), int(block), int(attempts),
                          float(next_try), reported, detail, float(updated))
            for _, meter, wave, step, block, attempts, next_try, reported, detail, updated in rows
        ]  # fmt: skip


def _campaign(row: Any) -> Campaign:
    id_, kind, target, payload, plan, by, at, state, wave, waves, reason, updated = row
    fields = json.loads(plan)
    fields["wave_sizes"] = tuple(fields["wave_sizes"])
    return Campaign(
        int(id_), CommandKind(kind), target, payload, CampaignPlan(**fields), by, float(at),
        CampaignState(state), int(wave), int(waves), reason, float(updated),
    )  # fmt: skip
