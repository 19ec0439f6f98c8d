"""Scenario 11: a frozen loop, or acknowledgements held back, drives a PIID collision that
used to leave terminals logged out for good.

A terminal's requests to the station (its logins and heartbeats, its report batches) each
carry a 6-bit PIID, from separate counters. When the station's answers reach a terminal late
(its process was stopped, SIGSTOP or a long pause, and caught up on its timers before reading
its socket; or someone on the path held the answers back), the terminal has meanwhile timed
out its batches, sent them again under new PIIDs, missed three heartbeats and logged in again.
The late answers then arrive, acknowledgements of batches under every PIID among them, and
one of them carries the new login's PIID.

Matched by PIID alone (the terminal's matching before issue #13), that acknowledgement took
the pending login: the station's real answer to the login then answered nothing, and the
terminal stayed LOGGING_IN with no timer, never reporting again, while the station still
counted it online. Matched by service and PIID (the protection), the stale acknowledgements
answer nothing (each recorded as a protocol violation), the login completes, and the
terminal reports again.

The rig: a deployment in virtual time (four terminals of two meters, the cryptographic device
on). The adversary holds every byte the station sends each terminal, from the moment it is
online, until the terminal has logged in again; then it lets them all through at once. The
unprotected run gives the terminals the old matching (a :class:`ServerConnection` that
matches an answer by PIID alone; it exists only here). The attack succeeds when a meter has
not reported again within two collection rounds (30 minutes) of the release.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from wattguard.attacks.harness import Outcome, Protection, scenario
from wattguard.attacks.scenarios.common import T0
from wattguard.network.terminal import Terminal
from wattguard.protocol import ServerAddress, ServerConnection
from wattguard.protocol.apdu import Structure
from wattguard.protocol.apdu.security import SecurityResponse
from wattguard.protocol.state import Link
from wattguard.runtime.deployment import REALTIME, Deployment, DeploymentConfig, virtual_clock
from wattguard.runtime.simulation import Neighbourhood
from wattguard.station.watch import SILENT_ROUNDS

__all__ = ["ROUNDS"]

#: Collection rounds after the release within which every meter must report again.
ROUNDS = 2
_STEP = 10.0  # seconds of virtual time between two looks at the terminals
_LONGEST_HOLD = 3600.0


class _PiidOnly(ServerConnection):
    """The terminal's link before issue #13, for the unprotected run only: an answer is
    matched to whichever request awaits its PIID, whatever the service (a REPORT-Response can
    complete a login), and a login has no deadline of its own."""

    def _match(self, response: Structure) -> Structure | None:
        if isinstance(response, SecurityResponse):
            return super()._match(response)
        service = int(getattr(response, "piid", 0)) & 0x3F
        for key in list(self._pending):
            if key[1] == service:
                return self._pending.pop(key).request
        return None

    @property
    def _login_deadline(self) -> float | None:
        return None


def _old_matching(terminal: Terminal) -> Callable[[], ServerConnection]:
    def upstream() -> ServerConnection:
        return _PiidOnly(
            ServerAddress(terminal.address), timeout=terminal.upstream_timeout,
            calendar=lambda now: now, heartbeat=terminal.heartbeat,
        )  # fmt: skip

    return upstream


class _Hold:
    """What the station sends one terminal, held back until the terminal logs in again."""

    def __init__(self, net: Neighbourhood) -> None:
        self.net = net
        self.deliver = net.from_upstream
        self.held: deque[bytes] = deque()
        self.holding = True
        self.released: float | None = None
        setattr(net, "from_upstream", self.take)  # noqa: B010 (the adversary's tap)

    def take(self, data: bytes) -> None:
        if self.holding:
            self.held.append(data)
        else:
            self.deliver(data)

    def look(self, now: float) -> None:
        """Release everything once the terminal is logging in again (its first login after the
        hold began, or a later one)."""
        if self.holding and self.net.terminal.upstream.link == Link.LOGGING_IN:
            self.holding, self.released = False, now
            while self.held:
                self.deliver(self.held.popleft())


def _attack(protected: bool) -> tuple[Deployment, dict[bytes, int]]:
    """Run the attack; the deployment afterwards, and per terminal how many of its meters
    reported again within :data:`ROUNDS` collection rounds of the release."""
    config = DeploymentConfig(meters=8, per_terminal=2, start=T0, protected=True)
    deployment = Deployment(config, virtual_clock(config))
    for net in deployment.nets:
        net.terminal.events = deployment.events  # the terminals' own logs, for the evidence
        if not protected:
            setattr(net.terminal, "_new_upstream", _old_matching(net.terminal))  # noqa: B010
    deployment.run_virtual(900.0)  # logged in, read once
    holds = [_Hold(net) for net in deployment.nets]
    began = deployment.clock.time()
    while any(h.holding for h in holds) and deployment.clock.time() - began < _LONGEST_HOLD:
        deployment.run_virtual(_STEP)
        for hold in holds:
            hold.look(deployment.clock.time())
    released = max(h.released or deployment.clock.time() for h in holds)
    deployment.run_virtual(released + ROUNDS * REALTIME.period + 60 - deployment.clock.time())
    counts = _reporting_since(deployment, released)
    # on to where the station's watch calls a meter silent, for its alerts in the evidence
    silent_at = released + SILENT_ROUNDS * REALTIME.period + REALTIME.period / 15 + 60
    deployment.run_virtual(silent_at - deployment.clock.time())
    return deployment, counts


def _reporting_since(deployment: Deployment, since: float) -> dict[bytes, int]:
    """Per terminal, how many of its meters stored a reading that arrived after ``since``."""
    heard = deployment.station.watch.last
    counts: dict[bytes, int] = {}
    for net in deployment.nets:
        counts[net.terminal.address] = sum(1 for m in net.meters if heard.get(m.hex(), 0.0) > since)
    return counts


@scenario(
    11,
    "frozen-loop",
    "a stalled terminal (or acknowledgements held back) reads late REPORT acknowledgements "
    "after it has logged in again, one under the login's PIID",
    (Protection.BOUNDARY, Protection.MONITORING),
)
def frozen_loop(protected: bool) -> Outcome:
    deployment, counts = _attack(protected)
    meters = sum(len(net.meters) for net in deployment.nets)
    silent = meters - sum(counts.values())
    stuck = [
        f"terminal {net.terminal.address.hex()}: {net.terminal.upstream.link.value}"
        for net in deployment.nets
        if net.terminal.upstream.link != Link.ONLINE
    ]
    out = Outcome(
        silent > 0,
        f"{meters - silent}/{meters} meters reported again within {ROUNDS} collection rounds of"
        f" the release; {len(stuck)} terminal(s) never back online",
        evidence=[f"station's summary: {deployment.summary().line()}", *stuck],
    )
    events = deployment.storage.events(None, None, None, 1000)
    out.events.extend(f"{e.kind.name.lower()}: {e.source}: {e.detail}" for e in events[:20])
    out.alerts.extend(f"{a.rule} ({a.severity}): {a.subject}" for a in deployment.storage.alerts())
    return out
