"""Signed envelopes on the bus: every message's origin verifiable at its consumer.

Theory of operation. The bus's transport (NATS) authenticates each connection and limits what
it may publish and subscribe (``runtime/buskeys.py`` writes the server's configuration), but a
consumer cannot tell from a NATS message who published it, and anyone inside the transport's
boundary (a misconfigured account, a compromised broker) could still inject. So every service
on the bus has its own SM2 key (:class:`BusIdentity`), every message it publishes travels in
an :class:`Envelope` signed with it, and every consumer checks the envelope against the
:class:`BusDirectory` of the services' public keys before its handler sees the payload.

:class:`SealedBus` is a :class:`~wattguard.network.bus.Bus` over another bus: ``publish``
seals, ``subscribe`` opens; the station and the FEP use it exactly as they use any bus. A
delivered envelope reaches the handler only if, in this order:

1. it decodes (else MALFORMED);
2. its sender is in the directory (else AUTHENTICATION);
3. its signature verifies under that sender's key (else AUTHENTICATION);
4. the subject it was signed for is the one it arrived on, and the sender's role may publish
   there (:func:`may_publish`: an FEP ``up.*`` and ``events.<its own name>``, the station
   ``down.*`` and ``answers.*`` (an ingest worker hands a terminal's answer to the leader:
   runtime/station_roles.py); else UNAUTHORISED). A security event on the bus is therefore
   always attributed: ``events.fep-2`` can only come from fep-2;
5. it is fresh: its sequence (the sender's clock in microseconds, strictly increasing per
   sender across restarts) is within ``max_age`` seconds of ours and ``skew`` ahead at most,
   and above the last one this subscription accepted from that sender (else REPLAY).

Over a stream (NATS JetStream, whose work queues redeliver what a consumer did not
acknowledge, possibly to another worker, possibly long after it was stored), step 5 differs:
the inner bus says which stream message is being delivered (its stream sequence and the time
the server stored it: ``delivery``). The envelope must have been fresh *when stored* (its age
then within ``max_age``, ``skew`` ahead at most), and within that window no *other* stream
message may carry the same envelope (sender, sequence): a redelivery of the same stream
message is accepted, a copy published again is refused (REPLAY). A copy published again
after the window is refused by its age when stored. The record is per process: a copy
injected within ``max_age`` that reaches another ingest worker passes here and is stopped by
the stream's duplicate window (same message id) and the storage's one-reading-once rule
(docs/security.md, "JetStream redelivery").

Each subscription pattern keeps its own high-water mark per sender (the same message goes to
every matching subscription, once each), and keeps it when unsubscribed, so a terminal that
reconnects to the FEP does not reopen a window; a pattern's first mark is the moment it was
subscribed, less ``skew``. Refusals are dropped and recorded as security events, aggregated:
the first of a kind and sender at once, then at most one every ``report_every`` seconds saying
how many were dropped since, so a flood of forgeries cannot fill the station's storage.

Envelope layout (all integers big-endian)::

    1   version (1)
    1   n, the sender's name length
    n   sender name (ASCII)
    8   sequence: the sender's clock in microseconds, strictly increasing
    2   m, the subject length
    m   subject (ASCII)
    4   p, the payload length
    p   payload
    64  SM2 signature r || s over every byte above

The choices (SM2 rather than a MAC, a clock-based sequence) are recorded in docs/network.md.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wattguard.crypto import sm2
from wattguard.errors import ConfigError, DecodeError, IntegrityError
from wattguard.events import EventKind, EventSink, SecurityEvent
from wattguard.network.bus import EVENTS, Bus, Handler, _check, matches

__all__ = [
    "BusDirectory",
    "BusIdentity",
    "BusRole",
    "Envelope",
    "SealedBus",
    "may_publish",
    "may_subscribe",
]

log = logging.getLogger(__name__)

VERSION = 1
_SEQUENCE = struct.Struct(">Q")
_SUBJECT_LEN = struct.Struct(">H")
_PAYLOAD_LEN = struct.Struct(">I")
_SIGNATURE = 64
#: The SM2 distinguishing identifier the bus signs with.
SIGNER_ID = b"wattguard bus"
_MAX_NAME = 64
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class BusRole:
    """The roles of services on the bus (plain strings, as the directory file stores them)."""

    FEP = "fep"
    STATION = "station"
    ALL = (FEP, STATION)


def _publish_patterns(role: str, name: str) -> tuple[str, ...]:
    if role == BusRole.FEP:
        return ("up.*", f"{EVENTS}.{name}")
    if role == BusRole.STATION:
        return ("down.*", "answers.*")
    return ()


def _subscribe_patterns(role: str) -> tuple[str, ...]:
    if role == BusRole.FEP:
        return ("down.*",)
    if role == BusRole.STATION:
        return ("up.*", f"{EVENTS}.*", "answers.*")
    return ()


def may_publish(role: str, name: str, subject: str) -> bool:
    """Whether a service of ``role`` called ``name`` may publish on ``subject``."""
    return any(matches(pattern, subject) for pattern in _publish_patterns(role, name))


def may_subscribe(role: str, pattern: str) -> bool:
    """Whether a service of ``role`` may subscribe to ``pattern`` (it must lie inside one of
    the role's own patterns, token by token)."""
    want = pattern.split(".")
    for allowed in _subscribe_patterns(role):
        tokens = allowed.split(".")
        if len(tokens) == len(want) and all(
            a == w or (a == "*" and w != ">") for a, w in zip(tokens, want, strict=True)
        ):
            return True
    return False


def check_name(name: str) -> str:
    """A service name usable as a subject token and a file name: 1-64 of a-z, 0-9, '-'."""
    allowed = all(c in _NAME_CHARACTERS for c in name)
    if not 0 < len(name) <= _MAX_NAME or not allowed:
        raise ConfigError(f"a bus service name takes 1-64 of a-z, 0-9 and '-', not {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class Envelope:
    """One signed message on the bus (layout in the module docstring)."""

    sender: str
    sequence: int
    subject: str
    payload: bytes
    signature: bytes = b""

    def signed_part(self) -> bytes:
        name, subject = self.sender.encode("ascii"), self.subject.encode("ascii")
        return b"".join((
            bytes((VERSION, len(name))), name, _SEQUENCE.pack(self.sequence),
            _SUBJECT_LEN.pack(len(subject)), subject, _PAYLOAD_LEN.pack(len(self.payload)),
            self.payload,
        ))  # fmt: skip

    def to_bytes(self) -> bytes:
        return self.signed_part() + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Decode; DecodeError (with the offset) when the bytes are not one envelope."""
        at = 0

        def take(n: int) -> bytes:
            nonlocal at
            if at + n > len(data):
                raise DecodeError("bus envelope truncated", offset=at)
            chunk = data[at : at + n]
            at += n
            return chunk

        if take(1)[0] != VERSION:
            raise DecodeError("not a version 1 bus envelope", offset=0)
        try:
            sender = take(take(1)[0]).decode("ascii")
            (sequence,) = _SEQUENCE.unpack(take(8))
            subject = take(_SUBJECT_LEN.unpack(take(2))[0]).decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("bus envelope: a name is not ASCII", offset=at) from None
        payload = take(_PAYLOAD_LEN.unpack(take(4))[0])
        signature = take(_SIGNATURE)
        if at != len(data):
            raise DecodeError("bytes after the bus envelope", offset=at)
        return cls(sender, sequence, subject, payload, signature)


@dataclass(frozen=True)
class BusIdentity:
    """A service's own name, role and SM2 signing key (a secret: keep its file 0600)."""

    name: str
    role: str
    key: sm2.PrivateKey

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.role not in BusRole.ALL:
            raise ConfigError(f"a bus role is one of {', '.join(BusRole.ALL)}, not {self.role!r}")

    def seal(self, subject: str, payload: bytes, sequence: int) -> Envelope:
        envelope = Envelope(self.name, sequence, subject, payload)
        return Envelope(
            self.name, sequence, subject, payload, self.key.sign(envelope.signed_part(), SIGNER_ID)
        )


@dataclass(frozen=True)
class BusDirectory:
    """Every service on the bus: name to (role, SM2 public key). Public: each service holds a
    copy, and trusts exactly the keys in it."""

    services: Mapping[str, tuple[str, sm2.PublicKey]]

    def to_json(self) -> dict[str, dict[str, str]]:
        return {
            name: {"role": role, "sm2": key.to_bytes().hex()}
            for name, (role, key) in sorted(self.services.items())
        }

    @classmethod
    def from_json(cls, raw: object) -> BusDirectory:
        """From :meth:`to_json`'s form; ConfigError when it is not one."""
        if not isinstance(raw, dict):
            raise ConfigError("the bus directory is not a JSON object")
        services: dict[str, tuple[str, sm2.PublicKey]] = {}
        try:
            for name, entry in raw.items():
                role = str(entry["role"])
                if role not in BusRole.ALL:
                    raise ConfigError(f"bus service {name!r} has an unknown role {role!r}")
                services[check_name(str(name))] = (
                    role, sm2.PublicKey.from_bytes(bytes.fromhex(entry["sm2"]))
                )  # fmt: skip
        except (KeyError, TypeError, ValueError, IntegrityError) as exc:
            raise ConfigError(f"the bus directory is malformed: {exc!r}") from None
        return cls(services)


@dataclass
class _Drops:
    """Aggregated refusals of one kind from one sender (see the module docstring)."""

    reported_at: float
    unreported: int = 0


@dataclass
class _Marks:
    """A subscription pattern's high-water sequence per sender, and (over a stream) the
    envelopes accepted within the freshness window: (sender, sequence) -> stream sequence."""

    floor: int
    last: dict[str, int] = field(default_factory=dict)
    stored: dict[tuple[str, int], int] = field(default_factory=dict)


class SealedBus:
    """A :class:`~wattguard.network.bus.Bus` whose messages are signed by their publisher and
    verified by their consumer (see the module docstring).

    ``inner`` carries the envelopes; ``identity`` signs what this service publishes;
    ``directory`` holds the keys of everyone it accepts; ``events`` records refusals;
    ``clock`` is the wall clock in seconds (sequences and freshness use it).
    """

    def __init__(
        self,
        inner: Bus,
        identity: BusIdentity,
        directory: BusDirectory,
        *,
        clock: Callable[[], float],
        events: EventSink | None = None,
        max_age: float = 60.0,
        skew: float = 5.0,
        report_every: float = 60.0,
        delivery: Callable[[], tuple[int, float] | None] | None = None,
    ) -> None:
        self.inner = inner
        self.identity = identity
        self.directory = directory
        self.clock = clock
        self.events = events
        self.max_age = max_age
        self.skew = skew
        self.report_every = report_every
        self.delivery = delivery
        self.published = 0
        self.accepted = 0
        self.refused = 0
        self._sequence = 0
        self._marks: dict[str, list[_Marks]] = {}
        self._drops: dict[tuple[EventKind, str], _Drops] = {}

    def publish(self, subject: str, payload: bytes) -> None:
        _check(subject)
        if not may_publish(self.identity.role, self.identity.name, subject):
            raise ConfigError(f"{self.identity.name} may not publish on {subject!r}")
        self._sequence = max(self._sequence + 1, int(self.clock() * 1_000_000))
        envelope = self.identity.seal(subject, payload, self._sequence)
        self.published += 1
        self.inner.publish(subject, envelope.to_bytes())

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        _check(pattern)
        if not may_subscribe(self.identity.role, pattern):
            raise ConfigError(f"{self.identity.name} may not subscribe to {pattern!r}")
        marks = self._take_marks(pattern)

        def deliver(subject: str, data: bytes) -> None:
            payload = self._open(marks, subject, data)
            if payload is not None:
                handler(subject, payload)

        inner_off = self.inner.subscribe(pattern, deliver)

        def unsubscribe() -> None:
            inner_off()
            self._marks.setdefault(pattern, []).append(marks)

        return unsubscribe

    def _take_marks(self, pattern: str) -> _Marks:
        """The marks a pattern's last subscription left, or fresh ones from now - skew."""
        kept = self._marks.get(pattern)
        if kept:
            return kept.pop()
        return _Marks(floor=int((self.clock() - self.skew) * 1_000_000))

    def _open(self, marks: _Marks, subject: str, data: bytes) -> bytes | None:
        try:
            envelope = Envelope.from_bytes(data)
        except DecodeError as exc:
            return self._refuse(EventKind.MALFORMED, "", f"not a bus envelope on {subject}: {exc}")
        known = self.directory.services.get(envelope.sender)
        if known is None:
            return self._refuse(EventKind.AUTHENTICATION, "",
                                f"envelope on {subject} from an unknown sender")  # fmt: skip
        role, key = known
        sender = envelope.sender
        try:
            key.verify(envelope.signed_part(), envelope.signature, SIGNER_ID)
        except IntegrityError:
            return self._refuse(EventKind.AUTHENTICATION, sender,
                                f"bad signature on {subject} claiming {sender}")  # fmt: skip
        if envelope.subject != subject or not may_publish(role, sender, subject):
            return self._refuse(EventKind.UNAUTHORISED, sender,
                                f"{sender} ({role}) signed for {envelope.subject!r}, "
                                f"which it may not publish on {subject!r}")  # fmt: skip
        stored = None if self.delivery is None else self.delivery()
        if stored is not None:
            return self._open_stored(marks, envelope, subject, stored)
        now = self.clock()
        age = now - envelope.sequence / 1_000_000
        last = marks.last.get(sender, marks.floor)
        if age > self.max_age or age < -self.skew or envelope.sequence <= last:
            return self._refuse(EventKind.REPLAY, sender,
                                f"stale or replayed envelope from {sender} on {subject} "
                                f"({age:.1f} s old)")  # fmt: skip
        marks.last[sender] = envelope.sequence
        self.accepted += 1
        return envelope.payload

    def _open_stored(
        self, marks: _Marks, envelope: Envelope, subject: str, stored: tuple[int, float]
    ) -> bytes | None:
        """Freshness of an envelope delivered from a stream (see the module docstring): it
        was fresh when the server stored it, and no other stream message carried it."""
        sender, (stream_sequence, stored_at) = envelope.sender, stored
        age = stored_at - envelope.sequence / 1_000_000
        key = (sender, envelope.sequence)
        first = marks.stored.get(key, stream_sequence)
        if age > self.max_age or age < -self.skew or first != stream_sequence:
            return self._refuse(EventKind.REPLAY, sender,
                                f"stale or replayed envelope from {sender} on {subject} "
                                f"({age:.1f} s old when stored)")  # fmt: skip
        marks.stored[key] = stream_sequence
        horizon = int((stored_at - self.max_age - 2 * self.skew) * 1_000_000)
        while marks.stored:  # forget what the age check refuses anyway (oldest first)
            oldest = next(iter(marks.stored))
            if oldest[1] >= horizon:
                break
            del marks.stored[oldest]
        self.accepted += 1
        return envelope.payload

    def _refuse(self, kind: EventKind, sender: str, detail: str) -> bytes | None:
        self.refused += 1
        log.info("bus: %s", detail)  # recorded as an event (aggregated) just below
        now = self.clock()
        key = (kind, sender)
        drops = self._drops.get(key)
        if drops is None:
            self._drops[key] = _Drops(now)
            self._record(kind, detail)
        elif now - drops.reported_at >= self.report_every:
            more = drops.unreported
            drops.reported_at, drops.unreported = now, 0
            self._record(kind, detail + (f" ({more} more dropped since)" if more else ""))
        else:
            drops.unreported += 1
        return None

    def flush(self) -> None:
        """Report the dropped messages not reported yet (e.g. at the end of a flood)."""
        now = self.clock()
        for (kind, sender), drops in self._drops.items():
            if drops.unreported:
                self._record(kind, f"{drops.unreported} more envelopes from "
                                   f"{sender or 'unknown senders'} dropped")  # fmt: skip
                drops.reported_at, drops.unreported = now, 0

    def _record(self, kind: EventKind, detail: str) -> None:
        if self.events is not None:
            self.events.record(
                SecurityEvent(kind, f"bus {self.identity.name}", detail[:500], self.clock())
            )
