"""The station's side of OCPP 1.6J, without the socket: who may connect, what they reported,
and the charging profile that carries each interval's limit.

Theory of operation. A charge point connects to the station's central system over a
websocket at ``.../ocpp/<charge point id>`` and authenticates with HTTP Basic (OCPP 1.6
Security Whitepaper, edition 3, security profile 1 over ``ws://`` and profile 2 over
``wss://``: the user name is the charge point's identity, the password its AuthorizationKey,
which the central system keeps only as a salted hash). :class:`ChargePointRegistry` holds
those hashes, admits or refuses a connection from its ``Authorization`` header (a refusal is
a security event that does not say which check failed) and keeps what each admitted charge
point reported: boot, status, transactions and metered power.

The station delivers a limit schedule as ``SetChargingProfile`` (OCPP 1.6 section 5.16 and
3.13): :func:`charging_profile` turns one limit per interval into an absolute
``ChargingSchedule`` in W, a ``TxProfile`` bound to the running transaction or, with none
running, a ``TxDefaultProfile`` for the next one. Consecutive equal limits become one period.
Time is passed in (``now``, POSIX seconds); the salt of a new key is too.

Hardening (docs/security.md, "OCPP: lockout and driver tags"): failed Basic-auth attempts are
counted per charge point identity and per source address (:class:`~wattguard.station.lockout.
Lockout`): five failures from a source, or ten naming an identity, lock it out for a minute,
doubling on each further lockout up to an hour, each lockout a LOCKOUT security event; while
locked, attempts are refused before any key is hashed. Driver ID tags are checked against a
whitelist (:meth:`ChargePointRegistry.allow_tag`): Authorize and StartTransaction answer
``Invalid`` for a tag not on it (an UNAUTHORISED security event).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ocpp.v16 import datatypes, enums

from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.station.lockout import Lockout

__all__ = [
    "ChargePointRegistry",
    "ChargePointState",
    "MeterSample",
    "charging_profile",
    "iso",
    "parse_iso",
]

#: The scrypt cost of a stored AuthorizationKey hash (RFC 7914 parameters; 4 MiB, ~10 ms).
_SCRYPT = {"n": 2**12, "r": 8, "p": 1}
#: OCPP 1.6 Security Whitepaper: an AuthorizationKey is 16 to 20 bytes (we take up to 40
#: printable characters, so a hex-encoded 20-byte key fits).
MIN_KEY, MAX_KEY = 16, 40
SOURCE = "station/ocpp"
_NOBODY = bytes(16)  # the salt hashed for an unknown identity, so it answers as slowly


def iso(now: float) -> str:
    """POSIX seconds as the ISO 8601 UTC time OCPP carries (``2026-12-06T13:00:00Z``)."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """An OCPP (ISO 8601) time as POSIX seconds; a time without a zone is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One MeterValues sample: when, the active power (W) and the energy register (Wh)."""

    at: float
    power_w: float | None
    energy_wh: float | None


@dataclass
class ChargePointState:
    """What one charge point told the station: boot data, connector status, the running
    transaction and its meter samples (newest last)."""

    model: str = ""
    vendor: str = ""
    status: str = "Unknown"
    transaction: int | None = None
    connected: bool = False
    samples: list[MeterSample] = field(default_factory=list)


class ChargePointRegistry:
    """The charge points the station knows: their key hashes and what they reported.

    ``protected=False`` admits any charge point with any (or no) key and any driver tag: the
    attack harness's baseline, the central system as it would be without security profile 1.
    ``id_tags``: the driver ID tags accepted (more with :meth:`allow_tag`).
    """

    def __init__(
        self, events: EventSink, *, protected: bool = True, id_tags: Iterable[str] = ()
    ) -> None:
        self.events = events
        self.protected = protected
        self.states: dict[str, ChargePointState] = {}
        self.id_tags = set(id_tags)
        #: Failed logins per identity (a guesser naming a victim locks it out too, so the
        #: limit is higher than per source) and per source address.
        self.by_identity = Lockout(limit=10)
        self.by_source = Lockout(limit=5)
        self._keys: dict[str, tuple[bytes, bytes]] = {}
        self._next_transaction = 1

    def enrol(self, cp_id: str, key: str, salt: bytes) -> None:
        """Register ``cp_id`` with its AuthorizationKey ``key``; only a salted scrypt hash of
        the key is kept. ``salt`` is 16 fresh random bytes."""
        if not MIN_KEY <= len(key) <= MAX_KEY or not key.isprintable():
            raise ValueError(f"an AuthorizationKey is {MIN_KEY} to {MAX_KEY} printable characters")
        self._keys[cp_id] = (salt, _hash(key, salt))
        self.states.setdefault(cp_id, ChargePointState())

    def admit(self, cp_id: str, authorization: str | None, now: float, source: str = "") -> bool:
        """Whether the charge point at path ``cp_id`` with this ``Authorization`` header,
        from ``source`` (its address), may connect; a refusal is a security event (which check
        failed is not said). While ``cp_id`` or ``source`` is locked out, no key is checked."""
        if self.locked_for(cp_id, source, now):
            return False
        ok = self.verify(cp_id, authorization)
        if ok:
            self.succeeded(cp_id, source)
        else:
            self.refused(cp_id, now, source)
        return ok

    def locked_for(self, cp_id: str, source: str, now: float) -> float:
        """Seconds the identity ``cp_id`` or the address ``source`` stays locked out (0:
        it may try)."""
        if not self.protected:
            return 0.0
        return max(self.by_identity.locked(cp_id, now), self.by_source.locked(source, now))

    def succeeded(self, cp_id: str, source: str) -> None:
        """A charge point authenticated: the failures of its identity and source clear."""
        self.by_identity.succeeded(cp_id)
        self.by_source.succeeded(source)

    def verify(self, cp_id: str, authorization: str | None) -> bool:
        """The check of :meth:`admit` alone: no event, no change of state, so a server may run
        it (one scrypt hash) off its event loop."""
        if not self.protected:
            return True
        user, key = _basic(authorization)
        salt, stored = self._keys.get(cp_id, (_NOBODY, b""))  # an unknown id costs a hash too
        matches = hmac.compare_digest(_hash(key, salt), stored)
        return matches and cp_id in self._keys and user == cp_id

    def refused(self, cp_id: str, now: float, source: str = "") -> None:
        """Record the refusal of the charge point at path ``cp_id`` from ``source`` (a
        security event), counted towards a lockout of each (a LOCKOUT event when one starts)."""
        shown = f"charge point {cp_id[:48]!r}" + (f" from {source[:64]}" if source else "")
        detail = f"{shown} refused: unknown identity or wrong key"
        self.events.record(SecurityEvent(EventKind.AUTHENTICATION, SOURCE, detail, now))
        locks = [(f"charge point {cp_id[:48]!r}", self.by_identity.failed(cp_id, now))]
        if source:
            locks.append((f"source {source[:64]}", self.by_source.failed(source, now)))
        for who, seconds in locks:
            if seconds:
                text = f"{who} locked out for {seconds:g} s after repeated failed logins"
                self.events.record(SecurityEvent(EventKind.LOCKOUT, SOURCE, text, now))

    def allow_tag(self, id_tag: str) -> None:
        """Accept the driver ID tag ``id_tag`` (OCPP 1.6 IdToken, at most 20 characters)."""
        if not 0 < len(id_tag) <= 20 or not id_tag.isprintable():
            raise ValueError("an OCPP 1.6 id tag is 1 to 20 printable characters")
        self.id_tags.add(id_tag)

    def authorised(self, cp_id: str, id_tag: str, now: float) -> bool:
        """Whether the driver tag ``id_tag`` presented at ``cp_id`` is on the whitelist; an
        unknown tag is an UNAUTHORISED security event."""
        if not self.protected or id_tag in self.id_tags:
            return True
        detail = f"charge point {cp_id[:48]!r}: unknown driver id tag {id_tag[:20]!r}"
        self.events.record(SecurityEvent(EventKind.UNAUTHORISED, SOURCE, detail, now))
        return False

    def booted(self, cp_id: str, model: str, vendor: str) -> None:
        """A BootNotification from ``cp_id``."""
        state = self.states.setdefault(cp_id, ChargePointState())
        state.model, state.vendor, state.connected = model, vendor, True

    def started(self, cp_id: str) -> int:
        """A StartTransaction from ``cp_id``: the new transaction's id."""
        number, self._next_transaction = self._next_transaction, self._next_transaction + 1
        self.states.setdefault(cp_id, ChargePointState()).transaction = number
        return number

    def stopped(self, cp_id: str, transaction: int) -> None:
        """A StopTransaction from ``cp_id`` (a stale id changes nothing)."""
        state = self.states.setdefault(cp_id, ChargePointState())
        if state.transaction == transaction:
            state.transaction = None

    def metered(self, cp_id: str, values: Sequence[dict[str, object]]) -> list[MeterSample]:
        """MeterValues from ``cp_id`` (the ``meterValue`` list, snake_case keys): the samples
        of active power (W) and the energy register (Wh) it carries, kept and returned."""
        state = self.states.setdefault(cp_id, ChargePointState())
        out = [sample for value in values if (sample := _sample(value)) is not None]
        state.samples.extend(out)
        del state.samples[:-10_000]
        return out


def charging_profile(
    limits_w: Sequence[float],
    step_seconds: int,
    start: float,
    *,
    profile_id: int,
    transaction: int | None = None,
    open_ended: bool = False,
) -> datatypes.ChargingProfile:
    """The ``csChargingProfiles`` of a SetChargingProfile.req that caps the power at
    ``limits_w[i]`` during interval ``i`` (``step_seconds`` each) from ``start``: a TxProfile
    of ``transaction``, or a TxDefaultProfile when there is none (OCPP 1.6 section 3.13.2).
    ``open_ended``: no duration, so the last limit holds until a new profile replaces it (a
    charge point that loses the station keeps its last limit rather than its maximum)."""
    if not limits_w or step_seconds <= 0:
        raise ValueError("a charging profile needs at least one limit and a positive step")
    periods: list[datatypes.ChargingSchedulePeriod] = []
    for index, limit in enumerate(limits_w):
        watts = round(max(0.0, float(limit)), 1)
        if not periods or periods[-1].limit != watts:
            periods.append(datatypes.ChargingSchedulePeriod(index * step_seconds, watts))
    schedule = datatypes.ChargingSchedule(
        charging_rate_unit=enums.ChargingRateUnitType.watts,
        charging_schedule_period=periods,
        duration=None if open_ended else len(limits_w) * step_seconds,
        start_schedule=iso(start),
    )
    purpose = enums.ChargingProfilePurposeType
    return datatypes.ChargingProfile(
        charging_profile_id=profile_id,
        stack_level=1 if transaction is not None else 0,
        charging_profile_purpose=purpose.tx_profile if transaction else purpose.tx_default_profile,
        charging_profile_kind=enums.ChargingProfileKindType.absolute,
        charging_schedule=schedule,
        transaction_id=transaction,
    )


def _hash(key: str, salt: bytes) -> bytes:
    return hashlib.scrypt(key.encode(), salt=salt, dklen=32, **_SCRYPT)


def _basic(authorization: str | None) -> tuple[str, str]:
    """(user, password) of an HTTP Basic header (RFC 7617); empty strings when absent or
    malformed."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, sep, password = text.partition(":")
    return (user, password) if sep else ("", "")


def _number(text: object) -> float | None:
    try:
        number = float(str(text))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _sample(value: dict[str, object]) -> MeterSample | None:
    try:
        at = parse_iso(str(value.get("timestamp")))
    except ValueError:
        return None  # a sample without a readable time says nothing
    power = energy = None
    sampled = value.get("sampled_value")
    for item in sampled if isinstance(sampled, list) else []:
        if not isinstance(item, dict):
            continue
        measurand = item.get("measurand", "Energy.Active.Import.Register")
        scale = 1000.0 if str(item.get("unit", "")).startswith("k") else 1.0
        number = _number(item.get("value"))
        if number is None:
            continue
        if measurand == "Power.Active.Import":
            power = number * scale
        elif measurand == "Energy.Active.Import.Register":
            energy = number * scale
    return MeterSample(at, power, energy)
