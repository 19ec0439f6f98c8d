"""Scenario 12: malformed input, by a seeded mutation fuzzer (:mod:`.fuzzing`).

The adversary sends what a parser does not expect, hoping for a crash (a meter that stops
metering, a FEP or an API that goes down), a hang, or input that slips past the checks and
changes state. Each scenario feeds mutations of real traffic to one entry point:

* ``fuzz-codec``: the DL/T 698.45 codec (``decode_apdu``, ``decode_frame``, the stream
  decoder), then a meter's power-line port (codec, security policy, ESAM, server together);
* ``fuzz-fep``: the FEP's per-connection checks (:class:`~wattguard.network.fep.FepSession`)
  on the byte stream of an authenticated terminal;
* ``fuzz-bluetooth``: the meter's Bluetooth service, before pairing and inside a session;
* ``fuzz-api``: the station's REST API: path and query parameters, bodies, tokens.

The attack *succeeds* if anything raises other than the documented refusal, if the component
stops serving legitimate input afterwards, or if the input changed state it should not
(relay, clock, energy; a pairing; a forwarded frame that is not whole and valid; an HTTP 5xx).

These scenarios have **no unprotected baseline** (``baseline=False``): input validation is
not a switch. The codec's checks are the codec, and an "unvalidated" build of it does not
exist to compare against; faking one would prove nothing. The unprotected run feeds the same
input to the unprotected configuration (no ESAM, FEP limits off, an open Bluetooth port, a
deployment without security), which shows what the *other* protections add: there, mutated
input that parses is obeyed (the open Bluetooth port serves whatever APDU arrives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import HOUSE, T0
from wattguard.attacks.scenarios.fuzzing import Mutator, traffic
from wattguard.attacks.scenarios.rigs import meter_rig
from wattguard.crypto import sm2, sm3
from wattguard.errors import DecodeError
from wattguard.events import EventLog, SecurityEvent
from wattguard.meter.bluetooth.access import Role
from wattguard.meter.bluetooth.certificate import HandheldCertificate
from wattguard.meter.bluetooth.handheld import Handheld
from wattguard.meter.bluetooth.pairing import FrameType
from wattguard.meter.device import Meter, MeterConfig
from wattguard.network.fep import FepLimits, FepSession, FrameAdmitted
from wattguard.protocol import OAD, FrameDecoder, LinkFrame, decode_apdu, decode_frame
from wattguard.protocol.apdu.get import GetRequestNormal, GetResponseNormal
from wattguard.randomness import seeded
from wattguard.testing.meter import new_meter

__all__ = ["Findings"]

#: The deployment's first meter, to which the captured power-line reads are addressed.
FUZZ_METER = bytes.fromhex("000001000001")


@dataclass
class Findings:
    """What a fuzz run saw: inputs accepted and refused, and failures (each a string)."""

    accepted: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)

    def call(
        self, what: str, data: bytes, action: Callable[[], object], *, count: bool = True
    ) -> object:
        """Run ``action``; a DecodeError is a refusal, anything else that raises a failure
        (``count``: add the input to the accepted or refused count)."""
        try:
            result = action()
        except DecodeError:
            self.refused += count
            return None
        except Exception as exc:  # what the fuzz is looking for
            self.failures.append(f"{what}({data.hex()[:48]}...): {type(exc).__name__}: {exc}")
            return None
        self.accepted += count
        return result

    def outcome(self, summary: str, evidence: list[str]) -> Outcome:
        head = f"{self.accepted + self.refused + len(self.failures):,} inputs: "
        counts = f"{self.accepted} accepted, {self.refused} refused, {len(self.failures)} failed"
        return Outcome(
            bool(self.failures), head + counts + "; " + summary, [*self.failures[:8], *evidence]
        )


# --- the codec, and a meter's power-line port ----------------------------------------------


@scenario(
    12,
    "fuzz-codec",
    "mutated frames and APDUs to the 698 codec and to a meter's power-line port",
    (Protection.BOUNDARY, Protection.MONITORING),
    baseline=False,
)
def fuzz_codec(protected: bool) -> Outcome:
    corpus = traffic()
    frames = corpus.hplc_down + corpus.hplc_up + corpus.wan_up + corpus.wan_down
    mutator = Mutator(1201, corpus.apdus)
    found = Findings()
    for _ in range(3000):
        apdu = mutator.mutate(mutator.choice(corpus.apdus))
        found.call("decode_apdu", apdu, lambda: decode_apdu(apdu))  # noqa: B023
    for _ in range(1500):
        frame = mutator.frame(mutator.choice(frames))
        found.call("decode_frame", frame, lambda: decode_frame(frame))  # noqa: B023
    _stream(mutator, frames, found)
    meter_summary, events = _meter_port(protected, mutator, corpus.hplc_down, found)
    outcome = found.outcome(meter_summary, [f"seed frames: {len(frames)}"])
    return outcome.saw(events)


def _stream(mutator: Mutator, frames: list[bytes], found: Findings) -> None:
    """Mutated and good frames, joined and cut at random: every frame the stream decoder
    yields must be whole and valid."""
    stream = b"".join(
        mutator.frame(mutator.choice(frames))
        if mutator.random.random() < 0.7
        else mutator.choice(frames)
        for _ in range(300)
    )
    decoder = FrameDecoder()
    at = 0
    while at < len(stream):
        size = mutator.random.randint(1, 300)
        decoder.receive_data(stream[at : at + size])
        at += size
        for frame in found.call("FrameDecoder", stream[:0], decoder.frames, count=False) or []:  # type: ignore[attr-defined]
            data = frame.to_bytes()
            try:
                decode_frame(data)
            except DecodeError:
                found.failures.append(f"the stream decoder yielded a bad frame {data.hex()[:48]}")


def _meter_port(
    protected: bool, mutator: Mutator, seeds: list[bytes], found: Findings
) -> tuple[str, list[SecurityEvent]]:
    """Mutated reads on the power line to a meter; afterwards it must still answer a read,
    with its relay, clock and energy untouched."""
    rig = meter_rig(FUZZ_METER, T0, MeterConfig(protected=protected))
    meter = rig.meter
    now = T0 + 60.0
    meter.measure(HOUSE, 60.0, now)
    before = _state(meter)
    answered = 0
    for _ in range(400):
        frame = mutator.frame(mutator.choice(seeds))
        receive = lambda: meter.receive_data(frame, now)  # noqa: B023, E731
        found.call("meter.receive_data", frame, receive, count=False)
        answered += bool(meter.data_to_send())
    after = _state(meter)
    if after != before:
        found.failures.append(f"the meter's state changed: {before} -> {after}")
    try:
        answer = rig.command(GetRequestNormal(1, OAD(0x0010, 2, 0)), now + 1)
        alive = isinstance(answer, GetResponseNormal) and answer.result.result is not None
    except Exception as exc:  # the meter no longer answers as it should
        alive, answer = False, exc  # type: ignore[assignment]
    if not alive:
        found.failures.append(f"the meter no longer answers a read: {answer}")
    summary = (
        f"a meter answered {answered} of 400 mutated frames, still answers a read, its relay, "
        "clock and energy unchanged"
    )
    return (summary if alive and after == before else "the meter was affected"), list(
        meter.log.security
    )


def _state(meter: Meter) -> tuple[object, ...]:
    m = meter.management
    return (m.relay.state, round(m.calendar() - m.now), tuple(m.registers.forward_active))


# --- the FEP's checks ------------------------------------------------------------------------

_OPEN = FepLimits(
    max_connections=10**9, max_per_host=10**9, frames_per_second=1e12, frame_burst=10**9,
    bytes_per_second=1e15, byte_burst=10**12, max_frame=16383 * 1024, malformed_limit=10**9,
    flood_limit=10**9,
)  # fmt: skip


@scenario(
    12,
    "fuzz-fep",
    "mutated frames and garbage in an authenticated terminal's stream to the FEP",
    (Protection.BOUNDARY, Protection.MONITORING),
    baseline=False,
)
def fuzz_fep(protected: bool) -> Outcome:
    corpus = traffic()
    mutator = Mutator(1202, corpus.wan_up)
    login = corpus.wan_up[0]
    terminal = decode_frame(login).address.address
    seeds = corpus.wan_up + corpus.wan_down  # the station's direction is malformed here
    events = EventLog()
    found = Findings()
    now, closed = 0.0, 0
    for _ in range(40):
        session = FepSession(
            terminal if protected else None, now, FepLimits() if protected else _OPEN, events
        )
        _admitted(session, login, now)
        pieces = []
        for _ in range(40):
            r = mutator.random.random()
            pieces.append(
                mutator.frame(mutator.choice(seeds))
                if r < 0.7
                else mutator.mutate(mutator.choice(seeds)[:8])
                if r < 0.8
                else mutator.choice(corpus.wan_up)
            )
        stream = b"".join(pieces)
        at = 0
        while at < len(stream):
            chunk = stream[at : at + mutator.random.randint(1, 512)]
            at += len(chunk)
            receive = lambda: _admitted(session, chunk, now)  # noqa: B023, E731
            forwarded = found.call("FepSession.receive_data", chunk, receive, count=False)
            for frame in forwarded or []:  # type: ignore[attr-defined]
                _check_forwarded(frame, terminal, protected, found)
            now += 0.01
        closed += session.closed is not None
        found.accepted += session.forwarded
        found.refused += session.dropped
    found.refused += sum("undecodable" in e.detail for e in events.events)
    # nothing lost: a new connection of the same terminal is served
    fresh = FepSession(terminal if protected else None, now, FepLimits(), EventLog())
    passed = _admitted(fresh, b"".join(corpus.wan_up[:5]), now)
    if len(passed) != 5:
        found.failures.append(f"a fresh session passed {len(passed)} of 5 good frames")
    outcome = found.outcome(
        f"{closed} of 40 connections closed by the checks; a fresh one passes good frames",
        [f"terminal {terminal.hex()}, login {login.hex()[:64]}..."],
    )
    return outcome.saw(events.events)


def _admitted(session: FepSession, data: bytes, now: float) -> list[LinkFrame]:
    """Feed ``data`` to the session; the frames it admitted."""
    session.receive_data(data, now)
    return [e.frame for e in iter(session.next_event, None) if isinstance(e, FrameAdmitted)]


def _check_forwarded(frame: object, terminal: bytes, protected: bool, found: Findings) -> None:
    data = frame.to_bytes()  # type: ignore[attr-defined]
    try:
        decoded = decode_frame(data)
    except DecodeError:
        found.failures.append(f"forwarded a frame that does not decode: {data.hex()[:48]}")
        return
    if not decoded.control.from_server:
        found.failures.append(f"forwarded a frame in the station's direction: {data.hex()[:48]}")
    elif protected and decoded.address.address != terminal:
        found.failures.append(f"forwarded a frame of another terminal: {data.hex()[:48]}")


# --- the meter's Bluetooth service -----------------------------------------------------------


@scenario(
    12,
    "fuzz-bluetooth",
    "mutated pairing and session frames to the meter's Bluetooth service",
    (Protection.IDENTITY, Protection.MONITORING),
    baseline=False,
)
def fuzz_bluetooth(protected: bool) -> Outcome:
    meter = _bluetooth_meter(protected)
    now = T0 + 3600.0
    seeds = _bluetooth_frames(meter, now)
    mutator = Mutator(1203, seeds)
    found = Findings()
    before = _state(meter)
    marks = len(meter.log.security)
    for _ in range(500):
        now += 1.0
        frame = mutator.mutate(mutator.choice(seeds))
        answer = found.call("receive_bluetooth", frame, _radio(meter, frame, now))
        if answer == b"":
            found.failures.append(f"no answer to {frame.hex()[:48]}")
    # inside a paired session: altered sealed frames
    handheld = _certified_handheld()
    now += meter.bluetooth.lockout.remaining(now) + 1  # type: ignore[union-attr]
    handheld.pair_certificate(lambda frame: meter.receive_bluetooth(frame, now))
    for _ in range(200):
        sealed = handheld.seal(_READ)
        frame = mutator.mutate(sealed)
        found.call("receive_bluetooth", frame, _radio(meter, frame, now))
    fuzz_events = list(meter.log.security)[marks:]
    paired = [e.detail for e in fuzz_events if e.detail.startswith("success")]
    if protected and paired != ["success: #7 HH-7 paired by certificate as MAINTENANCE"]:
        found.failures.append(f"mutated frames paired: {paired}")
    if _state(meter) != before:
        found.failures.append(f"the meter's state changed: {before} -> {_state(meter)}")
    alive = _reads(handheld, meter, now)
    if not alive:
        found.failures.append("the paired handheld can no longer read")
    found.accepted, found.refused = _tally(fuzz_events)
    outcome = found.outcome(
        "relay, clock and energy unchanged; "
        + ("the paired handheld still reads" if alive else "the session is broken"),
        [f"seed frames: {len(seeds)}"],
    )
    return outcome.saw(fuzz_events)


_READ = GetRequestNormal(1, OAD(0x0010, 2, 0)).to_bytes()


def _bluetooth_meter(protected: bool) -> Meter:
    from wattguard.attacks.scenarios.rigs import CA

    config = MeterConfig(protected=protected, bluetooth_pin="482913", handheld_ca=CA.public_key)
    meter = new_meter(FUZZ_METER, config=config)
    meter.power_up(T0)
    for minute in range(1, 61):
        meter.measure(HOUSE, 60.0, T0 + 60 * minute)
    return meter


def _certified_handheld() -> Handheld:
    from wattguard.attacks.scenarios.rigs import CA

    key = sm2.PrivateKey.from_bytes(sm3.hash(b"wattguard attacks: fuzz handheld"))
    certificate = HandheldCertificate.issue(
        CA, serial=7, handheld_id="HH-7", role=Role.MAINTENANCE, public_key=key.public_key,
        valid_from=int(T0 - 86400), valid_until=int(T0 + 86400 * 365),
    )  # fmt: skip
    return Handheld("HH-7", private_key=key, certificate=certificate, random=seeded(b"HH-7"))


def _bluetooth_frames(meter: Meter, now: float) -> list[bytes]:
    """The frames of a PIN pairing, a certificate pairing, sealed and plain requests, as
    recorded on the air next to a meter of the same make."""
    twin = _bluetooth_meter(True)
    seen: list[bytes] = []

    def radio(frame: bytes) -> bytes:
        seen.append(frame)
        return twin.receive_bluetooth(frame, now)

    pin = Handheld("tech", random=seeded(b"tech"))
    pin.pair_pin(radio, "482913")
    pin.request(radio, _READ)
    certified = _certified_handheld()
    certified.pair_certificate(radio)
    certified.request(radio, _READ)
    seen.append(bytes([FrameType.PLAIN]) + _READ)
    return seen


def _radio(meter: Meter, frame: bytes, now: float) -> Callable[[], bytes]:
    return lambda: meter.receive_bluetooth(frame, now)


def _reads(handheld: Handheld, meter: Meter, now: float) -> bool:
    try:
        answer = decode_apdu(handheld.request(lambda f: meter.receive_bluetooth(f, now), _READ))
    except Exception:  # the session or the meter is broken
        return False
    return isinstance(answer, GetResponseNormal) and answer.result.result is not None


def _tally(events: list[SecurityEvent]) -> tuple[int, int]:
    """(accepted, refused) as the service's events tell them."""
    accepted = sum(e.detail.startswith("success") for e in events)
    return accepted, len(events) - accepted
