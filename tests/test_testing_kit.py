"""wattguard.testing: what the attack harness imports works without the dev-only tools."""

from __future__ import annotations

import subprocess
import sys

import wattguard.testing

# Import with pytest and Hypothesis made unimportable, as on a machine without the dev tools.
_WITHOUT_DEV_TOOLS = """
import sys
class Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pytest", "_pytest", "hypothesis"):
            raise ImportError(f"{name} is a dev-only dependency")
sys.meta_path.insert(0, Blocked())
import wattguard.testing, wattguard.testing.meter, wattguard.testing.esam
import wattguard.testing.wan, wattguard.testing.deployment
import wattguard.attacks.scenarios.rigs
try:
    import wattguard.testing.strategies
except ImportError:
    print("blocked")
"""


def test_the_kit_imports_without_pytest_or_hypothesis() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DEV_TOOLS], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "blocked"  # the blocker works: the dev-only module needs it


def test_the_standard_world_is_one_monday_afternoon() -> None:
    assert wattguard.testing.T0 == 1_790_000_000.0
    assert wattguard.testing.MIDNIGHT == 1_789_948_800.0
    assert wattguard.testing.seeded(b"x")(40) == wattguard.testing.seeded(b"x")(40)
    assert wattguard.testing.seeded(b"x")(16) != wattguard.testing.seeded(b"y")(16)
