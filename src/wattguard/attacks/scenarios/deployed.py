"""What the network scenarios share: a small deployment to attack, the utility's own commands
through it, an adversary's tap and transmitter on the power line, and the station's view.

Theory of operation. :func:`fresh_deployment` builds a :class:`Deployment` in virtual time
(the cryptographic device, ESAMs and MACs on, or all off) and runs it for a quarter of an
hour so the terminals are logged in and the meters have been read once. :class:`Tap` sits on a
neighbourhood's HPLC channel (its ``manipulate`` hook): it records every frame on the line and
may rewrite the ones it is told to, as a device clamped onto the power line would.
:func:`transmit` puts the adversary's own bytes on the line. :class:`UtilityCommand` is the
utility's side of a top-up or a parameter write (what the station's dispatch does for trips):
the cryptographic device protects the APDU under the meter's keys (nothing when unprotected)
and it travels in a PROXY TransCommand through the meter's terminal. :class:`StationView`
marks the station's events and alerts before an attack and hands the new ones to the
:class:`~wattguard.attacks.harness.Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from wattguard.attacks.harness import Outcome
from wattguard.attacks.scenarios.common import T0
from wattguard.errors import DecodeError, SecurityError
from wattguard.events import SecurityEvent
from wattguard.meter.device import Meter
from wattguard.network.hplc import Direction
from wattguard.protocol import Control, LinkFrame, ServerAddress, decode_apdu, decode_frame
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.action import ActionResponseNormal
from wattguard.protocol.apdu.common import DAR
from wattguard.protocol.apdu.proxy import ProxyTransCommandRequest, ProxyTransCommandResponse
from wattguard.protocol.apdu.security import Protection, SecurityRequest, SecurityResponse
from wattguard.protocol.apdu.set import SetResponseNormal
from wattguard.protocol.objects import HPLC_PORT, HPLC_SERIAL
from wattguard.runtime.deployment import Deployment, DeploymentConfig, virtual_clock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.station.commands import CommandKind, Role, User

__all__ = [
    "OPERATOR",
    "SEED",
    "Rewrite",
    "StationView",
    "Tap",
    "UtilityCommand",
    "command_frame",
    "fresh_deployment",
    "hexed",
    "meter_of",
    "transmit",
]

OPERATOR = User("otto", Role.OPERATOR)
#: The seed of every scenario's deployment (keys, loads, radio): an attack run is reproducible.
SEED = 0


def fresh_deployment(
    protected: bool,
    *,
    meters: int = 2,
    per_terminal: int = 2,
    warm_up: float = 900.0,
    start: float = T0,
    private_readings: bool = True,
    sealed_bus: bool = False,
) -> Deployment:
    """A new deployment started at ``start`` (default: T0, a midnight) and run for ``warm_up``
    seconds (terminals logged in, the meters read once); ``private_readings`` as the demo's
    meters (False: the standard's plaintext + MAC reads, for attacks on the values' MAC);
    ``sealed_bus``: FEP and station sign and verify what crosses the bus."""
    config = DeploymentConfig(  # seeded: an attack run is reproducible
        meters=meters, per_terminal=per_terminal, start=start, protected=protected, seed=SEED,
        private_readings=private_readings, sealed_bus=sealed_bus,
    )  # fmt: skip
    deployment = Deployment(config, virtual_clock(config))
    deployment.run_virtual(warm_up)
    return deployment


def meter_of(deployment: Deployment, index: int = 0) -> tuple[Neighbourhood, Meter]:
    """The ``index``-th meter of the deployment and its neighbourhood."""
    meters = [(net, meter) for net in deployment.nets for meter in net.meters.values()]
    return meters[index]


def hexed(data: bytes) -> str:
    """The whole of ``data`` in hex, as evidence (the HTML report folds long frames away)."""
    return data.hex()


def command_frame(meter: bytes, apdu: Structure) -> bytes:
    """A client-started frame to ``meter`` carrying ``apdu`` (as a terminal sends it)."""
    return LinkFrame(
        Control(from_server=False, client_started=True), ServerAddress(meter), 0x10,
        apdu.to_bytes(),
    ).to_bytes()  # fmt: skip


def transmit(deployment: Deployment, net: Neighbourhood, meter: bytes, frame: bytes) -> None:
    """The adversary's transmitter on the power line sends ``frame`` to ``meter``."""
    net.channel.send(Direction.DOWN, meter, frame, deployment.clock.time())


Rewrite = Callable[[Direction, bytes, bytes], bytes | None]


@dataclass
class Tap:
    """A device on the power line: records every frame, and rewrites those ``rewrite``
    returns new bytes for (None: let it pass). Installed on ``net.channel``."""

    net: Neighbourhood
    rewrite: Rewrite | None = None
    frames: list[tuple[Direction, bytes, bytes]] = field(default_factory=list)
    rewritten: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.net.channel.manipulate = self._see

    def _see(self, direction: Direction, address: bytes, data: bytes) -> list[bytes]:
        self.frames.append((direction, address, data))
        if self.rewrite is not None:
            changed = self.rewrite(direction, address, data)
            if changed is not None:
                self.rewritten.append(changed)
                return [changed]
        return [data]

    def remove(self) -> None:
        self.net.channel.manipulate = lambda direction, address, data: [data]

    def down(self, meter: bytes) -> list[bytes]:
        return [d for way, a, d in self.frames if way == Direction.DOWN and a == meter]

    def up(self, meter: bytes) -> list[bytes]:
        return [d for way, a, d in self.frames if way == Direction.UP and a == meter]


def apdu_of(frame: bytes) -> Structure | None:
    """The APDU a frame carries (None if it is not one whole decodable frame)."""
    try:
        return decode_apdu(decode_frame(frame).apdu)
    except DecodeError:
        return None


@dataclass
class UtilityCommand:
    """One top-up or parameter write from the utility to one meter, through its terminal.
    ``result`` is "ok" or why not, once the meter's answer is back (see :meth:`send`)."""

    deployment: Deployment
    meter: bytes
    result: str | None = None
    frame: bytes = b""

    def send(self, apdu: Structure) -> None:
        """Protect ``apdu`` (ciphertext + SID_MAC under the meter's keys, by the cryptographic
        device; bare when there is none) and send it in a PROXY TransCommand."""
        hsm = self.deployment.hsm
        request: Structure = apdu
        if hsm is not None:
            request = hsm.protect(
                self.meter, apdu.to_bytes(), protection=Protection.CIPHERTEXT, operator="otto"
            )
        self.frame = command_frame(self.meter, request)
        terminal = self.deployment.station.terminal_of[self.meter.hex()]

        def answered(answer: Structure | None) -> None:
            self.result = self._outcome(request, answer)

        self.deployment.collector.request(
            terminal,
            lambda piid: ProxyTransCommandRequest(piid, HPLC_PORT, HPLC_SERIAL, 30, 1, self.frame),
            answered,
        )

    def _outcome(self, request: Structure, answer: Structure | None) -> str:
        if not isinstance(answer, ProxyTransCommandResponse) or not isinstance(
            answer.answer, bytes
        ):
            return "no answer"
        reply = apdu_of(answer.answer)
        if isinstance(reply, SecurityResponse):
            hsm = self.deployment.hsm
            if reply.payload.dar is not None or hsm is None:
                return f"meter refused: DAR {reply.payload.dar}"
            assert isinstance(request, SecurityRequest)
            try:
                reply = decode_apdu(hsm.open_response(self.meter, request, reply))
            except (SecurityError, DecodeError):
                return "the answer failed verification"
        if isinstance(reply, ActionResponseNormal):
            dar = DAR(int(reply.result.dar))
        elif isinstance(reply, SetResponseNormal):
            dar = DAR(int(reply.dar))
        else:
            return f"unexpected answer {type(reply).__name__}"
        return "ok" if dar == DAR.SUCCESS else f"meter: DAR {dar.name.lower()}"


def trip(deployment: Deployment, meter: bytes, kind: CommandKind = CommandKind.TRIP) -> str:
    """The station's own remote trip (or close) of ``meter``, run to its end: its state."""
    command = deployment.station.issue(OPERATOR, kind, (meter.hex(),))
    deployment.run_virtual(120)
    return deployment.station.commands.get(command.id).state.value


@dataclass
class StationView:
    """The station's events and alerts from the moment it is made."""

    deployment: Deployment
    events_before: int = 0
    alerts_before: int = 0

    def __post_init__(self) -> None:
        storage = self.deployment.storage
        self.events_before = max((e.id for e in storage.events(limit=1)), default=0)
        self.alerts_before = max((a.id for a in storage.alerts(limit=1)), default=0)

    def events(self) -> list[SecurityEvent]:
        stored = self.deployment.storage.events(limit=100_000)
        return [
            SecurityEvent(e.kind, e.source, e.detail, e.time)
            for e in reversed(stored)
            if e.id > self.events_before
        ]

    def alerts(self) -> list[str]:
        return [
            f"{a.rule} ({a.severity}) on {a.subject}, {a.count}x: {a.evidence}"
            for a in reversed(self.deployment.storage.alerts(limit=100_000))
            if a.id > self.alerts_before
        ]

    def into(self, outcome: Outcome) -> Outcome:
        """Put the station's new events and alerts into ``outcome``."""
        outcome.saw(self.events())
        outcome.alerts.extend(self.alerts())
        return outcome
