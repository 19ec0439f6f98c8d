"""The attack harness: each threat tried against a fresh system, protected and unprotected.

Theory of operation. A :class:`Scenario` is a function ``attack(protected) -> Outcome`` that
builds its own fresh deployment (a meter, a neighbourhood, or the whole system in virtual
time, with the protection in question on or off), carries out the attack as an adversary
would (through the ``manipulate`` hooks of links and channels, a rogue peer on a socket, a
forged image, a handheld), and reports whether the attack reached its goal, with evidence:
the frames it used, the security events and alerts the system raised, timings.

:func:`run` runs a scenario both ways. The protection *holds* when the attack fails against
the protected system **and** succeeds against the unprotected one (a scenario that cannot
succeed unprotected proves nothing), and the protected system noticed it (a security event,
or an alert at the station, unless the scenario says detection is not its point, as for
passive eavesdropping, which nothing can notice).

Some protections cannot be switched off: the codec's validation of its input *is* the codec,
and there is no honest "unvalidated" system to compare against. Such a scenario is registered
with ``baseline=False``: it still runs against the unprotected configuration (which refuses
the same input, and says so), and it holds when the protected system refuses and notices.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wattguard.events import SecurityEvent

__all__ = [
    "REGISTRY",
    "Outcome",
    "Protection",
    "Result",
    "Scenario",
    "run",
    "run_all",
    "scenario",
]


class Protection(enum.Enum):
    """The kinds of security protection a scenario puts to the test."""

    BOUNDARY = "boundary"
    DATA = "data"
    IDENTITY = "identity/encryption/signature"
    MONITORING = "monitoring"


@dataclass
class Outcome:
    """What one run of an attack achieved, and what the system saw of it."""

    succeeded: bool
    summary: str
    evidence: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def saw(self, events: Iterable[SecurityEvent]) -> Outcome:
        """Record the security events the system raised."""
        self.events.extend(f"{e.kind.name.lower()}: {e.source}: {e.detail}" for e in events)
        return self

    @property
    def detected(self) -> bool:
        return bool(self.events or self.alerts)


@dataclass(frozen=True)
class Scenario:
    """One registered attack: its number, name and threat, the protections it tests, and
    ``attack(protected) -> Outcome``."""

    number: int
    name: str
    threat: str
    protections: tuple[Protection, ...]
    attack: Callable[[bool], Outcome]
    detectable: bool = True  # passive attacks cannot raise events
    baseline: bool = True  # False: no unprotected variant exists (see the module docstring)


@dataclass(frozen=True)
class Result:
    """A scenario run both ways, and the verdict: whether the protection holds (see the module
    docstring)."""

    scenario: Scenario
    protected: Outcome
    unprotected: Outcome

    @property
    def holds(self) -> bool:
        noticed = self.protected.detected or not self.scenario.detectable
        compared = self.unprotected.succeeded or not self.scenario.baseline
        return not self.protected.succeeded and compared and noticed

    @property
    def verdict(self) -> str:
        if self.holds:
            return "protection holds" + ("" if self.scenario.baseline else " (no baseline)")
        if self.protected.succeeded:
            return "ATTACK SUCCEEDED AGAINST THE PROTECTED SYSTEM"
        if not self.unprotected.succeeded:
            return "inconclusive: the attack fails even unprotected"
        return "refused but not noticed"


REGISTRY: dict[str, Scenario] = {}


def scenario(
    number: int,
    name: str,
    threat: str,
    protections: tuple[Protection, ...],
    *,
    detectable: bool = True,
    baseline: bool = True,
) -> Callable[[Callable[[bool], Outcome]], Callable[[bool], Outcome]]:
    """Register an attack function as scenario ``name``."""

    def register(attack: Callable[[bool], Outcome]) -> Callable[[bool], Outcome]:
        if name in REGISTRY:
            raise ValueError(f"scenario {name!r} is registered twice")
        REGISTRY[name] = Scenario(number, name, threat, protections, attack, detectable, baseline)
        return attack

    return register


def _timed(attack: Callable[[bool], Outcome], protected: bool) -> Outcome:
    began = time.perf_counter()
    outcome = attack(protected)
    outcome.seconds = time.perf_counter() - began
    return outcome


def run(name: str) -> Result:
    found = REGISTRY.get(name)
    if found is None:
        known = ", ".join(sorted(REGISTRY))
        raise KeyError(f"no scenario {name!r}; known: {known}")
    return Result(found, _timed(found.attack, True), _timed(found.attack, False))


def run_all(progress: Callable[[Scenario], None] | None = None) -> list[Result]:
    results = []
    for found in sorted(REGISTRY.values(), key=lambda s: (s.number, s.name)):
        if progress is not None:
            progress(found)
        results.append(run(found.name))
    return results
