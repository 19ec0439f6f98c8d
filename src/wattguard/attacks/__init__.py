"""wattguard.attacks: the security analysis, executable. Each scenario attacks a fresh system
with the protection on and off; ``wattguard attack [NAME|all]`` runs them and reports."""

from wattguard.attacks import scenarios as scenarios
from wattguard.attacks.harness import (
    REGISTRY,
    Outcome,
    Protection,
    Result,
    Scenario,
    run,
    run_all,
    scenario,
)

__all__ = ["REGISTRY", "Outcome", "Protection", "Result", "Scenario", "run", "run_all", "scenario"]
