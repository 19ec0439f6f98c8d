"""The shapes of the API's main answers, as Pydantic models: FastAPI checks each answer
against its model and ``/openapi.json`` (and so ``/docs``) describes them. The JSON is what the
routes always answered (the README's examples and the tests read it): a model names the
fields, it renames none. A meter's entry lets through fields added beside its own (a meter's
relay state), so a route can grow without a model change breaking it."""

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlertOut",
    "CommandOut",
    "CompletenessOut",
    "EventOut",
    "FleetOut",
    "LatestOut",
    "LoadOut",
    "LoadPointOut",
    "MeterOut",
    "MeterRowOut",
    "MetersPageOut",
    "OperationalEventOut",
    "ReadingOut",
    "ReadingsPageOut",
    "SummaryOut",
    "TerminalOut",
]


class SummaryOut(BaseModel):
    """``/api/summary``: the station in a few numbers."""

    meters: int = Field(description="meters registered")
    terminals_online: int = Field(description="terminals whose heartbeats keep coming")
    readings_stored: int
    security_events: int
    open_alerts: int
    verified: int | None = Field(description="answers the cryptographic device verified")
    refused: int = Field(description="exchanges the station refused")


class MeterOut(BaseModel):
    """A registered meter and the terminal it is registered behind."""

    model_config = ConfigDict(extra="allow")
    address: str = Field(description="12 digits")
    terminal: str = Field(description="12 hex digits")


class LatestOut(BaseModel):
    """A meter's latest value of the quantity asked for."""

    time: int = Field(description="POSIX seconds")
    value: float


class MeterRowOut(MeterOut):
    """A meter of a page, with its latest value (null before any)."""

    latest: LatestOut | None


class MetersPageOut(BaseModel):
    """``/api/meters/page``."""

    meters: list[MeterRowOut]
    total: int = Field(description="meters matching q")
    offset: int = Field(description="how many of them come before this page")
    next: str | None = Field(description="the `after` of the next page; null on the last")


class ReadingOut(BaseModel):
    """A stored reading, named and with its unit."""

    meter: str
    quantity: str = Field(description="OAD, after the record OAD and '/' for a frozen value")
    time: int = Field(description="POSIX seconds (the freeze time of a frozen value)")
    value: float = Field(description="rounded to the meter's scaler")
    name: str
    unit: str | None
    at: str = Field(description="ISO 8601 UTC")


class ReadingsPageOut(BaseModel):
    """A page of readings (or freezes), newest first."""

    readings: list[ReadingOut]
    next: str | None = Field(description="the `cursor` of the next page; null on the last")


class EventOut(BaseModel):
    """A stored security event."""

    id: int
    time: float
    kind: str
    source: str
    detail: str
    meter: str | None
    received: float | None


class OperationalEventOut(BaseModel):
    """A stored operational event (over-current, voltage, alarms...)."""

    id: int
    time: float
    kind: str
    meter: str
    detail: str
    received: float | None
    number: int | None = Field(None, description="the meter's event record number (2022)")
    ended: float | None = Field(None, description="when it ended; null while it lasts")


class AlertOut(BaseModel):
    """An alert of the security monitor."""

    id: int
    rule: str
    severity: str = Field(description="info, warning or critical")
    subject: str
    opened: float
    closed: float | None
    count: int = Field(description="events that matched")
    evidence: str
    last: float | None = Field(description="when the latest matching event arrived")


class CommandOut(BaseModel):
    """A remote command and each meter's outcome."""

    id: int
    kind: str
    meters: list[str]
    issued_by: str
    issued_at: float
    argument: str
    state: str
    approved_by: str | None
    results: dict[str, str] = Field(description="meter -> outcome")
    updated_at: float
    reason: str = Field(description="why it waits for a second person, if it does")


class CompletenessOut(BaseModel):
    """Collection completeness: readings of the 15-minute curve expected and arrived."""

    meters: int
    expected: int
    arrived: int
    completeness: float | None = Field(description="arrived / expected; null if none is due")


class TerminalOut(CompletenessOut):
    """A terminal's health and its share of the day's collection."""

    terminal: str
    online: bool
    last_seen: float | None = Field(description="its last login or heartbeat, POSIX seconds")
    last_seen_at: str | None = Field(description="the same, ISO 8601 UTC")
    exchanges: int = Field(description="exchanges it relayed")
    refused: int = Field(description="exchanges of it the station refused")
    meters_behind: int = Field(description="its meters silent for three collection intervals")


class FleetOut(BaseModel):
    """``/api/fleet``: a UTC day's collection completeness, per terminal and for the fleet."""

    day: str = Field(description="YYYY-MM-DD, UTC")
    time_zone: str = Field(description="the zone of every time: UTC")
    interval: int = Field(description="the collection interval, seconds")
    due: int = Field(description="quarter hours of the day due by now")
    fleet: CompletenessOut
    terminals: list[TerminalOut]


class LoadPointOut(BaseModel):
    """The fleet's load in the interval ending at ``time``."""

    time: int
    at: str = Field(description="ISO 8601 UTC")
    energy: float = Field(description="kWh")
    power: float = Field(description="kW, the mean over the interval")
    meters: int = Field(description="meters counted")


class LoadOut(BaseModel):
    """``/api/fleet/load``: the fleet's total load per collection interval."""

    interval: int
    time_zone: str
    points: list[LoadPointOut]
