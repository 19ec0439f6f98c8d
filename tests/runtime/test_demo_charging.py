"""`wattguard demo --virtual` runs orderly charging on its districts and ends with its
account: peak against capacity, energy asked and given, pile-limit commands sent."""

from __future__ import annotations

import re
import subprocess
import sys


def test_the_virtual_demo_charges_in_order_and_says_how_it_went() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wattguard", "demo", "--virtual", "--days", "0.85",
         "--meters", "10", "--per-terminal", "10", "--seed", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "charging: orderly EV charging on 1 districts (6 piles" in done.stdout
    line = re.search(
        r"charging: 6 piles in 1 districts, peak ([\d.,]+) kW against ([\d.,]+) kW capacity; "
        r"(\d+) EVs left .*?, (\d+) still plugged in; (\d+) pile-limit commands",
        done.stdout,
    )
    assert line is not None, done.stdout[-2000:]
    peak, capacity = float(line[1].replace(",", "")), float(line[2].replace(",", ""))
    assert 0 < peak <= capacity
    assert int(line[3]) + int(line[4]) > 0 and int(line[5]) > 0
